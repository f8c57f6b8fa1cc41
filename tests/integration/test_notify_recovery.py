"""An alert whose fact was stored just before a SIGKILL, before its outbox row: sent once.

The crash window is planted, deterministically: a run (a real store, a real outbox, apprise to
a JSON endpoint on 127.0.0.1) records facts in the store the way the engines do and publishes
some of them; for the others the process "dies" between the store's commit and the event (so
no alert reaches the outbox). The restarted run's :func:`start_notifications` finds those
facts and sends each alert exactly once, with the key and text its live alert has; the facts
already alerted, a fact raised again by the restarted engines, a second restart, and an older
day's facts send nothing more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.test_notify import CAL, ENTRY, FAST, config, position
from tests.sinks import JsonSink, json_sink
from workstation.core.calendar import ET
from workstation.core.config import Config
from workstation.core.events import EventBus
from workstation.core.models import ExitReason, Side
from workstation.engine.events import PositionClosed, PositionOpened, PositionState
from workstation.engine.session_events import KillSwitchChanged
from workstation.notify import messages
from workstation.notify.outbox import FILE_NAME, Outbox
from workstation.notify.recover import recover, recovery_since, stored_alerts
from workstation.notify.service import Notifications, start_notifications
from workstation.notify.urls import NotifyUrls
from workstation.store import PositionRow, Store

NOON = datetime(2024, 3, 11, 12, 0, 0, 123456, tzinfo=ET)


def entered(store: Store, symbol: str, at: datetime, session: date = ENTRY) -> PositionRow:
    """A position as the position book stores it on its first entry fill."""
    return store.open_position(
        symbol=symbol,
        side="long",
        qty=100,
        avg_entry=50.0,
        entry_session=session,
        entry_at=at,
        strategy="bb_squeeze",
        sl_mult=2.0,
        tp_mult=3.0,
        atr14=1.25,
        sl=47.5,
        tp=53.75,
        at=at,
    )


def state(row: PositionRow) -> PositionState:
    """The book's snapshot of a stored position (what PositionOpened carries)."""
    return dataclasses.replace(
        position(row.symbol, int(row.qty)),
        position_id=row.id,
        side=Side(row.side),
        fill_price=row.avg_entry,
        entry_session=row.entry_session,
        entry_at=row.entry_at,
        strategy=row.strategy,
        atr14=row.atr14,
        sl_mult=row.sl_mult,
        tp_mult=row.tp_mult,
        sl=row.sl,
        tp=row.tp,
        candidate_id=row.candidate_id,
    )


class Run:
    """One process's notifications: its bus, the store, the data folder's outbox."""

    def __init__(self, store: Store, data: Path, sink: JsonSink, now: datetime, cfg: Config):
        self.bus = EventBus()
        self.notes: Notifications = start_notifications(
            self.bus,
            lambda: cfg,
            CAL,
            data,
            real_broker=False,
            clock_now=lambda: now,
            urls=NotifyUrls((sink.url(),), "env"),
            store=store,
        )

    def stop(self) -> None:
        assert self.notes.stop(5.0)


def outcomes(data: Path) -> dict[str, str | None]:
    outbox = Outbox(data / FILE_NAME)
    try:
        return outbox.outcomes()
    finally:
        outbox.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "workstation.db") as s:
        yield s


