"""FakeAlpacaServer: REST and both websockets on one loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

from aiohttp import web

from tests.fake_alpaca.rest import RestApi
from tests.fake_alpaca.state import FakeAlpacaState
from tests.fake_alpaca.streams import DATA_FEEDS, StreamHub

TRADING_STREAM_PATH = "/stream"


class FakeAlpacaServer:
    """Serves ``state`` on http://HOST:PORT (REST), ws://HOST:PORT/v2/{feed} (market data) and
    ws://HOST:PORT/stream (trade updates). ``port=0`` picks a free port."""

    def __init__(
        self, state: FakeAlpacaState | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.state = state if state is not None else FakeAlpacaState()
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._hub: StreamHub | None = None
        self._ticker: asyncio.Task[None] | None = None

    # ---- addresses ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """For TradingClient/StockHistoricalDataClient ``url_override`` (no ``/v2``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def data_stream_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v2/iex"

    @property
    def sip_stream_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v2/sip"

    @property
    def trading_stream_url(self) -> str:
        return f"ws://{self.host}:{self.port}{TRADING_STREAM_PATH}"

    @property
    def key_id(self) -> str:
        return self.state.key_id

    @property
    def secret_key(self) -> str:
        return self.state.secret_key

    def env(self) -> dict[str, str]:
        """The environment variables that point the app at this server."""
        return {
            "APCA_API_BASE_URL": self.base_url,
            "APCA_API_DATA_URL": self.base_url,
            "APCA_API_STREAM_URL": self.data_stream_url,
            "APCA_API_TRADING_STREAM_URL": self.trading_stream_url,
            "APCA_API_KEY_ID": self.key_id,
            "APCA_API_SECRET_KEY": self.secret_key,
        }

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> FakeAlpacaServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(target=self._run, name="fake-alpaca", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("fake Alpaca server did not start in time")
        if self._error is not None:
            raise RuntimeError(f"fake Alpaca server failed to start: {self._error}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FakeAlpacaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # reported to start() rather than lost in the thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            # Handlers still sleeping (slow(), submit_timeout_once()) are cancelled, not leaked.
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.close()

    async def _startup(self) -> None:
        loop = asyncio.get_running_loop()
        hub = StreamHub(self.state, loop)
        ws_paths = {f"/v2/{feed}" for feed in DATA_FEEDS} | {TRADING_STREAM_PATH}
        api = RestApi(self.state, ws_paths)
        app = web.Application(middlewares=[api.middleware], client_max_size=16 * 1024 * 1024)
        app.add_routes(
            [web.get(path, hub.data_handler) for path in sorted(ws_paths - {TRADING_STREAM_PATH})]
        )
        app.add_routes([web.get(TRADING_STREAM_PATH, hub.trading_handler)])
        app.add_routes(api.routes())
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.25)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner
        self._hub = hub
        self.state.attach(hub.sinks())
        self._ticker = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        # A running clock crosses session boundaries on its own: notice them even when idle.
        while True:
            await asyncio.sleep(0.25)
            with contextlib.suppress(Exception):
                self.state.sync()

    async def _shutdown(self) -> None:
        self.state.attach(None)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._hub is not None:
            await self._hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
