"""Entries of trading rules §9: the six checks in order, group B confirmation, SL/TP."""

from __future__ import annotations

import dataclasses
import math
from datetime import date
from types import MappingProxyType

import pytest

from workstation.core.config import (
    EntryConfig,
    PortfolioConfig,
    RegimeConfig,
    RegimeLimits,
    RiskConfig,
)
from workstation.core.models import Asset, Candidate, Group, Regime, ScoreParts, Side
from workstation.engine.rules.entries import (
    ALREADY_HELD,
    BUYING_POWER,
    CONFIRMED,
    ENTRY_OK,
    KILL_SWITCH,
    MAX_POSITIONS,
    NO_PRICE,
    NOT_CONFIRMED,
    NOT_EASY_TO_BORROW,
    NOT_SHORTABLE,
    REENTRY_SAME_DAY,
    SECTOR_CAP,
    SIZE_BELOW_ONE,
    EntryCandidate,
    EntryContext,
    check_entry,
    confirm_group_b,
    sl_tp_from_fill,
)

RISK = RiskConfig()
REGIMES = RegimeConfig()


def cand(**kw) -> EntryCandidate:
    base = dict(
        symbol="AAPL",
        sector="Information Technology",
        side=Side.LONG,
        price=50.0,
        atr14=2.0,
        sl_mult=2.0,
        shortable=True,
        easy_to_borrow=True,
    )
    base.update(kw)
    return EntryCandidate(**base)


def ctx(**kw) -> EntryContext:
    base = dict(
        kill_switch_engaged=False,
        held=frozenset(),
        exited_today=frozenset(),
        open_positions=0,
        pending_entries=0,
        sector_counts=MappingProxyType({}),
        regime_max_positions=8,
        equity=100_000.0,
        buying_power=200_000.0,
        gross_exposure=0.0,
        drawdown=0.0,
    )
    base.update(kw)
    return EntryContext(**base)


def test_all_checks_pass() -> None:
    d = check_entry(cand(), ctx(), RISK)
    assert (d.ok, d.qty, d.reason, d.check_number) == (True, 125, ENTRY_OK, 0)
    assert d.size is not None and d.size.qty == 125


@pytest.mark.parametrize(
    ("c", "x", "reason", "check"),
    [
        (cand(), ctx(kill_switch_engaged=True), KILL_SWITCH, 1),
        (cand(), ctx(held=frozenset({"AAPL"})), ALREADY_HELD, 2),
        (cand(), ctx(exited_today=frozenset({"AAPL"})), REENTRY_SAME_DAY, 2),
        (cand(), ctx(open_positions=5, pending_entries=3), MAX_POSITIONS, 3),
        (
            cand(),
            ctx(sector_counts=MappingProxyType({"Information Technology": 3})),
            SECTOR_CAP,
            4,
        ),
        (cand(side=Side.SHORT, shortable=False), ctx(), NOT_SHORTABLE, 5),
        (cand(side=Side.SHORT, easy_to_borrow=False), ctx(), NOT_EASY_TO_BORROW, 5),
        (cand(atr14=100.0), ctx(equity=1_000.0, buying_power=2_000.0), SIZE_BELOW_ONE, 6),
        (cand(), ctx(buying_power=6_249.99), BUYING_POWER, 6),
    ],
    ids=[
        "1-kill-switch",
        "2-already-held",
        "2-exited-today",
        "3-max-positions",
        "4-sector-cap",
        "5-not-shortable",
        "5-not-easy-to-borrow",
        "6-size-under-one-share",
        "6-buying-power-a-cent-short",
    ],
)
def test_each_check_rejects(c, x, reason, check) -> None:
    d = check_entry(c, x, RISK)
    assert (d.ok, d.qty, d.reason, d.check_number) == (False, 0, reason, check)
    assert d.detail


