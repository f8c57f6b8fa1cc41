"""The Workstation facade (EngineAPI over the real engines), without a window: commands
refused with the engine's reasons, views built from the store and the book, change notices
coalesced, the day's story in the log."""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
from collections.abc import Callable, Coroutine, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from workstation.context import open_context
from workstation.core.calendar import ET
from workstation.core.clock import WallClock
from workstation.core.events import LogEvent, TradeEvent
from workstation.core.models import (
    OrderIntent,
    OrderRequest,
    OrderSide,
    Side,
    TradeTick,
    client_order_id,
)
from workstation.engine.api import CommandRefused, ConfirmationNeeded, EngineAPI
from workstation.engine.assembly import Engines, build_sim
from workstation.engine.positions import EntryPlan
from workstation.engine.session_events import KillSwitchChanged
from workstation.engine.views import ViewName, ViewsChanged
from workstation.selftest import prepare_home

SCAN_DAY = date(2025, 3, 11)  # workstation.selftest.SIM_TODAY
SESSION = date(2025, 3, 12)


def at(d: date, hm: str) -> datetime:
    return datetime.combine(d, time.fromisoformat(hm), tzinfo=ET)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the scan of SCAN_DAY stored, the clock at 20:30 that evening."""
    home = tmp_path_factory.mktemp("facade") / "home"
    prepare_home(home)

    async def scan() -> None:
        e = build_sim(
            open_context(argparse.Namespace(home=str(home))), speed=1.0, start=at(SCAN_DAY, "20:30")
        )
        e.clock.pause()
        try:
            assert await e.session.scan(SCAN_DAY) is not None
        finally:
            await e.facade.shutdown()

    run(scan())
    return home


@pytest.fixture
def engines(scanned: Path, tmp_path: Path) -> Iterator[Callable[..., Engines]]:
    made: list[Engines] = []

    def make(start: datetime | None = None, fresh: bool = False) -> Engines:
        home = tmp_path / f"home{len(made)}"
        if fresh:
            prepare_home(home)
        else:
            shutil.copytree(scanned, home)
        e = build_sim(open_context(argparse.Namespace(home=str(home))), speed=math.inf, start=start)
        e.clock.pause()
        made.append(e)
        return e

    yield make
    for e in made:
        if not e.store.closed:
            asyncio.run(_close(e))


async def _close(e: Engines) -> None:
    await e.facade.shutdown()


async def jump(e: Engines, t: datetime) -> None:
    e.clock.jump_to(t)  # type: ignore[attr-defined]
    for _ in range(10_000):
        if e.clock.now() >= t:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"the clock did not reach {t}")


def test_it_is_an_engine_api(engines: Callable[..., Engines]) -> None:
    assert isinstance(engines().facade, EngineAPI)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (lambda f: f.release_kill_switch(), "the kill switch is not engaged"),
        (lambda f: f.flatten_all(), "there are no open positions to flatten"),
        (lambda f: f.approve(999_999), "there is no candidate 999999"),
    ],
    ids=["release-when-off", "flatten-nothing", "unknown-candidate"],
)
def test_commands_the_engine_cannot_accept_are_refused_with_its_reason(
    engines: Callable[..., Engines], command: Callable[[Any], None], message: str
) -> None:
    f = engines().facade
    with pytest.raises(CommandRefused, match=message):
        command(f)


def test_clock_controls_are_refused_off_the_simulated_clock(
    engines: Callable[..., Engines],
) -> None:
    f = engines().facade
    f.clock = WallClock()  # type: ignore[assignment]
    for name, args in (("set_speed", (60.0,)), ("pause", ()), ("resume", ()), ("jump_to_next", ())):
        with pytest.raises(CommandRefused, match="only the simulated clock"):
            getattr(f, name)(*args)
    assert not f.status().clock_adjustable


def test_a_decision_after_the_entry_time_is_refused_and_decidable_follows_the_clock(
    engines: Callable[..., Engines],
) -> None:
    e = engines()
    f = e.facade
    a = next(c for c in f.candidates() if str(c.group) == "A")
    b = next(c for c in f.candidates() if str(c.group) == "B")
    assert a.decidable and b.decidable

    async def later() -> None:
        await jump(e, at(SESSION, "09:30"))

    asyncio.run(later())
    shown = {c.id: c for c in f.candidates()}  # no event came: the clock alone moved
    assert not shown[a.id].decidable and shown[b.id].decidable
    with pytest.raises(CommandRefused, match="too late"):
        f.approve(a.id, "late")
    assert e.store.get_candidate(a.id).approval == "pending"
    f.veto(b.id, "still in time")
    assert e.store.get_candidate(b.id).approval == "vetoed"


def test_kill_switch_engages_once_then_releases(engines: Callable[..., Engines]) -> None:
    e = engines()
    f = e.facade

    async def scenario() -> None:
        f.engage_kill_switch()
        with pytest.raises(CommandRefused, match="already engaged"):
            await asyncio.sleep(0.05)
            f.engage_kill_switch()
        st = f.status()
        assert st.kill_switch and st.kill_reason == "manual"
        f.release_kill_switch()
        await asyncio.sleep(0.05)
        assert not f.status().kill_switch

    asyncio.run(scenario())
    assert [r.action for r in e.store.audit_log(action="kill_switch.engaged")] == [
        "kill_switch.engaged"
    ]


def test_change_notices_are_coalesced(engines: Callable[..., Engines]) -> None:
    e = engines()
    seen: list[ViewsChanged] = []
    e.bus.subscribe(ViewsChanged, seen.append)

    async def burst() -> None:
        for _ in range(200):
            e.bus.publish(KillSwitchChanged(e.clock.now(), False, "", "test"))
        await asyncio.sleep(e.facade.coalesce_s * 3)

    asyncio.run(burst())
    assert len(seen) == 1 and ViewName.STATUS in seen[0].views


def test_prices_refresh_positions_at_most_once_per_period(
    engines: Callable[..., Engines],
) -> None:
    e = engines(start=at(SESSION, "10:30"), fresh=True)
    f = e.facade
    f.price_refresh_s = 0.1
    seen: list[ViewsChanged] = []
    e.bus.subscribe(ViewsChanged, seen.append)

    async def scenario() -> None:
        await e.session.start()
        now = e.clock.now()
        price = float(e.market.price_at("AAPL", now))
        e.broker.on_price("AAPL", price, now)
        cid = client_order_id(SESSION, "AAPL", "rsi_reversion", OrderIntent.ENTRY)
        e.session.book.expect_entry(cid, EntryPlan(Side.LONG, "rsi_reversion", 3.0, 2.0, 3.0))
        await e.session.orders.submit(
            OrderRequest(cid, "AAPL", OrderSide.BUY, 10, strategy="rsi_reversion"),
            session=SESSION,
        )
        await e.session.book.settle()
        await asyncio.sleep(0.2)
        seen.clear()
        start = asyncio.get_running_loop().time()
        for k in range(300):  # 300 prints in ~0.3 s
            p = price * (1 + 0.0005 * ((k % 7) - 3))
            e.bus.publish(TradeEvent(now, TradeTick("AAPL", now, p, 100.0)))
            await e.session.on_trade("AAPL", p, now)
            if k % 10 == 9:
                await asyncio.sleep(0.01)
        elapsed = asyncio.get_running_loop().time() - start
        await asyncio.sleep(0.25)
        pos = [v for v in seen if ViewName.POSITIONS in v.views]
        assert 1 <= len(pos) <= elapsed / f.price_refresh_s + 3
        shown = f.positions()
        assert [p.symbol for p in shown] == ["AAPL"] and shown[0].day == 1 and shown[0].day_one

    asyncio.run(scenario())


def test_the_day_is_told_in_the_log(engines: Callable[..., Engines]) -> None:
    e = engines()
    f = e.facade
    c = f.candidates()[0]
    f.approve(c.id, "looks right")
    logs = [ev for ev in f.recent_logs() if isinstance(ev, LogEvent)]
    assert any(
        ev.source == "approvals" and ev.message == f"{c.symbol} approved by the user (looks right)"
        for ev in logs
    )


def test_views_read_the_store_once_per_change(
    engines: Callable[..., Engines], monkeypatch: pytest.MonkeyPatch
) -> None:
    e = engines()
    f = e.facade
    calls = {"n": 0}
    real = e.store.candidates_for_scan

    def counting(scan_id: int) -> Any:
        calls["n"] += 1
        return real(scan_id)

    monkeypatch.setattr(e.store, "candidates_for_scan", counting)
    f.changed(ViewName.CANDIDATES)
    for _ in range(20):
        f.candidates()
    assert calls["n"] == 1
    f.approve(f.candidates()[0].id)  # an event: rebuilt once more
    for _ in range(5):
        f.candidates()
    assert calls["n"] == 2


def test_shutdown_is_idempotent_and_closes_the_store(engines: Callable[..., Engines]) -> None:
    e = engines()

    async def twice() -> None:
        t1 = e.facade.shutdown()
        t2 = e.facade.shutdown()
        assert t1 is t2
        await t1

    asyncio.run(twice())
    assert e.store.closed and e.facade.stopped
    with pytest.raises(CommandRefused, match="stopping"):
        e.facade.approve(1)


def test_run_scan_now_asks_keeps_the_decisions_and_never_replaces_a_traded_list(
    engines: Callable[..., Engines],
) -> None:
    """The trial: "Run scan now" at 09:47 re-ran the night's scan without asking and 8
    approved became 12 pending. Now: a re-run with decisions needs a confirmation and carries
    them over; once the list's entry times began it is refused and the list stays."""
    e = engines()
    f = e.facade
    first = f.candidates()
    f.approve(first[0].id, "go")
    f.veto(first[1].id, "no")
    with pytest.raises(ConfirmationNeeded, match=r"2 decisions \(1 approved, 1 vetoed\)"):
        f.run_scan_now()
    assert len(e.store.scans_for_session(SCAN_DAY)) == 1  # nothing ran

    async def rerun() -> None:
        f.run_scan_now(confirm=True)
        await asyncio.gather(*f._tasks)

    run(rerun())
    assert len(e.store.scans_for_session(SCAN_DAY)) == 2
    now = {(c.symbol, c.strategy): c for c in f.candidates()}
    assert {c.id for c in now.values()}.isdisjoint({c.id for c in first})
    kept = now[(first[0].symbol, first[0].strategy)]
    assert (kept.approval.value, kept.note) == ("approved", "go")
    assert now[(first[1].symbol, first[1].strategy)].approval.value == "vetoed"
    assert sum(c.approval.value == "pending" for c in now.values()) == len(now) - 2
    assert any("2 decisions carried over" in log.message for log in f.recent_logs())

    async def during_the_session() -> None:
        await jump(e, at(SESSION, "09:47"))

    run(during_the_session())
    scan = e.store.latest_scan(SCAN_DAY, market="sim")
    for confirm in (False, True):
        with pytest.raises(CommandRefused, match="is traded from"):
            f.run_scan_now(confirm=confirm)
    assert e.store.latest_scan(SCAN_DAY, market="sim") == scan
    assert e.store.get_candidate(kept.id).approval == "approved"


