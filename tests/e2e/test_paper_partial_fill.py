"""A partly filled entry stays protected: the REAL engines against the fake Alpaca (issue 12.4).

The same rig as ``test_paper_session`` (``TradingSession`` + ``AlpacaMarket`` + ``AlpacaBroker``
through alpaca-py, the fake Alpaca on loopback, the engine's clock = the fake's clock), except
that the clock's ``sleep_until`` WAITS for the fake's time instead of moving it: the test moves
time, so the wait of a partly filled entry can be watched from outside.

Scenario (Tuesday 2024-06-04, group B): ADBE's confirmed market order fills 40% at once, the
rest works on. Alpaca refuses a sell stop beside that working buy (HTTP 403 "potential wash
trade detected. use complex orders", which the fake enforces), so before the fix the app sent
it, logged the refusal, and the filled shares had no stop until the rest filled. Now:

* the stop is deferred (audit ``stop.deferred``), no order is refused, no error is logged;
* a print at the emergency level during the wait would be the engine's (not exercised here:
  see the position book's unit test);
* ``partial_fill_wait_s`` (30 s) after the first fill, the rest is canceled at Alpaca and the
  stop rests for exactly the filled shares; later prints do not grow the position.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_paper_session import (
    DAY1,
    SCAN,
    Rig,
    at,
    resting_stops,
    start_up,
    with_day,
)
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.fixture import fake_alpaca  # noqa: F401
from workstation.core.events import LogEvent
from workstation.core.models import OrderIntent, client_order_id

# ruff: noqa: F811

pytestmark = pytest.mark.timeout(60)


def test_a_partly_filled_entry_is_protected_without_a_wash_trade(
    fake_alpaca: FakeAlpacaServer, tmp_path: Path
) -> None:
    rig = Rig(fake_alpaca, tmp_path)
    state = fake_alpaca.state

    async def wait_for_fake_time(t: datetime) -> None:
        while state.now < t:
            await asyncio.sleep(0.01)

    rig.clock.sleep_until = wait_for_fake_time  # type: ignore[method-assign]

    async def main() -> None:
        try:
            await _day(rig)
        finally:
            await rig.close()

    asyncio.run(asyncio.wait_for(main(), 50))


async def _day(rig: Rig) -> None:
    fake, state, s, store = rig.fake, rig.fake.state, rig.session, rig.store
    await start_up(rig)

    state.set_now(at("20:00", SCAN))
    assert await s.scan(SCAN) is not None
    by_sym = {c.symbol: c for c in s.candidates(DAY1)}
    s.approve(by_sym["ADBE"].id, note="e2e")  # the others stay pending: skipped
    prev = by_sym["ADBE"].close
    open_px = round(prev * 1.004, 2)
    state.set_bars_frame(with_day(rig.history, DAY1, {"ADBE": open_px}))
    state.set_now(at("09:10"))
    state.set_quote("ADBE", open_px, round(prev * 1.006, 2), t=at("09:10"))

    state.set_now(at("09:25"))
    await s.premarket(DAY1)
    await s.gap_filter(DAY1)
    state.set_now(at("09:26"))
    await s.enter_group_a(DAY1)
    state.open_session({"ADBE": open_px})
    await s.market_open(DAY1)

    # 09:50: confirmed; the market order fills 40% now, the rest with a later trade.
    state.set_now(at("09:40"))
    confirm = round(open_px * 1.01, 2)
    state.set_price("ADBE", confirm)
    state.partial_fills("ADBE", 0.4, stepwise=True)
    state.set_now(at("09:50:01"))
    [sent] = await s.enter_group_b(DAY1)
    entry = client_order_id(DAY1, "ADBE", by_sym["ADBE"].strategy, OrderIntent.ENTRY)
    assert sent.client_order_id == entry
    qty = int(float(state.order_by_client_id(entry)["qty"]))  # type: ignore[index]
    first = qty * 4 // 10
    await rig.settle_until("the partial position", lambda: "ADBE" in s.book.held())
    assert state.order_by_client_id(entry)["status"] == "partially_filled"  # type: ignore[index]
    await asyncio.sleep(0.2)  # time for a (wrong) stop to reach the fake
    assert resting_stops(fake, "ADBE") == []
    assert s.book.position("ADBE").open_qty == first  # type: ignore[union-attr]
    [deferred] = store.audit_log(action="stop.deferred", limit=None)
    assert (deferred.detail or {})["working"] == qty - first

    # The wait runs out: Alpaca cancels the rest, then the stop rests for the filled shares.
    filled_at = s.book.position("ADBE").entry_at  # type: ignore[union-attr]
    state.set_now(filled_at + timedelta(seconds=29))
    await asyncio.sleep(0.2)
    assert state.order_by_client_id(entry)["status"] == "partially_filled"  # type: ignore[index]
    state.set_now(filled_at + timedelta(seconds=30))

    def protected() -> bool:
        pos = s.book.position("ADBE")
        rest = resting_stops(fake, "ADBE")
        return pos is not None and pos.stop_client_order_id is not None and len(rest) == 1

    await rig.settle_until("ADBE's stop", protected)
    assert state.order_by_client_id(entry)["status"] == "canceled"  # type: ignore[index]
    [stop] = resting_stops(fake, "ADBE")
    assert float(stop["qty"]) == first == state.positions()["ADBE"]
    pos = s.book.position("ADBE")
    assert pos is not None and pos.stop_client_order_id == stop["client_order_id"]
    emergency = confirm * (1 - rig.cfg.risk.exits.emergency_pct)
    assert emergency <= float(stop["stop_price"]) < emergency + 0.0101
    state.set_now(at("09:52"))
    state.set_price("ADBE", round(confirm * 1.001, 2))  # the canceled rest never fills
    await asyncio.sleep(0.1)
    assert state.positions()["ADBE"] == first

    # What Alpaca saw: every order accepted, no refusal, no error in the app.
    refused = [r for r in state.requests if r.path.startswith("/v2/orders") and r.status >= 400]
    assert refused == [], [(r.method, r.path, r.status) for r in refused]
    errors = [e for e in rig.events if isinstance(e, LogEvent) and e.level in ("ERROR", "CRITICAL")]
    assert errors == []
    assert store.audit_log(action="protection.problem", limit=None) == []
    [canceled] = store.audit_log(action="entry.remainder_canceled", limit=None)
    assert (canceled.detail or {})["canceled"] == qty - first
    assert [p.qty for p in store.open_positions()] == [first]
