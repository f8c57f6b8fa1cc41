"""JSON-lines logs that rotate: one JSON object per line, for ``journalctl``-less servers,
log shippers and ``jq``.

Each line: ``ts`` (ISO time with offset, wall clock), ``level``, ``logger``, ``msg``, and
``exc`` (the traceback) when there is one. The file rotates at ``max_bytes`` and keeps
``backups`` old files (``run.jsonl.1`` is the newest old one).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
from datetime import datetime
from pathlib import Path

FILE_NAME = "run.jsonl"
MAX_BYTES = 5_000_000
BACKUPS = 5


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created)
            .astimezone()
            .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def json_log_handler(
    logs_dir: Path, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS
) -> logging.Handler:
    handler = logging.handlers.RotatingFileHandler(
        logs_dir / FILE_NAME, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handler.setFormatter(JsonLineFormatter())
    handler.setLevel(logging.INFO)
    return handler


__all__ = ["BACKUPS", "FILE_NAME", "MAX_BYTES", "JsonLineFormatter", "json_log_handler"]
