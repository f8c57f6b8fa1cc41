"""The deflated Sharpe ratio and the probability of backtest overfitting against the papers'
worked examples, hand-worked cases and a literal implementation of the CSCV steps."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from workstation.research.optimize.overfitting import (
    SharpeStats,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
    probability_of_overfitting,
)


def test_the_deflated_sharpe_ratio_papers_numerical_example() -> None:
    """Bailey & López de Prado (2014), section "A numerical example": an annualised Sharpe
    ratio of 2.5 over 5 years of daily returns (T = 1,250, 250 a year), skewness -3,
    kurtosis 10, the best of N = 100 trials whose annualised Sharpe ratios vary with
    variance 1/2. The paper finds SR0 = 0.1132 per day and DSR = 0.9004."""
    per_day = math.sqrt(250)
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe(2.5 / per_day, sr0, 1250, skew=-3.0, kurtosis=10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_psr_limits() -> None:
    # Observed equal to the benchmark: a coin flip.
    assert probabilistic_sharpe(0.1, 0.1, 500) == pytest.approx(0.5)
    # Normal returns: the standard error of SR is sqrt((1 + SR^2 / 2) / (T - 1)).
    sr, n = 0.08, 401
    z = sr / math.sqrt((1 + sr**2 / 2) / (n - 1))
    assert probabilistic_sharpe(sr, 0.0, n) == pytest.approx(stats.norm.cdf(z))
    # Fat left tails and negative skew lower the confidence in the same Sharpe ratio.
    assert probabilistic_sharpe(sr, 0.0, n, skew=-2, kurtosis=9) < probabilistic_sharpe(sr, 0.0, n)
    # One trial selects nothing: SR0 = 0, the DSR is the PSR against 0.
    assert expected_max_sharpe(1, 0.01) == 0.0
    # More trials, a higher bar.
    assert expected_max_sharpe(1000, 0.01) > expected_max_sharpe(10, 0.01) > 0


def test_deflated_sharpe_from_returns() -> None:
    rng = np.random.default_rng(5)
    trials = rng.normal(0.0, 0.01, (750, 40))
    trials[:, 0] += 0.002  # one trial with a real edge
    sharpes = [SharpeStats.of(trials[:, j]).sharpe for j in range(40)]
    best = deflated_sharpe(trials[:, 0], sharpes)
    assert best.n_trials == 40 and best.sessions == 750
    s = SharpeStats.of(trials[:, 0])
    var = float(np.var(sharpes, ddof=1))
    assert best.sr0 == pytest.approx(expected_max_sharpe(40, var))
    assert best.dsr == pytest.approx(
        probabilistic_sharpe(s.sharpe, best.sr0, 750, s.skew, s.kurtosis)
    )
    assert best.dsr > 0.95
    lucky = int(np.argmax(sharpes[1:])) + 1  # the best of 39 skill-less trials
    assert deflated_sharpe(trials[:, lucky], sharpes).dsr < 0.9


def _literal_pbo(m: np.ndarray, s: int) -> tuple[float, np.ndarray]:
    """The paper's steps one by one (Bailey, Borwein, López de Prado & Zhu 2017, §2.2)."""
    t, n = m.shape
    rows = np.array_split(np.arange(t - t % s), s)
    logits = []
    for combo in itertools.combinations(range(s), s // 2):
        train = np.concatenate([rows[i] for i in combo])
        test = np.concatenate([rows[i] for i in range(s) if i not in combo])
        j, jbar = m[train], m[test]
        r = j.mean(axis=0) / j.std(axis=0, ddof=1)
        rbar = jbar.mean(axis=0) / jbar.std(axis=0, ddof=1)
        n_star = int(np.argmax(r))
        omega = stats.rankdata(rbar)[n_star] / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
    lam = np.array(logits)
    return float(np.mean(lam <= 0)), lam


def test_pbo_equals_a_literal_implementation_of_cscv() -> None:
    rng = np.random.default_rng(11)
    m = rng.normal(0.0003, 0.01, (203, 12))  # 203: the last 203 mod S rows are left out
    for s in (4, 6, 8):
        got = probability_of_overfitting(m, blocks=s)
        want, lam = _literal_pbo(m, s)
        assert got is not None
        assert got.splits == math.comb(s, s // 2) and got.blocks == s
        assert got.pbo == pytest.approx(want)
        np.testing.assert_allclose(got.logits, lam, rtol=1e-9)


H, Q = 0.5, 0.25  # exactly representable returns: ties are exact ties


def test_pbo_hand_worked_strategies_that_swap_halves() -> None:
    """Two strategies over four blocks of two sessions. A is good in blocks 1-2 and bad in
    3-4; B is the mirror image. Splits {1,2} and {3,4}: the training winner is the test loser
    (rank 1 of 2, omega 1/3, logit < 0). The four mixed splits: A and B tie on both halves
    (the first, A, is taken; its test rank is the average 1.5, omega 1/2, logit 0). Every
    split has a logit <= 0: PBO = 6/6 = 1."""
    good, bad = [H, Q], [-Q, -H]
    a = good + good + bad + bad
    b = bad + bad + good + good
    got = probability_of_overfitting(np.column_stack([a, b]), blocks=4)
    assert got is not None
    assert got.splits == 6
    assert got.pbo == 1.0
    want = sorted([math.log(0.5)] * 2 + [0.0] * 4)
    np.testing.assert_allclose(sorted(got.logits), want, atol=1e-12)


def test_pbo_hand_worked_a_persistent_winner() -> None:
    """A beats B in every block: A wins every training half and ranks 2 of 2 on every test
    half (omega 2/3, logit ln 2 > 0): PBO = 0."""
    a = [H, Q] * 4
    b = [Q, -Q] * 4
    got = probability_of_overfitting(np.column_stack([a, b]), blocks=4)
    assert got is not None and got.pbo == 0.0
    np.testing.assert_allclose(got.logits, [math.log(2.0)] * 6)


def test_pbo_noise_is_near_a_half_and_skill_is_near_zero() -> None:
    """The paper's first test case: trials without skill overfit about half the time; one
    trial with a real edge among them is rarely beaten out of sample."""
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 0.01, (1000, 100))
    got = probability_of_overfitting(noise, blocks=16)
    assert got is not None and got.splits == 12870
    assert 0.3 < got.pbo < 0.7
    noise[:, 42] += 0.003
    assert probability_of_overfitting(noise, blocks=16).pbo < 0.05


def test_pbo_needs_trials_and_sessions() -> None:
    assert probability_of_overfitting(np.zeros((100, 1))) is None
    assert probability_of_overfitting(np.zeros((7, 5))) is None
    got = probability_of_overfitting(np.random.default_rng(0).normal(size=(9, 3)), blocks=16)
    assert got is not None and got.blocks == 4 and got.sessions == 8
