"""Levels moved by hand: the part of the position book that lets a trader move an open
position's stop loss or take profit (issue 13).

:class:`ManualLevels` is a mixin of :class:`~workstation.engine.positions.PositionBook` (kept
apart so that module stays about fills, stops and exits). A move is checked by
``rules.levels.check_levels``; the level is stored ON the position (``sl_manual`` /
``tp_manual`` beside the rule's ``sl`` / ``tp``: the store is the source of truth and a restart
restores it) and audited with the old and the new level (``position.levels_moved``). From then
on the exit rules (``rules.exits`` ``levels``) and the broker's protective stop use it. When
the SL moves, the broker's stop is replaced at once; if the broker does not take it, the move
is undone (``position.levels_reverted``) and the old stop stays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from workstation.core.config import RiskConfig
from workstation.core.events import EventBus
from workstation.core.models import Order
from workstation.engine.events import LevelsMoved, PositionState, PositionUpdated
from workstation.engine.rules.levels import LevelCheck, check_levels
from workstation.engine.rules.numeric import at_or_above, at_or_below

if TYPE_CHECKING:
    from workstation.core.clock import Clock
    from workstation.engine.positions import _Live
    from workstation.store import Store


@dataclass(frozen=True)
class LevelMove:
    """What :meth:`ManualLevels.move_levels` did: ``applied`` once stored (and the broker's
    stop replaced when the SL moved); else ``why`` (the check's refusal or the broker's)."""

    check: LevelCheck
    applied: bool
    why: str = ""
    stop: Order | None = None


def _same(a: float, b: float) -> bool:
    """Equal levels, with the rules' float tolerance (a level put back on the rule's)."""
    return at_or_above(a, b) and at_or_below(a, b)


class ManualLevels:
    """Moving the SL/TP of a held position (mixed into ``PositionBook``)."""

    if TYPE_CHECKING:  # what the mixin uses of the book
        store: Store
        clock: Clock
        bus: EventBus
        _live: dict[str, _Live]
        _config: Callable[[], RiskConfig]

        def _lock(self, symbol: str) -> asyncio.Lock: ...
        def _session_of(self, at: datetime) -> date: ...
        def _day(self, entry_session: date, today: date) -> int: ...
        def _state(self, pos: _Live) -> PositionState: ...
        def _log(self, level: str, message: str) -> None: ...
        def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None: ...
        async def _ensure_stop_locked(self, pos: _Live, session: date | None) -> Order | None: ...
        async def _stop_level(self, pos: _Live, today: date) -> tuple[float, str]: ...
        async def ensure_stop(
            self, symbol: str, *, session: date | None = None, wait: bool = True
        ) -> Order | None: ...

    def check_move(
        self,
        symbol: str,
        sl: float | None = None,
        tp: float | None = None,
        *,
        beyond_emergency_ok: bool = False,
    ) -> LevelCheck:
        """Would moving ``symbol``'s SL to ``sl`` and TP to ``tp`` (None: unchanged) be allowed
        now? (``rules.levels.check_levels`` on the position as held.) KeyError: not held."""
        pos = self._live.get(symbol)
        if pos is None:
            raise KeyError(f"no open position in {symbol}")
        today = self._session_of(self.clock.now())
        return check_levels(
            pos.side,
            pos.fill_price,
            pos.last_price,
            self._day(pos.entry_session, max(today, pos.entry_session)),
            pos.levels,
            pos.rule_levels,
            sl,
            tp,
            self._config().exits,
            beyond_emergency_ok=beyond_emergency_ok,
        )

    async def move_levels(
        self,
        symbol: str,
        sl: float | None = None,
        tp: float | None = None,
        *,
        beyond_emergency_ok: bool = False,
        note: str = "",
    ) -> LevelMove:
        """Move ``symbol``'s SL and/or TP by hand (see the module doc). Checked again here
        (the price may have moved since the trader looked); stored and audited with the old
        and new levels; the broker's stop replaced when the SL moved (undone if the broker
        refuses). KeyError: not held."""
        async with self._lock(symbol):
            pos = self._live.get(symbol)
            if pos is None:
                raise KeyError(f"no open position in {symbol}")
            check = self.check_move(symbol, sl, tp, beyond_emergency_ok=beyond_emergency_ok)
            if not check.ok:
                return LevelMove(check, False, check.detail)
            if pos.exiting:
                return LevelMove(check, False, f"{symbol} is being exited")
            now = self.clock.now()
            old, rule = pos.levels, pos.rule_levels
            before = (pos.sl_manual, pos.tp_manual)
            # A level put back on the rule's is the rule's again (NULL), not a manual copy.
            pos.sl_manual = None if _same(check.sl, rule.sl) else check.sl
            pos.tp_manual = None if _same(check.tp, rule.tp) else check.tp
            self.store.set_manual_levels(
                pos.id, sl_manual=pos.sl_manual, tp_manual=pos.tp_manual, at=now
            )
            detail = {
                "position_id": pos.id,
                "sl": {"from": old.sl, "to": check.sl},
                "tp": {"from": old.tp, "to": check.tp},
                "rule": {"sl": rule.sl, "tp": rule.tp},
                "beyond_emergency": check.beyond_emergency,
                "warnings": list(check.warnings),
                "note": note,
            }
            self.store.audit("user", "position.levels_moved", symbol, detail, at=now)
            stop = None
            if not _same(check.sl, old.sl):
                stop = await self._ensure_stop_locked(pos, None)
                want, _kind = await self._stop_level(pos, self._session_of(now))
                if symbol in self._live and (stop is None or stop.request.stop_price != want):
                    why = f"the broker did not take the stop at {want:,.2f}; the move is undone"
                    pos.sl_manual, pos.tp_manual = before
                    self.store.set_manual_levels(
                        pos.id, sl_manual=before[0], tp_manual=before[1], at=now
                    )
                    self.store.audit(
                        "engine", "position.levels_reverted", symbol, {**detail, "why": why}, at=now
                    )
                    self._log("ERROR", f"{symbol}: {why}")
                    self.bus.publish(PositionUpdated(now, self._state(pos), "levels"))
                    self._spawn(self.ensure_stop(symbol), f"protective stop of {symbol}")
                    return LevelMove(check, False, why)
            if symbol in self._live:
                self.bus.publish(PositionUpdated(now, self._state(pos), "levels"))
            self.bus.publish(
                LevelsMoved(
                    now,
                    symbol,
                    old.sl,
                    check.sl,
                    old.tp,
                    check.tp,
                    check.beyond_emergency,
                    check.warnings,
                    note,
                )
            )
            return LevelMove(check, True, stop=stop)


__all__ = ["LevelMove", "ManualLevels"]