def test_a_fact_stored_before_a_kill_is_alerted_once_after_the_restart(
    tmp_path: Path, store: Store
) -> None:
    cfg = config()
    with json_sink() as sink:
        # ---- the first run: two facts alerted as usual (through the bus) ...
        first = Run(store, tmp_path, sink, datetime(2024, 3, 11, 9, 20, tzinfo=ET), cfg)
        a = entered(store, "AAPL", datetime(2024, 3, 11, 9, 30, 0, 250000, tzinfo=ET))
        first.bus.publish(PositionOpened(a.entry_at, state(a)))
        store.audit(
            "engine", "kill_switch.engaged", "",
            {"reason": "DAILY_LOSS", "detail": "equity 97,900 <= 98,000", "session": "2024-03-11"},
            at=NOON,
        )  # fmt: skip
        first.bus.publish(KillSwitchChanged(NOON, True, "DAILY_LOSS", "equity 97,900 <= 98,000"))
        assert sink.wait_for(lambda m: len(m) == 2)
        # ... then the crash window, planted: the facts are committed to the store and the
        # process dies before publishing them (no alert in the outbox)
        b = entered(store, "MSFT", datetime(2024, 3, 11, 9, 50, 1, tzinfo=ET))
        trade = store.close_position(
            a.id,
            exit_price=52.0,
            exit_at=datetime(2024, 3, 11, 12, 0, 5, tzinfo=ET),
            exit_session=ENTRY,
            exit_reason="KILL_SWITCH",
            days_held=1,
        )
        # and an older day's fact never alerted (its outbox row is not there): history
        entered(store, "IBM", datetime(2024, 3, 7, 9, 30, tzinfo=ET), date(2024, 3, 7))
        first.stop()
        keys = set(outcomes(tmp_path))
        assert keys == {f"entry:{a.id}", f"kill:on:{messages.instant(NOON)}"}
        assert sink.titles() == [
            "Entered AAPL: long 100 @ 50.00",
            "KILL SWITCH engaged (DAILY_LOSS)",
        ]

        # ---- the restart (the supervisor's, minutes later): the two facts without their
        # alerts go out, each once, with the live alert's text; nothing else does
        later = datetime(2024, 3, 11, 12, 3, tzinfo=ET)
        second = Run(store, tmp_path, sink, later, cfg)
        assert sink.wait_for(lambda m: len(m) == 4)
        # the restarted engines raise a fact again (a step re-run): still once
        second.bus.publish(PositionOpened(b.entry_at, state(b)))
        second.bus.publish(PositionClosed(trade.exit_at, state(a), trade, ExitReason.KILL_SWITCH))
        second.stop()
        live_b = messages.entry(PositionOpened(b.entry_at, state(b)))
        live_exit = messages.exit_(
            PositionClosed(trade.exit_at, state(a), trade, ExitReason.KILL_SWITCH)
        )
        assert [(m.title, m.body) for m in sink.messages[2:]] == [
            (live_b.title, live_b.body),
            (live_exit.title, live_exit.body),
        ]
        assert live_b.title == "Entered MSFT: long 100 @ 50.00"
        assert "SL 47.50, TP 53.75; 1R = $250.00 (2 x ATR 1.25)" in live_b.body

        # ---- a second restart: everything is in the outbox, nothing is sent again
        third = Run(store, tmp_path, sink, later + timedelta(minutes=5), cfg)
        third.stop()
        assert len(sink.messages) == 4
        assert outcomes(tmp_path) == {
            f"entry:{a.id}": "sent",
            f"kill:on:{messages.instant(NOON)}": "sent",
            f"entry:{b.id}": "sent",
            f"exit:{trade.id}": "sent",
        }


def test_recovery_keeps_to_the_day_and_to_the_kinds_switched_on(
    tmp_path: Path, store: Store
) -> None:
    entered(store, "IBM", datetime(2024, 3, 8, 11, 0, tzinfo=ET), date(2024, 3, 8))
    entered(store, "AAPL", datetime(2024, 3, 11, 9, 30, tzinfo=ET))
    # Monday 09:35 belongs to Monday's day: from Friday's close on
    monday = datetime(2024, 3, 11, 9, 35, tzinfo=ET)
    assert recovery_since(monday, Config().schedule, CAL) == datetime(2024, 3, 8, 16, tzinfo=ET)
    alerts = stored_alerts(store, config(), CAL, monday, real_broker=False)
    assert [a.title for a in alerts] == ["Entered AAPL: long 100 @ 50.00"]
    # Monday 16:10, after Monday's end of day, belongs to Tuesday's day: still from Monday's close
    evening = datetime(2024, 3, 11, 16, 10, tzinfo=ET)
    assert recovery_since(evening, Config().schedule, CAL) == datetime(2024, 3, 11, 16, tzinfo=ET)
    assert stored_alerts(store, config(), CAL, evening, real_broker=False) == []
    # a kind switched off is not recovered either
    off = config(dataclasses.replace(FAST, entries=False))
    outbox = Outbox(tmp_path / FILE_NAME)
    try:
        assert recover(store, outbox, ["c"], off, CAL, monday, real_broker=False) == []
        assert recover(store, outbox, ["c"], config(), CAL, monday, real_broker=False) == [
            alerts[0].key
        ]
    finally:
        outbox.close()
