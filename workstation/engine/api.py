"""The facade the GUI talks to: read-only views, the event bus, and commands.

The desktop window (and anything else that presents the engines) depends on this
protocol only, never on the scheduler, scanner or order manager directly. No Qt here.

Threading contract:

* Every method is called from the thread that runs the engines' asyncio loop (with
  qasync that is also the Qt GUI thread). Getters return at once (no I/O that can
  block: they read in-memory state); commands return at once and do their work as
  loop tasks, reporting outcomes through ``events``.
* A command the engine cannot accept right now (veto after the entry time, an unknown
  candidate, clock controls outside sim, ...) raises :class:`CommandRefused` with a
  message for the user; the GUI shows it and nothing else happens.
* After any state change the engine publishes :class:`~workstation.engine.views.ViewsChanged`
  naming the views to fetch again; market data (``QuoteEvent`` / ``TradeEvent``),
  ``LogEvent``, ``OrderFilled``, ``ClockChanged``, ``ConfigReloaded`` / ``ConfigRejected``
  arrive on the same bus.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from workstation.core.events import EventBus, LogEvent
from workstation.engine.views import (
    CandidateView,
    GapView,
    OrderView,
    PositionView,
    RegimeView,
    RiskView,
    ScanReportView,
    StatusView,
    TradeView,
    VetoView,
)

if TYPE_CHECKING:  # annotations only: the window opens before pandas is imported
    import pandas as pd

    from workstation.engine.rules.levels import LevelCheck


class CommandRefused(Exception):
    """The engine did not accept a command; ``str(exc)`` says why, for the user."""


class ConfirmationNeeded(CommandRefused):
    """The command would undo something the user did (a re-run scan replacing a list with
    decisions): ``str(exc)`` is the question to ask; the command runs when repeated with
    ``confirm=True``."""


@runtime_checkable
class EngineAPI(Protocol):
    """What the workstation window needs of the running engines."""

    @property
    def events(self) -> EventBus:
        """The one bus every engine publishes on."""
        ...

    # ------------------------------------------------------------------ views
    def status(self) -> StatusView: ...

    def candidates(self) -> tuple[CandidateView, ...]:
        """The latest scan's top candidates, by rank."""
        ...

    def scan_report(self) -> ScanReportView | None:
        """The latest scan's report (loaded, eligible, stale, failed, why symbols were
        ineligible, every data problem by kind and symbol); None before a scan. Changes with
        the CANDIDATES view."""
        ...

    def gaps(self) -> tuple[GapView, ...]:
        """Gap results of the current session's candidates (empty before 09:25)."""
        ...

    def orders(self) -> tuple[OrderView, ...]:
        """The current session's orders, oldest first."""
        ...

    def positions(self) -> tuple[PositionView, ...]: ...

    def risk(self) -> RiskView:
        """The portfolio's risk: account, exposure, open risk to the stops (heat), the
        position and sector caps, the room to the daily loss limit."""
        ...

    def regime(self) -> RegimeView:
        """The latest scan's regime, the values that decided it and which strategies it
        prefers, allows or turns off."""
        ...

    def trades(self) -> tuple[TradeView, ...]:
        """Closed trades and vetoed-candidate paper outcomes, oldest exit first."""
        ...

    def vetoes(self) -> tuple[VetoView, ...]:
        """Every vetoed candidate with where its paper outcome stands: waiting for its entry
        time, followed, closed (also in :meth:`trades`), or not followed and why. Changes with
        the TRADES and CANDIDATES views."""
        ...

    def equity_curve(self) -> pd.Series:
        """Account equity (float) indexed by tz-aware time, ascending (one point per session
        close at least; the engine may add intraday points)."""
        ...

    def recent_logs(self, limit: int = 1000) -> tuple[LogEvent, ...]:
        """The newest ``limit`` log events, oldest first (for a window opened late)."""
        ...

    def symbols(self) -> tuple[str, ...]:
        """Every symbol that can be charted: the universe (sorted) and the benchmark."""
        ...

    def daily_bars(self, symbol: str, n: int) -> pd.DataFrame:
        """The last ``n`` daily bars up to the latest completed session: a DataFrame with
        columns open, high, low, close, volume and a tz-aware DatetimeIndex (session dates).
        Empty (same columns) for an unknown symbol."""
        ...

    def intraday(self, symbol: str) -> pd.DataFrame:
        """The current (or latest) session's minute bars so far, same columns, indexed by each
        bar's END time (tz-aware ET). Empty for an unknown symbol or before the open."""
        ...

    # --------------------------------------------------------------- commands
    def approve(self, candidate_id: int, note: str = "") -> None: ...

    def veto(self, candidate_id: int, note: str = "") -> None: ...

    def undo_decision(self, candidate_id: int) -> None:
        """Back to pending: undo the user's approval or veto (until the entry time)."""
        ...

    def engage_kill_switch(self) -> None:
        """Block new entries for the session and cancel open entry orders (positions stay)."""
        ...

    def release_kill_switch(self) -> None: ...

    def flatten_all(self) -> None:
        """Close every position at market (exit reason MANUAL) and cancel open orders."""
        ...

    def close_position(self, symbol: str) -> None:
        """Close one position at market (exit reason MANUAL); the pattern-day-trader guard
        still applies (an ``ExitHeld`` event says when it holds the exit)."""
        ...

    def check_levels(
        self,
        symbol: str,
        sl: float | None = None,
        tp: float | None = None,
        beyond_emergency_ok: bool = False,
    ) -> LevelCheck:
        """Would moving ``symbol``'s SL / TP (None: unchanged) be allowed now, and with what
        warnings? A query for the dialog; nothing changes."""
        ...

    def move_levels(
        self,
        symbol: str,
        sl: float | None = None,
        tp: float | None = None,
        beyond_emergency_ok: bool = False,
        note: str = "",
    ) -> None:
        """Move ``symbol``'s SL and/or TP (refused at once with the check's reason); stored
        with the old and new level, the broker's stop replaced when the SL moves."""
        ...

    def run_scan_now(self, confirm: bool = False) -> None:
        """Scan the last completed session now (ScanStarted/ScanFinished/ScanFailed follow).

        A re-run of a list with decisions raises :class:`ConfirmationNeeded` unless
        ``confirm``; the decisions are then carried over to the new list. A list being traded
        (its entry times began) is never re-run (CommandRefused)."""
        ...

    def set_speed(self, speed: float) -> None:
        """Sim clock speed: clock seconds per real second, ``math.inf`` for max."""
        ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def jump_to_next(self) -> None:
        """Fast-forward the sim clock to the step the status names (``next_step_at``)."""
        ...

    def set_scan_review(self, on: bool) -> None:
        """Sim: pause the clock after each nightly scan with candidates to decide."""
        ...

    def reload_params(self) -> None:
        """Re-read the YAML files and use the new set from the next safe point
        (ConfigReloaded or ConfigRejected follows)."""
        ...

    def shutdown(self) -> Awaitable[None] | None:
        """Stop the engines and streams; may return an awaitable to wait on. Idempotent."""
        ...
