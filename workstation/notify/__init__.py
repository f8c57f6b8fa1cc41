"""Notifications: alerts built from the engines' events, delivered through apprise.

* :mod:`~workstation.notify.alert`: what an alert is (:class:`Alert`, :class:`AlertRaised`).
* :mod:`~workstation.notify.messages`: each alert's text, from one event (pure).
* :mod:`~workstation.notify.center`: the bus subscriber that raises them (no apprise, no Qt).
* :mod:`~workstation.notify.urls`: the channels' URLs, from the environment or the keyring.
* :mod:`~workstation.notify.outbox`, :mod:`~workstation.notify.sender`,
  :mod:`~workstation.notify.channels`: the durable queue and the sender thread (apprise).
* :mod:`~workstation.notify.service`: wiring for the runner and the app.
"""
