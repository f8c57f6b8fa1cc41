"""The order state machine: every legal move works, every illegal one raises."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from workstation.core.models import (
    LEGAL_TRANSITIONS,
    Fill,
    IllegalTransition,
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    client_order_id,
)

ET = ZoneInfo("America/New_York")
T0 = datetime(2024, 3, 11, 9, 30, tzinfo=ET)
S = OrderStatus

LEGAL = [
    (S.NEW, S.ACCEPTED),
    (S.NEW, S.PARTIALLY_FILLED),
    (S.NEW, S.FILLED),
    (S.NEW, S.CANCELED),
    (S.NEW, S.REJECTED),
    (S.NEW, S.EXPIRED),
    (S.ACCEPTED, S.PARTIALLY_FILLED),
    (S.ACCEPTED, S.FILLED),
    (S.ACCEPTED, S.CANCELED),
    (S.ACCEPTED, S.EXPIRED),
    (S.ACCEPTED, S.REJECTED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.EXPIRED),
]
ALL_PAIRS = [(a, b) for a in S for b in S]
ILLEGAL = [p for p in ALL_PAIRS if p not in LEGAL]


def order(status: OrderStatus = S.NEW, qty: int = 10) -> Order:
    req = OrderRequest("cid-1", "AAPL", OrderSide.BUY, qty)
    return Order(req, status=status)


def test_table_matches_the_declared_transitions() -> None:
    declared = {(a, b) for a, tos in LEGAL_TRANSITIONS.items() for b in tos}
    assert declared == set(LEGAL)


@pytest.mark.parametrize(("src", "dst"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_legal_moves(src: OrderStatus, dst: OrderStatus) -> None:
    moved = order(src).transition(dst, at=T0)
    assert moved.status is dst
    assert moved.updated_at == T0


@pytest.mark.parametrize(("src", "dst"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_moves_raise(src: OrderStatus, dst: OrderStatus) -> None:
    with pytest.raises(IllegalTransition, match=f"from {src} to {dst}"):
        order(src).transition(dst)


@pytest.mark.parametrize("status", [S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED])
def test_terminal_states_are_terminal(status: OrderStatus) -> None:
    assert status.is_terminal and not status.is_open
    assert LEGAL_TRANSITIONS[status] == frozenset()


def fill(qty: int, price: float, n: int = 1) -> Fill:
    return Fill(f"f{n}", "cid-1", "AAPL", OrderSide.BUY, qty, price, T0)


def test_partial_fills_average_and_complete() -> None:
    o = order(S.ACCEPTED, qty=10).with_fill(fill(4, 100.0, 1))
    assert (o.status, o.filled_qty, o.remaining_qty) == (S.PARTIALLY_FILLED, 4, 6)
    o = o.with_fill(fill(6, 101.0, 2))
    assert o.status is S.FILLED
    assert o.avg_fill_price == pytest.approx((4 * 100.0 + 6 * 101.0) / 10)


def test_overfill_and_fill_after_cancel_are_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        order(S.ACCEPTED, qty=5).with_fill(fill(6, 1.0))
    with pytest.raises(ValueError):
        order(S.CANCELED, qty=5).with_fill(fill(5, 1.0))


def test_request_validation() -> None:
    with pytest.raises(ValueError, match="positive"):
        OrderRequest("c", "AAPL", OrderSide.BUY, 0)
    with pytest.raises(ValueError, match="stop price"):
        OrderRequest("c", "AAPL", OrderSide.SELL, 1, type=OrderType.STOP)


def test_client_order_id_is_deterministic_and_distinct() -> None:
    d = date(2024, 3, 11)
    a = client_order_id(d, "AAPL", "rsi_reversion", OrderIntent.ENTRY)
    assert a == client_order_id(d, "AAPL", "rsi_reversion", "entry")
    others = {
        client_order_id(date(2024, 3, 12), "AAPL", "rsi_reversion", OrderIntent.ENTRY),
        client_order_id(d, "MSFT", "rsi_reversion", OrderIntent.ENTRY),
        client_order_id(d, "AAPL", "bb_squeeze", OrderIntent.ENTRY),
        client_order_id(d, "AAPL", "rsi_reversion", OrderIntent.STOP),
        client_order_id(d, "AAPL", "rsi_reversion", OrderIntent.ENTRY, seq=1),
    }
    assert a not in others and len(others) == 5
    assert len(a) <= 48
