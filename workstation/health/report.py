"""A health report: the checks, the overall verdict and the exit code a scheduler reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from workstation.core.calendar import ET
from workstation.health.checks import Check, Status

#: ``workstation health`` exit codes (documented in docs/operations.md).
EXIT_CODES = {Status.OK: 0, Status.DEGRADED: 1, Status.FAILED: 2}

_MARK = {Status.OK: "ok      ", Status.DEGRADED: "DEGRADED", Status.FAILED: "FAILED  "}


@dataclass(frozen=True)
class HealthReport:
    at: datetime  # the engines' time the checks were made for
    checks: tuple[Check, ...]

    @staticmethod
    def of(at: datetime, checks: Sequence[Check]) -> HealthReport:
        return HealthReport(at, tuple(checks))

    @property
    def status(self) -> Status:
        return max((c.status for c in self.checks), key=lambda s: s.rank, default=Status.OK)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.status is not Status.OK]

    def summary(self) -> str:
        """One line: the verdict and the first problem."""
        bad = self.problems()
        if not bad:
            return f"healthy ({len(self.checks)} checks)"
        worst = max(bad, key=lambda c: c.status.rank)
        more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
        return f"{self.status}: {worst.name}: {worst.message}{more}"

    def as_dict(self) -> dict[str, object]:
        return {
            "status": str(self.status),
            "exit_code": self.exit_code,
            "at": self.at.astimezone(ET).isoformat(),
            "checks": [c.as_dict() for c in self.checks],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))

    def to_text(self) -> str:
        lines = [f"health at {self.at.astimezone(ET):%Y-%m-%d %H:%M:%S} ET: {self.status}"]
        for c in self.checks:
            lines.append(f"  {_MARK[c.status]} {c.name:<10} {c.message}")
            lines.extend(f"{'':22}- {d}" for d in c.details)
        return "\n".join(lines)


__all__ = ["EXIT_CODES", "HealthReport"]
