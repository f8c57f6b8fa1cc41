"""Paper tracking of vetoed candidates (trading rules §7): what a veto cost or saved.

A vetoed candidate that the engine would otherwise have tried to enter (it passed the gap
filter; a group B one was also confirmed at 09:50) is followed on paper with the very same
rules as a real trade: entered at the price a real entry would have got (group A: the
session's official open, the market-on-open price; group B: the 09:50 price it was confirmed
on), SL/TP from that price (``rules.entries.sl_tp_from_fill``), and the exits of
``rules.exits.exit_decision`` on every price of the market (emergency on day 1, SL/TP from
day 2, the time exit on day 5). Outcomes go to the store (``open_paper_track`` /
``close_paper_track``) beside the real trades.

Choices (documented):

* The portfolio checks of §9 (position and sector caps, buying power, the kill switch) are not
  applied: they depend on the real book, which the vetoed trade was never part of, so the
  paper outcome measures the candidate itself. Its size is the §10 size at that moment
  (informational: P&L in dollars; R and percent do not depend on it).
* No slippage, no broker-side stop: a paper exit is at the price that triggered it.
* The PDT guard does not apply (no real order exists).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from workstation.core.calendar import ET, TradingCalendar
from workstation.core.clock import Clock
from workstation.core.config import RiskConfig
from workstation.core.events import EventBus
from workstation.core.models import Side
from workstation.core.print_watch import PrintWatch
from workstation.engine.rules.exits import ExitDecision, exit_decision, exit_watch
from workstation.engine.session_events import PaperTrackClosed, PaperTrackOpened
from workstation.store import CandidateRow, PaperTrackRow, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Track:
    """An open paper track; satisfies ``rules.exits.PositionLike``."""

    candidate_id: int
    symbol: str
    side: Side
    fill_price: float
    atr14: float
    sl_mult: float
    tp_mult: float
    entry_session: date


class PaperTracker:
    """Open paper tracks and their exits."""

    def __init__(
        self,
        store: Store,
        calendar: TradingCalendar,
        clock: Clock,
        bus: EventBus,
        config: Callable[[], RiskConfig],
    ) -> None:
        self.store = store
        self.calendar = calendar
        self.clock = clock
        self.bus = bus
        self._config = config
        self._open: dict[int, _Track] = {}
        self._by_symbol: dict[str, list[_Track]] = {}
        self._known: set[int] = set()  # candidates with a track, open or closed

    # ----------------------------------------------------------------- state
    def restore(self) -> int:
        """Reload open tracks from the store (after a start); returns how many are open."""
        self._open.clear()
        self._by_symbol.clear()
        self._known.clear()
        for row in self.store.paper_tracks():
            self._known.add(row.candidate_id)
            if row.status != "open":
                continue
            cand = self.store.get_candidate(row.candidate_id)
            if cand is None:
                log.warning("paper track %d: candidate %d is gone", row.id, row.candidate_id)
                continue
            self._add(self._track(cand, row.entry_price, row.entry_at))
        return len(self._open)

    def has_track(self, candidate_id: int) -> bool:
        return candidate_id in self._known

    def symbols(self) -> frozenset[str]:
        """Symbols of the open tracks (they need prices)."""
        return frozenset(self._by_symbol)

    def open_tracks(self) -> tuple[PaperTrackRow, ...]:
        return tuple(self.store.paper_tracks(open_only=True))

    # ----------------------------------------------------------------- entry
    def open(
        self, candidate: CandidateRow, price: float, at: datetime, qty: int | None = None
    ) -> PaperTrackRow | None:
        """Follow ``candidate`` on paper from ``price`` at ``at`` (once per candidate)."""
        if candidate.id in self._known:
            return None
        row = self.store.open_paper_track(
            candidate.id, entry_price=price, entry_at=at, qty=qty, at=self.clock.now()
        )
        self._known.add(candidate.id)
        self._add(self._track(candidate, price, at))
        self.bus.publish(
            PaperTrackOpened(at, candidate.id, candidate.symbol, candidate.side, price, qty or 0)
        )
        return row

    # ----------------------------------------------------------------- prices
    def _decisions(
        self, symbol: str, price: float | None, at: datetime
    ) -> list[tuple[_Track, ExitDecision]]:
        """Each open track of ``symbol`` with the exit rules' decision on this print."""
        tracks = self._by_symbol.get(symbol)
        if not tracks:
            return []
        cfg = self._config().exits
        today = self.calendar.session_on_or_before(at.astimezone(ET).date())
        time_exit = self.calendar.time_exit_time(
            today, cfg.time_exit_at, cfg.early_close_minutes_before
        )
        out = []
        for t in list(tracks):
            day = max(1, self.calendar.day_number(t.entry_session, today))
            out.append((t, exit_decision(t, price, at, day, cfg, time_exit)))
        return out

    def reacts_to(self, symbol: str, price: float, at: datetime) -> bool:
        """Would this print close a paper track? (no side effects; see
        :mod:`workstation.core.print_watch`)"""
        return any(d.exit for _, d in self._decisions(symbol, price, at))

    def watch(self, symbol: str, at: datetime) -> PrintWatch | None:
        """Where :meth:`reacts_to` can become true for ``symbol`` in ``at``'s session."""
        tracks = self._by_symbol.get(symbol)
        if not tracks:
            return None
        cfg = self._config().exits
        today = self.calendar.session_on_or_before(at.astimezone(ET).date())
        time_exit = self.calendar.time_exit_time(
            today, cfg.time_exit_at, cfg.early_close_minutes_before
        )
        return PrintWatch.union(
            exit_watch(
                t, max(1, self.calendar.day_number(t.entry_session, today)), cfg, time_exit, at
            )
            for t in tracks
        )

    def on_price(self, symbol: str, price: float, at: datetime) -> list[PaperTrackRow]:
        """A price of ``symbol``: the exit rules for each open track of it."""
        closed: list[PaperTrackRow] = []
        for t, decision in self._decisions(symbol, price, at):
            if not decision.exit or decision.reason is None:
                continue
            row = self.store.close_paper_track(
                t.candidate_id,
                exit_price=price,
                exit_at=at,
                exit_reason=str(decision.reason),
                at=self.clock.now(),
            )
            self._remove(t)
            closed.append(row)
            self.bus.publish(
                PaperTrackClosed(
                    at, t.candidate_id, symbol, price, str(decision.reason), row.r_multiple
                )
            )
        return closed

    # ----------------------------------------------------------------- helpers
    def _track(self, cand: CandidateRow, price: float, at: datetime) -> _Track:
        return _Track(
            candidate_id=cand.id,
            symbol=cand.symbol,
            side=Side(cand.side),
            fill_price=float(price),
            atr14=cand.atr14,
            sl_mult=cand.sl_mult,
            tp_mult=cand.tp_mult,
            entry_session=self.calendar.session_on_or_before(at.astimezone(ET).date()),
        )

    def _add(self, t: _Track) -> None:
        self._open[t.candidate_id] = t
        self._by_symbol.setdefault(t.symbol, []).append(t)

    def _remove(self, t: _Track) -> None:
        self._open.pop(t.candidate_id, None)
        lst = self._by_symbol.get(t.symbol, [])
        if t in lst:
            lst.remove(t)
        if not lst:
            self._by_symbol.pop(t.symbol, None)


__all__ = ["PaperTracker"]
