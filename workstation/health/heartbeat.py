"""The running engine's heartbeat: ``<data>/heartbeat.json``, for ``workstation health``.

A process that trades (the headless runner, the window) writes, every ``interval_s`` seconds
of wall time and after each step: its pid, mode and market, the wall time, the engines' time,
the time of the last price it received and the state of each connection. ``health`` (another
process) reads it to tell a running engine from a hung, killed or stopped one, and to judge
the market data. A clean stop writes a last beat with ``running: false``.

Written atomically (a temporary file renamed over it); a failed write is logged, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from workstation.core.events import ConnectionStateChanged, EventBus, TradeEvent
from workstation.engine.session_events import StepFinished
from workstation.health.checks import EngineBeat

log = logging.getLogger(__name__)

FILE_NAME = "heartbeat.json"
INTERVAL_S = 15.0


class Heartbeat:
    def __init__(
        self,
        path: Path,
        bus: EventBus,
        clock_now: Callable[[], datetime],
        *,
        mode: str,
        market: str,
        connections: dict[str, str] | None = None,
        interval_s: float = INTERVAL_S,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._now = clock_now
        self.mode = mode
        self.market = market
        self.interval_s = interval_s
        self._wall = wall
        self.last_trade_at: datetime | None = None
        self.connections: dict[str, str] = dict(connections or {})
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False
        self._unsubscribe = [
            bus.subscribe(TradeEvent, self._trade),
            bus.subscribe(ConnectionStateChanged, self._connection),
            bus.subscribe(StepFinished, lambda _ev: self.beat()),
        ]

    def _trade(self, ev: TradeEvent) -> None:
        self.last_trade_at = ev.trade.at  # every print: keep it trivial

    def _connection(self, ev: ConnectionStateChanged) -> None:
        self.connections[ev.component] = ev.state
        self.beat()

    def start(self) -> Heartbeat:
        """Beat now and then every ``interval_s`` on the running loop."""
        self.beat()
        self._schedule()
        return self

    def _schedule(self) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: beats on events only
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.interval_s, self._tick)

    def _tick(self) -> None:
        if self._stopped:
            return
        self.beat()
        self._schedule()

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self.beat(running=False)

    def beat(self, running: bool = True) -> None:
        if self._stopped and running:
            return
        doc = {
            "pid": os.getpid(),
            "mode": self.mode,
            "market": self.market,
            "wall": self._wall(),
            "clock": self._now().isoformat(),
            "running": running,
            "last_trade_at": None if self.last_trade_at is None else self.last_trade_at.isoformat(),
            "connections": self.connections,
        }
        try:
            write_atomic(self.path, json.dumps(doc, separators=(",", ":")))
        except OSError as exc:
            log.warning("heartbeat not written to %s: %s", self.path, exc)


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_beat(path: Path) -> EngineBeat | None:
    """The last beat, or None (no file, or unreadable: treated as no engine)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        last = doc.get("last_trade_at")
        return EngineBeat(
            pid=int(doc["pid"]),
            mode=str(doc.get("mode", "")),
            market=str(doc.get("market", "")),
            wall=float(doc["wall"]),
            clock=datetime.fromisoformat(doc["clock"]),
            running=bool(doc.get("running", False)),
            last_trade_at=None if not last else datetime.fromisoformat(last),
            connections={str(k): str(v) for k, v in (doc.get("connections") or {}).items()},
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


__all__ = ["FILE_NAME", "INTERVAL_S", "Heartbeat", "read_beat", "write_atomic"]
