"""Orders, their status history and fills.

Write-before-act: an order row (status ``new``) is written before the order is sent, so after a
crash the deterministic ``client_order_id`` is found here and the order is reconciled with the
broker instead of being placed again. ``upsert_order`` records an ``order_events`` row for every
status change it makes (creation included); ``record_order_event`` is for other events worth
keeping (a replace request, a broker message) and does not change the order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlite_utils import Database

from workstation.store import convert as cv
from workstation.store.base import StoreCore
from workstation.store.rows import (
    INTENTS,
    ORDER_SIDES,
    ORDER_TYPES,
    TERMINAL_ORDER_STATUSES,
    TIFS,
    FillResult,
    FillRow,
    OrderEventRow,
    OrderRow,
    OrderUpsert,
)

log = logging.getLogger(__name__)

# What identifies an order: a second upsert with a different value for one of these means two
# different orders were given the same client id, which must never be papered over.
_IMMUTABLE = ("session", "symbol", "side", "intent", "order_type", "tif")
_REQUIRED_ON_CREATE = ("session", "symbol", "side", "qty", "order_type", "tif", "intent")


class OrdersRepo(StoreCore):
    def upsert_order(
        self,
        client_order_id: str,
        *,
        at: datetime,
        session: date | None = None,
        symbol: str | None = None,
        side: str | None = None,
        qty: float | None = None,
        order_type: str | None = None,
        tif: str | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        intent: str | None = None,
        strategy: str | None = None,
        candidate_id: int | None = None,
        position_id: int | None = None,
        status: str | None = None,
        broker_order_id: str | None = None,
        filled_qty: float | None = None,
        avg_fill_price: float | None = None,
        reject_reason: str | None = None,
        broker_status: str | None = None,
        event_detail: Mapping[str, Any] | None = None,
    ) -> OrderUpsert:
        """Create the order ``client_order_id`` or update the fields given (None = unchanged).

        Creating needs session, symbol, side, qty, order_type, tif and intent; ``status``
        defaults to ``new``. Updating may not change what identifies the order (session,
        symbol, side, intent, type, time in force): that raises ``ValueError``. A status change
        (and the creation) is recorded in ``order_events`` with ``event_detail``;
        ``broker_status`` (the broker's own word for the state) alone records no event.
        """
        given: dict[str, Any] = {}
        if session is not None:
            given["session"] = cv.day(session)
        if symbol is not None:
            given["symbol"] = cv.text(symbol)
        if side is not None:
            given["side"] = cv.choice("order side", side, ORDER_SIDES)
        if qty is not None:
            given["qty"] = cv.finite("qty", qty)
        if order_type is not None:
            given["order_type"] = cv.choice("order type", order_type, ORDER_TYPES)
        if tif is not None:
            given["tif"] = cv.choice("time in force", tif, TIFS)
        if limit_price is not None:
            given["limit_price"] = cv.finite("limit_price", limit_price)
        if stop_price is not None:
            given["stop_price"] = cv.finite("stop_price", stop_price)
        if intent is not None:
            given["intent"] = cv.choice("intent", intent, INTENTS)
        if strategy is not None:
            given["strategy"] = cv.text(strategy)
        if candidate_id is not None:
            given["candidate_id"] = cv.integer(candidate_id)
        if position_id is not None:
            given["position_id"] = cv.integer(position_id)
        if status is not None:
            given["status"] = cv.text(status)
        if broker_order_id is not None:
            given["broker_order_id"] = cv.text(broker_order_id)
        if filled_qty is not None:
            given["filled_qty"] = cv.finite("filled_qty", filled_qty)
        if avg_fill_price is not None:
            given["avg_fill_price"] = cv.finite("avg_fill_price", avg_fill_price)
        if reject_reason is not None:
            given["reject_reason"] = reject_reason
        if broker_status is not None:
            given["broker_status"] = cv.text(broker_status)
        at_text = cv.ts(at)
        detail = cv.opt_json(None if event_detail is None else dict(event_detail))

        with self._tx() as db:
            current = self._order_row(db, client_order_id)
            if current is None:
                missing = [k for k in _REQUIRED_ON_CREATE if k not in given]
                if missing:
                    raise ValueError(
                        f"order {client_order_id} does not exist yet; creating it needs "
                        + ", ".join(missing)
                    )
                record = {
                    "client_order_id": client_order_id,
                    "status": "new",
                    "filled_qty": 0.0,
                    **given,
                    "created_at": at_text,
                    "updated_at": at_text,
                }
                self._insert(db, "orders", record)
                self._event_in(db, client_order_id, None, record["status"], at_text, detail)
                created = True
            else:
                clashes = [
                    f"{k} {current[k]!r} -> {given[k]!r}"
                    for k in _IMMUTABLE
                    if k in given and given[k] != current[k]
                ]
                if clashes:
                    raise ValueError(
                        f"order {client_order_id} already exists with different "
                        + "; ".join(clashes)
                    )
                changes = {k: v for k, v in given.items() if v != current[k]}
                if changes:
                    changes["updated_at"] = at_text
                    sets = ", ".join(f"{k} = :{k}" for k in changes)
                    db.execute(
                        f"UPDATE orders SET {sets} WHERE client_order_id = :cid",
                        {**changes, "cid": client_order_id},
                    )
                if "status" in changes:
                    self._event_in(
                        db, client_order_id, current["status"], changes["status"], at_text, detail
                    )
                created = False
            row = self._order_row(db, client_order_id)
            assert row is not None
            return OrderUpsert(cv.from_row(OrderRow, row), created)

    def record_order_event(
        self,
        client_order_id: str,
        to_status: str,
        *,
        at: datetime,
        from_status: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> OrderEventRow:
        """Append an event to an order's history (the order itself is not changed)."""
        with self._tx() as db:
            if self._order_row(db, client_order_id) is None:
                raise KeyError(f"no order with client id {client_order_id}")
            event_id = self._event_in(
                db,
                client_order_id,
                from_status,
                cv.text(to_status),
                cv.ts(at),
                cv.opt_json(None if detail is None else dict(detail)),
            )
            row = next(iter(db.query("SELECT * FROM order_events WHERE id = ?", [event_id])))
            return cv.from_row(OrderEventRow, row)

    def order_by_client_id(self, client_order_id: str) -> OrderRow | None:
        with self._read() as db:
            row = self._order_row(db, client_order_id)
        return None if row is None else cv.from_row(OrderRow, row)

    def order_by_broker_id(self, broker_order_id: str) -> OrderRow | None:
        row = self._one("SELECT * FROM orders WHERE broker_order_id = ?", [broker_order_id])
        return None if row is None else cv.from_row(OrderRow, row)

    def open_orders(self) -> list[OrderRow]:
        """Orders that can still fill (status not in ``TERMINAL_ORDER_STATUSES``), oldest first."""
        marks = ", ".join("?" for _ in TERMINAL_ORDER_STATUSES)
        # NOT IN cannot search an index, so the open orders are found by walking the small
        # status index (id and status only), not every row of the table: the engine asks at
        # every decision, and a backtest's table grows by thousands of orders a year.
        rows = self._rows(
            "SELECT * FROM orders WHERE id IN "
            f"(SELECT id FROM orders WHERE status NOT IN ({marks})) ORDER BY id",
            list(TERMINAL_ORDER_STATUSES),
        )
        return [cv.from_row(OrderRow, r) for r in rows]

    def orders_for_session(self, session: date) -> list[OrderRow]:
        rows = self._rows("SELECT * FROM orders WHERE session = ? ORDER BY id", [cv.day(session)])
        return [cv.from_row(OrderRow, r) for r in rows]

    def order_events(self, client_order_id: str) -> list[OrderEventRow]:
        rows = self._rows(
            "SELECT * FROM order_events WHERE client_order_id = ? ORDER BY id", [client_order_id]
        )
        return [cv.from_row(OrderEventRow, r) for r in rows]

    # -- fills ---------------------------------------------------------------------------------
    def record_fill(
        self,
        fill_id: str,
        client_order_id: str,
        *,
        symbol: str,
        side: str,
        qty: float,
        price: float,
        at: datetime,
    ) -> FillResult:
        """Store a fill once per broker execution id.

        A fill already stored under ``fill_id`` is ignored and reported (``duplicate=True``,
        with the stored row); a duplicate whose content differs is also logged as a warning.
        A new fill updates the order's ``filled_qty`` and ``avg_fill_price`` (from all its
        fills) in the same transaction; the order's status is the caller's to set.
        """
        record = {
            "fill_id": cv.text(fill_id),
            "client_order_id": client_order_id,
            "symbol": cv.text(symbol),
            "side": cv.choice("fill side", side, ORDER_SIDES),
            "qty": cv.finite("fill qty", qty),
            "price": cv.finite("fill price", price),
            "at": cv.ts(at),
        }
        with self._tx() as db:
            existing = list(db.query("SELECT * FROM fills WHERE fill_id = ?", [record["fill_id"]]))
            if existing:
                stored = existing[0]
                differs = [k for k in record if stored[k] != record[k]]
                if differs:
                    log.warning(
                        "fill %s arrived again with different %s; kept the stored one",
                        fill_id,
                        ", ".join(differs),
                    )
                return FillResult(cv.from_row(FillRow, stored), duplicate=True)
            if self._order_row(db, client_order_id) is None:
                raise KeyError(
                    f"fill {fill_id} is for unknown order {client_order_id}: "
                    "write the order before acting on it"
                )
            fid = self._insert(db, "fills", record)
            db.execute(
                """
                UPDATE orders SET
                    filled_qty = (SELECT SUM(qty) FROM fills WHERE client_order_id = :cid),
                    avg_fill_price = (SELECT SUM(qty * price) / SUM(qty) FROM fills
                                      WHERE client_order_id = :cid),
                    updated_at = MAX(updated_at, :at)
                WHERE client_order_id = :cid
                """,
                {"cid": client_order_id, "at": record["at"]},
            )
            row = next(iter(db.query("SELECT * FROM fills WHERE id = ?", [fid])))
            return FillResult(cv.from_row(FillRow, row), duplicate=False)

    def fills_for_order(self, client_order_id: str) -> list[FillRow]:
        rows = self._rows(
            "SELECT * FROM fills WHERE client_order_id = ? ORDER BY at, id", [client_order_id]
        )
        return [cv.from_row(FillRow, r) for r in rows]

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _order_row(db: Database, client_order_id: str) -> dict[str, Any] | None:
        rows = list(db.query("SELECT * FROM orders WHERE client_order_id = ?", [client_order_id]))
        return rows[0] if rows else None

    def _event_in(
        self,
        db: Database,
        client_order_id: str,
        from_status: str | None,
        to_status: str,
        at_text: str,
        detail_json: str | None,
    ) -> int:
        return self._insert(
            db,
            "order_events",
            {
                "client_order_id": client_order_id,
                "from_status": from_status,
                "to_status": to_status,
                "at": at_text,
                "detail": detail_json,
            },
        )
