"""What a scan result looks like on disk: the JSON file per session and the store rows."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from workstation.core.config_files import atomic_write
from workstation.core.models import Candidate
from workstation.engine.scan import ScanReport, ScanResult
from workstation.store import NewCandidate


@dataclass(frozen=True, eq=False)
class ScanOutcome:
    """What the scanner records and publishes of a scan: the report, the ranked candidates
    and their store rows (with explanations). Small and picklable, so a scan computed in
    another process (the backtester's pool, its cache) arrives as one; ``result`` is the
    whole :class:`ScanResult` when the scan ran here (the JSON file and the CLI's printout
    read it)."""

    session: date
    report: ScanReport
    candidates: tuple[Candidate, ...]
    rows: tuple[NewCandidate, ...]
    result: ScanResult | None = None

    @staticmethod
    def of(result: ScanResult, *, keep_result: bool = True) -> ScanOutcome:
        return ScanOutcome(
            result.session,
            result.report,
            result.candidates,
            tuple(new_candidates(result)),
            result if keep_result else None,
        )


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/inf become null, numpy scalars plain numbers."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def candidate_dict(c: Candidate, explain: dict[str, Any] | None = None) -> dict[str, Any]:
    return _clean(
        {
            "rank": c.rank,
            "symbol": c.symbol,
            "sector": c.sector,
            "strategy": c.strategy,
            "side": str(c.side),
            "group": str(c.group),
            "score": c.score,
            "score_parts": {
                "strength": c.parts.strength,
                "liquidity": c.parts.liquidity,
                "reward_risk": c.parts.reward_risk,
                "fit": c.parts.fit,
            },
            "strength": c.strength,
            "close": c.close,
            "atr14": c.atr14,
            "sl_mult": c.sl_mult,
            "tp_mult": c.tp_mult,
            "sl": c.sl_distance,
            "tp": c.tp_distance,
            "regime": str(c.regime),
            "indicators": dict(c.indicators),
            **({"explain": explain} if explain is not None else {}),
        }
    )


def explanation(result: ScanResult, c: Candidate) -> dict[str, Any]:
    """Why this symbol was picked: the rule's checks, its score parts, and who was passed
    over (sector cap) on the way to it."""
    exp = result.ranking.explain(c.symbol, c.strategy).as_dict()
    # Sector-capped entries that outscored this candidate: the walk skipped them first.
    passed = [p.as_dict() for p in result.ranking.passed_over if p.entry.score >= c.score]
    return _clean({"rule": exp, "passed_over_before": passed})


def scan_document(result: ScanResult) -> dict[str, Any]:
    """The JSON file of a session's scan."""
    return _clean(
        {
            "session": result.session.isoformat(),
            "regime": str(result.regime.regime),
            "regime_values": result.regime.as_dict(),
            "candidates": [candidate_dict(c, explanation(result, c)) for c in result.candidates],
            "report": result.report.as_dict(),
            "ranking": result.ranking.report_dict(),
        }
    )


def write_scan_json(result: ScanResult, scans_dir: Path) -> Path:
    path = scans_dir / f"{result.session.isoformat()}.json"
    atomic_write(path, json.dumps(scan_document(result), indent=2) + "\n")
    return path


def new_candidates(result: ScanResult) -> list[NewCandidate]:
    out = []
    for c in result.candidates:
        out.append(
            NewCandidate(
                rank=c.rank,
                symbol=c.symbol,
                sector=c.sector,
                strategy=c.strategy,
                side=str(c.side),
                grp=str(c.group),
                score=c.score,
                score_strength=c.parts.strength,
                score_liquidity=c.parts.liquidity,
                score_rr=c.parts.reward_risk,
                score_fit=c.parts.fit,
                strength=c.strength,
                close=c.close,
                atr14=c.atr14,
                sl_mult=c.sl_mult,
                tp_mult=c.tp_mult,
                sl_dist=c.sl_distance,
                tp_dist=c.tp_distance,
                indicators=_clean(dict(c.indicators)),
                explain=explanation(result, c),
            )
        )
    return out
