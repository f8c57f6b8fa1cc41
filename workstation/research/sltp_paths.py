"""Each trade followed day by day under other stop and target multipliers (the what-if behind
the SL/TP advice, :mod:`workstation.research.sltp_advice`).

Why the trades' own MFE and MAE are not enough: they are measured from the fill to the exit the
trade actually had, so the exits in force censor them. A trade stopped out at 1.5 ATR says
nothing of whether it would have reached a 3 ATR target under a 2.5 ATR stop; a trade that
took its profit at 2 ATR says nothing of how far it would have run. So each trade is followed
on its daily bars (kept in a backtest's store, or the market's for the app's own trades) from
the first day the SL and TP apply (``sltp_from_day``, day 2) to its time exit, whatever its
recorded exit was: each day's adverse and favourable extremes (the day's MAE and MFE against
the fill) are checked against every candidate's levels, with the rules of §12.

What daily bars cannot say, and the assumption made (all stated wherever the advice is shown):

* **Which of stop and target a day touched first** when its range spans both: ``pessimistic``
  (the default, like the backtester's pessimistic fill model) takes the stop;
  ``optimistic`` takes the target. The trades decided on such a day are counted.
* **A level the open gapped through** exits at the open, the worse price for a stop (the
  simulated broker fills a stop the open gapped through at the open) and the better one for
  a target; a level touched during the day exits at the level.
* **The time exit** at 15:50 on ``time_exit_day`` is taken at that day's close. A session
  without a usable bar (the symbol did not trade) has no exit; a position still held after its
  time-exit day exits at the next open, as a stale position does.
* **The entry day is never re-simulated**: its bar holds prices from before the entry. A trade
  that ended before the SL/TP applied (the day-1 emergency exit, a manual exit) keeps its
  recorded exit under every candidate.
* **Costs**: ``slippage_bps`` against every simulated exit; commission and regulatory fees
  (a fraction of a cent a share) are left out.

The levels are the rules' own (:func:`~workstation.engine.rules.entries.sl_tp_from_fill`) and a
level exactly touched exits, with the tolerance of :mod:`~workstation.engine.rules.numeric`;
a test checks this module day by day against
:func:`~workstation.engine.rules.exits.exit_decision`. The arithmetic is vectorised over
trades and candidates at once (a day at a time), so a grid of hundreds of candidates over
thousands of trades takes well under a second.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from workstation.core.models import Side
from workstation.engine.rules.numeric import REL_TOL


class Touch(enum.StrEnum):
    """Which level a day whose range spans both is taken to have touched first."""

    PESSIMISTIC = "pessimistic"  # the stop
    OPTIMISTIC = "optimistic"  # the target


#: Exit codes of a simulated trade (the reasons of §12 it can have here).
HELD, STOP_LOSS, TAKE_PROFIT, TIME_EXIT, KEPT = 0, 1, 2, 3, 4
REASONS = {STOP_LOSS: "STOP_LOSS", TAKE_PROFIT: "TAKE_PROFIT", TIME_EXIT: "TIME_EXIT"}

#: Sessions after the time-exit day searched for a bar to take a stale exit at.
STALE_SESSIONS = 5


@dataclass(frozen=True)
class ExitRules:
    """The parts of §12 (exits), §10 (sizing) and of the costs the what-if needs.

    ``position_cap``: ``max_position_pct / risk_per_trade`` (30 by default): a position's
    value is capped at that many times the money a trade risks, so a stop tighter than
    ``fill / position_cap`` buys fewer shares than the risk allows (0: no cap)."""

    sltp_from_day: int = 2
    time_exit_day: int = 5
    slippage_bps: float = 0.0
    position_cap: float = 0.0

    @property
    def first_day(self) -> int:
        """The first day re-simulated: the SL/TP's first day, never the entry day."""
        return max(2, self.sltp_from_day)

    @property
    def days(self) -> int:
        """How many sessions of bars a trade's path holds: from :attr:`first_day` to the
        time-exit day, and :data:`STALE_SESSIONS` more for a stale exit."""
        return max(self.time_exit_day - self.first_day + 1, 0) + STALE_SESSIONS


@dataclass(frozen=True)
class TradePath:
    """One closed trade and the daily bars it is followed on.

    ``bars[j]`` is (open, high, low, close) of day ``rules.first_day + j`` (the entry session
    is day 1); a row of NaN: no bar that session. ``kept_exit``: the exit price kept under
    every candidate when the trade ended before the SL/TP applied, else None."""

    trade_id: int
    strategy: str
    side: Side
    fill: float
    atr14: float
    sl_mult: float  # the multipliers the trade was made with
    tp_mult: float
    reason: str  # its recorded exit reason
    r: float  # its recorded R
    kept_exit: float | None
    bars: np.ndarray


@dataclass(frozen=True)
class Outcomes:
    """Every trade under every candidate, each array (trades, candidates): ``move`` the
    exit's price move per share in the position's favour (slippage paid), ``r`` that move in
    R of the candidate's own stop (the trade record's R: per share / (sl_mult * atr14)),
    ``risked`` the move per unit of the money the sizing risks, the position cap included
    (what the account earns: :attr:`ExitRules.position_cap`), ``code`` how it exited
    (:data:`STOP_LOSS` ...; :data:`HELD`: no bar reached its exit), ``ambiguous``: decided on a
    day whose range spanned both levels."""

    move: np.ndarray
    r: np.ndarray
    risked: np.ndarray
    code: np.ndarray
    ambiguous: np.ndarray

    @property
    def complete(self) -> np.ndarray:
        """Trades whose path reached an exit under every candidate."""
        return (self.code != HELD).all(axis=1)


