"""Connection trouble reaches the log and the session summary, in the window and headless
alike (issue 12 item 8): one line per change, each interruption in the day's notes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.unit.session_rig import DAY1, SessionRig, at, run
from workstation.core.events import ConnectionStateChanged, LogEvent
from workstation.engine.connection_journal import NAMED_PER_COMPONENT, ConnectionJournal


def _ev(t: datetime, component: str, state: str, detail: str = "") -> ConnectionStateChanged:
    return ConnectionStateChanged(t, component, state, detail)


def test_each_change_is_one_line_and_each_interruption_one_entry() -> None:
    j = ConnectionJournal()
    assert j.record(_ev(at("09:00"), "trading", "connected")) is None  # no break: not news
    silent = "no market data for 62 s during market hours; reconnecting"
    assert j.record(_ev(at("10:00"), "data-stream", "degraded", silent)) == (
        "WARNING",
        f"connection data-stream: degraded ({silent})",
    )
    assert j.record(_ev(at("10:00:05"), "data-stream", "down", "closed")) == (
        "WARNING",
        "connection data-stream: down (closed)",
    )
    assert j.record(_ev(at("10:00:06"), "data-stream", "degraded", "retrying")) is None
    assert j.record(_ev(at("10:02:30"), "data-stream", "connected")) == (
        "INFO",
        "connection data-stream: restored after 2.5 min",
    )
    j.record(_ev(at("15:00"), "trading-stream", "down", "connection refused"))
    assert j.notes() == [
        "connection data-stream: 1 interruption (down 10:00:00-10:02:30, 2.5 min: closed)",
        "connection trading-stream: 1 interruption "
        "(down 15:00:00-not restored yet: connection refused)",
    ]
    j.clear()  # reported: the open one stays
    assert j.notes() == [
        "connection trading-stream: 1 interruption "
        "(down 15:00:00-not restored yet: connection refused)"
    ]


def test_many_interruptions_are_counted_beyond_the_named_ones() -> None:
    j = ConnectionJournal()
    n = NAMED_PER_COMPONENT + 2
    for i in range(n):
        j.record(_ev(at(f"1{i}:00"), "market-data", "degraded", "HTTP 500"))
        j.record(_ev(at(f"1{i}:00:30"), "market-data", "connected"))
    [line] = j.notes()
    assert line.startswith(f"connection market-data: {n} interruptions (degraded 10:00:00-")
    assert line.endswith("; and 2 more)") and line.count("degraded") == NAMED_PER_COMPONENT


def test_the_session_logs_them_and_its_summary_names_them(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, start=at("09:00"))

    async def scenario() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        rig.bus.publish(_ev(at("11:00"), "data-stream", "degraded", "no market data for 60 s"))
        rig.bus.publish(_ev(at("11:01"), "data-stream", "connected"))
        await rig.until(at("16:05"))
        summary = await rig.session.end_of_day(DAY1)
        assert list(summary.notes) == [
            "connection data-stream: 1 interruption "
            "(degraded 11:00:00-11:01:00, 60 s: no market data for 60 s)"
        ]
        await rig.session.stop()

    run(scenario())
    lines = [e.message for e in rig.of_type(LogEvent) if "connection" in e.message]
    assert lines == [
        "connection data-stream: degraded (no market data for 60 s)",
        "connection data-stream: restored after 60 s",
    ]
