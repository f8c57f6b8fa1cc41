"""Where a version of a configuration file came from (e.g. "optimize search 2026...-ab12").

A save may name its origin: the parameters an Optimize window's search chose, applied by the
user. The record is kept beside the file's history (``<history>/origins.jsonl``, one JSON
object a line) and keyed by the SHA-256 of the text that was saved, not by a time stamp:
a version shows its origin exactly while its text is the one saved (also when it is restored
from the history later), and never after the file was edited, in the editor or by hand.
Nothing here is read by the engine; it is the history's caption.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

ORIGINS_FILE = "origins.jsonl"


def text_digest(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def record_origin(history_dir: Path, filename: str, text: str, origin: str) -> None:
    """Note that ``text``, saved as ``filename``, came from ``origin`` (one line, appended)."""
    history_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {
            "file": filename,
            "sha256": text_digest(text),
            "origin": " ".join(origin.split()),  # one line whatever it was given
            "at": datetime.now().astimezone().isoformat(timespec="seconds"),
        },
        ensure_ascii=False,
    )
    with open(history_dir / ORIGINS_FILE, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def origins(history_dir: Path, filename: str) -> dict[str, str]:
    """SHA-256 of a saved text -> its origin, for ``filename`` (the latest record wins).

    A damaged line (a crash half-way through an append) is skipped: a caption is lost, never
    the history."""
    path = history_dir / ORIGINS_FILE
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, UnicodeDecodeError):
        return out
    for line in lines:
        try:
            rec = json.loads(line)
            if rec["file"] == filename:
                out[str(rec["sha256"])] = str(rec["origin"])
        except (ValueError, KeyError, TypeError):
            continue
    return out


def origin_of(history_dir: Path, filename: str, version: Path) -> str | None:
    """The origin of the file at ``version`` (the current file or a history copy), if any."""
    try:
        data = version.read_bytes()
    except OSError:
        return None
    return origins(history_dir, filename).get(text_digest(data))


__all__ = ["ORIGINS_FILE", "origin_of", "origins", "record_origin", "text_digest"]
