"""Print watches: the thinned stream may skip a print only where the deciding code cannot act.

``rules.exits.exit_watch`` must flag every print ``rules.exits.exit_decision`` exits on (never
tighter than the rule, at every boundary), and the simulated exchange's ``watch`` every print
that fills or triggers one of its orders."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, time

import pytest

from workstation.broker.sim import SimBroker
from workstation.core.calendar import ET
from workstation.core.config import ExitConfig
from workstation.core.models import (
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderType,
    Side,
    TimeInForce,
    client_order_id,
)
from workstation.core.print_watch import PrintWatch
from workstation.engine.rules.entries import sl_tp_from_fill
from workstation.engine.rules.exits import emergency_level, exit_decision, exit_watch

CFG = ExitConfig()
DAY = datetime(2024, 3, 5, tzinfo=ET).date()
TIME_EXIT = datetime.combine(DAY, time(15, 50), ET)


@dataclass(frozen=True)
class Pos:
    side: Side
    fill_price: float = 100.0
    atr14: float = 2.0
    sl_mult: float = 1.5
    tp_mult: float = 2.0


def _levels(pos: Pos, day: int) -> list[float]:
    if day < CFG.sltp_from_day:
        return [emergency_level(pos.side, pos.fill_price, CFG)]
    return list(sl_tp_from_fill(pos.side, pos.fill_price, pos.atr14, pos.sl_mult, pos.tp_mult))


@pytest.mark.parametrize("side", [Side.LONG, Side.SHORT])
@pytest.mark.parametrize("day", [1, 2, 4, 5, 6])
def test_the_exit_watch_flags_every_print_the_rule_exits_on(side: Side, day: int) -> None:
    pos = Pos(side)
    rng = random.Random(day * 10 + (side is Side.LONG))
    times = [datetime.combine(DAY, time(h, m), ET) for h, m in ((9, 31), (12, 0), (15, 49),
                                                                 (15, 50), (15, 59))]  # fmt: skip
    nudges = (1 - 1e-12, 1.0, 1 + 1e-12, 1 - 1e-10, 1 + 1e-10)
    prices = [level * f for level in _levels(pos, day) for f in nudges]
    prices += [rng.uniform(80.0, 120.0) for _ in range(300)]
    for now in times:
        watch = exit_watch(pos, day, CFG, TIME_EXIT, now)
        for p in prices:
            decided = exit_decision(pos, p, now, day, CFG, TIME_EXIT).exit
            if decided:
                assert watch.flags(p, now), (side, day, p, now)


def test_the_watch_is_the_rule_itself_away_from_the_margin() -> None:
    long = Pos(Side.LONG)
    sl, tp = sl_tp_from_fill(Side.LONG, 100.0, 2.0, 1.5, 2.0)
    w = exit_watch(long, 2, CFG, TIME_EXIT, TIME_EXIT.replace(hour=10))
    assert not w.flags(sl * 1.001, TIME_EXIT.replace(hour=10))  # inside: skipped
    assert not w.flags(tp * 0.999, TIME_EXIT.replace(hour=10))
    assert w.flags(sl, TIME_EXIT.replace(hour=10)) and w.flags(tp, TIME_EXIT.replace(hour=10))
    # day 5: any print from the time exit on; day 6 (stale): any print at all
    w5 = exit_watch(long, 5, CFG, TIME_EXIT, TIME_EXIT.replace(hour=10))
    assert w5.flags(100.0, TIME_EXIT) and not w5.flags(100.0, TIME_EXIT.replace(minute=49))
    w6 = exit_watch(long, 6, CFG, TIME_EXIT, TIME_EXIT.replace(hour=10))
    assert w6.flags(100.0, TIME_EXIT.replace(hour=10))
    # day 1: only the emergency level below a long (no target)
    w1 = exit_watch(long, 1, CFG, TIME_EXIT, TIME_EXIT.replace(hour=10))
    assert w1.hi == math.inf and w1.flags(93.0, TIME_EXIT) and not w1.flags(150.0, TIME_EXIT)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


def test_the_exchanges_watch_flags_every_print_that_fills_or_triggers() -> None:
    now = datetime.combine(DAY, time(11, 0), ET)
    broker = SimBroker(_Clock(now), 100_000.0)
    broker.on_open("AAA", 100.0, now.replace(hour=9, minute=30))
    broker.on_open("BBB", 50.0, now.replace(hour=9, minute=30))
    entry_id = client_order_id(DAY, "AAA", "x", OrderIntent.ENTRY)
    broker.submit_sync(OrderRequest(entry_id, "AAA", OrderSide.BUY, 10))
    assert broker.watch("AAA") is None  # filled on submission: nothing waits
    stop_id = client_order_id(DAY, "AAA", "x", OrderIntent.STOP)
    stop = OrderRequest(
        stop_id, "AAA", OrderSide.SELL, 10, OrderType.STOP, TimeInForce.GTC, stop_price=95.0
    )
    broker.submit_sync(stop)
    w = broker.watch("AAA")
    assert w is not None and w.lo >= 95.0 and w.hi == math.inf
    for p in (94.0, 95.0, 95.000001, 96.0, 120.0):
        if broker.reacts_to("AAA", p, now):
            assert w.flags(p, now)
    assert broker.reacts_to("AAA", 95.0, now) and not broker.reacts_to("AAA", 95.01, now)
    # outside regular hours a print only marks: nothing reacts
    assert not broker.reacts_to("AAA", 90.0, now.replace(hour=8))
    assert broker.watch("BBB") is None
    assert PrintWatch.union([]) is None
