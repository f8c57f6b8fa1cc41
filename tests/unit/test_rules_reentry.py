"""No same-day re-entry (trading rules §9 check 2, §12)."""

from __future__ import annotations

from datetime import date
from types import MappingProxyType

import pytest

from workstation.core.config import RiskConfig
from workstation.core.models import Side
from workstation.engine.rules.entries import (
    ENTRY_OK,
    REENTRY_SAME_DAY,
    EntryCandidate,
    EntryContext,
    check_entry,
)
from workstation.engine.rules.reentry import exited_in_session, reentry_allowed

MON, TUE, WED = date(2024, 3, 11), date(2024, 3, 12), date(2024, 3, 13)
EXITS = MappingProxyType({"AAPL": TUE, "MSFT": MON, "XOM": TUE})


@pytest.mark.parametrize(
    ("symbol", "session", "allowed"),
    [
        ("AAPL", TUE, False),
        ("AAPL", WED, True),
        ("MSFT", TUE, True),
        ("MSFT", MON, False),
        ("NVDA", TUE, True),
    ],
    ids=[
        "exited-today-refused",
        "exited-yesterday-allowed-next-day",
        "exited-earlier-session-allowed",
        "exited-that-session-refused",
        "never-exited-allowed",
    ],
)
def test_reentry_allowed(symbol, session, allowed) -> None:
    assert reentry_allowed(symbol, session, EXITS) is allowed


def test_exited_in_session() -> None:
    assert exited_in_session(TUE, EXITS) == frozenset({"AAPL", "XOM"})
    assert exited_in_session(WED, EXITS) == frozenset()


@pytest.mark.parametrize(
    ("session", "reason"),
    [(TUE, REENTRY_SAME_DAY), (WED, ENTRY_OK)],
    ids=["same-day-refused-by-check-2", "next-day-entered"],
)
def test_reentry_through_the_entry_checks(session, reason) -> None:
    ctx = EntryContext(
        kill_switch_engaged=False,
        held=frozenset(),
        exited_today=exited_in_session(session, EXITS),
        open_positions=0,
        pending_entries=0,
        sector_counts=MappingProxyType({}),
        regime_max_positions=8,
        equity=100_000.0,
        buying_power=100_000.0,
    )
    c = EntryCandidate("AAPL", "Information Technology", Side.LONG, 50.0, 2.0, 2.0)
    d = check_entry(c, ctx, RiskConfig())
    assert d.reason == reason
    assert d.check_number == (2 if reason == REENTRY_SAME_DAY else 0)
