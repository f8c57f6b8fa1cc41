"""Notifications through apprise to real endpoints on 127.0.0.1: an HTTP server for ``json://``
and an SMTP server (aiosmtpd) for ``mailto://``, both started and stopped here.

Every alert kind is raised from the engines' own event types on a real EventBus, goes through
the AlertCenter, the outbox (a real SQLite file) and the per-channel sender threads, and its
text is checked where it arrives. Failing, hanging and removed channels, a restart with alerts
left in the outbox, and the URLs' secrecy are covered too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from tests.sinks import JsonSink, MailSink, json_sink, mail_sink
from workstation.core.calendar import ET, get_calendar
from workstation.core.config import Config, NotifyConfig
from workstation.core.events import ConnectionStateChanged, EventBus, ScanFailed, ScanFinished
from workstation.core.models import Candidate as ScanCandidate
from workstation.core.models import ExitReason, Group, Regime, ScoreParts, Side
from workstation.engine.events import (
    PositionClosed,
    PositionOpened,
    PositionState,
    ProtectionProblem,
    ReconcileFinished,
)
from workstation.engine.reconcile import Difference, DifferenceKind
from workstation.engine.rules.gap import GapResult
from workstation.engine.scheduler import StepName
from workstation.engine.session_events import (
    GapChecked,
    KillSwitchChanged,
    SessionSummaryReady,
    StepFinished,
    StepMissed,
)
from workstation.engine.summary import SessionSummary
from workstation.notify.alert import Alert, AlertKind, AlertRaised, Level
from workstation.notify.center import AlertCenter
from workstation.notify.outbox import Outbox
from workstation.notify.sender import Notifier
from workstation.notify.urls import NotifyUrls, load_urls, mask_url, redact, save_urls
from workstation.store.rows import TradeRow

CAL = get_calendar()
SCAN = date(2024, 3, 8)  # Friday: entries on Monday 03-11
ENTRY = date(2024, 3, 11)
T0 = datetime(2024, 3, 8, 20, 0, 5, tzinfo=ET)

FAST = NotifyConfig(min_interval_s=0.0, retry_backoff_s=0.05, retry_max_s=0.2, timeout_s=5.0)


def at(h: int, m: int, s: int = 0, day: date = ENTRY) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, s, tzinfo=ET)


def config(notify: NotifyConfig = FAST) -> Config:
    cfg = Config()
    return dataclasses.replace(cfg, app=dataclasses.replace(cfg.app, notify=notify))


def candidate(rank: int, symbol: str, side: Side, group: Group, score: float) -> ScanCandidate:
    return ScanCandidate(
        session=SCAN,
        rank=rank,
        symbol=symbol,
        sector="Utilities",
        strategy="overbought_short" if side is Side.SHORT else "bb_squeeze",
        side=side,
        group=group,
        score=score,
        parts=ScoreParts(50, 20, 10, 5),
        strength=0.8,
        close=100.0 + rank,
        atr14=2.0,
        sl_mult=2.0,
        tp_mult=3.0,
        regime=Regime.RANGING,
    )


def position(symbol: str = "EIX", qty: int = 120) -> PositionState:
    t = at(9, 50, 1)
    return PositionState(
        position_id=7,
        symbol=symbol,
        side=Side.SHORT,
        qty=qty,
        open_qty=qty,
        fill_price=55.20,
        entry_session=ENTRY,
        entry_at=t,
        strategy="overbought_short",
        atr14=1.5,
        sl_mult=2.0,
        tp_mult=3.0,
        sl=58.20,
        tp=50.70,
        candidate_id=3,
        stop_client_order_id="stop-1",
        stop_price=59.06,
        stop_qty=qty,
        exiting=False,
        exit_reason=None,
        last_price=55.2,
        last_at=t,
        mfe_price=55.2,
        mfe_at=t,
        mae_price=55.2,
        mae_at=t,
        mfe_pct=0.0,
        mae_pct=0.0,
        mfe_r=0.0,
        mae_r=0.0,
    )


def trade() -> TradeRow:
    return TradeRow(
        id=11,
        position_id=7,
        candidate_id=3,
        symbol="EIX",
        side="short",
        strategy="overbought_short",
        qty=120.0,
        entry_price=55.20,
        entry_at=at(9, 50, 1),
        entry_session=ENTRY,
        exit_price=53.10,
        exit_at=at(11, 58, 0, date(2024, 3, 12)),
        exit_session=date(2024, 3, 12),
        exit_reason="TAKE_PROFIT",
        pnl=252.0,
        pnl_pct=0.038,
        r_multiple=0.70,
        days_held=2,
        sl_mult=2.0,
        atr14=1.5,
        mfe_price=None,
        mfe_pct=None,
        mfe_r=None,
        mfe_at=None,
        mae_price=None,
        mae_pct=None,
        mae_r=None,
        mae_at=None,
    )


class Rig:
    """A bus with an AlertCenter and a Notifier on real channels and a real outbox."""

    def __init__(self, tmp: Path, urls: list[str], notify: NotifyConfig = FAST) -> None:
        self.bus = EventBus()
        self.cfg = config(notify)
        self.mono = 0.0
        self.center = AlertCenter(self.bus, lambda: self.cfg, CAL, monotonic=lambda: self.mono)
        self.outbox = Outbox(tmp / "notify_outbox.db")
        self.notifier = Notifier(
            NotifyUrls(tuple(urls), "env"), self.outbox, lambda: self.cfg.app.notify
        )
        self.notifier.attach(self.bus)
        self.notifier.start()

    def close(self) -> None:
        self.center.close()
        self.notifier.stop(5.0)
        self.outbox.close()


@pytest.fixture
def sinks() -> Iterator[tuple[JsonSink, MailSink]]:
    with json_sink() as js, mail_sink() as ms:
        yield js, ms


def publish_a_trading_day(bus: EventBus, rig: Rig | None = None) -> None:
    """One event of every kind the alerts cover, in the order a day produces them."""
    cands = (
        candidate(1, "EIX", Side.SHORT, Group.B, 87.9),
        candidate(2, "VRSN", Side.LONG, Group.A, 72.3),
    )
    bus.publish(ScanFinished(T0, SCAN, 41, "RANGING", cands, {}))
    bus.publish(ScanFailed(T0, date(2024, 3, 11), 1, "bars missing", final=False))
    bus.publish(ScanFailed(T0, date(2024, 3, 11), 3, "market data unavailable", final=True))
    ok = GapResult(55.0, "trade", 55.25, -0.0045, True, "GAP_WITHIN_LIMIT", "")
    big = GapResult(73.0, "quote", 68.5, 0.0657, False, "GAP_TOO_LARGE", "")
    bus.publish(GapChecked(at(9, 25), ENTRY, 1, "EIX", ok))
    bus.publish(GapChecked(at(9, 25), ENTRY, 2, "VRSN", big))
    bus.publish(StepFinished(at(9, 25), ENTRY, StepName.GAP_FILTER))
    bus.publish(PositionOpened(at(9, 50, 1), position()))
    bus.publish(PositionClosed(at(11, 58), position(), trade(), ExitReason.TAKE_PROFIT))
    bus.publish(KillSwitchChanged(at(12, 0), True, "DAILY_LOSS", "equity 97,900 <= 98,000"))
    bus.publish(ProtectionProblem(at(12, 1), "UNH", "protective stop rejected: 422"))
    diff = Difference(DifferenceKind.STOP_MISSING, "UNH", "UNH (-20) has no protective stop")
    bus.publish(ReconcileFinished(at(12, 2), (diff,)))
    bus.publish(StepMissed(at(12, 3), ENTRY, StepName.GROUP_B, at(9, 50, 30), "not confirmed"))
    down = ConnectionStateChanged(at(12, 4), "trading-stream", "down", "socket closed")
    bus.publish(down)
    if rig is not None:
        rig.mono += 61.0  # a minute later (wall clock), still down
        rig.center.check_connections()
        rig.mono += 70.0
    bus.publish(ConnectionStateChanged(at(12, 6), "trading-stream", "connected"))
    summary = SessionSummary(
        ENTRY,
        SCAN,
        "sim",
        "RANGING",
        100_000.0,
        99_480.79,
        exits=({"symbol": "EIX", "reason": "TAKE_PROFIT", "pnl": 252.0, "r": 0.7},),
        missed=("group_b",),
    )
    bus.publish(SessionSummaryReady(at(16, 5), summary))


EXPECTED = {  # title -> lines the body must contain
    "Scan ready: 2 candidates, approve by 09:25 ET Mon 2024-03-11": [
        " 1. EIX short (B) overbought_short score 87.9 close 101.00",
        " 2. VRSN long (A) bb_squeeze score 72.3 close 102.00",
        "Approve or veto: group A by 09:25; group B by 09:50 ET on Mon 2024-03-11",
    ],
    "Scan FAILED for Mon 2024-03-11 (try 3)": ["market data unavailable"],
    "Gap filter Mon 2024-03-11: 1 passed, 1 dropped": [
        "EIX: gap -0.45% (trade) pass GAP_WITHIN_LIMIT",
        "VRSN: gap +6.57% (quote) DROP GAP_TOO_LARGE",
    ],
    "Entered EIX: short 120 @ 55.20": ["SL 58.20, TP 50.70; 1R = $360.00"],
    "Exited EIX (TAKE_PROFIT): P&L +$252.00, +0.70R": [
        "short 120 EIX: entry 55.20 on 2024-03-11, exit 53.10 at 2024-03-12 11:58 ET",
        "held 2 days",
    ],
    "KILL SWITCH engaged (DAILY_LOSS)": ["equity 97,900 <= 98,000", "No new entries"],
    "UNPROTECTED: UNH has no protective stop at the broker": ["protective stop rejected: 422"],
    "Reconciliation: 1 difference with the broker; new trades blocked": [
        "stop_missing: UNH (-20) has no protective stop"
    ],
    "Missed: group_b of Mon 2024-03-11": ["Its deadline 09:50 ET passed", "not confirmed"],
    "Connection lost: trading-stream down for 1 min 01 s": ["since 12:04:00 ET: socket closed"],
    "Connection restored: trading-stream after 2 min 11 s": ["trading-stream is connected"],
    "End of day Mon 2024-03-11: P&L -$519.21 (-0.52%)": [
        "Equity $99,480.79 (start $100,000.00)",
        "EIX TAKE_PROFIT +$252.00 +0.70R",
        "Missed steps: group_b",
    ],
}


def test_every_alert_reaches_json_and_mail_with_its_content(
    tmp_path: Path, sinks: tuple[JsonSink, MailSink]
) -> None:
    js, ms = sinks
    rig = Rig(tmp_path, [js.url(), ms.url()])
    try:
        publish_a_trading_day(rig.bus, rig)
        assert rig.notifier.drain(20.0)
        outcomes = rig.outbox.outcomes()
    finally:
        rig.close()
    assert len(outcomes) == len(EXPECTED) and set(outcomes.values()) == {"sent"}
    for sink in (js, ms):
        got = {m.title: m.body for m in sink.messages}
        assert set(got) == set(EXPECTED), sorted(got)
        assert len(sink.messages) == len(EXPECTED)  # each once, the first scan try not at all
        for title, lines in EXPECTED.items():
            for line in lines:
                assert line in got[title], (title, got[title])
    assert [m.title for m in js.messages] == list(EXPECTED)  # delivered in order
    assert {m.type for m in js.messages} >= {"info", "success", "failure", "warning"}
    assert ms.recipients[0] == ["trader@example.com"]


def test_switched_off_kinds_are_not_raised(
    tmp_path: Path, sinks: tuple[JsonSink, MailSink]
) -> None:
    js, _ = sinks
    off = dataclasses.replace(FAST, gap_results=False, connection=False, eod_summary=False)
    rig = Rig(tmp_path, [js.url()], off)
    try:
        publish_a_trading_day(rig.bus, rig)
        assert rig.notifier.drain(10.0)
    finally:
        rig.close()
    titles = js.titles()
    assert len(titles) == len(EXPECTED) - 4
    assert not [t for t in titles if t.startswith(("Gap filter", "Connection", "End of day"))]


def test_a_short_connection_blip_is_not_news() -> None:
    bus = EventBus()
    mono = [0.0]
    center = AlertCenter(bus, config, CAL, monotonic=lambda: mono[0])
    raised: list[Alert] = []
    bus.subscribe(AlertRaised, lambda ev: raised.append(ev.alert))
    bus.publish(ConnectionStateChanged(at(10, 0), "market-data", "degraded", "reconnecting"))
    mono[0] = 20.0
    center.check_connections()
    bus.publish(ConnectionStateChanged(at(10, 0, 20), "market-data", "connected"))
    assert raised == []  # 20 s < connection_lost_after_s (60 s)


def test_connection_lost_is_reported_by_the_loop_timer() -> None:
    """On a running loop nobody has to poll: the center's own timer reports it."""
    nc = dataclasses.replace(FAST, connection_lost_after_s=1.0)
    bus = EventBus()
    raised: list[Alert] = []
    bus.subscribe(AlertRaised, lambda ev: raised.append(ev.alert))

    async def scenario() -> None:
        AlertCenter(bus, lambda: config(nc), CAL)
        bus.publish(ConnectionStateChanged(at(10, 0), "trading", "down", "HTTP 503"))
        await asyncio.sleep(1.3)

    asyncio.run(scenario())
    assert [a.kind for a in raised] == [AlertKind.CONNECTION]
    assert raised[0].title == "Connection lost: trading down for 1 s"


