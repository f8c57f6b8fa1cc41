"""Choosing among trials, honestly: the best trial on the sessions that choose, its deflated
Sharpe ratio and probability of backtest overfitting over every trial made, and with
walk-forward each window's choice judged on the sessions after it, stitched end to end.

Pure functions over finished trials (nothing here runs a backtest): the search calls them as
trials finish (best so far) and at the end (the result), and so can a viewer of a search file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from workstation.research.figures import Figures, json_value
from workstation.research.optimize.objective import Objective, TrialRun, segment_figures
from workstation.research.optimize.overfitting import (
    Deflated,
    Overfitting,
    deflated_sharpe,
    probability_of_overfitting,
)
from workstation.research.optimize.windows import Segment, Window
from workstation.research.returns import TRADING_DAYS
from workstation.store import TradeRow


@dataclass
class TrialRecord:
    """A trial as the client knows it. ``state``: queued, complete, failed or interrupted."""

    stage: int
    number: int
    params: dict[str, Any]
    state: str = "queued"
    value: float | None = None
    reason: str | None = None
    run: TrialRun | None = None
    attempts: int = 0
    wall_s: float | None = None
    worker: str | None = None
    scans_hit: int | None = None
    scans_computed: int | None = None
    _figures: dict[tuple[date, date], Figures] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> tuple[int, int]:
        return self.stage, self.number

    def figures(self, seg: Segment, *, risk_free_rate: float = 0.0) -> Figures | None:
        """The trial's figures over ``seg`` (None without a run)."""
        if self.run is None:
            return None
        got = self._figures.get((seg.first, seg.last))
        if got is None:
            returns, trades = self.run.slice(seg.first, seg.last)
            got = segment_figures(returns, trades, risk_free_rate=risk_free_rate)
            self._figures[(seg.first, seg.last)] = got
        return got

    def order_key(self) -> str:
        """Ties in value go to the first trial in this order: the parameters as sorted JSON
        (so the same search gives the same choice whatever order its trials finished in)."""
        return json.dumps(self.params, sort_keys=True, default=str)


@dataclass(frozen=True)
class Choice:
    """The trial a segment chose, its figures there, and how much luck could explain."""

    trial: TrialRecord
    segment: Segment
    value: float
    figures: Figures
    candidates: int  # trials with a run over the segment (every trial made and finished)
    scored: int  # of which with an objective value
    deflated: Deflated
    overfitting: Overfitting | None

    def as_json(self, objective: Objective) -> dict[str, Any]:
        return {
            "stage": self.trial.stage,
            "number": self.trial.number,
            "params": self.trial.params,
            "value": json_value(self.value),
            "objective": objective.name,
            "chosen_on": self.segment.as_json(),
            "figures": self.figures.as_json(),
            "trials": self.candidates,
            "trials_with_value": self.scored,
            "deflated_sharpe": self.deflated.as_json(TRADING_DAYS),
            "overfitting": None if self.overfitting is None else self.overfitting.as_json(),
            "overfitting_reason": None
            if self.overfitting is not None
            else "needs at least 2 trials and 8 sessions",
        }


def choose(
    trials: Sequence[TrialRecord],
    seg: Segment,
    objective: Objective,
    *,
    risk_free_rate: float = 0.0,
) -> Choice | None:
    """The trial with the highest objective over ``seg`` (None when no trial has a value
    there), with the deflated Sharpe ratio over every trial's run on ``seg`` and the PBO of
    choosing among them on those sessions."""
    ran = [t for t in trials if t.state == "complete" and t.run is not None]
    scored: list[tuple[float, TrialRecord, Figures]] = []
    for t in ran:
        f = t.figures(seg, risk_free_rate=risk_free_rate)
        assert f is not None
        value, _ = objective.score(f)
        if value is not None:
            scored.append((value, t, f))
    if not scored:
        return None
    scored.sort(key=lambda x: (-x[0], x[1].order_key(), x[1].number))
    value, best, figures = scored[0]
    assert best.run is not None
    matrix = np.column_stack([t.run.returns_between(seg.first, seg.last) for t in ran if t.run])
    sharpes = [_sharpe(matrix[:, j]) for j in range(matrix.shape[1])]
    deflated = deflated_sharpe(best.run.returns_between(seg.first, seg.last), sharpes)
    return Choice(
        trial=best,
        segment=seg,
        value=value,
        figures=figures,
        candidates=len(ran),
        scored=len(scored),
        deflated=deflated,
        overfitting=probability_of_overfitting(matrix),
    )


def _sharpe(r: np.ndarray) -> float:
    r = r[np.isfinite(r)]
    if len(r) < 2:
        return float("nan")
    sd = float(r.std(ddof=1))
    return float(r.mean() / sd) if sd > 0 else float("nan")


