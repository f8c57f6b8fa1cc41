"""The engine's side of the intraday print confirmation (trading rules §14): per symbol, the
last accepted price and an unconfirmed jump, and one log line per jump held or confirmed.
The decision itself is :func:`workstation.engine.rules.prints.judge_print`."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from workstation.core.config import DataValidationConfig
from workstation.core.print_watch import PrintWatch
from workstation.engine.rules.prints import PrintState, PrintVerdict, judge_print

Logger = Callable[[str, str], None]  # (level, message)
Reference = Callable[[str], float | None]  # symbol -> a price to judge its first print against


class PrintGuard:
    """Which prints the engine acts on (exits, MFE/MAE, paper tracks).

    ``config`` returns the parameters in force; ``log`` receives the held and confirmed
    jumps; ``reference`` gives, for a symbol the guard has not seen this session, the price
    its first print is judged against (a held position's last price), so a bad first print
    of the day is caught too. :meth:`new_session` forgets the previous session's prints.
    """

    def __init__(
        self,
        config: Callable[[], DataValidationConfig],
        log: Logger,
        reference: Reference | None = None,
    ) -> None:
        self._config = config
        self._log = log
        self._reference = reference or (lambda _symbol: None)
        self._state: dict[str, PrintState] = {}
        self.held = 0  # jumps held this session
        self.confirmed = 0  # jumps confirmed this session

    def new_session(self) -> None:
        self._state.clear()
        self.held = self.confirmed = 0

    def _state_of(self, symbol: str) -> PrintState:
        state = self._state.get(symbol)
        if state is None:
            return PrintState(self._reference(symbol))
        return state

    def accept(self, symbol: str, price: float, at: datetime) -> tuple[tuple[float, datetime], ...]:
        """The prints to act on now, oldest first: ``((price, at),)`` for an ordinary print,
        nothing for an unconfirmed jump or an unusable price, two for a confirmed jump."""
        decision = judge_print(self._state_of(symbol), price, at, self._config())
        self._state[symbol] = decision.state
        verdict = decision.verdict
        if verdict is PrintVerdict.HELD:
            self.held += 1
            self._log("WARNING", f"{symbol}: {decision.detail}")
        elif verdict is PrintVerdict.CONFIRMED:
            self.confirmed += 1
            self._log("WARNING", f"{symbol}: price jump confirmed and acted on: {decision.detail}")
        elif verdict is PrintVerdict.INVALID:
            self._log("WARNING", f"{symbol}: {decision.detail}: ignored")
        return decision.act_on

    # -- for a thinned price stream (see workstation.core.print_watch) ----------------------
    def reacts_to(self, symbol: str, price: float, at: datetime) -> bool:
        """Would this print change what the guard passes on later (a jump held or confirmed,
        a pending jump dropped)? Without side effects. Ordinary prints re-centre the band
        too: a stream that skips them must still show one before the price leaves the band."""
        state = self._state_of(symbol)
        verdict = judge_print(state, price, at, self._config()).verdict
        return verdict is not PrintVerdict.ACCEPTED or state.pending_price is not None

    def watch(self, symbol: str, at: datetime) -> PrintWatch:
        """Where the guard's verdict can change for ``symbol``: every print while it has no
        accepted price or a jump waits for its confirmation (until ``confirm_s`` after it),
        else prices beyond ``print_jump_pct`` of the last accepted one."""
        state = self._state_of(symbol)
        cfg = self._config()
        if state.last_price is None:
            return PrintWatch.always()
        if state.pending_at is not None and at <= state.pending_at + timedelta(
            seconds=cfg.confirm_s
        ):
            return PrintWatch.always()
        last = state.last_price
        lo, hi = last * (1 - cfg.print_jump_pct), last * (1 + cfg.print_jump_pct)
        return PrintWatch(lo if lo > 0 else -math.inf, hi).widened()
