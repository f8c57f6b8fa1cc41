"""The replay market: the MarketData interface over real daily bars from a file.

A CSV or Parquet file in long format (``date, symbol, open, high, low, close, volume``; other
columns ignored, column names case-insensitive) is loaded once into :class:`DailyBars` on the
XNYS session grid. Inside each real day the market synthesizes what a daily file cannot hold --
pre-market prints, the official open, a minute path through the day's OHLC and a quote stream --
with :mod:`workstation.market.intraday`, seeded from (seed, symbol, session) so every replay of
the same file shows the same intraday paths.

Real data is dirty. Loading never crashes on it; every problem is counted in a
:class:`DataReport` (with a few examples) and handled:

* blank rows, unparseable dates, rows without a symbol, malformed CSV lines: dropped;
* dates that are not NYSE sessions: dropped (nothing can trade on them);
* rows with a date and a symbol but no value at all: dropped (the session is a gap);
* duplicate (date, symbol) rows that agree: one kept; rows that disagree: a
  ``duplicate_conflict`` bar (never "the last one wins");
* then the bars go through :func:`workstation.market.validation.validate_bars` (trading rules
  §14), spikes included (a file knows the next session): invalid bars (a price not finite or
  ``<= 0``, a volume not finite or negative), conflicting duplicates and spikes are not served
  (NaN cells, flagged in ``bars.flags``; the symbol does not trade that session and a scan
  whose window holds one finds it ineligible); high/low not bracketing open/close are widened
  and counted; zero-volume bars are served and counted (no entry and no prints that session);
* gaps (sessions missing for a symbol inside its own first..last span, or for every symbol):
  counted per symbol; the bars stay NaN there, as DailyBars' contract says.

File-level problems (missing file, unreadable format, missing columns, no usable row) raise
:class:`ReplayDataError` with one line that says what is wrong and what to do.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import logging
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pac
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from workstation.core.bars import FIELDS, DailyBars
from workstation.core.calendar import (
    DEFAULT_END,
    DEFAULT_START,
    ET,
    PRE_MARKET_START,
    CalendarRangeError,
    MarketState,
    TradingCalendar,
    get_calendar,
)
from workstation.core.models import Quote, Snapshot, TradeTick, Universe
from workstation.market.base import MarketDataError
from workstation.market.intraday import (
    minute_index,
    quote_from_price,
    synth_minute_paths,
    synth_premarket_trades,
)
from workstation.market.universe import (
    BENCHMARK,
    UNKNOWN_SECTOR,
    UniverseError,
    normalize_symbol,
    sp500_universe,
    universe_from_csv,
)
from workstation.market.validation import (
    DUPLICATE_CONFLICT,
    INVALID_BAR,
    REPAIRED,
    SPIKE,
    ZERO_VOLUME,
    BarReport,
    duplicate_conflicts,
    not_trading,
    validate_bars,
)

REQUIRED_COLUMNS: tuple[str, ...] = ("date", "symbol", *FIELDS)
DEFAULT_SPIKE_PCT = 0.5  # trading rules §14 (config: scanner.validation.spike_pct)
MAX_EXAMPLES = 5
_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
_PREMARKET_SPREAD_FACTOR = 3.0  # pre-market books are thin: wider quotes
_DAY_CACHE_SIZE = 2048  # (symbol, session) intraday days kept; ~16 kB each


log = logging.getLogger(__name__)


class ReplayDataError(MarketDataError):
    """A replay data or universe file that cannot be used; the message says why and the fix."""


class TimeSource(Protocol):
    """The part of :class:`workstation.core.clock.Clock` the replay market needs."""

    def now(self) -> datetime: ...

    async def sleep_until(self, t: datetime) -> None: ...


# ============================================================================ report
@dataclass
class DataReport:
    """What loading a daily file found and did. Counts are rows (bars) unless named."""

    source: str
    calendar: str = "XNYS"
    rows_read: int = 0
    rows_loaded: int = 0
    symbols: int = 0
    first_date: date | None = None
    last_date: date | None = None
    malformed_lines: int = 0  # CSV lines with the wrong number of fields (skipped)
    blank_rows: int = 0  # every field empty (dropped)
    unparseable_dates: int = 0  # (dropped)
    blank_symbols: int = 0  # a date but no symbol (dropped)
    non_session_dates: int = 0  # a date that is no NYSE session (dropped)
    empty_rows: int = 0  # a date and a symbol but no price or volume (dropped: a gap)
    duplicates: int = 0  # further rows of the same (date, symbol) (dropped; see conflicts)
    # Trading rules §14, from the validation (``bar_report`` names each bar):
    invalid_bars: int = 0  # a price not finite or <= 0, a volume not finite or < 0 (not served)
    duplicate_conflicts: int = 0  # (date, symbol)s whose rows disagree (not served)
    spikes: int = 0  # close > spike_pct away and back the next session (not served)
    zero_volume: int = 0  # volume 0 (served; no entry or prints that session)
    non_bracketing: int = 0  # high/low not bracketing open/close (envelope widened)
    bar_report: BarReport = field(default_factory=BarReport)
    missing_sessions: list[date] = field(default_factory=list)  # no bar of any symbol
    gaps: dict[str, int] = field(default_factory=dict)  # symbol -> sessions missing in its span
    universe_without_data: list[str] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def gap_sessions(self) -> int:
        """Symbol-sessions missing inside the symbols' own spans (all symbols together)."""
        return sum(self.gaps.values())

    @property
    def dropped_rows(self) -> int:
        return (
            self.blank_rows
            + self.unparseable_dates
            + self.blank_symbols
            + self.non_session_dates
            + self.empty_rows
            + self.duplicates
        )

    @property
    def unserved_bars(self) -> int:
        """Bars loaded but not served (invalid, conflicting, spikes)."""
        return self.invalid_bars + self.duplicate_conflicts + self.spikes

    @property
    def is_clean(self) -> bool:
        return not (
            self.dropped_rows
            or self.malformed_lines
            or self.bar_report
            or self.missing_sessions
            or self.gaps
            or self.universe_without_data
        )

    def _add_examples(self, key: str, items: list[str]) -> None:
        if items:
            self.examples.setdefault(key, []).extend(items[:MAX_EXAMPLES])

    def lines(self) -> list[str]:
        """One line per finding, with examples; empty when the file was clean."""
        out: list[str] = []

        def add(count: int, what: str, key: str) -> None:
            if count:
                ex = self.examples.get(key, [])
                tail = f" (e.g. {'; '.join(ex)})" if ex else ""
                out.append(f"{count} {what}{tail}")

        add(self.malformed_lines, "malformed CSV lines skipped", "malformed_lines")
        add(self.blank_rows, "blank rows dropped", "blank_rows")
        add(self.unparseable_dates, "rows with an unparseable date dropped", "unparseable_dates")
        add(self.blank_symbols, "rows without a symbol dropped", "blank_symbols")
        add(self.non_session_dates, "rows on non-NYSE-session dates dropped", "non_session_dates")
        add(self.empty_rows, "rows without prices or volume dropped (gaps)", "empty_rows")
        add(self.duplicates, "duplicate (date, symbol) rows dropped", "duplicates")
        out += self.bar_report.lines(MAX_EXAMPLES)
        if self.missing_sessions:
            shown = ", ".join(d.isoformat() for d in self.missing_sessions[:MAX_EXAMPLES])
            out.append(f"{len(self.missing_sessions)} sessions with no bar at all (e.g. {shown})")
        if self.gaps:
            worst = sorted(self.gaps.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_EXAMPLES]
            shown = ", ".join(f"{s} {n}" for s, n in worst)
            out.append(
                f"{self.gap_sessions} missing sessions in {len(self.gaps)} symbols' "
                f"histories (e.g. {shown})"
            )
        if self.universe_without_data:
            shown = ", ".join(self.universe_without_data[:MAX_EXAMPLES])
            out.append(
                f"{len(self.universe_without_data)} universe symbols have no data and are "
                f"left out (e.g. {shown})"
            )
        return out

    def summary(self) -> str:
        span = f"{self.first_date} .. {self.last_date}" if self.first_date else "no dates"
        head = (
            f"{self.source}: {self.rows_loaded} bars of {self.symbols} symbols loaded "
            f"({span}) from {self.rows_read} rows"
        )
        findings = self.lines()
        if not findings:
            return head + "; no data problems found"
        return "\n".join(
            [head + "; data problems found and handled:"] + [f"  - {x}" for x in findings]
        )

    def __str__(self) -> str:
        return self.summary()