@dataclass(frozen=True)
class WindowResult:
    window: Window
    choice: Choice | None  # None: no trial reached a value on the training sessions
    out_of_sample: Figures | None
    oos_value: float | None
    oos_reason: str | None

    def as_json(self, objective: Objective) -> dict[str, Any]:
        w = self.window
        return {
            "window": "live" if w.live else w.index,
            "train": w.train.as_json(),
            "test": None if w.test is None else w.test.as_json(),
            "chosen": None if self.choice is None else self.choice.as_json(objective),
            "in_sample": None if self.choice is None else self.choice.figures.as_json(),
            "in_sample_value": None if self.choice is None else json_value(self.choice.value),
            "out_of_sample": None if self.out_of_sample is None else self.out_of_sample.as_json(),
            "out_of_sample_value": json_value(self.oos_value),
            "out_of_sample_reason": self.oos_reason,
            "no_choice_reason": None
            if self.choice is not None
            else f"no trial reached a {objective.name} value on the training sessions "
            f"(--min-trades {objective.min_trades})",
        }


@dataclass(frozen=True)
class WalkForwardResult:
    windows: tuple[WindowResult, ...]
    live: WindowResult | None
    stitched: Figures  # the test windows' results end to end (out of sample)
    stitched_value: float | None
    stitched_reason: str | None
    curve: pd.Series  # equity of the stitched out-of-sample returns, from starting equity
    in_sample_mean: float | None
    out_of_sample_mean: float | None
    tail: Segment | None

    def as_json(self, objective: Objective) -> dict[str, Any]:
        eff = None
        if self.in_sample_mean and self.out_of_sample_mean is not None:
            eff = self.out_of_sample_mean / self.in_sample_mean if self.in_sample_mean > 0 else None
        return {
            "windows": [w.as_json(objective) for w in self.windows],
            "live": None if self.live is None else self.live.as_json(objective),
            "out_of_sample": {
                "figures": self.stitched.as_json(),
                "value": json_value(self.stitched_value),
                "reason": self.stitched_reason,
                "equity": [
                    [d.date().isoformat(), round(float(v), 2)] for d, v in self.curve.items()
                ],
            },
            "in_sample_mean_value": json_value(self.in_sample_mean),
            "out_of_sample_mean_value": json_value(self.out_of_sample_mean),
            "efficiency": json_value(eff),
            "untested_tail": None if self.tail is None else self.tail.as_json(),
        }


def walk_forward(
    windows: Sequence[Window],
    live: Window | None,
    trials_of: Mapping[int, Sequence[TrialRecord]],  # window index -> its trials
    objective: Objective,
    *,
    starting_equity: float,
    tail: Segment | None = None,
    risk_free_rate: float = 0.0,
) -> WalkForwardResult:
    """Each window's choice on its training sessions, judged on its test sessions; the test
    results stitched end to end. A window without a choice stays in cash (0 returns)."""
    results: list[WindowResult] = []
    parts: list[pd.Series] = []
    trades: list[TradeRow] = []
    for w in windows:
        assert w.test is not None
        choice = choose(trials_of[w.index], w.train, objective, risk_free_rate=risk_free_rate)
        if choice is None or choice.trial.run is None:
            index = pd.DatetimeIndex([pd.Timestamp(d) for d in _sessions_of(trials_of, w.test)])
            parts.append(pd.Series(0.0, index=index, name="return"))
            results.append(WindowResult(w, None, None, None, "no choice: in cash"))
            continue
        r, t = choice.trial.run.slice(w.test.first, w.test.last)
        parts.append(r)
        trades.extend(t)
        oos = choice.trial.figures(w.test, risk_free_rate=risk_free_rate)
        assert oos is not None
        value, reason = objective.score(oos)
        results.append(WindowResult(w, choice, oos, value, reason))
    live_result = None
    if live is not None:
        c = choose(trials_of[live.index], live.train, objective, risk_free_rate=risk_free_rate)
        live_result = WindowResult(live, c, None, None, None)
    stitched_returns = pd.concat(parts) if parts else pd.Series(dtype=float)
    stitched = segment_figures(stitched_returns, trades, risk_free_rate=risk_free_rate)
    value, reason = objective.score(stitched)
    curve = starting_equity * (1.0 + stitched_returns.fillna(0.0)).cumprod()
    ins = [r.choice.value for r in results if r.choice is not None]
    outs = [r.oos_value for r in results if r.oos_value is not None]
    return WalkForwardResult(
        windows=tuple(results),
        live=live_result,
        stitched=stitched,
        stitched_value=value,
        stitched_reason=reason,
        curve=curve,
        in_sample_mean=float(np.mean(ins)) if ins else None,
        out_of_sample_mean=float(np.mean(outs)) if outs else None,
        tail=tail,
    )


def _sessions_of(trials_of: Mapping[int, Sequence[TrialRecord]], seg: Segment) -> list[date]:
    """The sessions of ``seg`` as any trial's run has them."""
    for trials in trials_of.values():
        for t in trials:
            if t.run is not None:
                return [d for d in t.run.sessions if seg.first <= d <= seg.last]
    return []


__all__ = [
    "Choice",
    "TrialRecord",
    "WalkForwardResult",
    "WindowResult",
    "choose",
    "walk_forward",
]
