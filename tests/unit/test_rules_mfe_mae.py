"""MFE / MAE of trading rules §13: price, percent, R and times; backfill from minute bars."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from workstation.core.calendar import ET
from workstation.core.models import Excursion, Side
from workstation.engine.rules.mfe_mae import Excursions, backfill, update_excursions


def t(h: int, m: int, s: int = 0) -> datetime:
    return datetime(2024, 3, 12, h, m, s, tzinfo=ET)


FILL_AT = t(9, 30)


def run(side: Side, fill: float, r: float, ticks: list[tuple[float | None, datetime]]):
    exc = None
    for price, at in ticks:
        exc = update_excursions(exc, side, fill, r, price, at, fill_at=FILL_AT)
    assert exc is not None
    return exc


def test_starts_at_the_fill() -> None:
    e = Excursions.start(Side.LONG, 100.0, 3.0, FILL_AT)
    assert (e.mfe_price, e.mfe_at, e.mae_price, e.mae_at) == (100.0, FILL_AT, 100.0, FILL_AT)
    assert (e.mfe, e.mae, e.mfe_pct, e.mae_pct, e.mfe_r, e.mae_r) == (0, 0, 0, 0, 0, 0)


def test_long() -> None:
    e = run(
        Side.LONG,
        100.0,
        3.0,  # sl_mult 1.5 x atr 2.0
        [
            (101.0, t(9, 35)),
            (98.0, t(9, 40)),
            (104.0, t(10, 0)),
            (97.5, t(11, 0)),
            (104.0, t(11, 30)),  # ties the high: the first time is kept
            (math.nan, t(11, 45)),  # ignored
            (0.0, t(11, 50)),  # ignored
            (100.0, t(12, 0)),
        ],
    )
    assert (e.mfe_price, e.mfe_at) == (104.0, t(10, 0))
    assert (e.mae_price, e.mae_at) == (97.5, t(11, 0))
    assert e.mfe == pytest.approx(4.0) and e.mae == pytest.approx(-2.5)
    assert e.mfe_pct == pytest.approx(0.04) and e.mae_pct == pytest.approx(-0.025)
    assert e.mfe_r == pytest.approx(4.0 / 3.0) and e.mae_r == pytest.approx(-2.5 / 3.0)
    assert e.updated_at == t(12, 0)
    assert e.as_excursion() == Excursion(104.0, t(10, 0), 97.5, t(11, 0))


def test_short() -> None:
    e = run(
        Side.SHORT,
        100.0,
        4.0,  # sl_mult 2.0 x atr 2.0
        [
            (101.0, t(9, 35)),
            (96.0, t(10, 0)),
            (103.0, t(10, 30)),
            (95.0, t(11, 0)),
            (103.0, t(11, 30)),  # ties the adverse extreme: the first time is kept
            (99.0, t(12, 0)),
        ],
    )
    assert (e.mfe_price, e.mfe_at) == (95.0, t(11, 0))
    assert (e.mae_price, e.mae_at) == (103.0, t(10, 30))
    assert e.mfe_pct == pytest.approx(0.05) and e.mae_pct == pytest.approx(-0.03)
    assert e.mfe_r == pytest.approx(1.25) and e.mae_r == pytest.approx(-0.75)


def test_never_adverse_keeps_mae_at_the_fill() -> None:
    e = run(Side.LONG, 50.0, 2.0, [(50.5, t(9, 31)), (51.0, t(9, 32))])
    assert (e.mae_price, e.mae_at, e.mae_pct) == (50.0, FILL_AT, 0.0)
    assert (e.mfe_price, e.mfe_at, e.mfe_r) == (51.0, t(9, 32), pytest.approx(0.5))


def test_unusable_r_gives_nan_r_but_keeps_prices() -> None:
    e = run(Side.LONG, 100.0, 0.0, [(102.0, t(9, 31))])
    assert e.mfe_pct == pytest.approx(0.02)
    assert math.isnan(e.mfe_r)


def test_update_refuses_a_different_position() -> None:
    e = Excursions.start(Side.LONG, 100.0, 3.0, FILL_AT)
    with pytest.raises(ValueError):
        update_excursions(e, Side.SHORT, 100.0, 3.0, 99.0, t(9, 31))


def test_excursions_are_immutable() -> None:
    e = Excursions.start(Side.LONG, 100.0, 3.0, FILL_AT)
    e2 = e.update(105.0, t(9, 31))
    assert e.mfe_price == 100.0 and e2.mfe_price == 105.0
    with pytest.raises(AttributeError):
        e.mfe_price = 1.0  # type: ignore[misc]


# --------------------------------------------------------------------------- backfill


def bars(rows: list[tuple[datetime, float, float]]) -> pd.DataFrame:
    idx = pd.DatetimeIndex([r[0] for r in rows])
    return pd.DataFrame({"high": [r[1] for r in rows], "low": [r[2] for r in rows]}, index=idx)


MINUTES = bars(
    [
        (t(9, 31), 120.0, 80.0),  # before `since`: already covered by live updates
        (t(9, 35), 121.0, 79.0),  # ends exactly at `since`: also covered
        (t(9, 36), 101.0, 99.5),
        (t(9, 40), 106.0, 100.5),
        (t(9, 43), 103.0, 95.0),
        (t(9, 44), 106.0, 95.0),  # ties both extremes later: earliest kept
        (t(9, 50), math.nan, math.nan),  # a missing bar
        (t(9, 55), 130.0, 70.0),  # after `until`: the live stream took over
    ]
)


def test_backfill_long() -> None:
    e = Excursions.start(Side.LONG, 100.0, 4.0, FILL_AT).update(102.0, t(9, 35))
    out = backfill(e, MINUTES, until=t(9, 50))  # since defaults to the last update, 09:35
    assert (out.mfe_price, out.mfe_at) == (106.0, t(9, 40))
    assert (out.mae_price, out.mae_at) == (95.0, t(9, 43))
    assert out.mfe_r == pytest.approx(1.5) and out.mae_r == pytest.approx(-1.25)
    assert out.updated_at == t(9, 50)


def test_backfill_short() -> None:
    e = Excursions.start(Side.SHORT, 100.0, 4.0, FILL_AT)
    out = backfill(e, MINUTES, since=t(9, 35), until=t(9, 50))
    assert (out.mfe_price, out.mfe_at) == (95.0, t(9, 43))
    assert (out.mae_price, out.mae_at) == (106.0, t(9, 40))
    assert out.mfe_pct == pytest.approx(0.05) and out.mae_pct == pytest.approx(-0.06)


def test_backfill_keeps_better_live_extremes() -> None:
    e = Excursions.start(Side.LONG, 100.0, 4.0, FILL_AT).update(110.0, t(9, 33))
    e = e.update(90.0, t(9, 34)).update(100.0, t(9, 35))
    out = backfill(e, MINUTES, until=t(9, 50))
    assert (out.mfe_price, out.mfe_at, out.mae_price, out.mae_at) == (
        110.0,
        t(9, 33),
        90.0,
        t(9, 34),
    )
    assert out.updated_at == t(9, 50)


def test_backfill_without_until_takes_everything_after_since() -> None:
    e = Excursions.start(Side.LONG, 100.0, 4.0, FILL_AT)
    out = backfill(e, MINUTES, since=t(9, 35))
    assert (out.mfe_price, out.mfe_at, out.mae_price, out.mae_at) == (
        130.0,
        t(9, 55),
        70.0,
        t(9, 55),
    )


def test_backfill_unsorted_bars() -> None:
    e = Excursions.start(Side.LONG, 100.0, 4.0, FILL_AT)
    out = backfill(e, MINUTES.iloc[::-1], since=t(9, 35), until=t(9, 50))
    assert (out.mfe_at, out.mae_at) == (t(9, 40), t(9, 43))


def test_backfill_nothing_new() -> None:
    e = Excursions.start(Side.LONG, 100.0, 4.0, FILL_AT)
    assert backfill(e, MINUTES, since=t(10, 0)) is e
    assert backfill(e, MINUTES.iloc[0:0]) is e


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"high": [1.0]}, index=pd.DatetimeIndex([t(9, 36)])),
        pd.DataFrame({"high": [1.0], "low": [1.0]}, index=pd.DatetimeIndex(["2024-03-12 09:36"])),
        pd.DataFrame({"high": [1.0], "low": [1.0]}, index=[5]),
    ],
    ids=["missing-low", "naive-index", "not-datetime-index"],
)
def test_backfill_rejects_malformed_bars(frame) -> None:
    e = Excursions.start(Side.LONG, 100.0, 4.0, FILL_AT)
    with pytest.raises(ValueError, match="minute bars"):
        backfill(e, frame)


@pytest.mark.realdata
def test_backfill_from_real_minute_bars(shared_data: Path) -> None:
    """AAPL 2019-02-11: a long filled at the 09:31 close, app down from 09:45 to 11:00."""
    df = pd.read_csv(
        shared_data / "intraday_1min_2019-02-11_to_15" / "AAPL_1min.csv", parse_dates=["datetime"]
    )
    df = df.set_index(pd.DatetimeIndex(df["datetime"]).tz_localize(ET))
    day = df.loc["2019-02-11"]
    fill_at = day.index[0].to_pydatetime()
    fill = float(day["close"].iloc[0])
    live_until = fill_at + timedelta(minutes=14)
    e = Excursions.start(Side.LONG, fill, 1.0, fill_at)
    for at, row in day.loc[day.index <= live_until].iterrows():
        e = e.update(float(row["close"]), at.to_pydatetime())
    restart = fill_at + timedelta(minutes=89)
    out = backfill(e, day, until=restart)
    gap = day.loc[(day.index > live_until) & (day.index <= restart)]
    best_high = max(e.mfe_price, float(gap["high"].max()))
    worst_low = min(e.mae_price, float(gap["low"].min()))
    assert out.mfe_price == best_high and out.mae_price == worst_low
    if best_high > e.mfe_price:
        assert out.mfe_at == gap["high"].idxmax().to_pydatetime()
    if worst_low < e.mae_price:
        assert out.mae_at == gap["low"].idxmin().to_pydatetime()
    assert out.updated_at == restart
