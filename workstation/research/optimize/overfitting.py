"""How much a search's best result owes to luck: the deflated Sharpe ratio and the probability
of backtest overfitting (Bailey and López de Prado).

**Deflated Sharpe ratio** (Bailey & López de Prado, "The Deflated Sharpe Ratio: Correcting
for Selection Bias, Backtest Overfitting and Non-Normality", J. Portfolio Management 40(5),
2014). The probabilistic Sharpe ratio PSR(SR*) is the probability that the true Sharpe ratio
is above SR*, given the observed one over T returns with their skewness and kurtosis::

    PSR(SR*) = Φ( (SR - SR*) √(T - 1) / √(1 - γ3·SR + (γ4 - 1)/4 · SR²) )

(every Sharpe ratio per period, not annualised; γ4 the kurtosis, 3 for a normal law). The
deflated Sharpe ratio is PSR(SR0) where SR0 is the Sharpe ratio the best of N trials would
show *by luck alone* when no trial has any skill::

    SR0 = √V[SR_n] · ((1 - γ)·Φ⁻¹(1 - 1/N) + γ·Φ⁻¹(1 - 1/(N·e)))

with V[SR_n] the variance of the N trials' Sharpe ratios and γ Euler's constant. A DSR near 1
says the best trial's Sharpe is very unlikely to be a lucky maximum; near 0.5 or below, it is
about what luck gives after that many tries.

**Probability of backtest overfitting** (Bailey, Borwein, López de Prado & Zhu, "The
Probability of Backtest Overfitting", J. Computational Finance 20(4), 2017), by
combinatorially symmetric cross-validation (CSCV): the T × N matrix of the trials' returns
per session is cut into S blocks of consecutive sessions; for each of the C(S, S/2) ways to
take half the blocks as a training set (the other half is the test set), the trial with the
best Sharpe on the training set is found, and its rank r among all trials on the test set is
turned into ω = r / (N + 1) and the logit λ = ln(ω / (1 - ω)). PBO is the share of splits
with λ ≤ 0: how often the in-sample winner does no better than the median out of sample.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

EULER_GAMMA = 0.5772156649015329


@dataclass(frozen=True)
class SharpeStats:
    """A return series' per-period Sharpe ratio with what the PSR needs."""

    sharpe: float  # mean / standard deviation (ddof 1), per period
    n: int
    skew: float
    kurtosis: float  # not excess: 3 for a normal law

    @staticmethod
    def of(returns: Sequence[float] | np.ndarray) -> SharpeStats:
        r = np.asarray(returns, dtype=float)
        r = r[np.isfinite(r)]
        n = len(r)
        if n < 3:
            return SharpeStats(float("nan"), n, float("nan"), float("nan"))
        sd = float(r.std(ddof=1))
        if sd == 0:
            return SharpeStats(float("nan"), n, float("nan"), float("nan"))
        return SharpeStats(
            float(r.mean() / sd),
            n,
            float(stats.skew(r, bias=True)),
            float(stats.kurtosis(r, fisher=False, bias=True)),
        )


def probabilistic_sharpe(
    sharpe: float, benchmark: float, n: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """PSR: the probability that the true per-period Sharpe ratio exceeds ``benchmark``."""
    if n < 2 or not all(math.isfinite(x) for x in (sharpe, benchmark, skew, kurtosis)):
        return float("nan")
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if var <= 0:
        return float("nan")
    z = (sharpe - benchmark) * math.sqrt(n - 1) / math.sqrt(var)
    return float(stats.norm.cdf(z))


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """SR0: the expected maximum per-period Sharpe ratio of ``n_trials`` trials without skill
    whose Sharpe ratios vary with ``variance`` (0 for a single trial: nothing was selected)."""
    if n_trials < 2 or not math.isfinite(variance) or variance <= 0:
        return 0.0
    a = stats.norm.ppf(1.0 - 1.0 / n_trials)
    b = stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(variance) * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b))


@dataclass(frozen=True)
class Deflated:
    """The deflated Sharpe ratio of a chosen trial, with its inputs."""

    dsr: float  # probability (0..1) that the true Sharpe exceeds the lucky maximum SR0
    sharpe: float  # per session
    sr0: float  # per session: what the best of n_trials would show by luck
    n_trials: int
    sessions: int
    skew: float
    kurtosis: float
    sharpe_variance: float  # across the trials, per session

    def as_json(self, periods_per_year: int = 252) -> dict[str, Any]:
        k = math.sqrt(periods_per_year)
        return {
            "dsr": _clean(self.dsr),
            "sharpe_annualised": _clean(self.sharpe * k),
            "expected_max_sharpe_annualised": _clean(self.sr0 * k),
            "n_trials": self.n_trials,
            "sessions": self.sessions,
            "skew": _clean(self.skew),
            "kurtosis": _clean(self.kurtosis),
            "trials_sharpe_std_annualised": _clean(math.sqrt(self.sharpe_variance) * k)
            if math.isfinite(self.sharpe_variance)
            else None,
        }