def test_checks_run_in_order_first_failure_wins() -> None:
    """Every check fails; fixing them one by one reveals the next in spec order."""
    c = cand(side=Side.SHORT, shortable=False, easy_to_borrow=False, atr14=1e9)
    x = ctx(
        kill_switch_engaged=True,
        held=frozenset({"AAPL"}),
        exited_today=frozenset({"AAPL"}),
        open_positions=8,
        sector_counts=MappingProxyType({"Information Technology": 3}),
    )
    seen = []
    fixes = [
        lambda c, x: (c, dataclasses.replace(x, kill_switch_engaged=False)),
        lambda c, x: (c, dataclasses.replace(x, held=frozenset())),
        lambda c, x: (c, dataclasses.replace(x, exited_today=frozenset())),
        lambda c, x: (c, dataclasses.replace(x, open_positions=2)),
        lambda c, x: (c, dataclasses.replace(x, sector_counts=MappingProxyType({}))),
        lambda c, x: (dataclasses.replace(c, shortable=True), x),
        lambda c, x: (dataclasses.replace(c, easy_to_borrow=True), x),
        lambda c, x: (dataclasses.replace(c, atr14=2.0), x),
    ]
    for fix in fixes:
        d = check_entry(c, x, RISK)
        seen.append((d.check_number, d.reason))
        c, x = fix(c, x)
    assert check_entry(c, x, RISK).ok
    assert seen == [
        (1, KILL_SWITCH),
        (2, ALREADY_HELD),
        (2, REENTRY_SAME_DAY),
        (3, MAX_POSITIONS),
        (4, SECTOR_CAP),
        (5, NOT_SHORTABLE),
        (5, NOT_EASY_TO_BORROW),
        (6, SIZE_BELOW_ONE),
    ]


@pytest.mark.parametrize(
    ("regime", "open_", "pending", "ok"),
    [
        (Regime.TREND, 7, 0, True),
        (Regime.TREND, 8, 0, False),
        (Regime.TREND, 5, 3, False),
        (Regime.RANGING, 5, 0, True),
        (Regime.RANGING, 6, 0, False),
        (Regime.RANGING, 4, 2, False),
        (Regime.HIGH_VOL, 3, 0, True),
        (Regime.HIGH_VOL, 4, 0, False),
        (Regime.HIGH_VOL, 2, 2, False),
        (Regime.HIGH_VOL, 0, 4, False),
    ],
    ids=[
        "trend-7-enters",
        "trend-8-full",
        "trend-5-open-3-pending-full",
        "ranging-5-enters",
        "ranging-6-full",
        "ranging-4-open-2-pending-full",
        "high-vol-3-enters",
        "high-vol-4-full",
        "high-vol-2-open-2-pending-full",
        "high-vol-4-pending-full",
    ],
)
def test_regime_position_cap(regime, open_, pending, ok) -> None:
    cap = REGIMES.limits(regime).max_positions
    assert cap == {Regime.TREND: 8, Regime.RANGING: 6, Regime.HIGH_VOL: 4}[regime]
    d = check_entry(
        cand(), ctx(open_positions=open_, pending_entries=pending, regime_max_positions=cap), RISK
    )
    assert d.ok is ok
    if not ok:
        assert (d.reason, d.check_number) == (MAX_POSITIONS, 3)


@pytest.mark.parametrize(
    ("open_", "ok"), [(7, True), (8, False), (9, False)], ids=["7-of-8", "8-of-8", "9-of-8"]
)
def test_eight_cap_in_any_regime(open_, ok) -> None:
    """A regime configured above 8 is still capped at 8 (PortfolioConfig.max_open_positions)."""
    roomy = RegimeConfig(trend=RegimeLimits((), (), 12))
    cap = roomy.limits(Regime.TREND).max_positions
    assert cap == 12
    d = check_entry(cand(), ctx(open_positions=open_, regime_max_positions=cap), RISK)
    assert d.ok is ok
    if not ok:
        assert d.reason == MAX_POSITIONS and "any regime" in d.detail