def _through(sign: np.ndarray, price: np.ndarray, level: np.ndarray) -> np.ndarray:
    """``price`` at or beyond the stop ``level`` against the position (a long's at or below),
    touching included with the rules' tolerance (:func:`numeric.at_or_below`)."""
    slack = REL_TOL * np.maximum(np.abs(price), np.abs(level))
    return sign * (price - level) <= slack


def _beyond(sign: np.ndarray, price: np.ndarray, level: np.ndarray) -> np.ndarray:
    """``price`` at or beyond the target ``level`` in the position's favour."""
    slack = REL_TOL * np.maximum(np.abs(price), np.abs(level))
    return sign * (price - level) >= -slack


def simulate(
    paths: Sequence[TradePath],
    sl_mult: np.ndarray,
    tp_mult: np.ndarray,
    rules: ExitRules,
    touch: Touch = Touch.PESSIMISTIC,
) -> Outcomes:
    """Every trade of ``paths`` under every candidate: ``sl_mult`` and ``tp_mult`` broadcast
    to (trades, candidates), e.g. shape (1, G) for a grid, (n, 1) for each trade's own."""
    n = len(paths)
    sl_m = np.asarray(sl_mult, dtype=float)
    tp_m = np.asarray(tp_mult, dtype=float)
    shape = np.broadcast_shapes((n, 1), sl_m.shape, tp_m.shape)
    sign = np.array([p.side.sign for p in paths], dtype=float).reshape(n, 1)
    fill = np.array([p.fill for p in paths], dtype=float).reshape(n, 1)
    atr = np.array([p.atr14 for p in paths], dtype=float).reshape(n, 1)
    bars = (
        np.stack([p.bars for p in paths]).astype(float)
        if n
        else np.empty((0, rules.days, 4), dtype=float)
    )
    # the rules' levels (entries.sl_tp_from_fill, vectorised): long fill -/+ mult * atr
    sl = fill - sign * sl_m * atr
    tp = fill + sign * tp_m * atr
    sl, tp = np.broadcast_to(sl, shape), np.broadcast_to(tp, shape)
    price = np.full(shape, np.nan)
    code = np.full(shape, HELD, dtype=np.int8)
    ambiguous = np.zeros(shape, dtype=bool)

    kept = np.array([p.kept_exit is not None for p in paths], dtype=bool).reshape(n, 1)
    kept_px = np.array([np.nan if p.kept_exit is None else p.kept_exit for p in paths])
    price = np.where(kept, kept_px.reshape(n, 1), price)
    code = np.where(kept, np.int8(KEPT), code)

    def settle(mask: np.ndarray, px: np.ndarray, why: int, amb: np.ndarray | None = None) -> None:
        nonlocal price, code, ambiguous
        mask = mask & (code == HELD)
        price = np.where(mask, px, price)
        code = np.where(mask, np.int8(why), code)
        if amb is not None:
            ambiguous = ambiguous | (mask & amb)

    for j in range(bars.shape[1] if n else 0):
        day = rules.first_day + j
        o, h, lo, c = (bars[:, j, k].reshape(n, 1) for k in range(4))
        with np.errstate(invalid="ignore"):  # a bar with a price not above 0 is no bar
            have = (np.isfinite(bars[:, j, :]) & (bars[:, j, :] > 0)).all(axis=1).reshape(n, 1)
        if not have.any():
            continue
        adverse = np.where(sign > 0, lo, h)
        favour = np.where(sign > 0, h, lo)
        with np.errstate(invalid="ignore"):
            open_sl = have & _through(sign, o, sl)
            open_tp = have & _beyond(sign, o, tp)
            hit_sl = have & _through(sign, adverse, sl)
            hit_tp = have & _beyond(sign, favour, tp)
        # at the open: a level it gapped through exits there, at the open
        settle(open_sl, np.broadcast_to(o, shape), STOP_LOSS)
        settle(open_tp, np.broadcast_to(o, shape), TAKE_PROFIT)
        if day > rules.time_exit_day:  # a stale position exits at once, at the open
            settle(np.broadcast_to(have, shape), np.broadcast_to(o, shape), TIME_EXIT)
            continue
        both = hit_sl & hit_tp
        first, second = (
            ((hit_sl, sl, STOP_LOSS), (hit_tp, tp, TAKE_PROFIT))
            if touch is Touch.PESSIMISTIC
            else ((hit_tp, tp, TAKE_PROFIT), (hit_sl, sl, STOP_LOSS))
        )
        settle(first[0], first[1], first[2], both)
        settle(second[0], second[1], second[2])
        if day == rules.time_exit_day:
            settle(np.broadcast_to(have, shape), np.broadcast_to(c, shape), TIME_EXIT)

    simulated = (code != HELD) & (code != KEPT)
    slip = rules.slippage_bps / 1e4
    price = np.where(simulated, price * (1.0 - sign * slip), price)  # against the position
    move = sign * (price - fill)
    stop = np.broadcast_to(sl_m * atr, shape)
    # the sizing's shares per unit risked: 1 / stop distance, fewer when the position cap binds
    unit = np.maximum(stop, fill / rules.position_cap) if rules.position_cap > 0 else stop
    with np.errstate(invalid="ignore", divide="ignore"):
        return Outcomes(move, move / stop, move / unit, code, ambiguous)


__all__ = [
    "HELD",
    "KEPT",
    "REASONS",
    "STALE_SESSIONS",
    "STOP_LOSS",
    "TAKE_PROFIT",
    "TIME_EXIT",
    "ExitRules",
    "Outcomes",
    "Touch",
    "TradePath",
    "simulate",
]