def deflated_sharpe(
    best_returns: Sequence[float] | np.ndarray, trial_sharpes: Sequence[float]
) -> Deflated:
    """DSR of the trial whose daily returns are ``best_returns``, chosen among trials whose
    per-session Sharpe ratios are ``trial_sharpes`` (every trial made, the chosen included;
    the undefined ones are left out)."""
    s = SharpeStats.of(best_returns)
    sr = np.array([x for x in trial_sharpes if math.isfinite(x)], dtype=float)
    n = len(sr)
    var = float(sr.var(ddof=1)) if n >= 2 else float("nan")
    sr0 = expected_max_sharpe(n, var)
    dsr = probabilistic_sharpe(s.sharpe, sr0, s.n, s.skew, s.kurtosis)
    return Deflated(dsr, s.sharpe, sr0, max(n, 1), s.n, s.skew, s.kurtosis, var)


@dataclass(frozen=True)
class Overfitting:
    """The probability of backtest overfitting and what it came from."""

    pbo: float
    splits: int  # combinations C(S, S/2)
    blocks: int  # S
    trials: int  # N
    sessions: int  # T (rows used: a multiple of S)
    logits: np.ndarray  # λ of each split
    degradation: float  # mean over splits of (test Sharpe - train Sharpe) of the IS winner

    def as_json(self) -> dict[str, Any]:
        return {
            "pbo": _clean(self.pbo),
            "splits": self.splits,
            "blocks": self.blocks,
            "trials": self.trials,
            "sessions": self.sessions,
            "logit_median": _clean(float(np.median(self.logits))) if len(self.logits) else None,
            "sharpe_degradation_per_session": _clean(self.degradation),
        }


def _blocks_for(t: int, wanted: int) -> int:
    """The even number of blocks to use: ``wanted`` or fewer, each of at least 2 sessions."""
    s = min(wanted, t // 2)
    return s - (s % 2)


def _sharpe_cols(total: np.ndarray, sq: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per-column Sharpe ratios (ddof 1) from sums and sums of squares over ``n`` rows."""
    mean = total / n
    var = (sq - n * mean**2) / (n - 1)
    sd = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(
            sd > 0, mean / sd, np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0))
        )
    return out


def probability_of_overfitting(matrix: np.ndarray, blocks: int = 16) -> Overfitting | None:
    """PBO by CSCV over ``matrix`` (T sessions × N trials of daily returns), with ``blocks``
    blocks (fewer when T is short; at least 4). None with fewer than 2 trials or 8 sessions.
    The last T mod S sessions are left out so every block has the same length."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        raise ValueError("the matrix must be sessions x trials")
    t, n = m.shape
    s = _blocks_for(t, blocks)
    if n < 2 or s < 4:
        return None
    size = t // s
    m = np.nan_to_num(m[: size * s])
    part = m.reshape(s, size, n)
    sums = part.sum(axis=1)  # S x N
    sqs = (part**2).sum(axis=1)
    combos = np.array(list(itertools.combinations(range(s), s // 2)))  # C x S/2
    chosen = np.zeros((len(combos), s), dtype=bool)
    chosen[np.arange(len(combos))[:, None], combos] = True
    rows = np.full(len(combos), size * s // 2, dtype=float)[:, None]
    is_sum, is_sq = chosen @ sums, chosen @ sqs  # C x N
    os_sum, os_sq = (~chosen) @ sums, (~chosen) @ sqs
    sr_is = _sharpe_cols(is_sum, is_sq, rows)
    sr_os = _sharpe_cols(os_sum, os_sq, rows)
    # The in-sample winner (the first of equals, as numpy's argmax), and its rank out of
    # sample: 1 = the worst, N = the best; equal values share their average rank.
    best = np.argmax(sr_is, axis=1)
    ranks = stats.rankdata(sr_os, axis=1, method="average")
    r = ranks[np.arange(len(combos)), best]
    omega = r / (n + 1.0)
    logits = np.log(omega / (1.0 - omega))
    winner_is = sr_is[np.arange(len(combos)), best]
    winner_os = sr_os[np.arange(len(combos)), best]
    finite = np.isfinite(winner_is) & np.isfinite(winner_os)
    degradation = (
        float(np.mean(winner_os[finite] - winner_is[finite])) if finite.any() else float("nan")
    )
    return Overfitting(
        pbo=float(np.mean(logits <= 0.0)),
        splits=len(combos),
        blocks=s,
        trials=n,
        sessions=size * s,
        logits=logits,
        degradation=degradation,
    )


def _clean(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


__all__ = [
    "EULER_GAMMA",
    "Deflated",
    "Overfitting",
    "SharpeStats",
    "deflated_sharpe",
    "expected_max_sharpe",
    "probabilistic_sharpe",
    "probability_of_overfitting",
]