@pytest.mark.parametrize(
    ("counts", "ok"),
    [
        ({"Information Technology": 2}, True),
        ({"Information Technology": 3}, False),  # e.g. 2 open + 1 pending
        ({"Information Technology": 4}, False),
        ({"Energy": 3, "Financials": 3}, True),  # other sectors do not count
    ],
    ids=["sector-2-enters", "sector-3-full", "sector-4-full", "other-sectors-full"],
)
def test_sector_cap_counts_open_plus_pending(counts, ok) -> None:
    d = check_entry(cand(), ctx(sector_counts=MappingProxyType(counts)), RISK)
    assert d.ok is ok
    if not ok:
        assert (d.reason, d.check_number) == (SECTOR_CAP, 4)


def test_unknown_sector_is_capped_too() -> None:
    c = cand(sector="Unknown")
    assert not check_entry(c, ctx(sector_counts=MappingProxyType({"Unknown": 3})), RISK).ok
    assert check_entry(c, ctx(sector_counts=MappingProxyType({"Unknown": 2})), RISK).ok


@pytest.mark.parametrize(
    ("side", "shortable", "etb", "require_etb", "reason"),
    [
        (Side.SHORT, True, True, True, ENTRY_OK),
        (Side.SHORT, False, True, True, NOT_SHORTABLE),
        (Side.SHORT, False, False, True, NOT_SHORTABLE),
        (Side.SHORT, True, False, True, NOT_EASY_TO_BORROW),
        (Side.SHORT, True, False, False, ENTRY_OK),
        (Side.SHORT, False, True, False, NOT_SHORTABLE),
        (Side.LONG, False, False, True, ENTRY_OK),
    ],
    ids=[
        "short-ok",
        "short-not-shortable",
        "short-neither",
        "short-not-easy-to-borrow",
        "short-htb-allowed-when-not-required",
        "short-not-shortable-even-when-etb-not-required",
        "long-ignores-shortability",
    ],
)
def test_shortability(side, shortable, etb, require_etb, reason) -> None:
    cfg = dataclasses.replace(RISK, entries=EntryConfig(require_easy_to_borrow=require_etb))
    d = check_entry(cand(side=side, shortable=shortable, easy_to_borrow=etb), ctx(), cfg)
    assert d.reason == reason


@pytest.mark.parametrize(
    ("bp", "ok"),
    [(6_250.0, True), (6_249.99, False), (0.0, False), (math.nan, False)],
    ids=["buying-power-exactly-covers", "a-cent-short", "zero", "unknown"],
)
def test_buying_power_covers(bp, ok) -> None:
    d = check_entry(cand(), ctx(buying_power=bp), RISK)  # 125 shares x 50 = 6,250
    assert d.ok is ok
    if not ok:
        assert (d.reason, d.check_number) == (BUYING_POWER, 6)


def test_size_uses_gross_exposure_and_drawdown_from_context() -> None:
    assert check_entry(cand(), ctx(gross_exposure=95_000.0), RISK).qty == 100
    assert check_entry(cand(), ctx(gross_exposure=100_000.0), RISK).reason == SIZE_BELOW_ONE
    assert check_entry(cand(), ctx(drawdown=0.0801), RISK).qty == 62  # 250 / 4 = 62.5


def test_custom_portfolio_caps() -> None:
    cfg = dataclasses.replace(RISK, portfolio=PortfolioConfig(max_open_positions=3))
    assert check_entry(cand(), ctx(open_positions=3), cfg).reason == MAX_POSITIONS


def test_entry_candidate_of() -> None:
    c = Candidate(
        session=date(2024, 3, 11),
        rank=1,
        symbol="XOM",
        sector="Energy",
        strategy="overbought_short",
        side=Side.SHORT,
        group=Group.B,
        score=80.0,
        parts=ScoreParts(0.5, 0.5, 0.5, 1.0),
        strength=0.5,
        close=110.0,
        atr14=2.2,
        sl_mult=2.0,
        tp_mult=2.5,
        regime=Regime.RANGING,
    )
    e = EntryCandidate.of(c, 111.0, Asset("XOM", shortable=True, easy_to_borrow=False))
    assert (e.symbol, e.sector, e.side, e.price, e.atr14, e.sl_mult) == (
        "XOM",
        "Energy",
        Side.SHORT,
        111.0,
        2.2,
        2.0,
    )
    assert (e.shortable, e.easy_to_borrow) == (True, False)
    unknown = EntryCandidate.of(c, 111.0, None)
    assert (unknown.shortable, unknown.easy_to_borrow) == (False, False)
    assert check_entry(unknown, ctx(), RISK).reason == NOT_SHORTABLE


