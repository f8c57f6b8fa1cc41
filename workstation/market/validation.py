"""Daily-bar validation (trading rules §14), one pure function for every market.

Bars enter the app through a market (simulated, replay file, Alpaca and its bar cache) or a
backtest's data; each runs :func:`validate_bars` on what it serves. Per (session, symbol):

* **invalid** (``invalid_bar``): a price that is not finite or is ``<= 0``, or a volume that is
  not finite or negative. A cell with no value at all is no bar (a gap), not an invalid one:
  a data file's empty row for a day is a missing day (the real S&P file has such rows on
  dividend dates).
* **duplicate conflict** (``duplicate_conflict``): two rows for the same (symbol, session) that
  disagree. The long-format readers find them with :func:`duplicate_conflicts` and pass the
  cells in; rows that agree (within float noise) are one bar.
* **spike** (``spike``): the close is more than ``spike_pct`` away from the previous close while
  the next close is back within ``spike_pct / 5`` of that previous close. Only where the next
  session is known (replay files, backtests): pass ``spike_pct=None`` for live data.
  The previous and next closes are those of the neighbouring served bars (gaps and invalid
  bars skipped).
* **repaired** (``repaired``): high/low did not bracket open/close by more than float noise;
  high/low are widened to ``max``/``min`` of the four prices (always, noise included) and the
  bar is served.
* **zero volume** (``zero_volume``): served, but nothing traded: no entry in that session
  (reason ``no_volume``) and no prints from it.

Invalid, conflicting and spike bars are **not served**: their cells become NaN in the returned
bars, and their :class:`~workstation.core.bars.BarFlag` bits stay in ``bars.flags`` so the scan
can make the symbol ineligible (reasons ``invalid_bar``, ``duplicate_conflict``, ``spike``)
while such a bar is in the window its indicators read. Every problem is named in a
:class:`BarReport` (kind, symbol, session, what was wrong).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from workstation.core.bar_problems import (
    DUPLICATE_CONFLICT,
    INELIGIBLE_KINDS,
    INVALID_BAR,
    NO_VOLUME,
    REPAIRED,
    SPIKE,
    ZERO_VOLUME,
    counted,
)
from workstation.core.bars import FIELDS, NOT_SERVED, BarFlag, DailyBars
from workstation.engine.rules.numeric import REL_TOL

#: Problem kinds in report order, with their flag. The first three make a symbol ineligible.
KINDS: tuple[tuple[str, BarFlag], ...] = (
    (INVALID_BAR, BarFlag.INVALID),
    (DUPLICATE_CONFLICT, BarFlag.DUPLICATE_CONFLICT),
    (SPIKE, BarFlag.SPIKE),
    (REPAIRED, BarFlag.REPAIRED),
    (ZERO_VOLUME, BarFlag.ZERO_VOLUME),
)
_FLAG_OF = dict(KINDS)
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class BarProblem:
    """One finding: ``kind`` (see :data:`KINDS`) of ``symbol``'s bar of ``session``."""

    kind: str
    symbol: str
    session: date
    detail: str = ""

    def __str__(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"{self.symbol} {self.session.isoformat()}{tail}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "symbol": self.symbol,
            "session": self.session.isoformat(),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class BarReport:
    """Every problem found, in :data:`KINDS` order, then by symbol and session."""

    problems: tuple[BarProblem, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.problems)

    def of_kind(self, kind: str) -> tuple[BarProblem, ...]:
        return tuple(p for p in self.problems if p.kind == kind)

    def counts(self) -> dict[str, int]:
        """Bars per kind, every kind present (0 when none)."""
        out = dict.fromkeys(_FLAG_OF, 0)
        for p in self.problems:
            out[p.kind] += 1
        return out

    def by_kind(self) -> dict[str, dict[str, list[str]]]:
        """kind -> symbol -> the sessions (ISO dates) of its bars of that kind; only kinds and
        symbols that have some."""
        out: dict[str, dict[str, list[str]]] = {}
        for p in self.problems:
            out.setdefault(p.kind, {}).setdefault(p.symbol, []).append(p.session.isoformat())
        return out

    def symbols(self, kinds: Iterable[str] = INELIGIBLE_KINDS) -> tuple[str, ...]:
        """The symbols with a problem of one of ``kinds``, sorted."""
        wanted = set(kinds)
        return tuple(sorted({p.symbol for p in self.problems if p.kind in wanted}))

    def lines(self, examples: int = MAX_EXAMPLES) -> list[str]:
        """One line per kind found: count, symbols and a few examples with what was wrong."""
        out = []
        for kind, _flag in KINDS:
            found = self.of_kind(kind)
            if not found:
                continue
            syms = sorted({p.symbol for p in found})
            shown = "; ".join(str(p) for p in found[:examples])
            more = f" and {len(found) - examples} more" if len(found) > examples else ""
            out.append(
                f"{counted(kind, len(found))} in {len(syms)} symbol{'s' if len(syms) != 1 else ''}"
                f" ({', '.join(syms[:20])}{' ...' if len(syms) > 20 else ''}): {shown}{more}"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the scan report: counts per kind and, per kind, symbol -> sessions."""
        return {"counts": self.counts(), "by_kind": self.by_kind()}


@dataclass(frozen=True, eq=False)
class ValidatedBars:
    """The bars to serve (bad ones NaN, high/low repaired, ``flags`` set) and the report."""

    bars: DailyBars
    report: BarReport


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise: equal, both NaN, or within the rules' relative float tolerance."""
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= REL_TOL * np.maximum(np.abs(a), np.abs(b))
    return (a == b) | (np.isnan(a) & np.isnan(b)) | close


def duplicate_conflicts(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a long-format source that share a (symbol, session) ``key``.

    ``keys``: one integer per row for its (symbol, session); ``values``: the rows' (n, 5) OHLCV.
    Returns ``(first, conflict)``, per row: ``first`` marks the first row of each key (keep
    those, drop the others); ``conflict`` marks every row whose key has rows that disagree
    (by more than float noise, NaN equal to NaN): that bar is a ``duplicate_conflict``.
    """
    keys = np.asarray(keys, dtype=np.int64)
    n = len(keys)
    values = np.asarray(values, dtype=np.float64).reshape(n, -1 if n else len(FIELDS))
    first = np.ones(n, dtype=bool)
    conflict = np.zeros(n, dtype=bool)
    if n < 2:
        return first, conflict
    # Finding the duplicated rows is the whole cost for a clean source (1.5M rows of a real
    # file): a count per key when the keys are dense, a sort otherwise.
    lo = int(keys.min())
    span = int(keys.max()) - lo + 1
    if span <= 4 * n + 1024:
        counts = np.bincount(keys - lo, minlength=span)
        dup_rows = np.flatnonzero(counts[keys - lo] > 1)
    else:
        order = np.argsort(keys, kind="stable")
        same = keys[order][1:] == keys[order][:-1]
        twin = np.zeros(n, dtype=bool)
        twin[1:] |= same
        twin[:-1] |= same
        dup_rows = np.sort(order[twin])
    if dup_rows.size == 0:
        return first, conflict
    rows = dup_rows[np.argsort(keys[dup_rows], kind="stable")]  # by key, then file order
    k = keys[rows]
    starts = np.r_[True, k[1:] != k[:-1]]
    group = np.cumsum(starts) - 1
    head = np.flatnonzero(starts)[group]  # each row's group's first row (in ``rows``)
    v = values[rows]
    agrees = _same(v, v[head]).all(axis=1)
    bad_group = np.zeros(int(group[-1]) + 1, dtype=bool)
    np.logical_or.at(bad_group, group, ~agrees)
    first[rows] = starts
    conflict[rows] = bad_group[group]
    return first, conflict


def _neighbour_close(close: np.ndarray, ok: np.ndarray, *, forward: bool) -> np.ndarray:
    """Per cell, the close of the nearest served bar before it (``forward=False``) or after it
    (``forward=True``) in the same column; NaN where there is none."""
    t = close.shape[0]
    if t == 0:
        return close.copy()
    rows = np.arange(t)[:, None]
    if forward:
        idx = np.where(ok, rows, t)
        nearest = np.minimum.accumulate(idx[::-1], axis=0)[::-1]
        shifted = np.full_like(nearest, t)
        shifted[:-1] = nearest[1:]
    else:
        idx = np.where(ok, rows, -1)
        nearest = np.maximum.accumulate(idx, axis=0)
        shifted = np.full_like(nearest, -1)
        shifted[1:] = nearest[:-1]
    has = (shifted >= 0) & (shifted < t)
    cols = np.broadcast_to(np.arange(close.shape[1]), close.shape)
    out = np.full(close.shape, np.nan)
    out[has] = close[shifted[has], cols[has]]
    return out


def _spikes(
    close: np.ndarray, served: np.ndarray, spike_pct: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spike mask, previous served close, next served close) per cell."""
    cs = np.where(served, close, np.nan)
    prev = np.full(cs.shape, np.nan)
    nxt = np.full(cs.shape, np.nan)
    prev[1:], nxt[:-1] = cs[:-1], cs[1:]
    # The adjacent rows are the neighbours, except in a column with a hole (a gap, a bar not
    # served) inside its span: those few columns are searched properly.
    t = cs.shape[0]
    count = served.sum(axis=0)
    if t:
        first = np.argmax(served, axis=0)
        last = t - 1 - np.argmax(served[::-1], axis=0)
        holes = np.flatnonzero((count > 0) & (count < last - first + 1))
        if holes.size:
            sub, ok = cs[:, holes], served[:, holes]
            prev[:, holes] = _neighbour_close(sub, ok, forward=False)
            nxt[:, holes] = _neighbour_close(sub, ok, forward=True)
    with np.errstate(invalid="ignore"):
        away = np.abs(cs - prev) > spike_pct * prev * (1 + REL_TOL)
        back = np.abs(nxt - prev) <= (spike_pct / 5.0) * prev * (1 + REL_TOL)
    return served & away & back, prev, nxt


def validate_bars(
    bars: DailyBars,
    *,
    spike_pct: float | None = None,
    conflicts: np.ndarray | None = None,
) -> ValidatedBars:
    """Validate ``bars`` as §14 says; the returned bars are what a market serves.

    ``spike_pct``: the spike threshold (config ``scanner.validation.spike_pct``), or None where
    the next session is not known (live data): no spike detection.
    ``conflicts``: a (T, N) mask of the cells whose source rows disagreed (see
    :func:`duplicate_conflicts`); their values are ignored.
    Flags already on ``bars`` are kept (validating twice changes nothing). The returned bars
    share the arrays of ``bars`` that nothing changed (DailyBars are never written to).
    """
    shape = bars.close.shape
    o, h, lo, c, v = (getattr(bars, f) for f in FIELDS)
    flags = np.zeros(shape, dtype=np.uint8) if bars.flags is None else bars.flags.astype(np.uint8)
    with np.errstate(invalid="ignore"):
        present = ~(np.isnan(o) & np.isnan(h) & np.isnan(lo) & np.isnan(c) & np.isnan(v))
        usable = (v >= 0) & (v < np.inf)  # NaN fails both comparisons
        for x in (o, h, lo, c):
            usable &= (x > 0) & (x < np.inf)
    invalid = present & ~usable
    conflict = (
        np.zeros(shape, dtype=bool) if conflicts is None else np.asarray(conflicts, dtype=bool)
    )
    if conflict.shape != shape:
        raise ValueError(f"conflicts has shape {conflict.shape}, expected {shape}")
    invalid &= ~conflict
    flags[invalid] |= np.uint8(BarFlag.INVALID)
    flags[conflict] |= np.uint8(BarFlag.DUPLICATE_CONFLICT)
    # Cells flagged earlier (by the source, or a first validation) stay unserved.
    served = present & ((flags & np.uint8(NOT_SERVED)) == 0)

    spike = np.zeros(shape, dtype=bool)
    prev = nxt = None
    if spike_pct is not None:
        spike, prev, nxt = _spikes(c, served, spike_pct)
        flags[spike] |= np.uint8(BarFlag.SPIKE)
        served &= ~spike

    with np.errstate(invalid="ignore"):
        top, bottom = np.maximum(o, c), np.minimum(o, c)
        widen = served & ((h < top) | (lo > bottom))  # float noise included, silently
        outside = widen & ((h < top * (1 - REL_TOL)) | (lo > bottom * (1 + REL_TOL)))
        zero = served & (v == 0)
    flags[outside] |= np.uint8(BarFlag.REPAIRED)
    flags[zero] |= np.uint8(BarFlag.ZERO_VOLUME)

    hide = present & ~served
    out = {"open": o, "high": h, "low": lo, "close": c, "volume": v}
    if widen.any():
        hi_w, lo_w = h[widen], lo[widen]
        out["high"], out["low"] = h.copy(), lo.copy()
        out["high"][widen] = np.maximum(np.maximum(hi_w, lo_w), top[widen])
        out["low"][widen] = np.minimum(np.minimum(hi_w, lo_w), bottom[widen])
    if hide.any():
        for name in FIELDS:
            arr = out[name] if out[name] is not getattr(bars, name) else out[name].copy()
            arr[hide] = np.nan
            out[name] = arr
    clean = DailyBars(bars.dates, bars.symbols, **out, flags=flags)

    masks = {
        INVALID_BAR: invalid,
        DUPLICATE_CONFLICT: conflict,
        SPIKE: spike,
        REPAIRED: outside,
        ZERO_VOLUME: zero,
    }
    problems = [
        BarProblem(kind, bars.symbols[j], bars.dates[i].astype(object), detail)
        for kind, _flag in KINDS
        for i, j in _cells(masks[kind], bars.symbols)
        for detail in (_detail(kind, bars, i, j, prev, nxt, spike_pct),)
    ]
    return ValidatedBars(clean, BarReport(tuple(problems)))


def _cells(mask: np.ndarray, symbols: tuple[str, ...]) -> list[tuple[int, int]]:
    """(session row, symbol column) of the set cells, by symbol name, then session."""
    rows, cols = np.nonzero(mask)
    return sorted(
        zip(rows.tolist(), cols.tolist(), strict=True), key=lambda x: (symbols[x[1]], x[0])
    )


def _detail(
    kind: str,
    bars: DailyBars,
    i: int,
    j: int,
    prev: np.ndarray | None,
    nxt: np.ndarray | None,
    spike_pct: float | None,
) -> str:
    o, h, lo, c, v = (float(getattr(bars, f)[i, j]) for f in FIELDS)
    ohlcv = f"o={o:.6g} h={h:.6g} l={lo:.6g} c={c:.6g} v={v:.6g}"
    if kind == INVALID_BAR:
        bad = [
            f
            for f, x in zip(FIELDS[:4], (o, h, lo, c), strict=True)
            if not (x > 0 and np.isfinite(x))
        ]
        if not (np.isfinite(v) and v >= 0):
            bad.append("volume")
        return f"{', '.join(bad)} not usable ({ohlcv})"
    if kind == DUPLICATE_CONFLICT:
        return "two rows for this session disagree"
    if kind == SPIKE:
        assert prev is not None and nxt is not None and spike_pct is not None
        p, n = float(prev[i, j]), float(nxt[i, j])
        return (
            f"close {c:.6g} is {abs(c / p - 1):.1%} from the previous close {p:.6g} and the "
            f"next close {n:.6g} is back within {spike_pct / 5:.0%}"
        )
    if kind == REPAIRED:
        return f"high/low did not bracket open/close ({ohlcv})"
    return "volume 0"


def not_trading(bars: DailyBars, symbols: Iterable[str], session: date) -> dict[str, str]:
    """The symbols of ``symbols`` whose bar of ``session`` says they do not trade in it, with
    the reason: ``no_volume`` (zero volume) or the kind of the bar that is not served
    (``invalid_bar``, ``duplicate_conflict``, ``spike``). Symbols without a flagged bar that
    session (or not in ``bars``) are left out."""
    if bars.flags is None:
        return {}
    d = np.datetime64(session, "D")
    i = int(np.searchsorted(bars.dates, d))
    if i >= bars.n_sessions or bars.dates[i] != d:
        return {}
    out = {}
    for sym in symbols:
        if sym not in bars:
            continue
        flag = int(bars.flags[i, bars.col(sym)])
        for kind, bit in (*KINDS[:3], (NO_VOLUME, BarFlag.ZERO_VOLUME)):
            if flag & bit:
                out[sym] = kind
                break
    return out


def problems_in(bars: DailyBars) -> BarReport:
    """The problems recorded in ``bars.flags`` (kind, symbol, session; no details): what a
    window of validated bars holds, e.g. the bars a scan reads."""
    if bars.flags is None or not bars.flags.any():
        return BarReport()
    problems = [
        BarProblem(kind, bars.symbols[j], bars.dates[i].astype(object))
        for kind, flag in KINDS
        for i, j in _cells((bars.flags & np.uint8(flag)) != 0, bars.symbols)
    ]
    return BarReport(tuple(problems))
