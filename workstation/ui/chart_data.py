"""What a daily chart shows, computed off the Qt loop with the scanner's own functions.

:func:`chart_data` turns one symbol's daily bars into the series a chart draws: the bars, the
volume, SMA50, SMA200, EMA20, the Bollinger bands, RSI14, ADX14 and +DI/-DI. The indicator
values come from :func:`workstation.signals.indicators.compute_indicators` (the very function
the nightly scan uses, equal to ``ta``), with the windows of the configuration in force, over
all the bars given (so the smoothers warm up as the scanner's do) and then cut to the last
``show`` sessions. :func:`thresholds` lists the strategy thresholds the RSI and ADX panes draw,
read from the configuration (never hard-coded).

No Qt here: :class:`workstation.ui.price_chart.ChartWorker` runs :func:`chart_data` in a
worker thread and hands the result to the GUI thread.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from workstation.core.config import IndicatorConfig, RegimeConfig
from workstation.signals.regime import RegimeResult, regime_history

if TYPE_CHECKING:
    import pandas as pd

    from workstation.core.config import Config

#: The series a chart draws besides the bars (the scanner's names; windows from the config).
LINES = ("sma50", "sma200", "ema20", "bb_up", "bb_mid", "bb_low", "rsi14", "adx14", "pdi", "mdi")


@dataclass(frozen=True)
class ChartData:
    """One symbol's last ``len(times)`` sessions and their indicator series (aligned)."""

    symbol: str
    times: tuple[datetime, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    lines: Mapping[str, np.ndarray] = field(default_factory=dict)
    windows: Mapping[str, int | float] = field(default_factory=dict)
    # The regime each session's nightly scan would decide with these bars as the benchmark
    # (``signals.regime.regime_history``; None before enough history); empty unless asked.
    regimes: tuple[RegimeResult | None, ...] = ()

    def __len__(self) -> int:
        return len(self.times)

    def at(self, i: int) -> dict[str, float]:
        """Every value of bar ``i`` (NaN where an indicator has no value yet)."""
        out = {
            "open": float(self.open[i]),
            "high": float(self.high[i]),
            "low": float(self.low[i]),
            "close": float(self.close[i]),
            "volume": float(self.volume[i]),
        }
        out.update({k: float(v[i]) for k, v in self.lines.items()})
        return out


def _params(cfg: IndicatorConfig) -> Any:
    from workstation.signals.indicators import IndicatorParams

    # The configuration's indicator section and the indicators' parameters share their names.
    return IndicatorParams(**dataclasses.asdict(cfg))


def chart_data(
    symbol: str,
    bars: pd.DataFrame,
    cfg: IndicatorConfig,
    show: int,
    regime: RegimeConfig | None = None,
) -> ChartData:
    """The chart of ``symbol`` from its daily ``bars`` (columns open, high, low, close, volume;
    a DatetimeIndex of sessions, ascending): indicators over all of them, the last ``show``
    sessions kept; with ``regime``, the regime of each session too (``symbol`` is then the
    benchmark)."""
    from workstation.core.bars import DailyBars
    from workstation.signals.indicators import compute_indicators

    df = bars.dropna(subset=["close"])
    n = len(df)
    if n == 0:
        empty = np.array([], dtype=float)
        return ChartData(symbol, (), empty, empty, empty, empty, empty)
    idx = df.index
    naive = idx.tz_localize(None) if getattr(idx, "tz", None) is not None else idx
    cols = {c: df[c].to_numpy(dtype=float).reshape(n, 1) for c in ("open", "high", "low", "close")}
    volume = df["volume"].to_numpy(dtype=float).reshape(n, 1)
    daily = DailyBars(
        dates=naive.to_numpy().astype("datetime64[D]"),
        symbols=(symbol,),
        volume=volume,
        **cols,
    )
    ind = compute_indicators(daily, _params(cfg))
    keep = slice(max(0, n - show), n)
    full = {name: ind.series(name, symbol).to_numpy(dtype=float) for name in LINES}
    lines = {name: v[keep] for name, v in full.items()}
    regimes: tuple[RegimeResult | None, ...] = ()
    if regime is not None:
        regimes = regime_history(
            cols["close"][:, 0], full["adx14"], full["sma50"], full["sma200"], regime, symbol
        )[keep]
    return ChartData(
        symbol=symbol,
        times=tuple(t.to_pydatetime() for t in idx[keep]),
        open=cols["open"][keep, 0],
        high=cols["high"][keep, 0],
        low=cols["low"][keep, 0],
        close=cols["close"][keep, 0],
        volume=volume[keep, 0],
        lines=lines,
        windows={
            "sma_fast": cfg.sma_fast,
            "sma_slow": cfg.sma_slow,
            "ema_window": cfg.ema_window,
            "bb_window": cfg.bb_window,
            "bb_dev": cfg.bb_dev,
            "rsi_window": cfg.rsi_window,
            "adx_window": cfg.adx_window,
        },
        regimes=regimes,
    )


@dataclass(frozen=True)
class Threshold:
    """A horizontal line of an indicator pane: the value a strategy (or the regime) tests."""

    value: float
    label: str  # e.g. "rsi_reversion < 30"


#: How a strategy parameter reads as a comparison, by its name (the strategies' convention).
_OPS = {"rsi_below": "<", "rsi_above": ">", "rsi_min": ">=", "rsi_max": "<=", "adx_min": ">="}


def thresholds(
    strategies: Mapping[str, Any],
    regime: RegimeConfig | None = None,
    only: str | None = None,
) -> dict[str, tuple[Threshold, ...]]:
    """The RSI and ADX thresholds of the enabled strategies (``only``: of that strategy alone,
    when it is one of them) and, without ``only``, the regime's trend ADX:
    ``{"rsi": ..., "adx": ...}``, each by value; equal values share one line."""
    found: dict[str, dict[float, list[str]]] = {"rsi": {}, "adx": {}}
    names = [only] if only in strategies else list(strategies)
    for name in names:
        p = strategies[name]
        if not getattr(p, "enabled", True):
            continue
        for f in dataclasses.fields(p):
            op = _OPS.get(f.name)
            value = getattr(p, f.name)
            if op is None or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not math.isfinite(value):
                continue
            pane = "rsi" if f.name.startswith("rsi") else "adx"
            found[pane].setdefault(float(value), []).append(f"{name} {op} {value:g}")
    if regime is not None and (only is None or only not in strategies):
        v = float(regime.trend_adx_min)
        found["adx"].setdefault(v, []).append(f"TREND regime >= {v:g}")
    return {
        pane: tuple(Threshold(v, " · ".join(labels)) for v, labels in sorted(by.items()))
        for pane, by in found.items()
    }


@dataclass(frozen=True)
class ChartConfig:
    """What the charts read of the configuration in force: the indicator windows, the
    strategies (their thresholds) and the regime rule."""

    indicators: IndicatorConfig = field(default_factory=IndicatorConfig)
    strategies: Mapping[str, Any] = field(default_factory=dict)
    regime: RegimeConfig = field(default_factory=RegimeConfig)

    @staticmethod
    def of(config: Config) -> ChartConfig:
        return ChartConfig(config.scanner.indicators, config.strategies, config.scanner.regime)

    def thresholds(self, strategy: str | None = None) -> dict[str, tuple[Threshold, ...]]:
        """The thresholds ``strategy`` tested (every enabled strategy's without one)."""
        return thresholds(self.strategies, self.regime, only=strategy)


__all__ = ["LINES", "ChartConfig", "ChartData", "Threshold", "chart_data", "thresholds"]
