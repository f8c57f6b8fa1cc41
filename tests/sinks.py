"""Real notification endpoints on 127.0.0.1 for the tests: an HTTP server that takes apprise's
``json://`` POSTs and an SMTP server (aiosmtpd) that takes its ``mailto://`` mail. Both are
started and stopped by the tests (context managers), and record what arrived."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    title: str
    body: str
    type: str = ""


class JsonSink:
    """apprise ``json://127.0.0.1:PORT/hook``: records each POST; ``fail(n)`` answers the next
    ``n`` requests with HTTP 500 (``fail(-1)``: every request until ``fail(0)``)."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.requests = 0
        self.headers: list[dict[str, str]] = []
        self._fail = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with sink._lock:
                    sink.requests += 1
                    failing = sink._fail != 0
                    if sink._fail > 0:
                        sink._fail -= 1
                    if not failing:
                        doc = json.loads(raw)
                        sink.messages.append(
                            Received(doc.get("title", ""), doc.get("message", ""), doc.get("type"))
                        )
                        sink.headers.append(dict(self.headers))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def fail(self, n: int) -> None:
        with self._lock:
            self._fail = n

    def titles(self) -> list[str]:
        with self._lock:
            return [m.title for m in self.messages]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.messages)):
                    return True
            time.sleep(0.02)
        return False

    def start(self) -> JsonSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailSink:
    """An SMTP server (aiosmtpd) on 127.0.0.1; apprise's ``mailto://`` URL for it."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Received] = []
        self.recipients: list[list[str]] = []
        sink = self

        class Handler:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
                msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
                part = msg.get_body(preferencelist=("plain",))
                body = part.get_content() if part is not None else ""
                text = body.replace("\r\n", "\n").strip()
                sink.messages.append(Received(str(msg["Subject"] or ""), text))
                sink.recipients.append(list(envelope.rcpt_tos))
                return "250 Message accepted"

        last: Exception | None = None
        for _ in range(5):  # aiosmtpd needs a fixed port: take a free one, retry a race
            self.port = free_port()
            self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
            try:
                self.controller.start()
                break
            except Exception as exc:
                last = exc
        else:
            raise RuntimeError(f"aiosmtpd could not start: {last}")

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=bot@example.com&to=trader@example.com"

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= n:
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        self.controller.stop()


@contextmanager
def json_sink() -> Iterator[JsonSink]:
    sink = JsonSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@contextmanager
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink()
    try:
        yield sink
    finally:
        sink.stop()
