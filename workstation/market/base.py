"""The MarketData protocol: what every market (sim, replay, Alpaca) offers the engines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import pandas as pd

from workstation.core.bars import DailyBars
from workstation.core.models import Quote, Snapshot, TradeTick, Universe


class MarketDataError(RuntimeError):
    """A market could not answer; the message says what and what to do."""


@runtime_checkable
class MarketData(Protocol):
    name: str

    def universe(self) -> Universe:
        """The scanned symbols with sectors, and the benchmark (SPY)."""
        ...

    async def daily_bars(self, symbols: Sequence[str], end: date, sessions: int) -> DailyBars:
        """Split-adjusted daily bars of ``symbols`` for the ``sessions`` sessions ending at
        ``end`` (inclusive). Symbols without data are present with NaN columns."""
        ...

    async def minute_bars(
        self,
        symbol: str,
        session: date,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """Minute bars of one session, indexed by bar END time (tz-aware ET), columns
        open/high/low/close/volume; only bars already complete at the market's "now"."""
        ...

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> dict[str, Snapshot]:
        """Latest trade and quote before ``at``, previous close and (once open) the
        session's official open, per symbol."""
        ...

    def stream(self, symbols: Sequence[str]) -> AsyncIterator[Quote | TradeTick]:
        """Live quotes and trades of ``symbols`` until the iterator is closed."""
        ...


@runtime_checkable
class KnowsTradingSessions(Protocol):
    """A market that knows ahead whether a symbol trades in a session (the replay and the
    simulated markets hold every session's bar; a live feed cannot know)."""

    def not_trading(self, symbols: Sequence[str], session: date) -> dict[str, str]:
        """The symbols of ``symbols`` that do not trade in ``session``, with the reason of
        trading rules §14: ``no_volume``, ``invalid_bar``, ``duplicate_conflict``, ``spike``."""
        ...
