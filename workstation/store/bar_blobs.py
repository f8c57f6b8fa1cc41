"""The packed form of one symbol's daily bars in the ``bar_series`` table (schema v3).

A series is two blobs plus its length ``n``:

- ``dates``: ``n`` little-endian int32, days since 1970-01-01, strictly ascending;
- ``ohlcv``: ``n x 5`` little-endian float64, row-major (open, high, low, close, volume).
  Close is always finite (no close, no bar); the other fields may be NaN (unknown).

Why blobs: the scanner reads ~500 symbols x 300 sessions at once, and SQLite handing 150,000
rows to Python one tuple at a time took ~0.3-0.6 s; one row per symbol whose blobs numpy reads
in place (``np.frombuffer``, no copy) takes a few ms. The byte layout is part of the schema:
changing it means a new migration, never an edit here.
"""

from __future__ import annotations

import numpy as np

DATE_DTYPE = np.dtype("<i4")
VALUE_DTYPE = np.dtype("<f8")
N_FIELDS = 5  # open, high, low, close, volume


class BadSeries(ValueError):
    """A stored series whose blobs do not match its length (a damaged row)."""


def encode(days: np.ndarray, values: np.ndarray) -> tuple[bytes, bytes]:
    """``(dates, ohlcv)`` blobs of ``days`` (int, ascending, unique) and ``values`` (n x 5)."""
    d = np.ascontiguousarray(days, dtype=DATE_DTYPE)
    v = np.ascontiguousarray(values, dtype=VALUE_DTYPE)
    if v.shape != (len(d), N_FIELDS):
        raise ValueError(
            f"a series of {len(d)} dates needs {len(d)} x {N_FIELDS} values, got {v.shape}"
        )
    return d.tobytes(), v.tobytes()


def check(dates: bytes, ohlcv: bytes, n: int) -> None:
    """Raise :class:`BadSeries` unless the blobs hold exactly ``n`` bars."""
    if len(dates) != n * DATE_DTYPE.itemsize or len(ohlcv) != n * N_FIELDS * VALUE_DTYPE.itemsize:
        raise BadSeries(
            f"{n} bars stored in {len(dates)} bytes of dates and {len(ohlcv)} bytes of values"
        )


def decode(dates: bytes, ohlcv: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only views ``(days int32 (n,), values float64 (n, 5))`` over the stored blobs
    (several series' blobs joined back to back decode as one longer series)."""
    check(dates, ohlcv, n)
    days = np.frombuffer(dates, dtype=DATE_DTYPE)
    values = np.frombuffer(ohlcv, dtype=VALUE_DTYPE).reshape(n, N_FIELDS)
    return days, values


def day_texts(days: list[int]) -> list[str]:
    """Day numbers as ``YYYY-MM-DD`` texts (the store's date convention)."""
    return np.array(days, dtype=np.int64).astype("datetime64[D]").astype(str).tolist()


def text_days(texts: list[str]) -> np.ndarray:
    """``YYYY-MM-DD`` texts as int64 day numbers."""
    return np.array(texts, dtype="datetime64[D]").astype(np.int64)
