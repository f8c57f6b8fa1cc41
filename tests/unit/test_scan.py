"""The scan as a pure function: ``scan_session`` on hand-built bars and on the simulated market.

Hand-built bars: a few symbols and SPY over 300 XNYS sessions, each shaped so one rule of
trading rules §2-§6 decides its fate (a strategy fires, it is stale, it is one bar short,
its close or dollar volume sits exactly on the eligibility floor...). Prices and volumes of
the boundary symbols are binary-exact so that ``close`` and ``dv20`` land exactly on 5 and
20,000,000 (products of dyadic prices and integer volumes sum without rounding).

Simulated market: the top-12 walk on real-sized scans, recomputed here independently from the
scan's own indicator values (eligibility, dv20 percentile, score, order, sector cap).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import date, datetime, time

import numpy as np
import pandas as pd
import pytest

from workstation.core.bars import DailyBars
from workstation.core.calendar import ET, get_calendar
from workstation.core.clock import SimClock
from workstation.core.config import Config, SimConfig
from workstation.core.config_files import load_config
from workstation.core.models import Group, Regime, Side, Universe
from workstation.core.paths import shipped_config_dir
from workstation.engine.scan import ScanError, ScanResult, scan_session
from workstation.market.sim import SimMarket
from workstation.market.universe import sp500_universe
from workstation.market.validation import validate_bars
from workstation.signals.ta_reference import ta_reference

SESSION = date(2024, 6, 14)  # a Friday
T = 300
CAL = get_calendar()
DATES = np.array(CAL.sessions_back(SESSION, T), dtype="datetime64[D]")
ROW = np.arange(T, dtype=np.float64)
ALT = (-1.0) ** ROW  # +1, -1, +1, ... : a zigzag that keeps the band width constant


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load_config(shipped_config_dir())


# -- hand-built price paths ------------------------------------------------------------------
Bars = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def ohlcv(close: np.ndarray, volume: float | np.ndarray = 1e6, spread: float = 0.01) -> Bars:
    """Open at the previous close, high/low ``spread`` beyond the open-close body."""
    c = np.asarray(close, dtype=np.float64)
    o = np.r_[c[0], c[:-1]]
    h = np.maximum(o, c) * (1 + spread)
    lo = np.minimum(o, c) * (1 - spread)
    v = np.broadcast_to(np.asarray(volume, dtype=np.float64), c.shape).copy()
    return o, h, lo, c, v


def uptrend(start: float = 50.0, drift: float = 0.002, zig: float = 0.004) -> np.ndarray:
    """A steady uptrend with a small daily zigzag: RSI ~60, no rule fires."""
    return start * np.exp(drift * ROW) * (1 + zig * ALT)


def sell_off(days: int = 4, drop: float = 0.03) -> np.ndarray:
    """The uptrend, then ``days`` closes 3% lower each: RSI < 30, still above the SMA200."""
    c = uptrend()
    c[-days:] = c[-days - 1] * (1 - drop) ** np.arange(1, days + 1)
    return c


def blow_off(days: int = 3, rise: float = 0.03) -> np.ndarray:
    """A slow uptrend, then ``days`` closes 3% higher each: RSI > 75 above the upper band."""
    c = uptrend(drift=0.001)
    c[-days:] = c[-days - 1] * (1 + rise) ** np.arange(1, days + 1)
    return c


def squeeze() -> np.ndarray:
    """A wide zigzag, then 30 sessions of a narrow one, then a close above the upper band."""
    c = 50 * (1 + 0.02 * ALT)
    c[-30:] = 50 * (1 + 0.002 * ALT[-30:])
    c[-1] = 51.0
    return c


def stale_sell_off() -> np.ndarray:
    """The sell-off one session earlier (its last row is then blanked: a stale symbol)."""
    return np.r_[sell_off()[1:], 1.0]


def with_nan_rows(b: Bars, rows: slice) -> Bars:
    out = tuple(x.copy() for x in b)
    for x in out:
        x[rows] = np.nan
    return out  # type: ignore[return-value]


def nan_last_high_low(b: Bars) -> Bars:
    o, h, lo, c, v = (x.copy() for x in b)
    h[-1] = np.nan
    lo[-1] = np.nan
    return o, h, lo, c, v


def exact_zigzag(a: float, b: float, last: float) -> np.ndarray:
    """Alternating a / b, ending exactly on ``last``."""
    c = np.where(ALT > 0, a, b)
    c[-1] = last
    return c


def dv_exact(volumes: tuple[float, float]) -> Bars:
    """Closes 40 / 39.0625 (binary-exact) with the given volumes: with (500_000, 512_000)
    every session trades exactly $20,000,000, so dv20 is exactly 20M."""
    c = exact_zigzag(40.0, 39.0625, 40.0 if ALT[-1] > 0 else 39.0625)
    v = np.where(c == 40.0, volumes[0], volumes[1])
    return ohlcv(c, v)


SPY_PATHS: dict[str, np.ndarray] = {
    # A fast, small sine: ADX ~12, closes not stacked, low volatility.
    "RANGING": 400 * (1 + 0.01 * np.sin(2 * np.pi * ROW / 10)),
    # +-3% every day: ~95% annualized volatility.
    "HIGH_VOL": 400 * (1 + 0.03 * ALT),
    # A steady climb: ADX high, close > sma50 > sma200.
    "TREND": uptrend(300.0, 0.002, 0.002),
}

SYMBOLS: dict[str, tuple[str, Callable[[], Bars]]] = {
    # symbol: (sector, bars)
    "AAA": ("Industrials", lambda: ohlcv(uptrend())),
    "REV": ("Health Care", lambda: ohlcv(sell_off())),
    "OVB": ("Energy", lambda: ohlcv(blow_off())),
    "SQZ": ("Utilities", lambda: ohlcv(squeeze())),
    # The sell-off with 5 sessions missing in the middle of its history.
    "GAP": ("Financials", lambda: with_nan_rows(ohlcv(sell_off()), slice(100, 105))),
    # The sell-off, but its last bar is the session before the scan's: it must not fire.
    "STALE": ("Financials", lambda: with_nan_rows(ohlcv(stale_sell_off()), slice(-1, None))),
    "EMPTY": ("Materials", lambda: with_nan_rows(ohlcv(uptrend()), slice(None))),
    "SHORT249": ("Materials", lambda: with_nan_rows(ohlcv(uptrend()), slice(0, T - 249))),
    "SHORT250": ("Materials", lambda: with_nan_rows(ohlcv(uptrend()), slice(0, T - 250))),
    "CHEAP5": ("Real Estate", lambda: ohlcv(exact_zigzag(5.125, 5.0, 5.0), 1e7)),
    "CHEAP499": ("Real Estate", lambda: ohlcv(exact_zigzag(5.125, 5.0, 4.99), 1e7)),
    "DV20M": ("Consumer Staples", lambda: dv_exact((500_000.0, 512_000.0))),
    # $19,999,980 / $19,999,980.47 a session: just under the floor.
    "DVLOW": ("Consumer Staples", lambda: dv_exact((499_999.5, 511_999.5))),
    "NANHL": ("Utilities", lambda: nan_last_high_low(ohlcv(uptrend()))),
}
NOT_IN_BARS = "MISSING"  # in the universe, absent from the bars


def make_bars(spy: str = "RANGING", drop: tuple[str, ...] = ()) -> DailyBars:
    cols = {s: make() for s, (_sector, make) in SYMBOLS.items() if s not in drop}
    if "SPY" not in drop:
        cols["SPY"] = ohlcv(SPY_PATHS[spy], 8e7)
    fields = [np.column_stack([b[k] for b in cols.values()]) for k in range(5)]
    return DailyBars(DATES, tuple(cols), *fields)


def make_universe(symbols: tuple[str, ...] | None = None) -> Universe:
    sectors = {s: sec for s, (sec, _make) in SYMBOLS.items()}
    sectors[NOT_IN_BARS] = "Materials"
    if symbols is not None:
        sectors = {s: sectors[s] for s in symbols}
    return Universe.of(sectors, "SPY")


@pytest.fixture(scope="module")
def bars() -> DailyBars:
    return make_bars()


@pytest.fixture(scope="module")
def full(bars: DailyBars, cfg: Config) -> ScanResult:
    return scan_session(bars, make_universe(), SESSION, cfg)


def test_boundary_values_are_exact(full: ScanResult) -> None:
    """The fixtures really sit on the boundaries (else the eligibility cases prove nothing)."""
    ind = full.indicators
    close, dv20, n_bars = ind.last("close"), ind.last("dv20"), ind.n_bars
    assert close[ind.col("CHEAP5")] == 5.0
    assert close[ind.col("CHEAP499")] == 4.99
    assert dv20[ind.col("DV20M")] == 20_000_000.0
    assert 19_999_980.0 <= dv20[ind.col("DVLOW")] < 20_000_000.0
    assert n_bars[ind.col("SHORT249")] == 249
    assert n_bars[ind.col("SHORT250")] == 250
    assert n_bars[ind.col("GAP")] == T - 5


# -- one symbol at a time: what the report says about it ------------------------------------
@dataclasses.dataclass(frozen=True)
class Fate:
    loaded: int
    eligible: int
    stale: int
    failed: int
    ineligible: str | None = None  # the reason counted, if any


ELIGIBLE = Fate(loaded=1, eligible=1, stale=0, failed=0)


@pytest.mark.parametrize(
    ("symbol", "fate"),
    [
        pytest.param("AAA", ELIGIBLE, id="plain-eligible"),
        pytest.param("GAP", ELIGIBLE, id="nan-rows-in-the-middle-eligible"),
        pytest.param("STALE", Fate(1, 0, 1, 0), id="last-bar-before-session-stale"),
        pytest.param("EMPTY", Fate(0, 0, 0, 1), id="no-data-at-all-failed"),
        pytest.param(NOT_IN_BARS, Fate(0, 0, 0, 1), id="absent-from-bars-failed"),
        pytest.param("SHORT249", Fate(1, 0, 0, 0, "too_few_bars"), id="249-bars-ineligible"),
        pytest.param("SHORT250", ELIGIBLE, id="250-bars-eligible"),
        pytest.param("CHEAP499", Fate(1, 0, 0, 0, "close_below_min"), id="close-4.99-ineligible"),
        pytest.param("CHEAP5", ELIGIBLE, id="close-exactly-5-eligible"),
        pytest.param(
            "DVLOW", Fate(1, 0, 0, 0, "dollar_volume_below_min"), id="dv20-under-20M-ineligible"
        ),
        pytest.param("DV20M", ELIGIBLE, id="dv20-exactly-20M-eligible"),
        # §14: a NaN price is an invalid bar (not served), named as such, not as stale.
        pytest.param("NANHL", Fate(1, 0, 0, 0, "invalid_bar"), id="nan-high-low-today-invalid"),
    ],
)
def test_eligibility_of_one_symbol(bars: DailyBars, cfg: Config, symbol: str, fate: Fate) -> None:
    res = scan_session(bars, make_universe((symbol,)), SESSION, cfg)
    rep = res.report
    assert (rep.universe, rep.loaded, rep.eligible, len(rep.stale), len(rep.failed)) == (
        1,
        fate.loaded,
        fate.eligible,
        fate.stale,
        fate.failed,
    )
    expected_reasons = {r: 0 for r in rep.ineligible}
    if fate.ineligible is not None:
        expected_reasons[fate.ineligible] = 1
    assert rep.ineligible == expected_reasons
    assert rep.stale == ((symbol,) if fate.stale else ())
    assert rep.failed == ((symbol,) if fate.failed else ())
    if not fate.eligible:
        assert symbol not in {c.symbol for c in res.candidates}


# -- the whole universe at once ----------------------------------------------------------------
def test_report_counts_are_exact(full: ScanResult, cfg: Config) -> None:
    rep = full.report
    assert rep.session == SESSION
    assert rep.universe == len(SYMBOLS) + 1  # + MISSING
    assert rep.loaded == len(SYMBOLS) - 1  # EMPTY has no bar
    assert rep.eligible == 8  # AAA REV OVB SQZ GAP SHORT250 CHEAP5 DV20M
    assert rep.stale == ("STALE",)
    assert rep.failed == ("EMPTY", "MISSING")
    assert rep.ineligible == {
        "invalid_bar": 1,
        "duplicate_conflict": 0,
        "spike": 0,
        "too_few_bars": 1,
        "close_below_min": 1,
        "dollar_volume_below_min": 1,
        "indicator_not_finite": 0,
    }
    assert rep.data_problems.by_kind() == {"invalid_bar": {"NANHL": [SESSION.isoformat()]}}
    assert rep.eligible + sum(rep.ineligible.values()) + len(rep.stale) == rep.loaded
    assert rep.param_hash == cfg.param_hash and len(rep.param_hash) == 16
    assert rep.duration_s > 0
    d = rep.as_dict()
    assert (d["loaded"], d["eligible"], d["stale"], d["failed"]) == (13, 8, 1, 2)
    assert d["stale_symbols"] == ["STALE"] and d["failed_symbols"] == ["EMPTY", "MISSING"]
    assert d["param_hash"] == cfg.param_hash


# -- §14: a bad bar among the bars the indicators read ----------------------------------------
def _rev_with(row: int, change: Callable[[Bars], None]) -> DailyBars:
    """The hand-built bars with REV (an rsi_reversion candidate) changed at ``row``."""
    b = make_bars()
    j = b.col("REV")
    fields = [getattr(b, f).copy() for f in ("open", "high", "low", "close", "volume")]
    col = tuple(f[:, j] for f in fields)
    change(col)  # type: ignore[arg-type]
    return DailyBars(b.dates, b.symbols, *fields)


def _set(field: int, value: float, row: int) -> Callable[[Bars], None]:
    def change(col: Bars) -> None:
        if field == 3:  # a close: the whole bar at that price
            for k in range(4):
                col[k][row] = value
        else:
            col[field][row] = value

    return change


@pytest.mark.parametrize(
    ("row", "change", "reason", "kind"),
    [
        pytest.param(-50, _set(3, 0.01, -50), "spike", "spike", id="a-0.01-spike-50-sessions-ago"),
        pytest.param(0, _set(3, -1.0, 0), "invalid_bar", "invalid_bar", id="invalid-first-bar"),
        pytest.param(-1, _set(3, 0.0, -1), "invalid_bar", "invalid_bar", id="invalid-on-session"),
        pytest.param(-120, _set(4, -5.0, -120), "invalid_bar", "invalid_bar", id="neg-volume"),
        pytest.param(-1, None, "duplicate_conflict", "duplicate_conflict", id="conflict-today"),
        pytest.param(-10, _set(4, 0.0, -10), None, "zero_volume", id="zero-volume-stays-eligible"),
        pytest.param(-3, _set(1, 1.0, -3), None, "repaired", id="repaired-stays-eligible"),
    ],
)
def test_a_bad_bar_in_the_window_makes_the_symbol_ineligible(
    cfg: Config,
    full: ScanResult,
    row: int,
    change: Callable[[Bars], None] | None,
    reason: str | None,
    kind: str,
) -> None:
    assert "REV" in {c.symbol for c in full.candidates}  # clean, REV is a candidate
    raw = _rev_with(row, change or (lambda col: None))
    conflicts = np.zeros(raw.close.shape, dtype=bool)
    if change is None:
        conflicts[row, raw.col("REV")] = True
    bars = validate_bars(raw, spike_pct=0.5, conflicts=conflicts).bars
    res = scan_session(bars, make_universe(), SESSION, cfg)
    rep = res.report
    session = DATES[row].astype(object).isoformat()
    assert rep.data_problems.by_kind()[kind]["REV"] == [session]
    assert rep.as_dict()["data_problems"]["by_kind"][kind]["REV"] == [session]
    if reason is None:
        assert "REV" in {c.symbol for c in res.candidates}
        assert rep.eligible == full.report.eligible
    else:
        assert "REV" not in {c.symbol for c in res.candidates}  # never entered
        assert rep.ineligible[reason] == 1 + (reason == "invalid_bar")  # + NANHL
        assert rep.eligible == full.report.eligible - 1
        assert rep.stale == full.report.stale and rep.failed == full.report.failed


def test_unvalidated_bars_are_validated_by_the_scan(cfg: Config) -> None:
    raw = _rev_with(-50, _set(3, -1.0, -50))
    assert raw.flags is None
    rep = scan_session(raw, make_universe(), SESSION, cfg).report
    assert rep.data_problems.by_kind()["invalid_bar"]["REV"] == [
        DATES[-50].astype(object).isoformat()
    ]
    assert rep.ineligible["invalid_bar"] == 2  # REV and NANHL


def test_symbols_the_market_reports_failed_are_counted_not_scanned(
    bars: DailyBars, cfg: Config
) -> None:
    """``failed=`` names symbols whose load failed: even with a column of bars they are out."""
    res = scan_session(bars, make_universe(), SESSION, cfg, failed=("REV",))
    rep = res.report
    assert rep.failed == ("EMPTY", "MISSING", "REV")
    assert (rep.loaded, rep.eligible) == (12, 7)
    assert rep.loaded + len(rep.failed) == rep.universe
    assert "REV" not in {c.symbol for c in res.candidates}


def test_param_hash_follows_the_parameters(bars: DailyBars, cfg: Config) -> None:
    elig = dataclasses.replace(cfg.scanner.eligibility, min_close=5.01)
    other = dataclasses.replace(cfg, scanner=dataclasses.replace(cfg.scanner, eligibility=elig))
    res = scan_session(bars, make_universe(), SESSION, other)
    assert res.report.param_hash == other.param_hash != cfg.param_hash
    # ... and the parameters are really used: the $5.00 stock is now out.
    assert res.report.eligible == 7
    assert res.report.ineligible["close_below_min"] == 2


# Which strategy each firing symbol's candidate comes from, per SPY regime (§4, §5):
# TREND forbids overbought_short (OVB instead leads the roc20 percentile: regime_momentum);
# HIGH_VOL forbids bb_squeeze.
EXPECTED: dict[str, dict[str, str]] = {
    "RANGING": {
        "REV": "rsi_reversion",
        "GAP": "rsi_reversion",
        "OVB": "overbought_short",
        "SQZ": "bb_squeeze",
    },
    "HIGH_VOL": {"REV": "rsi_reversion", "GAP": "rsi_reversion", "OVB": "overbought_short"},
    "TREND": {
        "REV": "rsi_reversion",
        "GAP": "rsi_reversion",
        "OVB": "regime_momentum",
        "SQZ": "bb_squeeze",
    },
}


@pytest.mark.parametrize("regime", list(EXPECTED), ids=str.lower)
def test_candidates_per_regime(cfg: Config, regime: str) -> None:
    res = scan_session(make_bars(spy=regime), make_universe(), SESSION, cfg)
    assert res.report.regime == regime
    assert res.regime.regime is Regime(regime)
    got = {c.symbol: c.strategy for c in res.candidates}
    assert got == EXPECTED[regime]
    assert len(res.candidates) < 12  # few fire: fewer than 12, no padding
    assert [c.rank for c in res.candidates] == list(range(1, len(res.candidates) + 1))
    scores = [c.score for c in res.candidates]
    assert scores == sorted(scores, reverse=True)
    limits = cfg.scanner.regime.limits(Regime(regime))
    for c in res.candidates:
        p = cfg.strategies[c.strategy]
        assert (c.side, c.group) == (p.side, p.group)
        assert c.parts.fit == (1.0 if c.strategy in limits.preferred else 0.5)
        assert c.sl_distance == pytest.approx(p.sl_atr * c.atr14, rel=1e-12)
        assert c.tp_distance == pytest.approx(p.tp_atr * c.atr14, rel=1e-12)
        assert c.regime is Regime(regime)


def test_candidate_values_follow_the_rules(full: ScanResult) -> None:
    by = {c.symbol: c for c in full.candidates}
    rev = by["REV"]
    assert rev.side is Side.LONG and rev.group is Group.A
    assert rev.indicators["rsi14"] < 30 and rev.indicators["close"] > rev.indicators["sma200"]
    assert rev.strength == pytest.approx((30 - rev.indicators["rsi14"]) / 20, rel=1e-12)
    ovb = by["OVB"]
    assert ovb.side is Side.SHORT and ovb.group is Group.B
    assert ovb.indicators["rsi14"] > 75 and ovb.indicators["close"] > ovb.indicators["bb_up"]
    assert ovb.strength == pytest.approx(min(1.0, (ovb.indicators["rsi14"] - 75) / 15), rel=1e-12)
    sqz = by["SQZ"]
    assert sqz.indicators["prev_bw_pct"] <= 0.20
    assert sqz.indicators["close"] > sqz.indicators["bb_up"]
    assert sqz.strength == pytest.approx(1 - sqz.indicators["prev_bw_pct"] / 0.20, rel=1e-12)


def test_nan_rows_in_the_middle_are_skipped_like_ta(bars: DailyBars, full: ScanResult) -> None:
    """GAP's indicators are ta's on its existing bars (the missing sessions simply absent)."""
    gap = next(c for c in full.candidates if c.symbol == "GAP")
    ref = ta_reference(bars.select(["GAP"]))
    for name in ("rsi14", "sma200", "atr14", "close"):
        assert gap.indicators[name] == pytest.approx(float(ref.last(name)[0]), rel=1e-9), name
    # The gap changes the values: GAP and REV (same closes, no gap) differ.
    rev = next(c for c in full.candidates if c.symbol == "REV")
    assert gap.indicators["sma200"] != rev.indicators["sma200"]


def test_stale_symbol_would_fire_but_is_never_a_candidate(bars: DailyBars, cfg: Config) -> None:
    """STALE's bars scanned on its own last day do fire: the staleness rule is what keeps it out."""
    prev = DATES[-2].astype(object)
    own_day = scan_session(bars.upto(prev), make_universe(("STALE",)), prev, cfg)
    assert [c.symbol for c in own_day.candidates] == ["STALE"]
    today = scan_session(bars, make_universe(("STALE",)), SESSION, cfg)
    assert today.candidates == ()
    assert today.report.stale == ("STALE",)