def test_a_position_is_closed_and_its_levels_moved_through_the_facade(
    engines: Callable[..., Engines],
) -> None:
    e = engines(start=at(SESSION, "10:30"), fresh=True)
    f = e.facade

    async def scenario() -> None:
        await e.session.start()
        now = e.clock.now()
        price = float(e.market.price_at("AAPL", now))
        e.broker.on_price("AAPL", price, now)
        cid = client_order_id(SESSION, "AAPL", "rsi_reversion", OrderIntent.ENTRY)
        atr = price * 0.02
        e.session.book.expect_entry(cid, EntryPlan(Side.LONG, "rsi_reversion", atr, 2.0, 3.0))
        await e.session.orders.submit(
            OrderRequest(cid, "AAPL", OrderSide.BUY, 10, strategy="rsi_reversion"),
            session=SESSION,
        )
        await e.session.book.settle()
        # Day 1: SL/TP are off; the refusal is the rule's reason.
        with pytest.raises(CommandRefused, match="SL and TP are off until day 2"):
            f.move_levels("AAPL", sl=price * 0.99)
        day2 = e.session.calendar.next_session(SESSION)
        await jump(e, at(day2, "10:30"))
        await e.session.book.roll_session(day2)
        now = e.clock.now()
        last = float(e.market.price_at("AAPL", now))
        e.broker.on_price("AAPL", last, now)
        await e.session.on_trade("AAPL", last, now)
        with pytest.raises(CommandRefused, match="would exit at once"):
            f.move_levels("AAPL", sl=last * 1.01)
        new_sl = round(last * 0.99, 2)
        check = f.check_levels("AAPL", sl=new_sl)
        assert check.ok and check.sl == new_sl
        f.move_levels("AAPL", sl=new_sl, note="tighter")
        await asyncio.sleep(0.05)
        await e.session.book.settle()
        (p,) = f.positions()
        assert (p.sl, p.sl_moved, p.tp_moved) == (new_sl, True, False)
        assert p.rule_sl == pytest.approx(p.fill_price - 2.0 * atr)
        stops = [o for o in e.broker.open_orders_sync() if o.request.intent is OrderIntent.STOP]
        assert [o.request.stop_price for o in stops] == [new_sl]
        assert any("stop" in ev.message and "by the user" in ev.message for ev in f.recent_logs())
        f.close_position("AAPL")
        await asyncio.sleep(0.05)
        await e.session.book.settle()
        assert f.positions() == ()
        [trade] = e.store.trades()
        assert trade.exit_reason == "MANUAL"
        with pytest.raises(CommandRefused, match="no open position in AAPL"):
            f.close_position("AAPL")
        with pytest.raises(CommandRefused, match="no open position in AAPL"):
            f.check_levels("AAPL", sl=1.0)

    asyncio.run(scenario())