# ============================================================================ reading
def _file_error(p: Path, what: str) -> ReplayDataError:
    return ReplayDataError(f"replay data file {p}: {what}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _is_parquet(p: Path) -> bool:
    if p.suffix.lower() in _PARQUET_SUFFIXES:
        return True
    if p.suffix.lower() in {".csv", ".txt", ".gz"}:
        return False
    with p.open("rb") as f:
        return f.read(4) == b"PAR1"


def _column_map(p: Path, names: Sequence[str]) -> dict[str, str]:
    """Required column -> the file's spelling; raises naming every missing column."""
    by_lower: dict[str, str] = {}
    for n in names:
        by_lower.setdefault(str(n).strip().lower(), n)
    missing = [c for c in REQUIRED_COLUMNS if c not in by_lower]
    if missing:
        found = ", ".join(str(n) for n in names) or "none"
        raise _file_error(
            p,
            f"missing required column(s) {', '.join(missing)} (columns found: {found}); "
            "the file needs date, symbol, open, high, low, close, volume",
        )
    return {c: by_lower[c] for c in REQUIRED_COLUMNS}


def _csv_header(p: Path) -> list[str]:
    opener = gzip.open if p.suffix.lower() == ".gz" else open
    try:
        with opener(p, "rt", encoding="utf-8-sig", newline="") as f:  # type: ignore[operator]
            first = f.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise _file_error(p, f"cannot be read as CSV ({_one_line(exc)})") from None
    if not first.strip():
        raise _file_error(
            p, "is empty; it needs a header line 'date,symbol,open,high,low,close,volume'"
        )
    return next(csv.reader(io.StringIO(first)))


def _read_table(p: Path) -> tuple[pa.Table, dict[str, str], int]:
    """The file's required columns as an Arrow table (renamed to the canonical names), and the
    count of malformed CSV lines skipped."""
    if not p.exists():
        raise ReplayDataError(
            f"replay data file {p} does not exist; give a CSV or Parquet file with columns "
            "date, symbol, open, high, low, close, volume"
        )
    if not p.is_file():
        raise _file_error(p, "is not a file; give a CSV or Parquet file")
    malformed = 0
    if _is_parquet(p):
        try:
            names = pq.read_schema(p).names
        except Exception as exc:  # any reader failure: a bad file
            raise _file_error(p, f"cannot be read as Parquet ({_one_line(exc)})") from None
        cols = _column_map(p, names)
        try:
            # Symbols as a dictionary: 560 strings and int32 codes instead of 1.5M strings.
            table = pq.read_table(p, columns=list(cols.values()), read_dictionary=[cols["symbol"]])
        except Exception as exc:
            raise _file_error(p, f"cannot be read as Parquet ({_one_line(exc)})") from None
    else:
        cols = _column_map(p, _csv_header(p))

        def skip(_row: object) -> str:
            nonlocal malformed
            malformed += 1
            return "skip"

        # Read everything as text: one junk cell must not make the reader fail or guess a
        # column's type; conversion below turns junk into NaN (and counts it).
        convert = pacsv.ConvertOptions(
            include_columns=list(cols.values()),
            column_types={name: pa.string() for name in cols.values()},
            strings_can_be_null=True,
        )
        try:
            table = pacsv.read_csv(
                p,
                parse_options=pacsv.ParseOptions(invalid_row_handler=skip),
                convert_options=convert,
            )
        except Exception as exc:
            raise _file_error(p, f"cannot be read as CSV ({_one_line(exc)})") from None
    inverse = {v: k for k, v in cols.items()}
    table = table.rename_columns([inverse[n] for n in table.column_names])
    return table, cols, malformed


def _to_float(col: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        return col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    # Text: fast path through Arrow, then pandas for the cells Arrow refuses ("n/a", "1,5").
    try:
        return pac.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        s = pd.Series(col.to_numpy(zero_copy_only=False), dtype=object)
        return pd.to_numeric(s.astype(str).str.strip(), errors="coerce").to_numpy(np.float64)


def _to_dates(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(datetime64[D] with NaT for missing/unparseable, mask of cells that held text/data)."""
    present = ~col.is_null().to_numpy(zero_copy_only=False)
    t = col.type
    if pa.types.is_timestamp(t) and t.tz is not None:
        # The file's wall date in its own zone (a midnight-ET stamp is that ET day).
        s = pd.Series(col.to_pandas()).dt.tz_localize(None)
        return s.to_numpy("datetime64[ns]").astype("datetime64[D]"), present
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        arr = col.cast(pa.timestamp("s")).to_numpy(zero_copy_only=False)
        return arr.astype("datetime64[D]"), present
    text = pac.utf8_trim_whitespace(col.cast(pa.string()))
    present &= pac.not_equal(text, "").fill_null(False).to_numpy(zero_copy_only=False)
    # Fast path in Arrow for plain ISO dates; pandas only for the cells that are not.
    fast = pac.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    out = fast.to_numpy(zero_copy_only=False).astype("datetime64[D]")
    slow = present & np.isnat(out)
    if slow.any():
        rest = pd.Series(text.to_numpy(zero_copy_only=False)[slow], dtype=object)
        try:
            parsed = pd.to_datetime(rest, errors="coerce", format="ISO8601")
        except (ValueError, TypeError):
            parsed = pd.to_datetime(rest, errors="coerce", format="mixed", utc=True)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        out[slow] = parsed.to_numpy("datetime64[ns]").astype("datetime64[D]")
    return out, present


def _symbols(col: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Per-row symbol codes (-1 where blank) and the code -> symbol list (stripped, sorted)."""
    if pa.types.is_dictionary(col.type):
        enc = col.unify_dictionaries().combine_chunks()
        if not pa.types.is_string(enc.dictionary.type):
            enc = enc.cast(pa.string()).dictionary_encode()
    else:
        enc = col.cast(pa.string()).combine_chunks().dictionary_encode()
    raw_codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    names = [str(x).strip() for x in enc.dictionary.to_pylist()]
    uniq = sorted({n for n in names if n})
    pos = {n: i for i, n in enumerate(uniq)}
    remap = np.array([pos.get(n, -1) for n in names] + [-1], dtype=np.int64)
    return remap[raw_codes], uniq


def _calendar_for(first: date, last: date) -> TradingCalendar | None:
    """The shared XNYS calendar if it covers the file, a wider one if not, None if impossible."""
    if first >= DEFAULT_START and last <= DEFAULT_END:
        return get_calendar()
    try:
        # Whole years, so files that start on different days share one calendar.
        return get_calendar(min(date(first.year, 1, 1), DEFAULT_START), max(last, DEFAULT_END))
    except Exception:  # exchange_calendars refuses far ranges
        return None


def _d(x: np.datetime64) -> date:
    return x.astype("datetime64[D]").astype(object)


def load_daily_file(
    path: str | Path,
    *,
    symbols: Collection[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    extra_symbols: Sequence[str] = (),
    spike_pct: float | None = DEFAULT_SPIKE_PCT,
) -> tuple[DailyBars, DataReport]:
    """Load a long-format daily file into validated :class:`DailyBars` on the XNYS grid.

    Symbols are sorted as strings. ``symbols`` keeps only those symbols and ``start``/``end``
    only that date range (used to take the benchmark from a bigger file); rows outside are
    skipped silently, not reported. ``extra_symbols`` the file lacks are appended as NaN
    columns, so a caller can fill them in place (the arrays of a big file are not copied).
    ``spike_pct``: the §14 spike threshold (None: no spike detection).
    Raises :class:`ReplayDataError` when the file cannot be used at all.
    """
    p = Path(path).expanduser()
    table, _cols, malformed = _read_table(p)
    rep = DataReport(source=str(p), malformed_lines=malformed, rows_read=table.num_rows + malformed)
    if malformed:
        rep._add_examples("malformed_lines", [f"{malformed} line(s) with a wrong field count"])

    dates, date_present = _to_dates(table.column("date"))
    codes, names = _symbols(table.column("symbol"))
    vals = {f: _to_float(table.column(f)) for f in FIELDS}
    n = len(dates)
    rowno = np.arange(n)

    def ex(mask: np.ndarray, fmt: Callable[[int], str]) -> list[str]:
        return [fmt(int(i)) for i in rowno[mask][:MAX_EXAMPLES]]

    def sym(i: int) -> str:
        return names[codes[i]] if codes[i] >= 0 else "?"

    def where(i: int) -> str:
        d = "?" if np.isnat(dates[i]) else str(dates[i])
        return f"{sym(i)} {d} (row {i + 1})"

    date_ok = ~np.isnat(dates)
    any_value = np.zeros(n, dtype=bool)
    for f in FIELDS:
        any_value |= ~np.isnan(vals[f])
    blank = ~date_present & (codes < 0) & ~any_value
    bad_date = ~blank & ~date_ok
    bad_sym = ~blank & date_ok & (codes < 0)
    rep.blank_rows = int(blank.sum())
    rep.unparseable_dates = int(bad_date.sum())
    rep.blank_symbols = int(bad_sym.sum())
    if rep.unparseable_dates:
        raw = table.column("date").cast(pa.string()).to_numpy(zero_copy_only=False)
        rep._add_examples(
            "unparseable_dates",
            ex(bad_date, lambda i: f"{sym(i)} {raw[i]!r} (row {i + 1})"),
        )
    rep._add_examples("blank_symbols", ex(bad_sym, where))
    rep._add_examples("blank_rows", ex(blank, lambda i: f"row {i + 1}"))
    del table, date_present, any_value  # the Arrow table is as big as the arrays: free it now
    keep = date_ok & (codes >= 0)

    # The caller's window (benchmark extraction): out-of-scope rows are not the file's fault.
    if symbols is not None:
        wanted = np.array([s in set(symbols) for s in names] + [False], dtype=bool)
        keep &= wanted[codes]
    if start is not None:
        keep &= dates >= np.datetime64(start, "D")
    if end is not None:
        keep &= dates <= np.datetime64(end, "D")

    if not keep.any():
        what = "no rows with a date and a symbol"
        if symbols is not None or start is not None or end is not None:
            what = (
                f"no rows for {', '.join(sorted(symbols)) if symbols else 'any symbol'}"
                f" between {start or 'the start'} and {end or 'the end'}"
            )
        raise _file_error(p, f"has {what} ({rep.rows_read} rows read); check the file's contents")

    # --- session grid ------------------------------------------------------------------
    kd = dates[keep]
    first, last = _d(kd.min()), _d(kd.max())
    cal = _calendar_for(first, last)
    if cal is not None:
        grid = np.array(cal.sessions_in_range(first, last), dtype="datetime64[D]")
    else:
        rep.calendar = "file dates"
        grid = np.unique(kd)
    pos = np.searchsorted(grid, dates)
    pos_c = np.minimum(pos, max(len(grid) - 1, 0))
    on_grid = (pos < len(grid)) & (grid[pos_c] == dates) if len(grid) else np.zeros(n, bool)
    non_session = keep & ~on_grid
    rep.non_session_dates = int(non_session.sum())
    rep._add_examples("non_session_dates", ex(non_session, where))
    keep &= on_grid

    # --- rows without any value: no bar (a gap) --------------------------------------------
    present = np.zeros(n, dtype=bool)
    for f in FIELDS:
        present |= ~np.isnan(vals[f])
    empty = keep & ~present
    rep.empty_rows = int(empty.sum())
    rep._add_examples("empty_rows", ex(empty, where))
    keep &= ~empty

    # --- duplicates: one row per (date, symbol); rows that disagree are a conflict ---------
    n_sym = len(names)
    key = pos_c.astype(np.int64) * max(n_sym, 1) + codes
    kept_rows = rowno[keep]
    values = np.column_stack([vals[f][kept_rows] for f in FIELDS])
    first, conflict = duplicate_conflicts(key[kept_rows], values)
    dup = np.zeros(n, dtype=bool)
    dup[kept_rows[~first]] = True
    rep.duplicates = int(dup.sum())
    rep._add_examples("duplicates", ex(dup, where))
    in_conflict = np.zeros(n, dtype=bool)
    in_conflict[kept_rows[conflict]] = True
    keep &= ~dup

    if not keep.any():
        raise _file_error(
            p, f"has no usable rows ({rep.rows_read} rows read: {'; '.join(rep.lines())})"
        )

    # --- wide arrays ---------------------------------------------------------------------
    # The grid spans the rows finally kept (dropped rows at either end leave no NaN rows).
    rows = pos_c[keep]
    lo_row, hi_row = int(rows.min()), int(rows.max())
    grid = grid[lo_row : hi_row + 1]
    rows = rows - lo_row
    cols = codes[keep]
    used = np.zeros(n_sym, dtype=bool)
    used[cols] = True
    data_names = tuple(s for s, u in zip(names, used, strict=True) if u)
    n_data = len(data_names)
    sym_names = data_names + tuple(s for s in dict.fromkeys(extra_symbols) if s not in data_names)
    col_of = np.cumsum(used) - 1
    cols = col_of[cols]
    shape = (len(grid), len(sym_names))
    wide = {}
    for f in FIELDS:
        w = np.full(shape, np.nan)
        w[rows, cols] = vals[f][keep]
        wide[f] = w
    conflicts = np.zeros(shape, dtype=bool)
    conflicts[rows, cols] = in_conflict[keep]
    del vals
    checked = validate_bars(
        DailyBars(grid, sym_names, **wide), spike_pct=spike_pct, conflicts=conflicts
    )
    bars = checked.bars
    _count_problems(rep, checked.report)
    if not np.isfinite(bars.close).any():
        raise _file_error(
            p, f"has no usable bars ({rep.rows_read} rows read: {'; '.join(rep.lines())})"
        )

    # --- gaps (a session without a row; an unserved bar is a row, named in its own kind) ---
    has = np.isfinite(bars.close[:, :n_data]) | (bars.flags[:, :n_data] != 0)
    t_len = bars.n_sessions
    first_i = np.argmax(has, axis=0)
    last_i = t_len - 1 - np.argmax(has[::-1], axis=0)
    missing = (last_i - first_i + 1) - has.sum(axis=0)
    rep.gaps = {s: int(m) for s, m in zip(data_names, missing, strict=True) if m > 0}
    for s in sorted(rep.gaps, key=lambda s: -rep.gaps[s])[:MAX_EXAMPLES]:
        j = bars.col(s)
        span = ~has[first_i[j] : last_i[j] + 1, j]
        first_gap = grid[first_i[j] + int(np.argmax(span))]
        rep._add_examples("gaps", [f"{s}: {rep.gaps[s]} sessions missing, first {first_gap}"])
    rep.missing_sessions = [_d(x) for x in grid[~has.any(axis=1)]]

    rep.rows_loaded = int(keep.sum())
    rep.symbols = n_data
    rep.first_date, rep.last_date = _d(grid[0]), _d(grid[-1])
    return bars, rep


def _count_problems(rep: DataReport, found: BarReport) -> None:
    """Put the validation's findings in the load report."""
    rep.bar_report = found
    counts = found.counts()
    rep.invalid_bars = counts[INVALID_BAR]
    rep.duplicate_conflicts = counts[DUPLICATE_CONFLICT]
    rep.spikes = counts[SPIKE]
    rep.non_bracketing = counts[REPAIRED]
    rep.zero_volume = counts[ZERO_VOLUME]


def _fill_column(bars: DailyBars, source: DailyBars, symbol: str) -> None:
    """Overwrite ``bars``' column ``symbol`` (which must exist) in place with ``source``'s,
    aligned on dates (NaN where ``source`` has no bar)."""
    idx = np.searchsorted(source.dates, bars.dates)
    idx_c = np.minimum(idx, max(source.n_sessions - 1, 0))
    hit = (idx < source.n_sessions) & (source.dates[idx_c] == bars.dates)
    j, k = source.col(symbol), bars.col(symbol)
    for f in FIELDS:
        target = getattr(bars, f)
        target[:, k] = np.nan
        target[hit, k] = getattr(source, f)[idx_c[hit], j]
    if bars.flags is not None:
        bars.flags[:, k] = 0
        if source.flags is not None:
            bars.flags[hit, k] = source.flags[idx_c[hit], j]


# ============================================================================ the market
class _Day:
    """One symbol's synthesized session. The pre-market prints and the minute path are built
    on first use: a 09:25 snapshot of the whole universe needs only the former."""

    def __init__(
        self,
        market: ReplayMarket,
        symbol: str,
        session: date,
        bar: tuple[float, float, float, float, float],
        prev_close: float,
    ) -> None:
        self._market = market
        self.symbol = symbol
        self.session = session
        self.bar = bar
        self.day_open, self.day_close = bar[0], bar[3]
        self.prev_close = prev_close
        self.open_time = market.calendar.open_time(session)
        self.close_time = market.calendar.close_time(session)
        self.midnight = datetime.combine(session, datetime.min.time(), tzinfo=ET)

    @functools.cached_property
    def premarket(self) -> tuple[np.ndarray, np.ndarray]:
        """(seconds since midnight ET, prices) of the pre-market prints."""
        m = self._market
        seconds, prices = synth_premarket_trades(
            self.prev_close,
            self.day_open,
            m._rng(self.symbol, self.session, 2),
            m.premarket_trades,
        )
        return seconds[:, 0], prices[:, 0]

    @functools.cached_property
    def minutes(self) -> dict[str, np.ndarray]:
        """The minute path: open/high/low/close/volume, each (minutes,)."""
        m = self._market
        n = m.calendar.minutes_in_session(self.session)
        low_first = m._forced_order(self.symbol, self.session, self.bar)
        paths = synth_minute_paths(
            *self.bar,
            n,
            m._rng(self.symbol, self.session, 1),
            None if low_first is None else np.array([low_first]),
        )
        return paths.column(0)

    def price_at(self, t: datetime) -> float:
        """The path's price at ``t`` (open .. close), linear inside a minute."""
        if t >= self.close_time:
            return self.day_close
        if t <= self.open_time:
            # The path starts at the open exactly: no need to build it (the open's snapshot
            # asks every candidate; most are never looked at again that day).
            return self.day_open
        mins = self.minutes
        elapsed = max((t - self.open_time).total_seconds(), 0.0) / 60.0
        k = min(int(elapsed), len(mins["close"]) - 1)
        frac = min(elapsed - k, 1.0)
        return float(mins["open"][k] + frac * (mins["close"][k] - mins["open"][k]))

    def volume_at(self, t: datetime) -> float:
        vol = self.minutes["volume"]
        elapsed = max((t - self.open_time).total_seconds(), 0.0) / 60.0
        return float(vol[min(int(elapsed), len(vol) - 1)])


class ReplayMarket:
    """MarketData over a real daily file; intraday synthesized from each day's OHLC.

    ``clock`` (``now()`` and ``async sleep_until(t)``) drives :meth:`stream` and limits
    :meth:`minute_bars` / :meth:`daily_bars` to what is complete at ``now()``; without one,
    all history is visible and :meth:`stream` is unavailable.
    """

    name = "replay"

    def __init__(
        self,
        path: str | Path,
        universe_csv: str | Path | None = None,
        benchmark_path: str | Path | None = None,
        *,
        clock: TimeSource | None = None,
        seed: int = 0,
        benchmark: str = BENCHMARK,
        quote_interval: float = 5.0,
        spread_bps: float = 5.0,
        premarket_trades: int = 12,
        spike_pct: float | None = DEFAULT_SPIKE_PCT,
    ) -> None:
        extra = (benchmark,) if benchmark_path is not None else ()
        bars, report = load_daily_file(path, extra_symbols=extra, spike_pct=spike_pct)
        self.benchmark_report: DataReport | None = None
        if benchmark_path is not None:
            bench, self.benchmark_report = load_daily_file(
                benchmark_path,
                symbols={benchmark},
                start=report.first_date,
                end=report.last_date,
                spike_pct=spike_pct,
            )
            _fill_column(bars, bench, benchmark)
        self._setup(
            bars,
            report,
            clock=clock,
            seed=seed,
            benchmark=benchmark,
            quote_interval=quote_interval,
            spread_bps=spread_bps,
            premarket_trades=premarket_trades,
        )
        self._universe = self._build_universe(universe_csv)
        for rep in (self.report, self.benchmark_report):
            if rep is not None:
                # Every problem of the file, named, in the log (the scan names those it meets).
                log.log(logging.INFO if rep.is_clean else logging.WARNING, "%s", rep.summary())

    @classmethod
    def from_bars(
        cls,
        bars: DailyBars,
        universe: Universe,
        *,
        report: DataReport | None = None,
        clock: TimeSource | None = None,
        seed: int = 0,
        quote_interval: float = 5.0,
        spread_bps: float = 5.0,
        premarket_trades: int = 12,
        spike_pct: float | None = DEFAULT_SPIKE_PCT,
    ) -> ReplayMarket:
        """A replay market over bars already in memory (another market's history, the bar
        cache): the same intraday synthesis as over a file, for the same seed.

        Bars that did not come through the validation (``bars.flags`` None) are validated
        here (trading rules §14, spikes with ``spike_pct``) and the findings go in the report.
        """
        self = cls.__new__(cls)
        self.benchmark_report = None
        report = report or DataReport(source="memory")
        if bars.flags is None:
            checked = validate_bars(bars, spike_pct=spike_pct)
            bars = checked.bars
            _count_problems(report, checked.report)
        self._setup(
            bars,
            report,
            clock=clock,
            seed=seed,
            benchmark=universe.benchmark,
            quote_interval=quote_interval,
            spread_bps=spread_bps,
            premarket_trades=premarket_trades,
        )
        self._universe = universe
        return self

    def _setup(
        self,
        bars: DailyBars,
        report: DataReport,
        *,
        clock: TimeSource | None,
        seed: int,
        benchmark: str,
        quote_interval: float,
        spread_bps: float,
        premarket_trades: int,
    ) -> None:
        if not quote_interval > 0:
            raise ValueError(f"quote_interval must be > 0 seconds, got {quote_interval}")
        self._clock = clock
        self.seed = int(seed)
        self.benchmark = benchmark
        self.quote_interval = float(quote_interval)
        self.spread_bps = float(spread_bps)
        self.premarket_trades = int(premarket_trades)
        self.report = report
        self.bars: DailyBars = bars
        self.has_benchmark = benchmark in bars and bool(
            np.isfinite(bars.close[:, bars.col(benchmark)]).any()
        )
        first, last = bars.dates[0].astype(object), bars.dates[-1].astype(object)
        self.calendar: TradingCalendar = _calendar_for(first, last) or get_calendar()
        self._days: OrderedDict[tuple[str, date], _Day | None] = OrderedDict()
        self._last_close_idx: np.ndarray | None = None
        self._indexes: dict[date, pd.DatetimeIndex] = {}

    # ------------------------------------------------------------------ universe
    def _build_universe(self, universe_csv: str | Path | None) -> Universe:
        # Index series (^GSPC, ^VIX) are not tradable stocks: never part of the universe.
        data_syms = [s for s in self.bars.symbols if s != self.benchmark and not s.startswith("^")]
        if universe_csv is None:
            # No universe file: every stock of the file, with its GICS sector when it is a
            # current S&P 500 member (so the 3-per-sector cap means something), else Unknown.
            known = sp500_universe(self.benchmark).sectors
            return Universe.of(
                {s: known.get(normalize_symbol(s), UNKNOWN_SECTOR) for s in data_syms},
                self.benchmark,
            )
        try:
            listed = universe_from_csv(universe_csv, self.benchmark)
        except UniverseError as exc:
            raise ReplayDataError(str(exc)) from None
        # The universe may spell class shares BRK.B or BRK-B; the data's spelling wins.
        by_norm = {normalize_symbol(s): s for s in data_syms}
        sectors: dict[str, str] = {}
        missing: list[str] = []
        for sym, sector in listed.sectors.items():
            if sym == normalize_symbol(self.benchmark):
                continue
            if sym in by_norm:
                sectors[by_norm[sym]] = sector
            else:
                missing.append(sym)
        self.report.universe_without_data = missing
        if not sectors:
            raise ReplayDataError(
                f"none of the {len(listed.sectors)} symbols of universe file {universe_csv} "
                f"has bars in {self.report.source}; check that both files use the same tickers"
            )
        return Universe.of(sectors, self.benchmark)

    def universe(self) -> Universe:
        return self._universe

    @property
    def clock(self) -> TimeSource | None:
        """The injected clock (settable: the app may build the market before the clock)."""
        return self._clock

    @clock.setter
    def clock(self, clock: TimeSource | None) -> None:
        self._clock = clock

    @property
    def first_session(self) -> date:
        return self.bars.dates[0].astype(object)

    @property
    def last_session(self) -> date:
        return self.bars.dates[-1].astype(object)

    # ------------------------------------------------------------------ daily
    def _last_completed(self) -> date | None:
        if self._clock is None:
            return None
        return self.calendar.last_completed_session(self._clock.now())

    async def daily_bars(self, symbols: Sequence[str], end: date, sessions: int) -> DailyBars:
        return self.daily_bars_sync(symbols, end, sessions)

    def daily_bars_sync(self, symbols: Sequence[str], end: date, sessions: int) -> DailyBars:
        """:meth:`daily_bars` without the event loop (for the CLI and the scanner's executor)."""
        try:
            days = self.calendar.sessions_back(end, sessions)
        except (CalendarRangeError, ValueError) as exc:
            raise MarketDataError(
                f"replay market: cannot take {sessions} sessions to {end}: {exc}"
            ) from None
        want = np.array(days, dtype="datetime64[D]")
        src = self.bars
        idx = np.searchsorted(src.dates, want)
        idx_c = np.minimum(idx, src.n_sessions - 1)
        hit = (idx < src.n_sessions) & (src.dates[idx_c] == want)
        done = self._last_completed()
        if done is not None:
            # As of the clock: a session that has not closed yet has no daily bar.
            hit &= want <= np.datetime64(done, "D")
        cols = np.array([src.col(s) if s in src else -1 for s in symbols], dtype=np.int64)
        has_col = cols >= 0
        arrays = {}
        rows_sel, cols_sel = np.nonzero(hit)[0], np.nonzero(has_col)[0]
        cells = np.ix_(rows_sel, cols_sel)
        source = np.ix_(idx_c[rows_sel], cols[cols_sel])
        for f in FIELDS:
            out = np.full((len(want), len(symbols)), np.nan)
            out[cells] = getattr(src, f)[source]
            arrays[f] = out
        flags = np.zeros((len(want), len(symbols)), dtype=np.uint8)
        if src.flags is not None:
            flags[cells] = src.flags[source]
        return DailyBars(want, tuple(symbols), **arrays, flags=flags)

    def not_trading(self, symbols: Sequence[str], session: date) -> dict[str, str]:
        """Symbols whose bar of ``session`` is not served or has zero volume, with the reason
        (trading rules §14): the market plays no prints of them that session."""
        return not_trading(self.bars, symbols, session)

    # ------------------------------------------------------------------ intraday
    def _rng(self, symbol: str, session: date, purpose: int) -> np.random.Generator:
        # crc32 is stable across processes (str hash is salted), so paths are reproducible.
        key = [self.seed & 0xFFFFFFFF, zlib.crc32(symbol.encode()), session.toordinal(), purpose]
        return np.random.default_rng(np.random.SeedSequence(key))

    def _forced_order(
        self, symbol: str, session: date, bar: tuple[float, float, float, float, float]
    ) -> bool | None:
        """Which extreme a day's path must reach first (True: the low); None: drawn."""
        return None

    def _prev_close(self, j: int, row: int) -> float:
        if self._last_close_idx is None:
            has = np.isfinite(self.bars.close)
            idx = np.where(has, np.arange(self.bars.n_sessions)[:, None], -1)
            self._last_close_idx = np.maximum.accumulate(idx, axis=0)
        if row <= 0:
            return float("nan")
        k = int(self._last_close_idx[row - 1, j])
        return float(self.bars.close[k, j]) if k >= 0 else float("nan")

    def _row(self, session: date) -> int | None:
        d = np.datetime64(session, "D")
        i = int(np.searchsorted(self.bars.dates, d))
        return i if i < self.bars.n_sessions and self.bars.dates[i] == d else None

    def _day(self, symbol: str, session: date) -> _Day | None:
        """``symbol``'s synthesized ``session`` (cached), or None without a bar that day."""
        key = (symbol, session)
        if key in self._days:
            self._days.move_to_end(key)
            return self._days[key]
        day = self._make_day(symbol, session)
        self._days[key] = day
        if len(self._days) > _DAY_CACHE_SIZE:
            self._days.popitem(last=False)
        return day

    def _make_day(self, symbol: str, session: date) -> _Day | None:
        row = self._row(session)
        if row is None or symbol not in self.bars:
            return None
        j = self.bars.col(symbol)
        o, h, lo, c, v = (float(getattr(self.bars, f)[row, j]) for f in FIELDS)
        if not np.isfinite(c) or v == 0:
            # No bar, a bar that is not served (§14), or nothing traded: no prints, no fills.
            return None
        return _Day(self, symbol, session, (o, h, lo, c, v), self._prev_close(j, row))

    def _minute_index(self, session: date) -> pd.DatetimeIndex:
        idx = self._indexes.get(session)
        if idx is None:
            idx = minute_index(
                self.calendar.open_time(session), self.calendar.minutes_in_session(session)
            )
            self._indexes[session] = idx
        return idx

    async def minute_bars(
        self,
        symbol: str,
        session: date,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """Minute bars indexed by bar END (ET). ``start`` is the earliest bar START included
        (``start=09:30`` includes the 09:31 bar), ``end`` the latest bar END included; with a
        clock, only bars complete at ``now()``. Empty when the symbol has no bar that day."""
        return self.minute_bars_sync(symbol, session, start, end)

    def minute_bars_sync(
        self,
        symbol: str,
        session: date,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        try:
            day = self._day(symbol, session) if self.calendar.is_session(session) else None
        except CalendarRangeError:
            day = None
        if day is None:
            return pd.DataFrame(
                {f: np.array([], dtype=np.float64) for f in FIELDS},
                index=pd.DatetimeIndex([], tz=ET, name="at"),
            )
        df = pd.DataFrame(day.minutes, index=self._minute_index(session))
        mask = np.ones(len(df), dtype=bool)
        stamps = df.index
        if self._clock is not None:
            mask &= stamps <= pd.Timestamp(self._clock.now())
        if start is not None:
            mask &= stamps - pd.Timedelta(minutes=1) >= pd.Timestamp(start)
        if end is not None:
            mask &= stamps <= pd.Timestamp(end)
        return df.loc[mask]

    # ------------------------------------------------------------------ snapshots
    def _quote(self, symbol: str, price: float, at: datetime, wide: bool = False) -> Quote:
        rng = np.random.default_rng(
            [self.seed & 0xFFFFFFFF, zlib.crc32(symbol.encode()), int(at.timestamp())]
        )
        spread = self.spread_bps * (_PREMARKET_SPREAD_FACTOR if wide else 1.0)
        bid, ask = quote_from_price(price, spread, rng)
        lots = rng.integers(1, 10, size=2) * 100.0
        return Quote(symbol, at, float(bid), float(ask), float(lots[0]), float(lots[1]))

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> dict[str, Snapshot]:
        return self.snapshots_sync(symbols, at)

    def snapshots_sync(self, symbols: Sequence[str], at: datetime) -> dict[str, Snapshot]:
        """Per symbol at ``at``: previous close; before 09:30 the last synthesized pre-market
        print (or, before the first, the previous close); from the open the official open and
        the minute path's price at ``at``; after the close the day's close."""
        at = at.astimezone(ET)
        cal = self.calendar
        try:
            session = cal.session_on_or_before(at.date())
        except CalendarRangeError as exc:
            raise MarketDataError(
                f"replay market: no snapshot at {at.isoformat()}: {exc}"
            ) from None
        on_session_day = session == at.date()
        out: dict[str, Snapshot] = {}
        for sym in symbols:
            out[sym] = self._snapshot(sym, at, session, on_session_day)
        return out

    def _snapshot(self, sym: str, at: datetime, session: date, on_session_day: bool) -> Snapshot:
        if sym not in self.bars:
            return Snapshot(sym, None, None, None)
        cal = self.calendar
        j = self.bars.col(sym)
        row = self._row(session)
        if row is None:  # the clock is outside the file's sessions
            row = int(np.searchsorted(self.bars.dates, np.datetime64(session, "D")))
        prev_close = self._prev_close(j, row)
        day = self._day(sym, session)
        prev = None if np.isnan(prev_close) else prev_close

        def prev_trade() -> tuple[TradeTick | None, Quote | None]:
            if prev is None:
                return None, None
            ps = cal.previous_session(session)
            t = cal.close_time(ps)
            return TradeTick(sym, t, prev), self._quote(sym, prev, t, wide=True)

        if day is None:
            trade, quote = prev_trade()
            return Snapshot(sym, trade, quote, prev)
        if on_session_day and at < day.open_time:
            pre_seconds, pre_prices = day.premarket
            secs = (at - day.midnight).total_seconds()
            k = int(np.searchsorted(pre_seconds, secs, side="left")) - 1
            if k < 0 or not np.isfinite(pre_prices[k]):
                trade, quote = prev_trade()
                return Snapshot(sym, trade, quote, prev)
            t = day.midnight + timedelta(seconds=float(pre_seconds[k]))
            price = float(pre_prices[k])
            return Snapshot(
                sym, TradeTick(sym, t, price, 100.0), self._quote(sym, price, t, wide=True), prev
            )
        t = min(at, day.close_time)
        price = day.price_at(t)
        return Snapshot(
            sym,
            TradeTick(sym, t, price, 100.0),
            self._quote(sym, price, t),
            prev,
            session_open=day.day_open,
        )

    # ------------------------------------------------------------------ stream
    async def stream(self, symbols: Sequence[str]) -> AsyncIterator[Quote | TradeTick]:
        """Quotes and trades from the synthesized paths as the injected clock moves: in
        pre-market each synthesized print (and a wide quote) when its time passes; in
        regular hours a quote and a trade per symbol every ``quote_interval`` seconds, and
        the closing print at the close. Ends after the file's last session."""
        clock = self._clock
        if clock is None:
            raise MarketDataError("the replay market's stream needs a clock; pass clock=...")
        cal = self.calendar
        syms = list(symbols)
        step = timedelta(seconds=self.quote_interval)
        last = clock.now().astimezone(ET)
        end_of_data = cal.close_time(self.last_session)
        while True:
            now = clock.now().astimezone(ET)
            session = cal.session_of(now)
            state = cal.market_state(now)
            nxt: datetime
            if session is not None and state is MarketState.PRE_MARKET:
                open_time = cal.open_time(session)
                days = self._days_of(syms, session)
                lo_s = (last - days[0][1].midnight).total_seconds() if days else 0.0
                hi_s = (now - days[0][1].midnight).total_seconds() if days else 0.0
                upcoming = []
                prints: list[tuple[float, str, float]] = []
                for sym, day in days:
                    pre_seconds, pre_prices = day.premarket
                    due = (pre_seconds > lo_s) & (pre_seconds <= hi_s) & np.isfinite(pre_prices)
                    prints += [
                        (float(x), sym, float(y))
                        for x, y in zip(pre_seconds[due], pre_prices[due], strict=True)
                    ]
                    later = pre_seconds[pre_seconds > hi_s]
                    if len(later):
                        upcoming.append(float(later[0]))
                # In time order across symbols (a fast clock may pass several prints at once).
                for secs, sym, price in sorted(prints):
                    t = days[0][1].midnight + timedelta(seconds=secs)
                    yield TradeTick(sym, t, price, 100.0)
                    yield self._quote(sym, price, t, wide=True)
                # Sleep to the next print (not every quote_interval: prints are sparse).
                nxt = open_time
                if upcoming and days:
                    nxt = min(nxt, days[0][1].midnight + timedelta(seconds=min(upcoming)))
            elif session is not None and state is MarketState.OPEN:
                # Regular hours: prints on the grid now, now + step, ... until the close (the
                # grid starts when the stream does); returns with the clock at the close.
                days = self._days_of(syms, session)
                async for ev in self._regular_hours(days, now, cal.close_time(session)):
                    yield ev
                last = clock.now().astimezone(ET) - step
                continue
            else:
                if session is not None and last < cal.close_time(session) <= now:
                    close_time = cal.close_time(session)
                    for sym, day in self._days_of(syms, session):
                        yield TradeTick(sym, close_time, day.day_close, 100.0)
                if now >= end_of_data:
                    return
                if session is not None and now < cal.open_time(session):
                    nxt = cal.at(session, PRE_MARKET_START)
                else:
                    nxt = cal.at(cal.next_session(now.date()), PRE_MARKET_START)
            last = now
            await clock.sleep_until(nxt)

    def grid(self, start: datetime, close: datetime) -> list[datetime]:
        """The times of the regular-hours prints of a stream that reaches the open (or starts)
        at ``start`` on a max-speed clock: every ``quote_interval`` seconds before the close."""
        step = timedelta(seconds=self.quote_interval)
        out = []
        t = start
        while t < close:
            out.append(t)
            t = t + step
        return out

    async def _regular_hours(
        self, days: list[tuple[str, _Day]], start: datetime, close: datetime
    ) -> AsyncIterator[Quote | TradeTick]:
        """A quote and a trade per symbol every ``quote_interval`` seconds from ``start`` until
        the clock reaches the close (the caller prints the closing prints)."""
        clock = self._clock
        assert clock is not None
        step = timedelta(seconds=self.quote_interval)
        now = start
        while now < close:
            if days:
                prices = np.array([d.price_at(now) for _, d in days])
                vols = np.array([d.volume_at(now) for _, d in days])
                sizes = np.maximum(np.round(vols * self.quote_interval / 60.0), 1.0)
                # One generator per step for all symbols: quotes are noise around the
                # path, reproducible for the same clock times.
                rng = np.random.default_rng([self.seed & 0xFFFFFFFF, int(now.timestamp())])
                bid, ask = quote_from_price(prices, self.spread_bps, rng)
                lots = (rng.integers(1, 10, size=(2, len(days))) * 100.0).tolist()
                for i, (sym, _) in enumerate(days):
                    yield Quote(sym, now, float(bid[i]), float(ask[i]), lots[0][i], lots[1][i])
                    yield TradeTick(sym, now, float(prices[i]), float(sizes[i]))
            # From the time it is now (a slow consumer at a finite speed drifts, it never
            # bursts old prints); at max speed exactly the grid of :meth:`grid`.
            await clock.sleep_until(min(now + step, close))
            now = clock.now().astimezone(ET)

    def _days_of(self, symbols: Sequence[str], session: date) -> list[tuple[str, _Day]]:
        out = []
        for sym in symbols:
            day = self._day(sym, session)
            if day is not None:
                out.append((sym, day))
        return out
