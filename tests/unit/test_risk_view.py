"""The risk view's arithmetic (engine.risk_view): exposure, open risk to the active stops in
$ and R, the position and sector caps, the daily-loss room. Pure: built from position views."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from workstation.core.calendar import ET
from workstation.core.config import RiskConfig, ScannerConfig
from workstation.core.models import Side
from workstation.engine.risk_view import PendingEntry, build_risk, position_cap, position_risk
from workstation.engine.views import PositionView

RISK = RiskConfig()  # 8 in any regime, 3 per sector, daily loss 2%, gross <= 1.0 x equity
SCAN = ScannerConfig()  # TREND 8, RANGING 6, HIGH_VOL 4


def pos(
    symbol: str,
    side: Side = Side.LONG,
    qty: int = 100,
    fill: float = 100.0,
    last: float = 102.0,
    sl: float = 97.0,
    day: int = 3,
    r: float = 3.0,
    sector: str = "Energy",
) -> PositionView:
    sign = side.sign
    return PositionView(
        symbol=symbol,
        side=side,
        qty=qty,
        fill_price=fill,
        last=last,
        pnl=sign * (last - fill) * qty,
        strategy="s",
        day=day,
        day_one=day < 2,
        sl=sl,
        tp=fill + sign * 6.0,
        emergency=fill * (1 - sign * 0.07),
        r_per_share=r,
        mfe_price=last,
        mfe_pct=0.0,
        mfe_r=0.0,
        mae_price=fill,
        mae_pct=0.0,
        mae_r=0.0,
        entry_at=datetime(2024, 3, 12, 9, 30, tzinfo=ET),
        sector=sector,
    )


@pytest.mark.parametrize(
    ("p", "stop", "kind", "risk", "risk_r"),
    [
        # long, day 3: to the SL 97 from 102: 5 x 100 = 500 = 1.67 R (one R = 3 x 100)
        (pos("A"), 97.0, "stop loss", 500.0, 500.0 / 300.0),
        # day 1: the emergency level 93 is the active stop: 9 x 100
        (pos("B", day=1), 93.0, "emergency", 900.0, 3.0),
        # short: the SL above; from 98 to 104: 6 x 50
        (pos("C", Side.SHORT, qty=50, last=98.0, sl=104.0), 104.0, "stop loss", 300.0, 2.0),
        # a stop that locks in a gain still risks the way back to it: 110 -> 105
        (pos("D", last=110.0, sl=105.0), 105.0, "stop loss", 500.0, 500.0 / 300.0),
        # the price exactly on the stop: nothing left to lose (it exits there)
        (pos("E", last=97.0), 97.0, "stop loss", 0.0, 0.0),
    ],
)
def test_each_positions_risk_to_its_active_stop(p, stop, kind, risk, risk_r) -> None:
    r = position_risk(p)
    assert (r.stop, r.stop_kind) == (stop, kind)
    assert r.risk == pytest.approx(risk) and r.risk_r == pytest.approx(risk_r)


@pytest.mark.parametrize(
    ("regime", "cap"),
    [("TREND", 8), ("RANGING", 6), ("HIGH_VOL", 4), (None, 8), ("", 8)],
)
def test_the_position_cap_is_the_regimes_within_any_regimes(regime, cap) -> None:
    assert position_cap(regime, SCAN, RISK) == cap


def build(positions, pending=(), **kw):
    args = dict(
        equity=100_000.0,
        cash=60_000.0,
        buying_power=120_000.0,
        start_equity=101_000.0,
        regime="RANGING",
        scanner=SCAN,
        risk=RISK,
        kill_switch=False,
    )
    args.update(kw)
    return build_risk(positions, pending, **args)


def test_exposure_heat_caps_and_the_daily_loss_room() -> None:
    positions = [
        pos("XOM", last=102.0),  # long 10,200, risk 500
        pos("CVX", day=1, last=100.0),  # long 10,000, risk 700 (emergency 93)
        pos("JPM", Side.SHORT, qty=50, last=98.0, sl=104.0, sector="Financials"),  # 4,900
    ]
    pending = [
        PendingEntry("COP", "Energy", 5_000.0),
        PendingEntry("XOM", "Energy", 1_000.0),  # the rest of a held symbol's entry: not counted
    ]
    v = build(positions, pending)
    assert v.long_exposure == pytest.approx(20_200.0)
    assert v.short_exposure == pytest.approx(4_900.0)
    assert v.gross_exposure == pytest.approx(25_100.0)
    assert v.net_exposure == pytest.approx(15_300.0)
    assert v.pending_entries == 1 and v.pending_exposure == pytest.approx(5_000.0)
    assert v.max_gross == pytest.approx(100_000.0)
    assert v.open_risk == pytest.approx(500 + 700 + 300)
    assert v.open_risk_r == pytest.approx(500 / 300 + 700 / 300 + 300 / 150)
    assert v.heat == pytest.approx(1_500 / 100_000)
    assert [r.symbol for r in v.positions] == ["CVX", "XOM", "JPM"]  # largest risk first
    assert (v.open_positions, v.position_cap, v.any_regime_cap) == (3, 6, 8)
    energy, fin = v.sectors
    assert (energy.sector, energy.positions, energy.pending, energy.used, energy.cap) == (
        "Energy",
        2,
        1,
        3,
        3,
    )
    assert energy.notional == pytest.approx(20_200.0 + 5_000.0)
    assert (fin.sector, fin.used) == ("Financials", 1)
    # the kill switch engages at 101,000 x 0.98 = 98,980: 1,020 of room left
    assert v.kill_level == pytest.approx(98_980.0)
    assert v.loss_room == pytest.approx(1_020.0)
    assert v.day_change == pytest.approx(-1_000.0)


def test_before_the_session_starts_and_with_nothing_held() -> None:
    v = build([], start_equity=math.nan, regime=None)
    assert (v.open_risk, v.open_risk_r, v.gross_exposure, v.sectors) == (0.0, 0.0, 0.0, ())
    assert math.isnan(v.kill_level) and math.isnan(v.loss_room)
    assert v.position_cap == 8
    assert math.isnan(build([], equity=0.0).heat)
