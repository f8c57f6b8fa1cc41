"""Fault switches of the fake Alpaca. All are off until a test turns them on."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fake_alpaca.wire import RATE_LIMITED, error_body

# What Alpaca's load balancer answers for gateway errors: HTML, not JSON (APIError.code then
# raises, which an integration must survive).
_HTML_BODIES = {
    502: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
    503: "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n",
    504: "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    "<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n",
}


@dataclass
class CannedResponse:
    status: int
    body: Any  # dict -> JSON, str -> sent as is
    content_type: str


@dataclass
class _Rule:
    count: int
    response: CannedResponse
    path_prefix: str | None


@dataclass
class OrderRejection:
    message: str
    status: int
    code: int
    via: str  # "http": the POST fails; "stream": accepted, then a "rejected" trade update


@dataclass
class PartialPlan:
    symbol: str | None
    pieces: list[float] | float
    stepwise: bool


@dataclass
class Faults:
    rules: list[_Rule] = field(default_factory=list)
    slow_seconds: float = 0.0
    slow_prefix: str | None = None
    silenced: bool = False
    connection_limited: bool = False
    forbidden: bool = False
    rejections: deque[OrderRejection] = field(default_factory=deque)
    partial_plans: list[PartialPlan] = field(default_factory=list)
    submit_delays: deque[float] = field(default_factory=deque)
    per_minute: int | None = None
    _window: deque[float] = field(default_factory=deque)

    def add_rule(self, n: int, response: CannedResponse, path_prefix: str | None) -> None:
        if n < 0:
            raise ValueError("n must be >= 0")
        if n:
            self.rules.append(_Rule(n, response, path_prefix))

    def take_canned(self, path: str) -> CannedResponse | None:
        """The next forced error for a request to ``path``, consuming one use of its rule."""
        for rule in self.rules:
            if rule.path_prefix is None or path.startswith(rule.path_prefix):
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
                return rule.response
        return None

    def delay_for(self, path: str) -> float:
        if self.slow_seconds and (self.slow_prefix is None or path.startswith(self.slow_prefix)):
            return self.slow_seconds
        return 0.0

    def over_rate_limit(self) -> bool:
        """Alpaca's 200 requests per minute, when enabled: a sliding 60 s window."""
        if self.per_minute is None:
            return False
        now = time.monotonic()
        while self._window and now - self._window[0] >= 60.0:
            self._window.popleft()
        if len(self._window) >= self.per_minute:
            return True
        self._window.append(now)
        return False

    def rate_remaining(self) -> int:
        limit = self.per_minute or 200
        return max(0, limit - len(self._window))

    def take_partial_plan(self, symbol: str) -> tuple[list[float] | float, bool] | None:
        for plan in self.partial_plans:
            if plan.symbol is None or plan.symbol == symbol:
                self.partial_plans.remove(plan)
                return plan.pieces, plan.stepwise
        return None


def rate_limited_response() -> CannedResponse:
    return CannedResponse(429, RATE_LIMITED, "application/json")


def failure_response(status: int, body: Any | None) -> CannedResponse:
    if body is not None:
        kind = "application/json" if isinstance(body, dict) else "text/html"
        return CannedResponse(status, body, kind)
    if status in _HTML_BODIES:
        return CannedResponse(status, _HTML_BODIES[status], "text/html")
    return CannedResponse(
        status,
        error_body(status * 100000 + 10000, "internal server error occurred"),
        "application/json",
    )
