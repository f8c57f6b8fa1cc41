"""What became of a candidate, in words (engine.outcomes): every refusal code the engines can
record has words, and the evidence is read in order (order, refusal, gap, veto)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from workstation.engine import session as session_module
from workstation.engine.outcomes import ENTRY_WORDS, GAP_WORDS, candidate_outcome, words
from workstation.engine.rules import entries, gap


def _codes(module: object, exclude: set[str]) -> set[str]:
    return {
        v
        for k, v in vars(module).items()
        if k.isupper() and isinstance(v, str) and v.isupper() and v not in exclude
    }


def test_every_refusal_the_engines_record_has_words() -> None:
    checks = _codes(entries, {"OK", "CONFIRMED", "NO_PRICE"})
    steps = _codes(session_module, {"SOURCE", "USER"})
    assert checks <= set(ENTRY_WORDS), checks - set(ENTRY_WORDS)
    assert steps <= set(ENTRY_WORDS), steps - set(ENTRY_WORDS)
    drops = _codes(gap, {"GAP_WITHIN_LIMIT", "NO_PREMARKET_KEPT", "SOURCE_NONE"})
    assert {c for c in drops if c.startswith(("GAP_", "NO_", "BAD_"))} <= set(GAP_WORDS)
    assert words("MAX_POSITIONS") == "position limit reached"
    assert words("SOMETHING_NEW") == "something new"  # never a bare code


def order(status: str, filled: float = 0, price: float | None = None, why: str = ""):
    return SimpleNamespace(
        status=status, filled_qty=filled, avg_fill_price=price, reject_reason=why
    )


@pytest.mark.parametrize(
    ("kw", "code", "text"),
    [
        ({"order": order("filled", 40, 101.25)}, "ENTERED", "entered: 40 @ 101.25"),
        ({"order": order("accepted")}, "WORKING", "entry order working"),
        (
            {"order": order("partially_filled", 10, 50.0)},
            "WORKING",
            "entry order working, 10 filled @ 50.00",
        ),
        ({"order": order("canceled", 10, 50.0)}, "ENTERED", "entered: 10 @ 50.00"),
        ({"order": order("canceled")}, "NOT_FILLED", "not entered: order canceled"),
        (
            {"rejection": {"reason": "MAX_POSITIONS", "detail": "6 open"}},
            "MAX_POSITIONS",
            "not entered: position limit reached",
        ),
        (
            {"gap": SimpleNamespace(passed=False, reason="GAP_TOO_LARGE", gap=0.0412)},
            "GAP_TOO_LARGE",
            "dropped at 09:25: gap too large (+4.12%)",
        ),
        ({"approval": "vetoed"}, "VETOED", "vetoed: followed on paper"),
        ({"approval": "skipped"}, "SKIPPED", "skipped: not approved in time"),
        # the order is the decision: a refusal recorded earlier does not hide it
        (
            {"order": order("filled", 5, 9.0), "rejection": {"reason": "MAX_POSITIONS"}},
            "ENTERED",
            "entered: 5 @ 9.00",
        ),
        # a refusal after a passed gap filter is the refusal
        (
            {
                "rejection": {"reason": "SECTOR_CAP"},
                "gap": SimpleNamespace(passed=True, reason="GAP_WITHIN_LIMIT", gap=0.01),
            },
            "SECTOR_CAP",
            "not entered: sector limit reached",
        ),
    ],
)
def test_the_evidence_in_order(kw, code, text) -> None:
    out = candidate_outcome(**kw)
    assert out is not None and (out.code, out.text) == (code, text)


def test_nothing_yet() -> None:
    assert candidate_outcome(approval="approved") is None
    assert (
        candidate_outcome(gap=SimpleNamespace(passed=True, reason="GAP_WITHIN_LIMIT", gap=0.0))
        is None
    )