def test_bars_after_the_session_are_ignored(bars: DailyBars, cfg: Config) -> None:
    prev = DATES[-2].astype(object)
    a = scan_session(bars, make_universe(), prev, cfg)
    b = scan_session(bars.upto(prev), make_universe(), prev, cfg)
    assert a.report.session == prev
    assert [(c.symbol, c.strategy, c.score) for c in a.candidates] == [
        (c.symbol, c.strategy, c.score) for c in b.candidates
    ]
    # On the previous session every symbol with data has its last bar (STALE included).
    assert a.report.stale == ()


# -- scans that cannot run -----------------------------------------------------------------------
def _spy_stale(b: DailyBars) -> DailyBars:
    close = b.close.copy()
    close[-1, b.col("SPY")] = np.nan
    return dataclasses.replace(b, close=close)


@pytest.mark.parametrize(
    ("make", "session", "message"),
    [
        pytest.param(lambda: make_bars(drop=("SPY",)), SESSION, "SPY", id="spy-missing"),
        pytest.param(lambda: _spy_stale(make_bars()), SESSION, "SPY", id="spy-stale"),
        pytest.param(make_bars, date(2024, 6, 15), "2024-06-15", id="session-a-saturday"),
        pytest.param(make_bars, date(2024, 6, 17), "2024-06-17", id="session-after-the-data"),
        pytest.param(make_bars, date(2022, 1, 3), "2022-01-03", id="session-before-the-data"),
    ],
)
def test_scan_errors(
    cfg: Config, make: Callable[[], DailyBars], session: date, message: str
) -> None:
    with pytest.raises(ScanError, match=message):
        scan_session(make(), make_universe(), session, cfg)


