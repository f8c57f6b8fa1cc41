"""A TradingSession on a scripted market: the shared rig of the test_session_* files.

The market is a :class:`TapeMarket` whose every price is written by the test (pre-market
prints and quotes, the official open, regular-hours prints); the broker is the real
:class:`SimBroker` (no slippage), the store a real SQLite file, the clock a max-speed
:class:`SimClock`. Candidates are recorded as the previous session's scan, as the scanner
would have left them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from workstation.broker.sim import SimBroker
from workstation.core.calendar import get_calendar
from workstation.core.clock import SimClock
from workstation.core.config import Config, RiskConfig
from workstation.core.events import Event, EventBus
from workstation.core.models import (
    Asset,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderType,
    Quote,
    Side,
    Snapshot,
    TimeInForce,
    TradeTick,
    Universe,
    client_order_id,
)
from workstation.engine.positions import EntryPlan
from workstation.engine.session import TradingSession
from workstation.engine.views import Mode
from workstation.store import NewCandidate, Store

ET = ZoneInfo("America/New_York")
CAL = get_calendar()
# Monday 2024-03-11 is the scan session; Tuesday 03-12 the first trading session.
SCAN = date(2024, 3, 11)
DAY1 = date(2024, 3, 12)
DAY2 = date(2024, 3, 13)

SECTORS = {
    "AAA": "Information Technology",
    "BBB": "Information Technology",
    "CCC": "Information Technology",
    "DDD": "Information Technology",
    "EEE": "Health Care",
    "FFF": "Energy",
    "GGG": "Financials",
    "HHH": "Utilities",
    "NOS": "Financials",  # not shortable
    "III": "Materials",
    "JJJ": "Real Estate",
    "KKK": "Industrials",
}
NOT_SHORTABLE = {"NOS", "JJJ"}


def at(hm: str, d: date = DAY1) -> datetime:
    return datetime.combine(d, time.fromisoformat(hm), tzinfo=ET)


@dataclass
class Tape:
    """One symbol's session: what the market shows."""

    prev_close: float
    open: float | None = None
    premarket: list[tuple[datetime, float]] = field(default_factory=list)
    quote: tuple[datetime, float, float] | None = None  # a pre-market quote (at, bid, ask)
    prints: list[tuple[datetime, float]] = field(default_factory=list)  # regular hours


