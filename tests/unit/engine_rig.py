"""A real SimBroker, a real Store in tmp_path, the order manager and the position book, driven
by a fake clock: the shared rig of test_order_manager, test_position_book and test_reconcile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from workstation.broker.sim import SimBroker
from workstation.core.calendar import get_calendar
from workstation.core.config import ExitConfig, PortfolioConfig, RiskConfig
from workstation.core.events import Event, EventBus
from workstation.core.models import (
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderType,
    Side,
    TimeInForce,
    client_order_id,
)
from workstation.engine.orders import OrderManager
from workstation.engine.positions import EntryPlan, PositionBook
from workstation.store import NewCandidate, Store

ET = ZoneInfo("America/New_York")
# Tuesday 2024-03-12 is day 1; the next sessions are Wed 13, Thu 14, Fri 15, Mon 18 (day 5).
DAY1 = date(2024, 3, 12)
DAY2 = date(2024, 3, 13)
DAY3 = date(2024, 3, 14)
DAY5 = date(2024, 3, 18)
ATR = 2.0
SL_MULT = 1.5  # SL = fill - 3
TP_MULT = 3.0  # TP = fill + 6
STRATEGY = "trend"


def at(hm: str, d: date = DAY1) -> datetime:
    return datetime.combine(d, time.fromisoformat(hm), tzinfo=ET)


class FakeClock:
    """Time stands still until a test moves it; ``sleep`` moves it (and is recorded);
    ``sleep_until`` waits until the test (or a ``sleep``) moves time to its deadline."""

    def __init__(self, t: datetime) -> None:
        self._t = t
        self.slept: list[float] = []
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    @property
    def t(self) -> datetime:
        return self._t

    @t.setter
    def t(self, value: datetime) -> None:
        self._t = value
        due = [(d, f) for d, f in self._sleepers if d <= value]
        self._sleepers = [(d, f) for d, f in self._sleepers if d > value]
        for _, fut in due:
            if not fut.done():
                with contextlib.suppress(RuntimeError):  # its loop is gone
                    fut.set_result(None)

    def now(self) -> datetime:
        return self._t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t = self._t + timedelta(seconds=seconds)

    async def sleep_until(self, t: datetime) -> None:
        if t <= self._t:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((t, fut))
        await fut

    @property
    def speed(self) -> float:
        return float("inf")

    @property
    def paused(self) -> bool:
        return False

    def hold(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def hours(now: datetime) -> str:
    """Regular hours 09:30-16:00 on every day (enough for these tests)."""
    t = now.astimezone(ET).time()
    if time(9, 30) <= t < time(16, 0):
        return "open"
    if time(4, 0) <= t < time(9, 30):
        return "pre_market"
    if time(16, 0) <= t < time(20, 0):
        return "after_hours"
    return "closed"


def risk_config(**exits: Any) -> RiskConfig:
    portfolio = exits.pop("portfolio", PortfolioConfig())
    return RiskConfig(exits=ExitConfig(**exits), portfolio=portfolio)


class Rig:
    """Broker, store, order manager and position book wired as the session will wire them."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        equity: float = 100_000.0,
        start: datetime | None = None,
        config: RiskConfig | None = None,
        sim: SimBroker | None = None,
        wrap: Callable[[SimBroker], Any] | None = None,
        store: Store | None = None,
        clock: FakeClock | None = None,
        **broker_kwargs: Any,
    ) -> None:
        self.tmp_path = tmp_path
        self.clock = clock or FakeClock(start or at("09:00"))
        broker_kwargs.setdefault("slippage_bps", 0.0)
        self.sim = sim or SimBroker(self.clock, equity, market_hours=hours, **broker_kwargs)
        self.broker = wrap(self.sim) if wrap is not None else self.sim
        self.store = store or Store.open(tmp_path / "ws.db")
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(Event, self.events.append)
        self.config = config or RiskConfig()
        self.calendar = get_calendar()
        self.om = OrderManager(self.broker, self.store, self.clock, self.bus, retry_delay_s=0.5)
        self.book = PositionBook(
            self.store,
            self.om,
            self.broker,
            self.clock,
            self.calendar,
            self.bus,
            lambda: self.config,
        )

    # ------------------------------------------------------------------ driving
    def go(self, hm: str, d: date = DAY1) -> datetime:
        self.clock.t = at(hm, d)
        return self.clock.t

    async def tick(
        self,
        symbol: str,
        price: float,
        hm: str | None = None,
        d: date | None = None,
        *,
        engine_first: bool = False,
    ) -> Order | None:
        """One print: the broker sees it (stops may fill), then the book (or the reverse)."""
        if hm is not None:
            self.go(hm, d or self.clock.t.date())
        t = self.clock.t
        if engine_first:
            out = await self.book.on_price(symbol, price, t)
            self.sim.on_price(symbol, price, t)
        else:
            self.sim.on_price(symbol, price, t)
            out = await self.book.on_price(symbol, price, t)
        await self.book.settle()
        return out

    async def enter(
        self,
        symbol: str = "AAA",
        qty: int = 100,
        price: float = 100.0,
        *,
        side: Side = Side.LONG,
        d: date = DAY1,
        hm: str = "10:00",
        strategy: str = STRATEGY,
        candidate_id: int | None = None,
    ) -> Order:
        """A market entry in regular hours at ``price`` (the sim fills it on submission).

        With ``candidate_id`` the plan comes from the candidate row (as after a restart),
        else it is registered with the book."""
        self.go(hm, d)
        self.sim.on_price(symbol, price, self.clock.t)
        cid = client_order_id(d, symbol, strategy, OrderIntent.ENTRY)
        if candidate_id is None:
            self.book.expect_entry(cid, EntryPlan(side, strategy, ATR, SL_MULT, TP_MULT))
        order = await self.om.submit(
            entry_request(cid, symbol, qty, side, strategy),
            session=d,
            candidate_id=candidate_id,
        )
        await self.book.settle()
        return order

    async def pass_time(self, hm: str, d: date | None = None) -> None:
        """Move the clock to ``hm`` and let what waited for it (the stop of a partly filled
        entry) run to the end."""
        self.go(hm, d or self.clock.t.date())
        due = [t.task for t in self.book._stop_timers.values() if t.until <= self.clock.t]
        await asyncio.gather(*due, return_exceptions=True)
        await self.book.settle()

    # ----------------------------------------------------------------- looking
    def open_stops(self, symbol: str = "AAA") -> list[Order]:
        return [
            o
            for o in self.sim.open_orders_sync()
            if o.symbol == symbol and o.request.type is OrderType.STOP
        ]

    def orders_of(self, intent: OrderIntent, symbol: str = "AAA") -> list[Order]:
        return [o for o in self.sim.orders() if o.symbol == symbol and o.request.intent is intent]

    def of_type(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def restart(
        self,
        *,
        while_down: Callable[[SimBroker], None] | None = None,
        now: datetime | None = None,
        **kwargs: Any,
    ) -> Rig:
        """The app dies and starts again at ``now``: same store file, the broker's state
        carried over (a real exchange outlives the app) after ``while_down`` happened to it
        unseen, new order manager and book, nothing in memory."""
        state = self.sim.snapshot_state()
        clock = FakeClock(now or self.clock.t)
        sim = SimBroker.from_state(state, clock, market_hours=hours)
        if while_down is not None:
            while_down(sim)
        return Rig(
            self.tmp_path, sim=sim, store=self.store, config=self.config, clock=clock, **kwargs
        )


def entry_request(
    cid: str,
    symbol: str = "AAA",
    qty: int = 100,
    side: Side = Side.LONG,
    strategy: str = STRATEGY,
    tif: TimeInForce = TimeInForce.DAY,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        symbol=symbol,
        side=OrderSide.to_open(side),
        qty=qty,
        type=OrderType.MARKET,
        tif=tif,
        intent=OrderIntent.ENTRY,
        strategy=strategy,
    )


def record_candidate(
    store: Store, symbol: str = "AAA", side: Side = Side.LONG, session: date = DAY1
) -> int:
    """A scan with one candidate (ATR, multipliers as the rig's); returns the candidate id."""
    scan = store.record_scan(
        session=session,
        param_hash="test",
        status="ok",
        started_at=at("20:00", session),
        finished_at=at("20:01", session),
        candidates=[
            NewCandidate(
                rank=1,
                symbol=symbol,
                sector="Information Technology",
                strategy=STRATEGY,
                side=str(side),
                grp="B",
                score=1.0,
                score_strength=1.0,
                score_liquidity=1.0,
                score_rr=1.0,
                score_fit=1.0,
                strength=1.0,
                close=100.0,
                atr14=ATR,
                sl_mult=SL_MULT,
                tp_mult=TP_MULT,
                sl_dist=SL_MULT * ATR,
                tp_dist=TP_MULT * ATR,
            )
        ],
    )
    return store.candidates_for_scan(scan)[0].id
