"""Garbage-collector settings for a process that must never stall its event loop.

A full collection walks every tracked object while holding the GIL: with pandas, Qt and
alpaca-py loaded that is 75-160 ms (measured by bench/alpaca_fetch.py), longer than the
50 ms the GUI and the streams may stall. The objects alive after start-up live until the
end, so they are moved out of the collector's reach once.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then exclude everything alive now from future collections."""
    gc.collect()
    gc.freeze()
