"""An :class:`~workstation.engine.api.EngineAPI` that stands in while the engines start.

The window opens at once on an :class:`EngineProxy` (empty views, a "starting" status,
commands refused with "still starting"); the calendar, the market and the store are built
meanwhile, and :meth:`EngineProxy.attach` then hands every call to the real
:class:`~workstation.engine.facade.Workstation` and announces that every view changed. Both
share ONE event bus, created first, so the window's subscriptions hold across the switch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from workstation.core.calendar import ET
from workstation.core.clock import WallClock
from workstation.core.events import EventBus, LogEvent
from workstation.engine.api import CommandRefused
from workstation.engine.views import (
    ALL_VIEWS,
    CandidateView,
    ConnectionView,
    GapView,
    Mode,
    OrderView,
    PositionView,
    RegimeView,
    RiskView,
    ScanReportView,
    StatusView,
    TradeView,
    VetoView,
    ViewsChanged,
)

if TYPE_CHECKING:  # imported when first needed: the window opens before pandas loads
    import pandas as pd

    from workstation.engine.rules.levels import LevelCheck

STARTING = "the engines are still starting"


class EngineProxy:
    """Stands in for the facade until :meth:`attach` (then forwards everything to it)."""

    def __init__(self, bus: EventBus, mode: Mode = Mode.SIM) -> None:
        self._bus = bus
        self.mode = mode
        self.target: Any = None
        self.closing = False
        self.failed = ""
        self._logs: deque[LogEvent] = deque(maxlen=200)
        self._scan_review: bool | None = None
        self._clock: dict[str, Any] = {}
        self._unsubscribe = bus.subscribe(LogEvent, self._logs.append)

    # ------------------------------------------------------------------ switching
    def attach(self, target: Any) -> None:
        """From now on every call goes to ``target``; every view is announced changed."""
        self.target = target
        if self._scan_review is not None:
            target.set_scan_review(self._scan_review)
        with contextlib.suppress(CommandRefused):  # a wall clock has no speed to set
            if "speed" in self._clock:
                target.set_speed(self._clock["speed"])
            if "paused" in self._clock:
                (target.pause if self._clock["paused"] else target.resume)()
        self._unsubscribe()
        now = target.clock.now() if hasattr(target, "clock") else WallClock().now()
        self._bus.publish(ViewsChanged(now, ALL_VIEWS))

    def fail(self, message: str) -> None:
        """The engines could not start: shown in the status strip and the log."""
        self.failed = message
        self._bus.publish(LogEvent(WallClock().now(), "ERROR", "workstation", message))
        self._bus.publish(ViewsChanged(WallClock().now(), ALL_VIEWS))

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this class does not define (differences, resolve, ...).
        target = self.__dict__.get("target")
        if target is None:
            raise AttributeError(name)
        return getattr(target, name)

    # ------------------------------------------------------------------ protocol
    @property
    def events(self) -> EventBus:
        return self._bus

    def status(self) -> StatusView:
        if self.target is not None:
            return self.target.status()
        now = WallClock().now()
        state = "down" if self.failed else "degraded"
        detail = self.failed or "starting..."
        return StatusView(
            mode=self.mode,
            now=now,
            market_state="closed",
            next_step="failed to start" if self.failed else "starting the engines...",
            next_step_at=None,
            regime=None,
            kill_switch=False,
            equity=0.0,  # shown for a moment only: $0.00 reads better than $nan
            day_pnl=0.0,
            clock_speed=1.0,
            clock_paused=False,
            connections=(ConnectionView("engines", state, detail),),
            scan_review=bool(self._scan_review),
        )

    def candidates(self) -> tuple[CandidateView, ...]:
        return self.target.candidates() if self.target is not None else ()

    def scan_report(self) -> ScanReportView | None:
        return self.target.scan_report() if self.target is not None else None

    def gaps(self) -> tuple[GapView, ...]:
        return self.target.gaps() if self.target is not None else ()

    def orders(self) -> tuple[OrderView, ...]:
        return self.target.orders() if self.target is not None else ()

    def positions(self) -> tuple[PositionView, ...]:
        return self.target.positions() if self.target is not None else ()

    def risk(self) -> RiskView | None:
        """None while the engines start (the risk view says so)."""
        return self.target.risk() if self.target is not None else None

    def regime(self) -> RegimeView | None:
        """None while the engines start (the regime panel says so)."""
        return self.target.regime() if self.target is not None else None

    def trades(self) -> tuple[TradeView, ...]:
        return self.target.trades() if self.target is not None else ()

    def vetoes(self) -> tuple[VetoView, ...]:
        return self.target.vetoes() if self.target is not None else ()

    def equity_curve(self) -> pd.Series:
        if self.target is not None:
            return self.target.equity_curve()
        # Empty: the panels only ask len() of it. Not a Series, so that opening the window
        # does not wait for pandas to load (the engines load it meanwhile).
        return ()  # type: ignore[return-value]

    def recent_logs(self, limit: int = 1000) -> tuple[LogEvent, ...]:
        if self.target is not None:
            return self.target.recent_logs(limit)
        return tuple(self._logs)[-limit:] if limit else ()

    def symbols(self) -> tuple[str, ...]:
        return self.target.symbols() if self.target is not None else ()

    def daily_bars(self, symbol: str, n: int) -> pd.DataFrame:
        return self.target.daily_bars(symbol, n) if self.target is not None else _empty()

    def intraday(self, symbol: str) -> pd.DataFrame:
        return self.target.intraday(symbol) if self.target is not None else _empty()

    # ------------------------------------------------------------------ commands
    def _forward(self, name: str, *args: Any) -> Any:
        if self.target is None:
            raise CommandRefused(self.failed or STARTING)
        return getattr(self.target, name)(*args)

    def approve(self, candidate_id: int, note: str = "") -> None:
        self._forward("approve", candidate_id, note)

    def veto(self, candidate_id: int, note: str = "") -> None:
        self._forward("veto", candidate_id, note)

    def undo_decision(self, candidate_id: int) -> None:
        self._forward("undo_decision", candidate_id)

    def engage_kill_switch(self) -> None:
        self._forward("engage_kill_switch")

    def release_kill_switch(self) -> None:
        self._forward("release_kill_switch")

    def flatten_all(self) -> None:
        self._forward("flatten_all")

    def close_position(self, symbol: str) -> None:
        self._forward("close_position", symbol)

    def check_levels(
        self,
        symbol: str,
        sl: float | None = None,
        tp: float | None = None,
        beyond_emergency_ok: bool = False,
    ) -> LevelCheck:
        return self._forward("check_levels", symbol, sl, tp, beyond_emergency_ok)  # type: ignore[no-any-return]

    def move_levels(
        self,
        symbol: str,
        sl: float | None = None,
        tp: float | None = None,
        beyond_emergency_ok: bool = False,
        note: str = "",
    ) -> None:
        self._forward("move_levels", symbol, sl, tp, beyond_emergency_ok, note)

    def run_scan_now(self, confirm: bool = False) -> None:
        self._forward("run_scan_now", confirm)

    # The clock's speed and pause asked for while starting (the window restores the last
    # ones as it opens) are kept and applied when the engines are attached.
    def set_speed(self, speed: float) -> None:
        if self.target is None and not self.failed:
            self._clock["speed"] = speed
            return
        self._forward("set_speed", speed)

    def pause(self) -> None:
        if self.target is None and not self.failed:
            self._clock["paused"] = True
            return
        self._forward("pause")

    def resume(self) -> None:
        if self.target is None and not self.failed:
            self._clock["paused"] = False
            return
        self._forward("resume")

    def jump_to_next(self) -> None:
        self._forward("jump_to_next")

    def set_scan_review(self, on: bool) -> None:
        # Kept until the engines are attached (the window sets it as it opens).
        self._scan_review = bool(on)
        if self.target is not None:
            self.target.set_scan_review(on)

    def reload_params(self) -> None:
        self._forward("reload_params")

    def shutdown(self) -> Awaitable[None] | None:
        self.closing = True
        if self.target is not None:
            return self.target.shutdown()
        return None

    # reconciliation (the dialog's API) while starting: nothing to resolve yet
    def differences(self) -> tuple[Any, ...]:
        return self.target.differences() if self.target is not None else ()

    @property
    def trading_blocked(self) -> bool:
        return bool(self.target.trading_blocked) if self.target is not None else True

    def resolve(self, *args: Any, **kwargs: Any) -> asyncio.Task[Any]:
        return self._forward_kw("resolve", *args, **kwargs)

    def suggest_plan(self, difference: Any) -> Any:
        return self.target.suggest_plan(difference) if self.target is not None else None

    def _forward_kw(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.target is None:
            raise CommandRefused(self.failed or STARTING)
        return getattr(self.target, name)(*args, **kwargs)


def _empty() -> pd.DataFrame:
    import pandas as pd

    cols = ["open", "high", "low", "close", "volume"]
    return pd.DataFrame({c: pd.Series(dtype=float) for c in cols}).set_axis(
        pd.DatetimeIndex([], tz=ET)
    )


__all__ = ["STARTING", "EngineProxy"]