def test_a_failing_channel_is_retried_with_backoff_and_reported_once(
    tmp_path: Path, sinks: tuple[JsonSink, MailSink]
) -> None:
    js, ms = sinks
    js.fail(4)  # the next four requests get HTTP 500
    rig = Rig(tmp_path, [js.url(), ms.url()])
    try:
        for i in range(3):
            alert = Alert(AlertKind.EXIT, f"k{i}", f"alert {i}", "body", Level.INFO, T0)
            rig.bus.publish(AlertRaised(T0, alert))
        assert ms.wait_for(3), "the healthy channel is not held up by the failing one"
        assert js.wait_for(lambda m: len(m) == 3, timeout=10)
        assert rig.notifier.drain(5.0)
    finally:
        rig.close()
    assert js.titles() == ["alert 0", "alert 1", "alert 2"]  # in order, each once
    assert js.requests == 7  # 4 refused (the backoff doubled each time), then 3 delivered
    warnings = [m for lvl, m in rig.notifier.reports if lvl == "WARNING"]
    assert len(warnings) == 1, rig.notifier.reports  # reported once, not per try
    assert f"notification channel {mask_url(js.url())} failed" in warnings[0]
    assert "error=500" in warnings[0]
    assert [lvl for lvl, _ in rig.notifier.reports] == ["WARNING", "INFO"]


