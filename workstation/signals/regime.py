"""The market regime from SPY at the scan session (trading rules §5).

- ``HIGH_VOL`` if the sample stdev (ddof=1) of the last 20 daily log returns of
  SPY, times sqrt(252), is ``> 0.25`` (strict: exactly 0.25 is not high vol);
- else ``TREND`` if SPY ``adx14 >= 20`` and the closes are stacked
  (``close > sma50 > sma200`` or ``close < sma50 < sma200``, all strict);
- else ``RANGING``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workstation.core.config import RegimeConfig
from workstation.core.models import Regime


class RegimeError(ValueError):
    """The benchmark's data cannot give a regime (too short a history, missing values)."""


@dataclass(frozen=True)
class RegimeResult:
    """The regime and every value that decided it (shown in the scan report)."""

    regime: Regime
    vol: float  # annualized volatility of the last ``vol_window`` daily log returns
    vol_threshold: float
    adx: float
    adx_threshold: float
    close: float
    sma50: float
    sma200: float
    stacked: str  # "above" (close > sma50 > sma200), "below" (close < sma50 < sma200), "none"
    benchmark: str = "SPY"

    @property
    def high_vol(self) -> bool:
        return self.vol > self.vol_threshold

    def explain(self) -> str:
        """One line for the report: the rule that decided and the values."""
        vol = f"vol {self.vol:.4f} {'>' if self.high_vol else '<='} {self.vol_threshold:g}"
        if self.regime is Regime.HIGH_VOL:
            return f"{self.benchmark} {vol}: HIGH_VOL"
        adx_ok = self.adx >= self.adx_threshold
        adx = f"adx14 {self.adx:.2f} {'>=' if adx_ok else '<'} {self.adx_threshold:g}"
        stack = {
            "above": "close > sma50 > sma200",
            "below": "close < sma50 < sma200",
            "none": "closes not stacked",
        }[self.stacked]
        return f"{self.benchmark} {vol}, {adx}, {stack}: {self.regime}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "regime": str(self.regime),
            "benchmark": self.benchmark,
            "vol": self.vol,
            "vol_threshold": self.vol_threshold,
            "adx14": self.adx,
            "adx_threshold": self.adx_threshold,
            "close": self.close,
            "sma50": self.sma50,
            "sma200": self.sma200,
            "stacked": self.stacked,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> RegimeResult:
        """The result :meth:`as_dict` wrote (a scan's JSON file); missing numbers are NaN."""

        def num(key: str) -> float:
            v = d.get(key)
            return float(v) if isinstance(v, int | float) else math.nan

        return RegimeResult(
            regime=Regime(str(d["regime"])),
            vol=num("vol"),
            vol_threshold=num("vol_threshold"),
            adx=num("adx14"),
            adx_threshold=num("adx_threshold"),
            close=num("close"),
            sma50=num("sma50"),
            sma200=num("sma200"),
            stacked=str(d.get("stacked", "none")),
            benchmark=str(d.get("benchmark", "SPY")),
        )


def annualized_vol(
    closes: np.ndarray, window: int = 20, annualization: int = 252, benchmark: str = "SPY"
) -> float:
    """Sample stdev (ddof=1) of the last ``window`` daily log returns, times sqrt(annualization).

    Needs the last ``window + 1`` closes, all finite and positive.
    """
    c = np.asarray(closes, dtype=np.float64)
    if c.ndim != 1:
        raise RegimeError(f"{benchmark}: closes must be a 1-D series, got shape {c.shape}")
    need = window + 1
    if c.size < need:
        raise RegimeError(
            f"{benchmark}: {c.size} daily close(s) available, the regime needs at least {need} "
            f"({window} daily log returns for the volatility); load more {benchmark} history"
        )
    last = c[-need:]
    if not np.all(np.isfinite(last)) or np.any(last <= 0.0):
        raise RegimeError(
            f"{benchmark}: the last {need} daily closes contain missing or non-positive values; "
            f"the regime cannot be computed (check the {benchmark} bars)"
        )
    rets = np.diff(np.log(last))
    # stdev * sqrt(252) computed as sqrt(variance * 252): the same quantity, with the last
    # rounding on a grid fine enough that inputs giving exactly 0.25 exist (boundary tests).
    return float(math.sqrt(float(np.var(rets, ddof=1)) * annualization))


def classify_regime(
    spy_close: np.ndarray,
    spy_adx14: float,
    spy_sma50: float,
    spy_sma200: float,
    cfg: RegimeConfig,
    benchmark: str = "SPY",
) -> RegimeResult:
    """The regime at the last close of ``spy_close`` (the scan session's).

    ``spy_close`` is the benchmark's daily close history up to and including the
    scan session; the indicator values are the benchmark's at that session.
    Raises :class:`RegimeError` (naming the benchmark and what is missing) when
    the history is too short or a value is not finite.
    """
    vol = annualized_vol(spy_close, cfg.vol_window, cfg.annualization, benchmark)
    close = float(np.asarray(spy_close, dtype=np.float64)[-1])
    values = {"adx14": spy_adx14, "sma50": spy_sma50, "sma200": spy_sma200}
    missing = [k for k, v in values.items() if v is None or not math.isfinite(float(v))]
    if missing:
        raise RegimeError(
            f"{benchmark}: {', '.join(missing)} not available at the scan session "
            f"(too short a history: sma200 needs 200 sessions); load more {benchmark} history"
        )
    adx, sma50, sma200 = float(spy_adx14), float(spy_sma50), float(spy_sma200)
    if close > sma50 > sma200:
        stacked = "above"
    elif close < sma50 < sma200:
        stacked = "below"
    else:
        stacked = "none"
    if vol > cfg.high_vol_above:
        regime = Regime.HIGH_VOL
    elif adx >= cfg.trend_adx_min and stacked != "none":
        regime = Regime.TREND
    else:
        regime = Regime.RANGING
    return RegimeResult(
        regime=regime,
        vol=vol,
        vol_threshold=cfg.high_vol_above,
        adx=adx,
        adx_threshold=cfg.trend_adx_min,
        close=close,
        sma50=sma50,
        sma200=sma200,
        stacked=stacked,
        benchmark=benchmark,
    )


def regime_history(
    closes: Sequence[float] | np.ndarray,
    adx14: Sequence[float] | np.ndarray,
    sma50: Sequence[float] | np.ndarray,
    sma200: Sequence[float] | np.ndarray,
    cfg: RegimeConfig,
    benchmark: str = "SPY",
) -> tuple[RegimeResult | None, ...]:
    """The regime at each session of the benchmark's history, as the nightly scan of that
    session decides it: :func:`classify_regime` on the closes up to it and its indicator
    values (the same rule, not a copy). None where the history is too short (the first
    ``sma200`` sessions)."""
    c = np.asarray(closes, dtype=np.float64)
    out: list[RegimeResult | None] = []
    for i in range(c.size):
        upto = c[: i + 1]
        try:
            out.append(
                classify_regime(
                    upto[np.isfinite(upto)],  # as the scan reads the benchmark's column
                    float(adx14[i]),
                    float(sma50[i]),
                    float(sma200[i]),
                    cfg,
                    benchmark,
                )
            )
        except RegimeError:
            out.append(None)
    return tuple(out)