class TapeMarket:
    """MarketData whose every price is scripted (see the module docstring)."""

    name = "tape"

    def __init__(self, clock: SimClock, sectors: dict[str, str] | None = None) -> None:
        self.clock = clock
        self._universe = Universe.of(dict(sectors or SECTORS), "SPY")
        self.tapes: dict[tuple[str, date], Tape] = {}
        #: (symbol, session) -> why it does not trade then (§14: "no_volume", "spike", ...)
        self.no_trade: dict[tuple[str, date], str] = {}

    def tape(self, symbol: str, session: date = DAY1, **kw: Any) -> Tape:
        t = Tape(**kw)
        self.tapes[(symbol, session)] = t
        return t

    def universe(self) -> Universe:
        return self._universe

    def not_trading(self, symbols: Sequence[str], session: date) -> dict[str, str]:
        return {s: self.no_trade[(s, session)] for s in symbols if (s, session) in self.no_trade}

    async def daily_bars(self, symbols: Sequence[str], end: date, sessions: int) -> Any:
        raise NotImplementedError("the tape market has no daily bars (scans are recorded)")

    async def minute_bars(
        self,
        symbol: str,
        session: date,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        return pd.DataFrame(columns=["open", "high", "low", "close", "volume"]).set_axis(
            pd.DatetimeIndex([], tz=ET), axis=0
        )

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> dict[str, Snapshot]:
        at = min(at, self.clock.now())
        session = CAL.session_on_or_before(at)
        out: dict[str, Snapshot] = {}
        for s in symbols:
            tape = self.tapes.get((s, session))
            if tape is None:
                continue
            open_at = CAL.open_time(session)
            trade: TradeTick | None = None
            quote: Quote | None = None
            if at < open_at:
                pm = [(t, p) for t, p in tape.premarket if t < at]
                if pm:
                    trade = TradeTick(s, pm[-1][0], pm[-1][1])
                if tape.quote is not None and tape.quote[0] <= at:
                    quote = Quote(s, tape.quote[0], tape.quote[1], tape.quote[2])
                out[s] = Snapshot(s, trade, quote, tape.prev_close)
                continue
            seen = [(open_at, tape.open)] if tape.open is not None else []
            seen += [(t, p) for t, p in tape.prints if t <= at]
            if seen:
                t, p = max(seen, key=lambda tp: tp[0])
                trade = TradeTick(s, t, float(p))  # type: ignore[arg-type]
            out[s] = Snapshot(s, trade, None, tape.prev_close, session_open=tape.open)
        return out

    async def stream(self, symbols: Sequence[str]) -> AsyncIterator[Quote | TradeTick]:
        now = self.clock.now()
        prints = sorted(
            (t, s, p)
            for (s, _d), tape in self.tapes.items()
            if s in symbols
            for t, p in tape.prints
            if t > now
        )
        for t, s, p in prints:
            await self.clock.sleep_until(t)
            yield TradeTick(s, t, p)


def new_candidate(
    rank: int,
    symbol: str,
    *,
    side: str = "long",
    grp: str = "A",
    close: float = 100.0,
    atr14: float = 2.0,
    sl_mult: float = 1.5,
    tp_mult: float = 3.0,
    strategy: str | None = None,
    sector: str | None = None,
) -> NewCandidate:
    return NewCandidate(
        rank=rank,
        symbol=symbol,
        sector=sector or SECTORS.get(symbol, "Unknown"),
        strategy=strategy or ("rsi_reversion" if grp == "A" else "adx_pullback"),
        side=side,
        grp=grp,
        score=100.0 - rank,
        score_strength=0.5,
        score_liquidity=0.5,
        score_rr=0.5,
        score_fit=1.0,
        strength=0.5,
        close=close,
        atr14=atr14,
        sl_mult=sl_mult,
        tp_mult=tp_mult,
        sl_dist=sl_mult * atr14,
        tp_dist=tp_mult * atr14,
    )


class SessionRig:
    """Store, SimBroker, TapeMarket and a TradingSession at max speed."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        start: datetime | None = None,
        mode: Mode = Mode.SIM,
        equity: float = 100_000.0,
        risk: RiskConfig | None = None,
        assets: dict[str, Asset] | None = None,
    ) -> None:
        self.clock = SimClock(start or at("19:00", SCAN), speed=float("inf"))
        self.market = TapeMarket(self.clock)
        self.store = Store.open(tmp_path / "ws.db")
        assets = assets or {
            s: Asset(s, shortable=s not in NOT_SHORTABLE, easy_to_borrow=s not in NOT_SHORTABLE)
            for s in SECTORS
        }
        self.broker = SimBroker(self.clock, equity, slippage_bps=0.0, assets=assets)
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(Event, self.events.append)
        self.config = Config(risk=risk or RiskConfig())
        self.scans_dir = tmp_path / "scans"
        self.mode = mode
        self.session = self._trading_session()

    def _trading_session(self) -> TradingSession:
        return TradingSession(
            self.market,  # type: ignore[arg-type]
            self.broker,
            self.store,
            self.clock,
            self.bus,
            lambda: self.config,
            CAL,
            scans_dir=self.scans_dir,
            mode=self.mode,
            exchange=self.broker if self.mode is Mode.SIM else None,
        )

    def restarted(self) -> TradingSession:
        """A new process after a kill: the exchange's saved state, the same store file (the
        rig's ``session`` stays the killed one's)."""
        self.broker = SimBroker.from_state(self.broker.snapshot_state(), self.clock)
        return self._trading_session()

    def scan(
        self, candidates: Sequence[NewCandidate], session: date = SCAN, regime: str = "TREND"
    ) -> list[int]:
        """Record ``session``'s scan with these candidates; their ids, by rank."""
        sid = self.store.record_scan(
            session=session,
            param_hash="rig",
            status="ok",
            started_at=at("20:00", session),
            finished_at=at("20:01", session),
            regime=regime,
            market=self.market.name,
            candidates=list(candidates),
        )
        # As the 20:00 step would have noted it (so run_day does not scan again).
        self.store.audit(
            "engine",
            "step.done",
            f"session:{CAL.next_session(session).isoformat()}",
            {"step": "scan"},
            at=at("20:01", session),
        )
        return [c.id for c in self.store.candidates_for_scan(sid)]

    async def hold(
        self, symbol: str, qty: int, price: float, *, side: str = "long", atr14: float = 2.0
    ) -> None:
        """Open a position now at ``price`` (regular hours): a filled market entry."""
        now = self.clock.now()
        self.broker.on_price(symbol, price, now)
        cid = client_order_id(now.date(), symbol, "held", OrderIntent.ENTRY)
        self.session.book.expect_entry(cid, EntryPlan(Side(side), "held", atr14, 1.5, 3.0))
        await self.session.orders.submit(
            OrderRequest(
                cid,
                symbol,
                OrderSide.to_open(Side(side)),
                qty,
                OrderType.MARKET,
                TimeInForce.DAY,
                intent=OrderIntent.ENTRY,
                strategy="held",
            ),
            session=now.date(),
        )
        await self.session.book.settle()

    async def until(self, t: datetime) -> None:
        await self.clock.sleep_until(t)

    async def start(self) -> None:
        diffs = await self.session.start()
        assert diffs == []

    async def entry_steps(self, session: date = DAY1) -> None:
        """Start, then the session's morning up to group B's entries, then stop."""
        await self.start()
        await self.until(at("09:25", session))
        await self.session.premarket(session)
        await self.session.gap_filter(session)
        await self.session.enter_group_a(session)
        await self.until(at("09:30", session))
        await self.session.market_open(session)
        await self.until(at("09:50:01", session))
        await self.session.enter_group_b(session)
        await self.session.stop()

    def of_type(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def rejections(self) -> list[tuple[str, str, int]]:
        """(symbol, reason, check) of every recorded entry rejection, in order."""
        return [
            (r.detail["symbol"], r.detail["reason"], r.detail["check"])
            for r in self.store.audit_log(action="entry.rejected", limit=None)
            if r.detail
        ]

    def entry_orders(self, session: date = DAY1) -> list[Any]:
        return [o for o in self.store.orders_for_session(session) if o.intent == "entry"]

    def close(self) -> None:
        self.store.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def step_offset() -> timedelta:
    return timedelta(seconds=1)
