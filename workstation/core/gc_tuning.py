"""Garbage-collector settings for a process that must never stall its event loop.

A full collection walks every tracked object while holding the GIL: with pandas, Qt and
alpaca-py loaded that is 75-160 ms (measured by bench/alpaca_fetch.py), longer than the
50 ms the GUI and the streams may stall. The objects alive after start-up live until the
end, so they are moved out of the collector's reach once.

A process with a window also chooses *where* collections run: see
:mod:`workstation.ui.gc_guard` (cyclic garbage holding Qt objects must be destroyed on the
GUI thread), which calls :func:`collect_due` from a timer on that thread.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then exclude everything alive now from future collections."""
    gc.collect()
    gc.freeze()


def due_generation(counts: tuple[int, int, int], thresholds: tuple[int, int, int]) -> int | None:
    """The generation the interpreter would collect now, or None: the oldest one whose
    count passed its threshold, each older one examined only when the younger one is due
    (as CPython's automatic collection decides)."""
    due = None
    for generation in range(3):
        if counts[generation] <= thresholds[generation]:
            break
        due = generation
    return due


def collect_due() -> int | None:
    """Run the collection automatic GC would run now, in the calling thread; return the
    generation collected (None: nothing was due)."""
    counts = gc.get_count()
    t0, t1, t2 = gc.get_threshold()
    generation = due_generation(counts, (t0, t1, t2))
    if generation is not None:
        gc.collect(generation)
    return generation
