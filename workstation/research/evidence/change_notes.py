"""A change preview kept with the parameter versions it was run for (issue 11.2).

Saving a file keeps its previous version in the history folder
(``<stem>.<stamp>.yaml``, :func:`workstation.core.config_files.atomic_write`): that version
stands for the change made at ``<stamp>``. The preview the user ran before saving is written
beside it as ``<stem>.<stamp>.preview.json`` (the history's listing and pruning read only
``*.yaml``), so the History tab can say what each change was expected to do. A preview whose
version was pruned is removed with it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SUFFIX = ".preview.json"


def preview_path(version: Path) -> Path:
    return version.with_name(version.name.removesuffix(".yaml") + SUFFIX)


def keep_preview(versions: Iterable[Path], doc: Mapping[str, Any]) -> list[Path]:
    """Write ``doc`` beside each saved version (atomically); drop previews whose version is
    gone. Returns the files written."""
    written = []
    for version in versions:
        path = preview_path(version)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, allow_nan=False, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(path)
        for orphan in path.parent.glob(f"*{SUFFIX}"):
            if not orphan.with_name(orphan.name.removesuffix(SUFFIX) + ".yaml").exists():
                orphan.unlink(missing_ok=True)
    return written


def preview_of(version: Path) -> dict[str, Any] | None:
    """The preview kept with ``version`` (None: none was run, or it cannot be read)."""
    try:
        doc = json.loads(preview_path(version).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


__all__ = ["SUFFIX", "keep_preview", "preview_of", "preview_path"]