def test_spy_stale_message_says_stale(cfg: Config) -> None:
    with pytest.raises(ScanError, match=r"SPY .*stale"):
        scan_session(_spy_stale(make_bars()), make_universe(), SESSION, cfg)


# -- the top-12 walk on the simulated market ---------------------------------------------------
SIM_TODAY = date(2024, 6, 14)


@pytest.fixture(scope="module")
def sim() -> SimMarket:
    clock = SimClock(datetime.combine(SIM_TODAY, time(8), tzinfo=ET), speed=math.inf)
    return SimMarket(sp500_universe(), SimConfig(seed=7, today=SIM_TODAY.isoformat()), clock)


def _independent_eligible(res: ScanResult, cfg: Config, n: int) -> np.ndarray:
    ind, e = res.indicators, cfg.scanner.eligibility
    return (
        (ind.n_bars[:n] >= e.min_bars)
        & (ind.last("close")[:n] >= e.min_close)
        & (ind.last("dv20")[:n] >= e.min_dv20)
        & ind.all_finite()[:n]
        & (ind.last_date[:n] == np.datetime64(res.session, "D"))
    )


# Sessions of the seed-7 simulation where the sector cap takes symbols out (checked below).
@pytest.mark.parametrize(
    ("session", "regime"),
    [
        pytest.param(date(2024, 4, 10), "RANGING", id="ranging-2024-04-10"),
        pytest.param(date(2024, 5, 20), "TREND", id="trend-2024-05-20"),
    ],
)
def test_top12_walk_on_the_sim_market(
    sim: SimMarket, cfg: Config, session: date, regime: str
) -> None:
    u = sim.universe()
    bars = sim.daily_bars_now([*u.symbols, u.benchmark], session, 300)
    res = scan_session(bars, u, session, cfg)
    rk = cfg.scanner.ranking
    cands = res.candidates
    assert res.report.regime == regime
    assert res.report.loaded == 503 and res.report.failed == () and res.report.stale == ()

    # At most 12, one per symbol, at most 3 per sector, sorted by score.
    assert len(cands) == rk.top_n == 12
    assert len({c.symbol for c in cands}) == len(cands)
    per_sector = pd.Series([c.sector for c in cands]).value_counts()
    assert per_sector.max() <= rk.max_per_sector
    scores = [c.score for c in cands]
    assert scores == sorted(scores, reverse=True)
    assert all(c.sector == u.sector(c.symbol) for c in cands)

    # Eligibility and the liquidity percentile, recomputed from the scan's indicators.
    n = len(u.symbols)
    elig = _independent_eligible(res, cfg, n)
    assert int(elig.sum()) == res.report.eligible
    symbols = list(u.symbols)
    dv = pd.Series(res.indicators.last("dv20")[:n], index=symbols)
    liquidity = dv[elig].rank(pct=True, method="max")
    limits = cfg.scanner.regime.limits(Regime(regime))
    for c in cands:
        p = cfg.strategies[c.strategy]
        assert elig[symbols.index(c.symbol)], c.symbol
        assert c.strategy in (*limits.preferred, *limits.allowed)
        assert c.parts.liquidity == pytest.approx(liquidity[c.symbol], abs=1e-15)
        fit = rk.fit_preferred if c.strategy in limits.preferred else rk.fit_allowed
        score = 100 * (
            0.50 * c.strength
            + 0.20 * liquidity[c.symbol]
            + 0.15 * min(1.0, (p.tp_atr / p.sl_atr) / 2)
            + 0.15 * fit
        )
        assert c.score == pytest.approx(score, rel=1e-12), c.symbol

    # The walk: every ranked entry (taken, capped out, below the cut) in the spec's order;
    # walking it with the cap reproduces the candidates exactly.
    rank = res.ranking
    entries: list[tuple[float, float, str, str]] = [
        (c.score, c.indicators["dv20"], c.symbol, c.sector) for c in cands
    ] + [(p.entry.score, p.entry.dv20, p.symbol, p.entry.sector) for p in rank.passed_over]
    entries += [(p.entry.score, p.entry.dv20, p.symbol, p.entry.sector) for p in rank.runners_up]
    assert len({e[2] for e in entries}) == len(entries)  # one entry per symbol
    order = sorted(entries, key=lambda e: (-e[0], -e[1], e[2]))
    taken: list[str] = []
    held: dict[str, int] = {}
    capped: list[str] = []
    for _score, _dv, sym, sector in order:
        if len(taken) == rk.top_n:
            break
        if held.get(sector, 0) >= rk.max_per_sector:
            capped.append(sym)
            continue
        held[sector] = held.get(sector, 0) + 1
        taken.append(sym)
    assert taken == [c.symbol for c in cands]
    assert capped == [p.symbol for p in rank.passed_over]

    # The cap really bit: a 4th-best of a sector outscored the last candidate taken.
    assert rank.passed_over, "choose a session where the sector cap applies"
    for p in rank.passed_over:
        assert p.kind == "sector_cap"
        assert p.entry.score >= cands[-1].score
        assert len(p.blocked_by) == rk.max_per_sector
        blockers = [c for c in cands if c.symbol in p.blocked_by]
        assert all(b.sector == p.entry.sector and b.score >= p.entry.score for b in blockers)

    # One candidate per symbol: a symbol two strategies fired for keeps its best score.
    kept = {c.symbol: c for c in cands}
    for s in rank.superseded:
        if s.symbol in kept:
            assert kept[s.symbol].strategy == s.kept_strategy
            assert s.score <= kept[s.symbol].score


def test_indicator_values_of_sim_candidates_equal_ta(sim: SimMarket, cfg: Config) -> None:
    session = date(2024, 6, 4)
    u = sim.universe()
    bars = sim.daily_bars_now([*u.symbols, u.benchmark], session, 300)
    res = scan_session(bars, u, session, cfg)
    picked = [c.symbol for c in res.candidates]
    ref = ta_reference(bars.select(picked))
    for j, c in enumerate(res.candidates):
        for name, value in c.indicators.items():
            if name in ("prev_bw_pct", "dv20_pct", "roc20_pct"):
                continue  # percentiles among the eligible symbols, not one symbol's bars
            want = float(ref.last(name)[j])
            assert value == pytest.approx(want, rel=1e-9, abs=1e-12), (c.symbol, name)
        if "prev_bw_pct" in c.indicators:
            want = float(ref.prev("bw_pct")[j])
            assert c.indicators["prev_bw_pct"] == pytest.approx(want, rel=1e-9)
