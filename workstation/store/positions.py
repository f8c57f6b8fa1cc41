"""Positions, closed trades and the MFE/MAE of each position.

``close_position`` turns an open position into a trade row in one transaction, computing the
bookkeeping numbers (P&L, percent, R) from the stored entry so that every trade row is
consistent with its position; the *decision* to exit and its reason come from the exit engine.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlite_utils import Database

from workstation.store import convert as cv
from workstation.store.base import StoreCore
from workstation.store.rows import EXIT_REASONS, SIDES, MfeMaeRow, PositionRow, TradeRow


class PositionsRepo(StoreCore):
    def open_position(
        self,
        *,
        symbol: str,
        side: str,
        qty: float,
        avg_entry: float,
        entry_session: date,
        entry_at: datetime,
        strategy: str,
        sl_mult: float,
        tp_mult: float,
        atr14: float,
        sl: float | None = None,
        tp: float | None = None,
        candidate_id: int | None = None,
        stop_client_order_id: str | None = None,
        at: datetime,
    ) -> PositionRow:
        """Record a new open position; ``ValueError`` if the symbol already has one."""
        symbol = cv.text(symbol)
        record = {
            "symbol": symbol,
            "side": cv.choice("position side", side, SIDES),
            "qty": cv.finite("qty", qty),
            "avg_entry": cv.finite("avg_entry", avg_entry),
            "entry_session": cv.day(entry_session),
            "entry_at": cv.ts(entry_at),
            "strategy": cv.text(strategy),
            "candidate_id": candidate_id,
            "sl": cv.opt_finite("sl", sl),
            "tp": cv.opt_finite("tp", tp),
            "sl_mult": cv.finite("sl_mult", sl_mult),
            "tp_mult": cv.finite("tp_mult", tp_mult),
            "atr14": cv.finite("atr14", atr14),
            "stop_client_order_id": stop_client_order_id,
            "status": "open",
            "updated_at": cv.ts(at),
        }
        if record["qty"] <= 0:
            raise ValueError(f"position qty must be positive, got {qty}")
        with self._tx() as db:
            clash = list(
                db.query("SELECT id FROM positions WHERE symbol = ? AND status = 'open'", [symbol])
            )
            if clash:
                raise ValueError(f"{symbol} already has an open position (id {clash[0]['id']})")
            pid = self._insert(db, "positions", record)
            return self._position(db, pid)

    def update_position(
        self,
        position_id: int,
        *,
        at: datetime,
        qty: float | None = None,
        avg_entry: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        stop_client_order_id: str | None = None,
    ) -> PositionRow:
        """Change the given fields of an open position (None = unchanged)."""
        changes: dict[str, Any] = {}
        if qty is not None:
            changes["qty"] = cv.finite("qty", qty)
            if changes["qty"] <= 0:
                raise ValueError(f"position qty must be positive, got {qty}; close it instead")
        if avg_entry is not None:
            changes["avg_entry"] = cv.finite("avg_entry", avg_entry)
        if sl is not None:
            changes["sl"] = cv.finite("sl", sl)
        if tp is not None:
            changes["tp"] = cv.finite("tp", tp)
        if stop_client_order_id is not None:
            changes["stop_client_order_id"] = stop_client_order_id
        changes["updated_at"] = cv.ts(at)
        with self._tx() as db:
            current = self._position(db, position_id)
            if current.status != "open":
                raise ValueError(f"position {position_id} is closed and cannot change")
            sets = ", ".join(f"{k} = :{k}" for k in changes)
            db.execute(
                f"UPDATE positions SET {sets} WHERE id = :id", {**changes, "id": position_id}
            )
            return self._position(db, position_id)

    def set_manual_levels(
        self,
        position_id: int,
        *,
        sl_manual: float | None,
        tp_manual: float | None,
        at: datetime,
    ) -> PositionRow:
        """Set the SL and TP the trader chose for an open position (None: the rule's level
        applies again). Both are written: the caller passes the levels in force after the move."""
        changes = {
            "sl_manual": cv.opt_finite("sl_manual", sl_manual),
            "tp_manual": cv.opt_finite("tp_manual", tp_manual),
            "updated_at": cv.ts(at),
        }
        for name in ("sl_manual", "tp_manual"):
            value = changes[name]
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a price above zero, got {value}")
        with self._tx() as db:
            current = self._position(db, position_id)
            if current.status != "open":
                raise ValueError(f"position {position_id} is closed and cannot change")
            db.execute(
                "UPDATE positions SET sl_manual = :sl_manual, tp_manual = :tp_manual, "
                "updated_at = :updated_at WHERE id = :id",
                {**changes, "id": position_id},
            )
            return self._position(db, position_id)

    def close_position(
        self,
        position_id: int,
        *,
        exit_price: float,
        exit_at: datetime,
        exit_session: date,
        exit_reason: str,
        days_held: int,
    ) -> TradeRow:
        """Close an open position into a trade row; returns the trade.

        ``pnl = (exit - entry) * qty`` (mirrored for shorts), ``pnl_pct`` relative to the entry
        value, ``r_multiple`` = P&L per share / (``sl_mult * atr14``); MFE/MAE are copied from
        the position's ``mfe_mae`` row when there is one. ``days_held`` counts sessions with
        the entry session as day 1 (the caller owns the calendar).
        """
        exit_price = cv.finite("exit_price", exit_price)
        reason = cv.choice("exit reason", exit_reason, EXIT_REASONS)
        exit_at_text = cv.ts(exit_at)
        with self._tx() as db:
            p = self._position(db, position_id)
            if p.status != "open":
                raise ValueError(f"position {position_id} is already closed")
            sign = 1.0 if p.side == "long" else -1.0
            per_share = sign * (exit_price - p.avg_entry)
            risk = p.sl_mult * p.atr14
            mm = list(db.query("SELECT * FROM mfe_mae WHERE position_id = ?", [position_id]))
            m = mm[0] if mm else {}
            trade = {
                "position_id": position_id,
                "candidate_id": p.candidate_id,
                "symbol": p.symbol,
                "side": p.side,
                "strategy": p.strategy,
                "qty": p.qty,
                "entry_price": p.avg_entry,
                "entry_at": cv.ts(p.entry_at),
                "entry_session": cv.day(p.entry_session),
                "exit_price": exit_price,
                "exit_at": exit_at_text,
                "exit_session": cv.day(exit_session),
                "exit_reason": reason,
                "pnl": per_share * p.qty,
                "pnl_pct": per_share / p.avg_entry,
                "r_multiple": per_share / risk if risk > 0 else 0.0,
                "days_held": cv.integer(days_held),
                "sl_mult": p.sl_mult,
                "atr14": p.atr14,
                **{
                    k: m.get(k)
                    for k in (
                        "mfe_price",
                        "mfe_pct",
                        "mfe_r",
                        "mfe_at",
                        "mae_price",
                        "mae_pct",
                        "mae_r",
                        "mae_at",
                    )
                },
            }
            tid = self._insert(db, "trades", trade)
            db.execute(
                "UPDATE positions SET status = 'closed', closed_at = ?, updated_at = ? "
                "WHERE id = ?",
                [exit_at_text, exit_at_text, position_id],
            )
            row = next(iter(db.query("SELECT * FROM trades WHERE id = ?", [tid])))
            return cv.from_row(TradeRow, row)

    def get_position(self, position_id: int) -> PositionRow | None:
        row = self._one("SELECT * FROM positions WHERE id = ?", [position_id])
        return None if row is None else cv.from_row(PositionRow, row)

    def open_positions(self) -> list[PositionRow]:
        rows = self._rows("SELECT * FROM positions WHERE status = 'open' ORDER BY id")
        return [cv.from_row(PositionRow, r) for r in rows]

    def positions_entered_since(self, at: datetime) -> list[PositionRow]:
        """Positions (open or closed) whose entry was at or after ``at``, oldest first."""
        rows = self._rows(
            "SELECT * FROM positions WHERE entry_at >= ? ORDER BY entry_at, id", [cv.ts(at)]
        )
        return [cv.from_row(PositionRow, r) for r in rows]

    def trades(self, start: date | None = None, end: date | None = None) -> list[TradeRow]:
        """Closed trades whose exit session is within [start, end], in exit order."""
        where, params = [], []
        if start is not None:
            where.append("exit_session >= ?")
            params.append(cv.day(start))
        if end is not None:
            where.append("exit_session <= ?")
            params.append(cv.day(end))
        sql = "SELECT * FROM trades"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._rows(sql + " ORDER BY exit_at, id", params)
        return [cv.from_row(TradeRow, r) for r in rows]

    def symbols_exited(self, session: date) -> set[str]:
        """Symbols with an exit in ``session`` (no same-day re-entry)."""
        rows = self._rows(
            "SELECT DISTINCT symbol FROM trades WHERE exit_session = ?", [cv.day(session)]
        )
        return {r["symbol"] for r in rows}

    # -- MFE / MAE -----------------------------------------------------------------------------
    def update_mfe_mae(
        self,
        position_id: int,
        *,
        mfe_price: float,
        mfe_pct: float,
        mfe_r: float,
        mfe_at: datetime,
        mae_price: float,
        mae_pct: float,
        mae_r: float,
        mae_at: datetime,
        last_price_at: datetime,
        at: datetime,
    ) -> MfeMaeRow:
        """Store the current excursions of a position (computed by the monitor)."""
        record = {
            "position_id": cv.integer(position_id),
            "mfe_price": cv.finite("mfe_price", mfe_price),
            "mfe_pct": cv.finite("mfe_pct", mfe_pct),
            "mfe_r": cv.finite("mfe_r", mfe_r),
            "mfe_at": cv.ts(mfe_at),
            "mae_price": cv.finite("mae_price", mae_price),
            "mae_pct": cv.finite("mae_pct", mae_pct),
            "mae_r": cv.finite("mae_r", mae_r),
            "mae_at": cv.ts(mae_at),
            "last_price_at": cv.ts(last_price_at),
            "updated_at": cv.ts(at),
        }
        cols = ", ".join(record)
        vals = ", ".join(f":{k}" for k in record)
        sets = ", ".join(f"{k} = excluded.{k}" for k in record if k != "position_id")
        with self._tx() as db:
            db.execute(
                f"INSERT INTO mfe_mae ({cols}) VALUES ({vals}) "
                f"ON CONFLICT (position_id) DO UPDATE SET {sets}",
                record,
            )
            row = next(iter(db.query("SELECT * FROM mfe_mae WHERE position_id = ?", [position_id])))
            return cv.from_row(MfeMaeRow, row)

    def get_mfe_mae(self, position_id: int) -> MfeMaeRow | None:
        row = self._one("SELECT * FROM mfe_mae WHERE position_id = ?", [position_id])
        return None if row is None else cv.from_row(MfeMaeRow, row)

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _position(db: Database, position_id: int) -> PositionRow:
        rows = list(db.query("SELECT * FROM positions WHERE id = ?", [position_id]))
        if not rows:
            raise KeyError(f"no position with id {position_id}")
        return cv.from_row(PositionRow, rows[0])
