"""A search's result as one JSON object (``workstation optimize --json``) and as text.

The JSON object: ``id``, ``status``, what was searched (``search``, ``objective``, ``space``,
``seed``, ``period``, the data), ``trials`` (each with its ``params``, ``state`` and objective
``value``, the figures of the sessions that scored it, and with walk-forward its value on each
window's training and test sessions), ``best`` (the chosen trial with its deflated Sharpe
ratio and probability of backtest overfitting) and, with walk-forward, ``walk_forward`` (each
window's choice with its in-sample and out-of-sample figures, the out-of-sample results
stitched end to end, and the live window's choice). Every value is JSON-safe
(``allow_nan=False``): a figure that has no value is null with its reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from workstation.research.figures import json_value
from workstation.research.optimize.selection import TrialRecord

if TYPE_CHECKING:
    from workstation.research.optimize.search import SearchResult

NOTES = (
    "Each trial is one backtest (the live engine's rules over history); its objective is "
    "measured on the sessions that choose (the period, or a window's training sessions).",
    "Only walk-forward test sessions are out of sample: nothing after a window's training "
    "sessions decided its choice.",
    "deflated_sharpe.dsr: the probability that the chosen trial's true Sharpe ratio is above "
    "what the best of that many trials would show by luck alone (Bailey & López de Prado "
    "2014); near 1 is convincing, 0.5 or below is what luck gives.",
    "overfitting.pbo: the share of the combinatorially symmetric cross-validation splits of "
    "the sessions in which the trial with the best Sharpe on one half ranked at or below the "
    "median on the other half (Bailey, Borwein, López de Prado & Zhu 2017); trials are "
    "ranked by Sharpe ratio whatever the objective.",
)


def _trial_json(result: SearchResult, t: TrialRecord) -> dict[str, Any]:
    objective = result.spec.objective
    stage = next(s for s in result.plan.stages if s.index == t.stage)
    figures = t.figures(stage.select) if t.run is not None else None
    out: dict[str, Any] = {
        "stage": t.stage,
        "number": t.number,
        "params": t.params,
        "state": t.state,
        "value": json_value(t.value),
        "reason": t.reason,
        "attempts": t.attempts,
        "wall_s": None if t.wall_s is None else round(t.wall_s, 3),
        "worker": t.worker,
        "scans": {"cached": t.scans_hit, "computed": t.scans_computed},
        "figures": None if figures is None else figures.as_json(),
    }
    if stage.windows and t.run is not None:
        rows = []
        for w in stage.windows:
            train = t.figures(w.train)
            test = None if w.test is None else t.figures(w.test)
            assert train is not None
            rows.append(
                {
                    "window": "live" if w.live else w.index,
                    "train_value": json_value(objective.score(train)[0]),
                    "test_value": None if test is None else json_value(objective.score(test)[0]),
                }
            )
        out["windows"] = rows
    return out


def result_json(result: SearchResult) -> dict[str, Any]:
    spec, plan = result.spec, result.plan
    counts: dict[str, int] = {}
    for t in result.trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    return {
        "id": result.id,
        "status": result.status,
        "search": spec.search,
        "objective": spec.objective.as_json(),
        "seed": spec.seed,
        "in_flight": spec.in_flight if spec.search == "tpe" else None,
        "space": spec.space.as_json(),
        "rescans": list(spec.space.scan_keys),
        "period": {
            "first": spec.first.isoformat(),
            "last": spec.last.isoformat(),
            "sessions": len(plan.sessions),
        },
        **{k: json_value(v) for k, v in result.info.items() if not k.startswith("_")},
        "plan": plan.as_json(),
        "workers": result.workers,
        "wall_s": round(result.wall_s, 3),
        "counts": counts,
        "trials": [_trial_json(result, t) for t in result.trials],
        "best": None if result.best is None else result.best.as_json(spec.objective),
        "walk_forward": None
        if result.walk_forward is None
        else {
            **(spec.walk_forward.as_json() if spec.walk_forward else {}),
            **result.walk_forward.as_json(spec.objective),
        },
        "notes": list(NOTES),
    }


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:+.2%}" if pct else f"{v:.3f}"
    return str(v)


def _params(p: dict[str, Any]) -> str:
    return " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in p.items())


def print_text(doc: dict[str, Any], out: TextIO, *, top: int = 10) -> None:
    """A terminal summary of :func:`result_json`'s object."""
    p = doc["period"]
    obj = doc["objective"]
    out.write(
        f"Search {doc['id']} ({doc['status']}): {doc['search']}, {len(doc['trials'])} trials, "
        f"objective {obj['name']} (min trades {obj['min_trades']}), seed {doc['seed']}\n"
        f"period {p['first']} .. {p['last']} ({p['sessions']} sessions); "
        f"{doc['workers']} workers, {doc['wall_s']:.1f} s\n"
    )
    if doc["rescans"]:
        out.write(f"scans again for each value of: {', '.join(doc['rescans'])}\n")
    ranked = sorted(
        (t for t in doc["trials"] if t["value"] is not None),
        key=lambda t: -t["value"],
    )
    out.write(f"\ntop {min(top, len(ranked))} trials by {obj['name']}:\n")
    for t in ranked[:top]:
        f = t["figures"] or {}
        out.write(
            f"  #{t['stage']}.{t['number']:<4} {t['value']:>8.3f}  trades {_fmt(f.get('n_trades'))}"
            f"  return {_fmt(f.get('total_return'), True)}  {_params(t['params'])}\n"
        )
    failed = [t for t in doc["trials"] if t["state"] != "complete"]
    for t in failed:
        out.write(f"  #{t['stage']}.{t['number']} {t['state']}: {t['reason']}\n")
    b = doc["best"]
    if b is not None:
        d = b["deflated_sharpe"]
        o = b["overfitting"] or {}
        out.write(
            f"\nbest: {_params(b['params'])}  {obj['name']} {_fmt(b['value'])} on "
            f"{b['chosen_on']['first']} .. {b['chosen_on']['last']}\n"
            f"  deflated Sharpe ratio {_fmt(d['dsr'])} (Sharpe {_fmt(d['sharpe_annualised'])} vs "
            f"{_fmt(d['expected_max_sharpe_annualised'])} expected from the best of "
            f"{d['n_trials']} trials by luck); probability of backtest overfitting "
            f"{_fmt(o.get('pbo'))}\n"
        )
    wf = doc["walk_forward"]
    if wf is not None:
        out.write(f"\nwalk-forward {wf['spec']} ({wf['train_sessions']}:{wf['test_sessions']}):\n")
        for w in wf["windows"]:
            c = w["chosen"]
            test = w["test"]
            out.write(
                f"  window {w['window']}: train {w['train']['first']}..{w['train']['last']} "
                f"test {test['first']}..{test['last']}  in {_fmt(w['in_sample_value'])} "
                f"out {_fmt(w['out_of_sample_value'])}  "
                f"{_params(c['params']) if c else w['no_choice_reason']}\n"
            )
        o = wf["out_of_sample"]["figures"]
        out.write(
            f"  out of sample, stitched: {obj['name']} {_fmt(wf['out_of_sample']['value'])}, "
            f"return {_fmt(o.get('total_return'), True)}, max drawdown "
            f"{_fmt(o.get('max_drawdown'), True)}, {o.get('n_trades')} trades; in-sample mean "
            f"{_fmt(wf['in_sample_mean_value'])}, out-of-sample mean "
            f"{_fmt(wf['out_of_sample_mean_value'])}\n"
        )
    out.write(f"\nresume or reread: workstation optimize --resume {doc['id']}\n")


__all__ = ["NOTES", "print_text", "result_json"]
