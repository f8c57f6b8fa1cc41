"""Health: is the unattended workstation doing what it should?

* :mod:`~workstation.health.checks`: the checks, pure functions of :class:`HealthInputs`.
* :mod:`~workstation.health.report`: the verdict, text, JSON and the exit code.
* :mod:`~workstation.health.heartbeat`: the running engine's ``heartbeat.json``.
* :mod:`~workstation.health.gather`: the inputs, for the CLI and for the running window.
"""
