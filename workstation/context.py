"""Build what a command needs from the global options: paths, configuration, calendar,
clock and market. The GUI, the headless runner and the CLI commands share this."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.core.calendar import ET, TradingCalendar, get_calendar
from workstation.core.clock import Clock, SimClock, WallClock
from workstation.core.config import Config, SimConfig
from workstation.core.config_files import ConfigManager
from workstation.core.models import Universe
from workstation.core.paths import Paths
from workstation.errors import UserError
from workstation.home import open_home
from workstation.market.base import MarketData, MarketDataError

if TYPE_CHECKING:
    from workstation.alpaca.session import AlpacaSession

MAX_SPEED = 1e9  # app.yaml's way to say "max"; the clock takes math.inf


@dataclass
class Context:
    paths: Paths
    config: ConfigManager
    calendar: TradingCalendar
    market_spec: str
    universe_csv: str | None
    seed: int | None
    mode_arg: str | None = None
    live_confirmed: bool = False
    today: str | None = None  # overrides sim.today (``run --headless --from``)

    @property
    def cfg(self) -> Config:
        return self.config.current

    def sim_config(self) -> SimConfig:
        sim = self.cfg.app.sim
        if self.seed is not None:
            sim = dataclasses.replace(sim, seed=self.seed)
        if self.today is not None:
            sim = dataclasses.replace(sim, today=self.today)
        return sim

    def session_arg(self, raw: str, option: str) -> date:
        """A session date given on the command line (one clear line when it is not)."""
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise UserError(f"{option} {raw!r} is not a date: write it as YYYY-MM-DD") from None
        try:
            ok = self.calendar.is_session(day)
        except ValueError:
            cal = self.calendar
            raise UserError(
                f"{option} {day} is outside the sessions the workstation knows "
                f"({cal.first_session} .. {cal.last_session})"
            ) from None
        if not ok:
            raise UserError(f"{option} {day} is not an NYSE session (a weekend or a holiday)")
        return day

    def universe(self) -> Universe:
        """The universe of ``--universe`` (or scanner.yaml). On the simulated market only
        symbols it simulates (the S&P 500 members) may be listed: it would otherwise invent
        bars for a symbol it does not know."""
        from workstation.market.universe import UniverseError, sp500_universe, universe_from_csv

        bench = self.cfg.scanner.universe.benchmark
        source = self.universe_csv or self.cfg.scanner.universe.source
        try:
            if source == "sp500":
                return sp500_universe(bench)
            universe = universe_from_csv(Path(source).expanduser(), bench)
            if self.market_spec == "sim":
                known = sp500_universe(bench).sectors
                unknown = [s for s in universe.symbols if s not in known and s != bench]
                if unknown:
                    it = "it" if len(unknown) == 1 else "them"
                    raise UniverseError(
                        f"universe file {source}: the simulated market does not know "
                        f"{_some(unknown)} (it simulates the S&P 500 members); remove "
                        f"{it}, or trade {it} on "
                        "--market replay:PATH or alpaca"
                    )
            return universe
        except UniverseError as exc:
            raise UserError(str(exc)) from None

    def sim_clock(self, start: datetime | None = None) -> SimClock:
        """A simulated clock at ``start`` (default: the simulated 'today' at 00:00 ET, or the
        wall time when sim.today is empty)."""
        sim = self.sim_config()
        if start is None:
            start = (
                datetime.combine(date.fromisoformat(sim.today), time(0), ET)
                if sim.today
                else WallClock().now()
            )
        speed = math.inf if sim.speed >= MAX_SPEED else sim.speed
        return SimClock(start, speed=speed)

    @property
    def mode(self) -> str:
        """sim, paper or live: ``--mode``, else app.yaml's mode; with the Alpaca market the
        default is paper (never live without asking)."""
        mode = self.mode_arg or self.cfg.app.mode
        if self.market_spec == "alpaca" and mode not in ("paper", "live"):
            return "paper"
        return mode

    def confirm_live(self, ask: Callable[[str], str] | None = None) -> None:
        """Live trading needs an explicit confirmation: the user types LIVE."""
        if self.mode != "live" or self.live_confirmed:
            return
        if ask is None:
            if not sys.stdin.isatty():
                raise UserError(
                    "--mode live needs an explicit confirmation: run it in a "
                    "terminal and type LIVE when asked"
                )
            ask = input
        answer = ask("LIVE trading with real money on Alpaca. Type LIVE to continue: ")
        if answer.strip() != "LIVE":
            raise UserError("live trading not confirmed; nothing was sent")
        self.live_confirmed = True

    def alpaca_session(
        self, clock: Clock | None = None, bus: object | None = None
    ) -> AlpacaSession:
        """One Alpaca account session (keys from the environment or the keyring)."""
        from workstation.alpaca.session import AlpacaSession

        self.confirm_live()
        return AlpacaSession.from_config(
            self.cfg.app.alpaca,
            mode=self.mode,
            confirm_live=self.live_confirmed,
            clock=clock,
            bus=bus,
        )

    def clock(self) -> Clock:
        """The wall clock against a real broker; a simulated clock otherwise."""
        return WallClock() if self.market_spec == "alpaca" else self.sim_clock()

    def make_market(self, clock: Clock | None = None, store: object | None = None) -> MarketData:
        """The market of ``--market`` (or app.yaml): sim, replay:PATH[,BENCHMARK_PATH]."""
        spec = self.market_spec
        if spec == "sim":
            from workstation.market.sim import SimMarket

            return SimMarket(
                self.universe(), self.sim_config(), clock or self.sim_clock(), self.calendar
            )
        if spec.startswith("replay:"):
            from workstation.market.replay import ReplayMarket

            # replay:BARS or replay:BARS,BENCHMARK: the benchmark's bars may come from a
            # second file (the stocks' file of the shared data has no SPY).
            path, _, bench_path = spec.removeprefix("replay:").partition(",")
            if not path:
                raise UserError("--market replay:PATH needs the path of a CSV or Parquet file")
            universe = self.universe_csv
            if universe is None and self.cfg.scanner.universe.source != "sp500":
                universe = self.cfg.scanner.universe.source
            return ReplayMarket(
                Path(path).expanduser(),
                universe_csv=universe,
                benchmark_path=Path(bench_path).expanduser() if bench_path else None,
                clock=clock,
                benchmark=self.cfg.scanner.universe.benchmark,
            )
        if spec == "alpaca":
            from workstation.market.alpaca import AlpacaMarket

            return AlpacaMarket(
                self.alpaca_session(clock=clock),
                universe=self.universe(),
                bar_cache=store,
                calendar=self.calendar,
            )
        raise UserError(f"--market {spec!r} is not valid: use sim, replay:PATH or alpaca")


def open_context(args: argparse.Namespace) -> Context:
    paths, config = open_home(args)
    market = getattr(args, "market", None) or config.current.app.market
    return Context(
        paths,
        config,
        get_calendar(),
        market,
        getattr(args, "universe", None),
        getattr(args, "seed", None),
        getattr(args, "mode", None),
    )


def _some(items: list[str], n: int = 5) -> str:
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def command_line(args: argparse.Namespace) -> str:
    """The command as typed (``workstation.cli.main`` records it), for the instance lock."""
    return str(getattr(args, "command_line", "") or "workstation")


def market_error(exc: MarketDataError) -> UserError:
    return UserError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
