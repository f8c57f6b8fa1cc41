"""Entries in the session (rules §9): the six checks in order with every rejection recorded,
group A market-on-open orders, the group B confirmation, SL/TP from the actual fill."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.session_rig import DAY1, SCAN, SessionRig, at, new_candidate, run
from workstation.core.models import Asset, OrderStatus
from workstation.engine.session_events import ConfirmationChecked, EntryRejected, EntrySubmitted


def _flat_tape(rig: SessionRig, symbol: str, price: float = 100.0, open_: float = 100.0) -> None:
    rig.market.tape(symbol, prev_close=price, open=open_, premarket=[(at("09:00"), price)])


def test_the_checks_run_in_order_and_every_rejection_is_recorded(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path, start=at("10:00", SCAN))
    cands = [
        new_candidate(1, "AAA"),  # held -> ALREADY_HELD [2]
        new_candidate(2, "CCC"),  # the third IT position -> entered
        new_candidate(3, "DDD", atr14=1e6),  # IT full -> SECTOR_CAP [4] (before its size [6])
        new_candidate(4, "NOS", side="short"),  # not shortable [5]
        new_candidate(5, "EEE", atr14=1e6),  # size under one share [6]
        new_candidate(6, "GGG"),  # entered (4 open + pending)
        new_candidate(7, "HHH"),  # entered (5)
        new_candidate(8, "III"),  # entered (6: the RANGING maximum)
        new_candidate(9, "JJJ", side="short"),  # MAX_POSITIONS [3] (before not shortable [5])
    ]
    rig.scan(cands, regime="RANGING")
    for s in ("AAA", "CCC", "DDD", "NOS", "EEE", "GGG", "HHH", "III", "JJJ"):
        _flat_tape(rig, s)

    async def scenario() -> None:
        await rig.hold("AAA", 50, 100.0)
        await rig.hold("BBB", 50, 100.0)
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.session.gap_filter(DAY1)
        await rig.session.enter_group_a(DAY1)
        await rig.session.stop()

    run(scenario())
    assert rig.rejections() == [
        ("AAA", "ALREADY_HELD", 2),
        ("DDD", "SECTOR_CAP", 4),
        ("NOS", "NOT_SHORTABLE", 5),
        ("EEE", "SIZE_BELOW_ONE", 6),
        ("JJJ", "MAX_POSITIONS", 3),
    ]
    events = rig.of_type(EntryRejected)
    assert [(e.symbol, e.reason, e.check) for e in events] == rig.rejections()
    assert "reaches the regime's maximum of 6" in events[-1].detail
    assert "already has 3 open + pending" in events[1].detail
    assert [o.symbol for o in rig.entry_orders()] == ["CCC", "GGG", "HHH", "III"]
    assert [e.symbol for e in rig.of_type(EntrySubmitted)] == ["CCC", "GGG", "HHH", "III"]
    submitted = rig.store.audit_log(action="entry.submitted", limit=None)
    assert all(r.at == at("09:25") and "shares" in r.detail["sizing"] for r in submitted)  # type: ignore[index]


def test_group_a_fills_at_the_open_and_sl_tp_come_from_the_fill(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path)
    rig.scan([new_candidate(1, "AAA", atr14=2.0, sl_mult=1.5, tp_mult=3.0)])
    # sized on the pre-market price 100; the official open is 102
    rig.market.tape("AAA", prev_close=100.0, open=102.0, premarket=[(at("09:00"), 100.0)])

    async def scenario() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.session.gap_filter(DAY1)
        await rig.session.enter_group_a(DAY1)
        [o] = rig.entry_orders()
        assert (o.status, o.tif) == ("accepted", "opg")
        await rig.until(at("09:30"))
        await rig.session.market_open(DAY1)
        await rig.session.stop()

    run(scenario())
    [o] = rig.entry_orders()
    assert (o.status, o.avg_fill_price) == ("filled", 102.0)
    [p] = rig.store.open_positions()
    assert (p.avg_entry, p.sl, p.tp) == (102.0, 99.0, 108.0)
    # 100,000 * 0.005 / (1.5 * 2) = 166, capped at 15% of equity / 100 = 150
    assert p.qty == 150
    [stop] = [x for x in rig.broker.open_orders_sync() if x.request.intent == "stop"]
    assert stop.request.stop_price == pytest.approx(102.0 * 0.93, abs=0.01)  # day 1: emergency


@pytest.mark.parametrize(
    ("side", "price", "confirmed"),
    [
        ("long", 99.7, True),  # exactly open * 0.997
        ("long", 99.69, False),
        ("short", 100.3, True),  # exactly open * 1.003
        ("short", 100.31, False),
    ],
    ids=["long-0.997-exactly", "long-below", "short-1.003-exactly", "short-above"],
)
def test_group_b_confirmation(tmp_path: Path, side: str, price: float, confirmed: bool) -> None:
    rig = SessionRig(tmp_path)
    (cid,) = rig.scan([new_candidate(1, "EEE", grp="B", side=side)])
    rig.market.tape(
        "EEE",
        prev_close=100.0,
        open=100.0,
        premarket=[(at("09:00"), 100.0)],
        prints=[(at("09:40"), 101.5), (at("09:50"), price), (at("09:55"), 98.0)],
    )

    async def scenario() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.session.gap_filter(DAY1)
        await rig.session.enter_group_a(DAY1)
        await rig.until(at("09:30"))
        await rig.session.market_open(DAY1)
        await rig.until(at("09:50:01"))
        await rig.session.enter_group_b(DAY1)
        await rig.session.stop()

    run(scenario())
    [ev] = rig.of_type(ConfirmationChecked)
    c = ev.confirmation
    assert (c.confirmed, c.price, c.open) == (confirmed, price, 100.0)
    [row] = rig.store.audit_log(action="entry.confirmation", limit=None)
    assert row.detail is not None
    assert (row.detail["price"], row.detail["open"], row.detail["confirmed"]) == (
        price,
        100.0,
        confirmed,
    )
    assert row.detail["threshold"] == pytest.approx(99.7 if side == "long" else 100.3)
    if confirmed:
        [o] = rig.entry_orders()
        assert (o.tif, o.status, o.avg_fill_price, o.candidate_id) == ("day", "filled", price, cid)
        [p] = rig.store.open_positions()
        sign = 1 if side == "long" else -1
        assert p.sl == pytest.approx(price - sign * 3.0)
        assert rig.rejections() == []
    else:
        assert rig.entry_orders() == []
        assert rig.rejections() == [("EEE", "NOT_CONFIRMED", 0)]
        assert (
            f"latest trade {price} vs official open 100.0" in rig.of_type(EntryRejected)[0].detail
        )


def test_a_broker_rejection_is_recorded(tmp_path: Path) -> None:
    assets = {"AAA": Asset("AAA", tradable=False)}
    rig = SessionRig(tmp_path, assets=assets)
    rig.scan([new_candidate(1, "AAA")])
    _flat_tape(rig, "AAA")

    async def scenario() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.session.gap_filter(DAY1)
        await rig.session.enter_group_a(DAY1)
        await rig.session.stop()

    run(scenario())
    [o] = rig.entry_orders()  # written before it was sent, then rejected
    assert (o.status, o.reject_reason) == (OrderStatus.REJECTED, "asset AAA is not tradable")
    assert rig.rejections() == [("AAA", "BROKER_REJECTED", 0)]
    assert "not tradable" in rig.of_type(EntryRejected)[0].detail


def test_a_rejection_on_the_stream_is_recorded_as_one_in_the_answer(tmp_path: Path) -> None:
    """Issue 12.8: the broker accepts the market-on-open order, then rejects it (Alpaca's
    trade stream "rejected"): the candidate's rejection, the order's audit row and the
    events are those of a rejection in the answer (the test above)."""
    rig = SessionRig(tmp_path)
    rig.scan([new_candidate(1, "AAA")])
    _flat_tape(rig, "AAA")

    async def scenario() -> None:
        await rig.start()
        await rig.until(at("09:25"))
        await rig.session.premarket(DAY1)
        await rig.session.gap_filter(DAY1)
        [sent] = await rig.session.enter_group_a(DAY1)
        assert sent.status is OrderStatus.ACCEPTED
        rig.broker.reject_resting(sent.client_order_id, "asset AAA is not tradable", at("09:26"))
        await rig.session.stop()

    run(scenario())
    [o] = rig.entry_orders()
    assert (o.status, o.reject_reason) == (OrderStatus.REJECTED, "asset AAA is not tradable")
    assert rig.rejections() == [("AAA", "BROKER_REJECTED", 0)]
    [ev] = rig.of_type(EntryRejected)
    assert ev.detail == "the broker rejected it: asset AAA is not tradable"
    [row] = rig.store.audit_log(action="order.rejected", limit=None)
    assert row.detail == {"reason": "asset AAA is not tradable"}


def test_group_a_is_never_sent_after_0928(tmp_path: Path) -> None:
    rig = SessionRig(tmp_path)
    rig.scan([new_candidate(1, "AAA")])
    _flat_tape(rig, "AAA")

    async def scenario() -> None:
        await rig.start()
        await rig.until(at("09:28:01"))  # e.g. a slow step: the window is over
        await rig.session.premarket(DAY1)
        await rig.session.gap_filter(DAY1)
        await rig.session.enter_group_a(DAY1)
        await rig.session.stop()

    run(scenario())
    assert rig.entry_orders() == []
    assert rig.rejections() == [("AAA", "WINDOW_MISSED", 0)]


@pytest.mark.parametrize(
    ("why", "reason"),
    [
        pytest.param("no_volume", "NO_VOLUME", id="zero-volume-session"),
        pytest.param("spike", "SPIKE", id="a-spike-bar-is-not-served"),
        pytest.param("invalid_bar", "INVALID_BAR", id="an-invalid-bar-is-not-served"),
    ],
)
def test_no_entry_in_a_session_the_symbol_does_not_trade(
    tmp_path: Path, why: str, reason: str
) -> None:
    """§14 (issue 12: "a zero-volume day still filled an entry"): group A and group B."""
    rig = SessionRig(tmp_path)
    rig.scan([new_candidate(1, "AAA"), new_candidate(2, "EEE", grp="B"), new_candidate(3, "GGG")])
    for s in ("AAA", "EEE", "GGG"):
        rig.market.tape(
            s,
            prev_close=100.0,
            open=100.0,
            premarket=[(at("09:00"), 100.0)],
            prints=[(at("09:45"), 100.0)],
        )
    rig.market.no_trade[("AAA", DAY1)] = why
    rig.market.no_trade[("EEE", DAY1)] = why
    rig.market.no_trade[("AAA", SCAN)] = "no_volume"  # another session: no matter
    run(rig.entry_steps())
    assert rig.rejections() == [("AAA", reason, 0), ("EEE", reason, 0)]
    assert [o.symbol for o in rig.entry_orders()] == ["GGG"]
    details = [e.detail for e in rig.of_type(EntryRejected)]
    assert all(DAY1.isoformat() in d for d in details)


def test_a_stop_rejected_on_the_stream_is_a_protection_problem_and_is_put_back(
    tmp_path: Path,
) -> None:
    """Issue 12.8: a resting protective stop the broker rejects later is reported as one
    refused in the answer is (audit ``protection.problem``, rejected) and placed again."""
    rig = SessionRig(tmp_path, start=at("10:00"))

    async def scenario() -> None:
        await rig.start()
        await rig.hold("AAA", 100, 100.0)
        [stop] = [o for o in await rig.broker.open_orders() if o.request.intent == "stop"]
        rig.broker.reject_resting(stop.client_order_id, "wash trade", at("10:01"))
        await rig.session.book.settle()
        await rig.session.stop()

    run(scenario())
    [problem] = rig.store.audit_log(action="protection.problem", limit=None)
    assert problem.detail is not None and problem.detail["rejected"] is True
    assert "not placed: wash trade" in problem.detail["detail"]
    stops = [o for o in rig.store.orders_for_session(DAY1) if o.intent == "stop"]
    assert [o.status for o in stops] == ["rejected", "accepted"]  # put back
