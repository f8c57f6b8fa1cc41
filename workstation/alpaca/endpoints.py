"""Where the Alpaca clients connect: Alpaca's defaults, app.yaml settings, environment overrides.

For each endpoint the first non-empty value wins:

1. the environment: ``APCA_API_BASE_URL`` (trading REST), ``APCA_API_DATA_URL`` (data REST),
   ``APCA_API_STREAM_URL`` (market-data websocket, full URL), ``APCA_API_TRADING_STREAM_URL``
   (trade-updates websocket, full URL) -- so the app can be pointed at the fake Alpaca;
2. ``app.yaml``'s ``alpaca`` block (:class:`~workstation.core.config.AlpacaConfig`);
3. Alpaca's default for the mode (paper or live) and the data feed.

REST base URLs are given without ``/v2`` (alpaca-py appends it); a trailing ``/v2`` or ``/``
is removed. Live trading needs ``confirm_live=True``: without it, :func:`resolve_endpoints`
raises :class:`~workstation.alpaca.errors.LiveTradingNotConfirmed`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from workstation.alpaca.errors import AlpacaConfigError, LiveTradingNotConfirmed
from workstation.core.config import AlpacaConfig

PAPER_TRADING_URL = "https://paper-api.alpaca.markets"
LIVE_TRADING_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
DATA_STREAM_URL = "wss://stream.data.alpaca.markets/v2/{feed}"
PAPER_TRADING_STREAM_URL = "wss://paper-api.alpaca.markets/stream"
LIVE_TRADING_STREAM_URL = "wss://api.alpaca.markets/stream"

ENV_TRADING_URL = "APCA_API_BASE_URL"
ENV_DATA_URL = "APCA_API_DATA_URL"
ENV_STREAM_URL = "APCA_API_STREAM_URL"
ENV_TRADING_STREAM_URL = "APCA_API_TRADING_STREAM_URL"

FEEDS = ("iex", "sip")


@dataclass(frozen=True)
class Endpoints:
    trading_url: str
    data_url: str
    stream_url: str
    trading_stream_url: str
    feed: str = "iex"
    live: bool = False

    @property
    def mode(self) -> str:
        return "live" if self.live else "paper"


def _rest_base(url: str, what: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/v2"):
        url = url[: -len("/v2")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AlpacaConfigError(
            f"{what} {url!r} is not an http(s) URL; expected e.g. {PAPER_TRADING_URL}"
        )
    return url


def _ws_url(url: str, what: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise AlpacaConfigError(
            f"{what} {url!r} is not a ws(s) URL; expected e.g. {PAPER_TRADING_STREAM_URL}"
        )
    return url


def resolve_endpoints(
    config: AlpacaConfig | None = None,
    mode: str = "paper",
    *,
    confirm_live: bool = False,
    env: Mapping[str, str] | None = None,
) -> Endpoints:
    """The endpoints for ``mode`` ("paper" or "live") from env, config and defaults."""
    cfg = config or AlpacaConfig()
    environ = os.environ if env is None else env
    if mode not in ("paper", "live"):
        raise AlpacaConfigError(f"Alpaca mode {mode!r} is not valid: use 'paper' or 'live'")
    live = mode == "live"
    if live and not confirm_live:
        raise LiveTradingNotConfirmed(
            "live trading places real orders with real money and needs the user's explicit "
            "confirmation (confirm_live=True); without it, use --mode paper"
        )
    if cfg.feed not in FEEDS:
        raise AlpacaConfigError(f"alpaca.feed {cfg.feed!r} is not valid: use 'iex' or 'sip'")

    def pick(env_name: str, configured: str, default: str) -> tuple[str, str]:
        value = environ.get(env_name, "").strip()
        if value:
            return value, f"environment variable {env_name}"
        if configured.strip():
            return configured, "app.yaml alpaca setting"
        return default, "default"

    trading, w1 = pick(
        ENV_TRADING_URL, cfg.trading_url, LIVE_TRADING_URL if live else PAPER_TRADING_URL
    )
    data, w2 = pick(ENV_DATA_URL, cfg.data_url, DATA_URL)
    stream, w3 = pick(ENV_STREAM_URL, cfg.stream_url, DATA_STREAM_URL.format(feed=cfg.feed))
    tstream, w4 = pick(
        ENV_TRADING_STREAM_URL,
        cfg.trading_stream_url,
        LIVE_TRADING_STREAM_URL if live else PAPER_TRADING_STREAM_URL,
    )
    return Endpoints(
        trading_url=_rest_base(trading, f"the trading URL ({w1})"),
        data_url=_rest_base(data, f"the data URL ({w2})"),
        stream_url=_ws_url(stream, f"the market-data stream URL ({w3})"),
        trading_stream_url=_ws_url(tstream, f"the trading stream URL ({w4})"),
        feed=cfg.feed,
        live=live,
    )