def test_the_scan_report_is_the_stores_and_read_once_per_change(
    engines: Callable[..., Engines], monkeypatch: pytest.MonkeyPatch
) -> None:
    e = engines()
    f = e.facade
    report = f.scan_report()
    assert report is not None and report.status == "ok"
    row = e.store.latest_scan(report.session, market=e.session.market.name)
    assert row is not None
    assert (report.loaded, report.eligible, report.regime) == (row.loaded, row.eligible, row.regime)
    assert dict(report.ineligible) == row.ineligible and row.ineligible  # counted per reason
    assert dict(report.data_problems) == row.data_problems
    calls = {"n": 0}
    real = e.store.latest_scan

    def counting(*args: Any, **kw: Any) -> Any:
        calls["n"] += 1
        return real(*args, **kw)

    monkeypatch.setattr(e.store, "latest_scan", counting)
    for _ in range(10):
        f.scan_report()
    assert calls["n"] == 0  # in memory until the candidates change
    f.changed(ViewName.CANDIDATES)
    f.scan_report()
    f.scan_report()
    assert 1 <= calls["n"] <= 4  # the candidates' and the report's reads of this change


async def until(pred: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def test_max_speed_pauses_at_the_nightly_scan_and_next_step_runs_what_the_strip_names(
    engines: Callable[..., Engines],
) -> None:
    """The trial: at Max the app ran 18 sessions in 10 s and on_pending approved every pick.
    With the review on, the clock stops after the 20:00 scan with everything pending; then
    each "Next step" runs exactly the step the status named, none of them missed."""
    from workstation.engine.event_log import STEP_TEXT
    from workstation.engine.session_events import StepMissed, StepStarted

    e = engines(start=at(SCAN_DAY, "19:58"), fresh=True)
    f = e.facade
    started: list[StepStarted] = []
    missed: list[StepMissed] = []
    e.bus.subscribe(StepStarted, started.append)
    e.bus.subscribe(StepMissed, missed.append)
    f.set_scan_review(True)
    assert f.status().scan_review

    async def scenario() -> None:
        f.set_speed(math.inf)
        f.resume()
        f.start()
        await until(lambda: bool(f.status().pause_reason))
        st = f.status()
        assert st.clock_paused and "review of the nightly scan of Tue 2025-03-11" in st.pause_reason
        assert at(SCAN_DAY, "20:00") <= st.now < at(SCAN_DAY, "20:01")
        assert [s.step for s in started] == ["scan"]
        cands = f.candidates()
        assert len(cands) == 12 and {c.approval.value for c in cands} == {"pending"}
        await asyncio.sleep(0.2)  # paused: nothing moves
        assert f.status().now == st.now and [s.step for s in started] == ["scan"]
        # Each jump runs the step the strip named, at the time it showed (steps due at the
        # same instant run together), until the end of the day.
        while "eod" not in [s.step for s in started]:
            st = f.status()
            named, when = st.next_step, st.next_step_at
            n = len(started)
            f.jump_to_next()
            assert not f.status().pause_reason  # the user moved on
            await until(lambda n=n: len(started) > n)
            assert (STEP_TEXT[started[n].step], started[n].at) == (named, when)

    async def main() -> None:
        try:
            await scenario()
        finally:
            await f.shutdown()

    run(main())
    assert missed == []
    assert [s.step for s in started] == [
        "scan",
        "premarket",
        "gap_filter",
        "group_a",
        "open",
        "group_b",
        "entry_cutoff",
        "time_exit",
        "close",
        "eod",
    ]
    assert started[5].at == at(SESSION, "09:50:01")  # group B runs 1 s after its instant


def test_what_became_of_each_candidate_is_in_its_view(engines: Callable[..., Engines]) -> None:
    """The kill switch is on at group A: the approved picks show why they were not entered,
    in words, beside the one you vetoed; the risk view has the session's figures."""
    e = engines()
    f = e.facade

    async def scenario() -> None:
        await e.session.start()
        cands = f.candidates()
        assert all(c.outcome == "" for c in cands)  # nothing has happened yet
        group_a = [c for c in cands if c.group.value == "A"]
        assert len(group_a) >= 3
        vetoed_id = group_a[0].id
        f.veto(vetoed_id, "not this one")
        for c in group_a[1:]:
            f.approve(c.id, "go")
        await jump(e, at(SESSION, "09:25"))
        await e.session.premarket(SESSION)
        await e.session.gap_filter(SESSION)
        await e.session.engage_kill_switch()
        await jump(e, at(SESSION, "09:26"))
        await e.session.enter_group_a(SESSION)
        await asyncio.sleep(0.1)
        got = {c.id: c for c in f.candidates()}
        gaps = {g.candidate_id: g for g in f.gaps()}
        passed = [got[c.id] for c in group_a[1:] if gaps[c.id].passed]
        dropped = [got[c.id] for c in group_a[1:] if not gaps[c.id].passed]
        assert passed  # the kill switch, not the gap filter, kept these out
        for c in passed:
            assert c.outcome == "KILL_SWITCH"
            assert c.outcome_text == "not entered: kill switch on"
            assert "kill switch is engaged" in c.outcome_detail
        for c in dropped:
            assert c.outcome_text.startswith("dropped at 09:25")
        vetoed = got[vetoed_id]
        assert vetoed.outcome == "VETOED"
        assert vetoed.outcome_text == "vetoed: followed on paper"
        risk = f.risk()
        assert risk.kill_switch and risk.kill_reason == "manual"
        assert risk.open_positions == 0 and risk.open_risk == 0.0
        assert risk.regime == f.status().regime
        assert risk.equity == pytest.approx(f.status().equity)
        assert risk.buying_power > 0 and risk.start_equity > 0
        assert risk.kill_level == pytest.approx(risk.start_equity * 0.98)

    asyncio.run(scenario())


def test_the_regime_is_the_scans_with_what_decided_it(engines: Callable[..., Engines]) -> None:
    """The regime view is the stored scan's regime and values; the strip's regime of the scan
    session, computed from the benchmark's bars as the window draws it, is the same."""
    from workstation.core.models import Regime
    from workstation.ui.chart_data import chart_data

    e = engines()
    f = e.facade
    v = f.regime()
    row = e.store.latest_scan(SCAN_DAY, market=e.session.market.name)
    assert row is not None and v.session == SCAN_DAY and v.regime == row.regime
    assert v.values["regime"] == row.regime and v.benchmark == "SPY"
    assert {"vol", "adx14", "sma50", "sma200", "close", "stacked"} <= set(v.values)
    assert dict(v.caps) == {"TREND": 8, "RANGING": 6, "HIGH_VOL": 4}
    fits = {x.strategy: dict(x.fits) for x in v.fits}
    assert set(fits) == set(e.session.cfg.strategies)
    assert fits["regime_momentum"][v.regime] == (
        "preferred" if v.regime == Regime.TREND else "not permitted"
    )
    cfg = e.session.cfg.scanner
    bars = f.daily_bars("SPY", cfg.universe.history_sessions)
    strip = chart_data("SPY", bars, cfg.indicators, 60, cfg.regime).regimes
    assert bars.index[-1].date() == SCAN_DAY and strip[-1] is not None
    assert str(strip[-1].regime) == row.regime
    assert strip[-1].as_dict()["stacked"] == v.values["stacked"]
    assert strip[-1].vol == pytest.approx(v.values["vol"], rel=1e-9)
    # The same bars as the scan loaded: the Wilder smoothers start where the scanner's did.
    assert strip[-1].adx == pytest.approx(v.values["adx14"], rel=1e-9)


def test_after_a_scan_the_charts_keep_their_bars_until_a_worker_thread_has_read_them(
    engines: Callable[..., Engines],
) -> None:
    """A scan drops the cached daily bars (a live market may have fetched more), but the
    window's charts are not made to read them again on the loop: they get the frame they had
    while a worker thread reads it again; nothing is announced when it did not change."""
    import threading

    from workstation.core.events import ScanFinished

    e = engines()
    f = e.facade
    market: Any = e.market
    reads: list[threading.Thread] = []
    read = market.daily_bars_now

    def counted(*args: Any) -> Any:
        reads.append(threading.current_thread())
        return read(*args)

    async def scenario() -> None:
        first = f.daily_bars("SPY", 300)
        market.daily_bars_now = counted
        announced: list[Any] = []
        f.events.subscribe(ViewsChanged, announced.append)
        f._on_event(ScanFinished(e.clock.now(), SCAN_DAY, None, "TREND"))
        await asyncio.sleep(0.3)  # the scan's own announcement (its candidates, the status)
        announced.clear()
        assert f.daily_bars("SPY", 300) is first and reads == []  # nothing read on the loop
        for _ in range(500):
            if not f._fetching:
                break
            await asyncio.sleep(0.01)
        assert reads and threading.main_thread() not in reads
        fresh = f.daily_bars("SPY", 300)
        assert fresh is not first and fresh.equals(first) and len(reads) == 1
        await asyncio.sleep(0.3)  # past the coalesced announcement, had there been one
        assert announced == []  # the same bars: the charts need not hear of it

    run(scenario())
