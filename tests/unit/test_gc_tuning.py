"""Which generation automatic collection would run, as CPython decides it."""

from __future__ import annotations

import pytest

from workstation.core.gc_tuning import due_generation

T = (700, 10, 10)


@pytest.mark.parametrize(
    ("counts", "due"),
    [
        ((0, 0, 0), None),
        ((700, 0, 0), None),  # at the threshold: not yet (CPython collects when count > t)
        ((701, 0, 0), 0),
        ((701, 10, 0), 0),
        ((701, 11, 0), 1),
        ((701, 11, 10), 1),
        ((701, 11, 11), 2),
        ((700, 11, 11), None),  # an older generation is examined only when the younger is due
        ((701, 10, 11), 0),
    ],
)
def test_due_generation(counts: tuple[int, int, int], due: int | None) -> None:
    assert due_generation(counts, T) == due
