"""The SL/TP advice as ``advise sltp --json`` writes it, and as text for a terminal."""

from __future__ import annotations

import math
from typing import Any

from workstation.research.sltp_advice import (
    ADVISE,
    COVERAGE,
    Advice,
    Candidate,
    Interval,
    StrategyAdvice,
)
from workstation.research.sltp_trades import AdviceSource


def _num(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def _interval(i: Interval | None) -> list[float | None] | None:
    return None if i is None else [_num(i.lo), _num(i.hi)]


def candidate_json(c: Candidate | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "sl_atr": c.sl,
        "tp_atr": c.tp,
        "expectancy_r": _num(c.expectancy),
        "interval": _interval(c.interval),
        "win_rate": _num(c.win_rate),
        "exits": {k.lower(): v for k, v in c.exits.items()},
        "ambiguous_days": c.ambiguous,
    }


def strategy_json(a: StrategyAdvice) -> dict[str, Any]:
    return {
        "strategy": a.strategy,
        "verdict": a.verdict,
        "message": a.message,
        "n_trades": a.n_trades,
        "left_out": a.left_out,
        "current": candidate_json(a.current),
        "made_with": None if a.made_with is None else list(a.made_with),
        "best": candidate_json(a.best),
        "improvement_r": _num(a.improvement),
        "improvement_out_of_bag": _interval(a.improvement_oob),
        "stability": _num(a.stability),
        "at_edge": list(a.at_edge),
        "other_touch_expectancy_r": _num(a.other_touch_expectancy),
        "check": {
            "recorded_expectancy_r": _num(a.recorded_expectancy),
            "simulated_expectancy_r": _num(a.simulated_expectancy),
            "same_exit_reason": _num(a.agreement),
        },
    }


def advice_json(advice: Advice, source: AdviceSource) -> dict[str, Any]:
    """One JSON object: where the trades came from, how the advice was computed, and the
    advice per strategy."""
    s = advice.settings
    return {
        "source": {
            "kind": source.kind,
            "name": source.name,
            "trades": source.trades,
            "period": None if source.period is None else [str(d) for d in source.period],
        },
        "settings": {
            "sl_atr": list(s.grid.sl),
            "tp_atr": list(s.grid.tp),
            "touch": s.touch.value,
            "min_trades": s.min_trades,
            "resamples": s.resamples,
            "seed": s.seed,
            "interval": COVERAGE,
            "sltp_from_day": advice.rules.sltp_from_day,
            "time_exit_day": advice.rules.time_exit_day,
            "slippage_bps": advice.rules.slippage_bps,
        },
        "assumptions": list(advice.assumptions),
        "strategies": [strategy_json(a) for a in advice.strategies],
    }


def _pair(c: Candidate) -> str:
    ci = "" if c.interval is None else f" [{c.interval.lo:+.2f}, {c.interval.hi:+.2f}]"
    return f"SL {c.sl:g} / TP {c.tp:g}: {c.expectancy:+.2f}R{ci}"


def advice_text(advice: Advice, source: AdviceSource) -> str:
    """A few lines per strategy for a terminal."""
    period = "" if source.period is None else f", {source.period[0]} to {source.period[1]}"
    what = f"backtest {source.name}" if source.kind == "backtest" else "the app's own trades"
    lines = [
        f"SL/TP advice from {what} ({source.trades} closed trades{period}); "
        f"{advice.settings.touch.value} touch order, {COVERAGE:.0%} intervals",
        "",
    ]
    for a in advice.strategies:
        head = f"{a.strategy}: {a.n_trades} trades"
        if a.left_out:
            head += f" ({a.left_out} without the bars to follow them, left out)"
        lines.append(head)
        if a.current is not None:
            lines.append(f"  current  {_pair(a.current)}")
        if a.best is not None:
            mark = "advised" if a.verdict == ADVISE else "best   "
            lines.append(f"  {mark}  {_pair(a.best)}")
        if a.made_with is not None:
            lines.append(
                f"  (the trades were made with SL {a.made_with[0]:g} / TP {a.made_with[1]:g})"
            )
        lines.append(f"  {a.message}")
        if a.agreement is not None:
            lines.append(
                f"  check: re-simulated {a.simulated_expectancy:+.2f}R against "
                f"{a.recorded_expectancy:+.2f}R recorded; {a.agreement:.0%} same exit reason"
            )
        lines.append("")
    lines.append("Assumptions:")
    lines.extend(f"- {x}" for x in advice.assumptions)
    return "\n".join(lines) + "\n"


__all__ = ["advice_json", "advice_text", "candidate_json", "strategy_json"]