def test_a_hanging_channel_never_blocks_the_publisher(tmp_path: Path, sinks) -> None:
    """The JSON endpoint holds every request until released: publishing still returns at
    once (the engines' loop never waits for a channel) and the mail channel still delivers."""
    js, ms = sinks
    release = threading.Event()
    handler = js.server.RequestHandlerClass
    original = handler.do_POST

    def held(self) -> None:  # type: ignore[no-untyped-def]
        release.wait(10)
        original(self)

    handler.do_POST = held  # type: ignore[method-assign]
    rig = Rig(tmp_path, [js.url(), ms.url()], dataclasses.replace(FAST, timeout_s=30.0))
    try:
        for i in range(3):
            alert = Alert(AlertKind.ENTRY, f"e{i}", f"entry {i}", "b", Level.INFO, T0)
            rig.bus.publish(AlertRaised(T0, alert))  # returns while the JSON send hangs
        assert ms.wait_for(3)
        assert js.messages == []  # the JSON channel is still stuck on the first one
        release.set()
        assert js.wait_for(lambda m: len(m) == 3)
    finally:
        release.set()
        rig.close()


def test_alerts_left_by_a_killed_run_go_out_at_the_next_start_once(
    tmp_path: Path, sinks: tuple[JsonSink, MailSink]
) -> None:
    js, _ = sinks
    urls = NotifyUrls((js.url(),), "env")
    # A run queued two alerts and died before sending them (no sender thread at all).
    dead = Notifier(urls, Outbox(tmp_path / "notify_outbox.db"), lambda: FAST)
    for key in ("eod:2024-03-11", "exit:5"):
        dead.submit(AlertRaised(T0, Alert(AlertKind.EXIT, key, key, "b", Level.INFO, T0)))
    dead.outbox.close()
    # The restarted run raises one of them again (its step ran again) and a new one.
    outbox = Outbox(tmp_path / "notify_outbox.db")
    notifier = Notifier(urls, outbox, lambda: FAST).start()
    for key in ("exit:5", "exit:6"):
        notifier.submit(AlertRaised(T0, Alert(AlertKind.EXIT, key, key, "b", Level.INFO, T0)))
    assert notifier.stop(5.0)
    outbox.close()
    assert js.titles() == ["eod:2024-03-11", "exit:5", "exit:6"]