# ------------------------------------------------------------------ group B confirmation

ECFG = EntryConfig()


@pytest.mark.parametrize(
    ("side", "open_", "price", "confirmed"),
    [
        (Side.LONG, 1000.0, 997.0, True),  # exactly open * 0.997
        (Side.LONG, 1000.0, 996.99, False),
        (Side.LONG, 1000.0, 1010.0, True),
        (Side.LONG, 100.0, 99.7, True),  # exactly 0.997
        (Side.LONG, 100.0, 99.69, False),
        (Side.LONG, 41.0, 40.877, True),  # 41 * 0.997 = 40.877
        (Side.SHORT, 1000.0, 1003.0, True),  # exactly open * 1.003
        (Side.SHORT, 1000.0, 1003.01, False),
        (Side.SHORT, 1000.0, 990.0, True),
        (Side.SHORT, 100.0, 100.3, True),  # 100 * 1.003 is 100.29999999999998 in floats
        (Side.SHORT, 100.0, 100.31, False),
        (Side.SHORT, 41.0, 41.123, True),  # 41 * 1.003 = 41.123
    ],
    ids=[
        "long-0.997-exactly-1000",
        "long-just-below-1000",
        "long-above-open",
        "long-0.997-exactly-100",
        "long-just-below-100",
        "long-0.997-exactly-odd",
        "short-1.003-exactly-1000",
        "short-just-above-1000",
        "short-below-open",
        "short-1.003-exactly-100-float-noise",
        "short-just-above-100",
        "short-1.003-exactly-odd",
    ],
)
def test_confirm_group_b(side, open_, price, confirmed) -> None:
    r = confirm_group_b(side, price, open_, ECFG)
    assert r.confirmed is confirmed
    assert r.reason == (CONFIRMED if confirmed else NOT_CONFIRMED)
    assert (r.price, r.open) == (price, open_)
    mult = 0.997 if side is Side.LONG else 1.003
    assert r.threshold == pytest.approx(open_ * mult, rel=1e-12)


@pytest.mark.parametrize(
    ("price", "open_"),
    [(None, 100.0), (100.0, None), (math.nan, 100.0), (100.0, 0.0)],
    ids=["no-price", "no-open", "nan-price", "zero-open"],
)
def test_confirm_without_prices_does_not_confirm(price, open_) -> None:
    for side in Side:
        r = confirm_group_b(side, price, open_, ECFG)
        assert (r.confirmed, r.reason, r.threshold) == (False, NO_PRICE, None)


@pytest.mark.parametrize(
    ("side", "fill", "atr", "sl_mult", "tp_mult", "sl", "tp"),
    [
        (Side.LONG, 100.0, 2.0, 1.5, 2.0, 97.0, 104.0),
        (Side.SHORT, 100.0, 2.0, 2.0, 2.5, 104.0, 95.0),
        (Side.LONG, 47.13, 1.37, 2.5, 4.0, 43.705, 52.61),
    ],
    ids=["long", "short-mirrored", "long-odd-values"],
)
def test_sl_tp_from_fill(side, fill, atr, sl_mult, tp_mult, sl, tp) -> None:
    got = sl_tp_from_fill(side, fill, atr, sl_mult, tp_mult)
    assert got.sl == pytest.approx(sl, rel=1e-12)
    assert got.tp == pytest.approx(tp, rel=1e-12)
    a, b = got
    assert (a, b) == (got.sl, got.tp)
