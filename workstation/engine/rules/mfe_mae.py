"""Maximum favourable / adverse excursion (trading rules §13).

For every position, from fill to exit, on every price update: the maximum favourable (MFE)
and maximum adverse excursion (MAE), in price, in percent and in R
(``excursion / (sl_mult * atr14)``), with the times they happened. After a restart the gap
is filled in from minute bars (:func:`backfill`).

Conventions:

* Both start at the fill price at the fill time, so ``mfe >= 0`` and ``mae <= 0`` always.
* Percent and R are signed in the position's favour: a long at 100 that saw 97 has
  ``mae_pct = -0.03``; a short at 100 that saw 97 has ``mfe_pct = +0.03``.
  ``mfe_r = side.sign * (mfe_price - fill) / r_per_share`` (NaN if ``r_per_share`` is unusable).
* Ties keep the earlier time (the first moment the extreme was reached).
* Unusable prices (missing, NaN, <= 0) are ignored.
* Minute bars are stamped with their END time (shared data convention); an excursion found
  in a bar is timed at that end. :func:`backfill` takes the bars ending in ``(since, until]``:
  a bar that straddles ``since`` is included (its extreme may predate ``since`` by under a
  minute, while leaving it out could miss a minute of real excursion after a restart).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from workstation.core.models import Excursion, Side
from workstation.engine.rules.numeric import is_positive


@dataclass(frozen=True)
class Excursions:
    side: Side
    fill_price: float
    r_per_share: float  # one R: sl_mult * atr14
    mfe_price: float
    mfe_at: datetime
    mae_price: float
    mae_at: datetime
    updated_at: datetime  # the latest price taken into account

    @staticmethod
    def start(side: Side, fill_price: float, r_per_share: float, fill_at: datetime) -> Excursions:
        """The excursions at the fill: both at the fill price and time."""
        return Excursions(
            side, fill_price, r_per_share, fill_price, fill_at, fill_price, fill_at, fill_at
        )

    def _signed(self, p: float) -> float:
        return self.side.sign * (p - self.fill_price)

    def _r(self, p: float) -> float:
        if not is_positive(self.r_per_share):
            return math.nan
        return self._signed(p) / self.r_per_share

    @property
    def mfe(self) -> float:
        """Favourable excursion in price (>= 0)."""
        return self._signed(self.mfe_price)

    @property
    def mae(self) -> float:
        """Adverse excursion in price (<= 0)."""
        return self._signed(self.mae_price)

    @property
    def mfe_pct(self) -> float:
        return self._signed(self.mfe_price) / self.fill_price

    @property
    def mae_pct(self) -> float:
        return self._signed(self.mae_price) / self.fill_price

    @property
    def mfe_r(self) -> float:
        return self._r(self.mfe_price)

    @property
    def mae_r(self) -> float:
        return self._r(self.mae_price)

    def as_excursion(self) -> Excursion:
        """The store's :class:`~workstation.core.models.Excursion` (prices and times)."""
        return Excursion(self.mfe_price, self.mfe_at, self.mae_price, self.mae_at)

    def update(self, price: float | None, at: datetime) -> Excursions:
        """The excursions after a price seen at ``at``."""
        if not is_positive(price):
            return self
        assert price is not None
        return self._with(mfe=(price, at), mae=(price, at), seen=at)

    def _with(
        self,
        mfe: tuple[float, datetime] | None = None,
        mae: tuple[float, datetime] | None = None,
        seen: datetime | None = None,
    ) -> Excursions:
        """New extremes where ``mfe`` / ``mae`` strictly improve on the current ones."""
        mfe_price, mfe_at, mae_price, mae_at = (
            self.mfe_price,
            self.mfe_at,
            self.mae_price,
            self.mae_at,
        )
        changed = False
        if mfe is not None and self._signed(mfe[0]) > self._signed(mfe_price):
            mfe_price, mfe_at = mfe
            changed = True
        if mae is not None and self._signed(mae[0]) < self._signed(mae_price):
            mae_price, mae_at = mae
            changed = True
        updated = self.updated_at
        if seen is not None and seen > updated:
            updated, changed = seen, True
        if not changed:
            return self
        # The constructor, not dataclasses.replace: this runs on every quote of every position.
        return Excursions(
            self.side,
            self.fill_price,
            self.r_per_share,
            mfe_price,
            mfe_at,
            mae_price,
            mae_at,
            updated,
        )


def update_excursions(
    exc: Excursions | None,
    side: Side,
    fill_price: float,
    r_per_share: float,
    price: float | None,
    at: datetime,
    fill_at: datetime | None = None,
) -> Excursions:
    """``exc`` updated with ``price`` at ``at``; None starts from the fill (at ``fill_at``,
    or ``at`` when not given)."""
    if exc is None:
        exc = Excursions.start(side, fill_price, r_per_share, fill_at or at)
    elif exc.side is not side or exc.fill_price != fill_price:
        raise ValueError(
            f"excursions of a {exc.side} filled at {exc.fill_price} updated as a {side} "
            f"filled at {fill_price}"
        )
    return exc.update(price, at)


def backfill(
    exc: Excursions,
    minute_bars: pd.DataFrame,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Excursions:
    """``exc`` extended with the highs and lows of the minute bars ending in ``(since, until]``.

    ``minute_bars``: columns ``high`` and ``low``, a tz-aware DatetimeIndex of bar END times.
    ``since`` defaults to ``exc.updated_at`` (the last price recorded before the restart).
    """
    missing = {"high", "low"} - set(minute_bars.columns)
    if missing:
        raise ValueError(f"minute bars need columns 'high' and 'low'; missing {sorted(missing)}")
    if len(minute_bars) == 0:
        return exc
    idx = minute_bars.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise ValueError("minute bars need a tz-aware DatetimeIndex of bar end times")
    start = since if since is not None else exc.updated_at
    mask = idx > start
    if until is not None:
        mask &= idx <= until
    bars = minute_bars.loc[mask].sort_index(kind="stable")
    if len(bars) == 0:
        return exc
    highs = bars["high"].to_numpy(dtype=float)
    lows = bars["low"].to_numpy(dtype=float)
    highs = np.where(highs > 0, highs, np.nan)
    lows = np.where(lows > 0, lows, np.nan)
    times = bars.index
    # A long's favourable extreme is the highest high; a short's the lowest low (and the
    # reverse for adverse). nanargmax/nanargmin return the first (earliest) extreme.
    fav, adv = (highs, lows) if exc.side is Side.LONG else (lows, highs)
    pick_fav = np.nanargmax if exc.side is Side.LONG else np.nanargmin
    pick_adv = np.nanargmin if exc.side is Side.LONG else np.nanargmax

    mfe = mae = None
    if not np.all(np.isnan(fav)):
        i = int(pick_fav(fav))
        mfe = (float(fav[i]), times[i].to_pydatetime())
    if not np.all(np.isnan(adv)):
        i = int(pick_adv(adv))
        mae = (float(adv[i]), times[i].to_pydatetime())
    return exc._with(mfe=mfe, mae=mae, seen=times[-1].to_pydatetime())