def test_an_alert_never_delivered_is_dropped_after_the_limit(tmp_path: Path, sinks) -> None:
    js, _ = sinks
    js.fail(-1)
    now = [1000.0]
    cfg = dataclasses.replace(FAST, give_up_after_h=1.0)
    outbox = Outbox(tmp_path / "o.db", clock=lambda: now[0])
    notifier = Notifier(
        NotifyUrls((js.url(),), "env"), outbox, lambda: cfg, clock=lambda: now[0]
    ).start()
    notifier.submit(AlertRaised(T0, Alert(AlertKind.EXIT, "x", "x", "b", Level.INFO, T0)))
    assert not notifier.drain(0.5)  # failing: left for later
    now[0] += 3601.0  # an hour later
    notifier.wake()
    assert notifier.drain(5.0)
    notifier.stop(1.0)
    assert outbox.outcomes() == {"x": "dropped: not delivered within 1 h"}
    outbox.close()
    assert [lvl for lvl, _ in notifier.reports] == ["WARNING", "WARNING"]


def test_urls_are_never_shown() -> None:
    url = "tgram://123456:AAHsecretBotToken/987654"
    urls = NotifyUrls((url, "json://127.0.0.1:8080/hook?+X-Token=s3cr3tt0k3n"), "keyring")
    shown = repr(urls) + str(urls) + " ".join(urls.masked())
    for secret in ("AAHsecretBotToken", "123456", "987654", "s3cr3tt0k3n", "8080"):
        assert secret not in shown
    assert mask_url(url).startswith("tgram://… #")
    text = "error posting to https://api.telegram.org/bot123456:AAHsecretBotToken/sendMessage"
    assert "AAHsecretBotToken" not in redact(text, [url])


def test_urls_round_trip_through_a_real_keyring_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring

    from tests.file_keyring import ENV, FileKeyring

    monkeypatch.setenv(ENV, str(tmp_path / "keyring.json"))
    ring = FileKeyring()
    before = keyring.get_keyring()
    keyring.set_keyring(ring)
    monkeypatch.delenv("WORKSTATION_NOTIFY_URLS", raising=False)
    try:
        assert not load_urls()
        save_urls(["json://127.0.0.1:9/a", "json://127.0.0.1:9/a", "mailto://h?from=a@b&to=c@d"])
        got = load_urls()
        assert (got.urls, got.source) == (
            ("json://127.0.0.1:9/a", "mailto://h?from=a@b&to=c@d"),
            "keyring",
        )
        monkeypatch.setenv("WORKSTATION_NOTIFY_URLS", "json://127.0.0.1:9/env")
        assert load_urls().source == "env"  # the environment wins
        monkeypatch.delenv("WORKSTATION_NOTIFY_URLS")
        save_urls([])
        assert not load_urls()
    finally:
        keyring.set_keyring(before)


def test_connection_states_from_an_adapter_thread_are_timed_on_the_loop() -> None:
    """Alpaca's adapter publishes connection states from its worker threads: the center
    handles them on the engines' loop, where its timer reports the loss and the return."""
    nc = dataclasses.replace(FAST, connection_lost_after_s=0.3)
    bus = EventBus()
    raised: list[tuple[Alert, bool]] = []

    async def scenario() -> None:
        loop_thread = threading.get_ident()
        bus.subscribe(
            AlertRaised, lambda ev: raised.append((ev.alert, threading.get_ident() == loop_thread))
        )
        AlertCenter(bus, lambda: config(nc), CAL)
        down = ConnectionStateChanged(at(10, 0), "market-data", "down", "HTTP 503")
        await asyncio.to_thread(bus.publish, down)
        await asyncio.sleep(0.6)
        back = ConnectionStateChanged(at(10, 1), "market-data", "connected")
        await asyncio.to_thread(bus.publish, back)
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert [a.title.split(":")[0] for a, _ in raised] == ["Connection lost", "Connection restored"]
    assert all(on_loop for _, on_loop in raised)
