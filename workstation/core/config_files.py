"""Reading, validating, reloading and atomically saving the YAML configuration.

A bad file never replaces a good configuration: :class:`ConfigManager` keeps the
last good set in force and reports every problem (file, key, value, allowed range).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from workstation.core.config import (
    SECTIONS,
    STRATEGY_PARAMS,
    Config,
    _load_strategy_modules,
    build_section,
)
from workstation.core.config_origins import record_origin
from workstation.core.schema import SchemaError, to_plain

SECTION_FIELD = {
    "scanner.yaml": "scanner",
    "strategies.yaml": "strategies",
    "risk.yaml": "risk",
    "schedule.yaml": "schedule",
    "app.yaml": "app",
}

MAX_HISTORY = 50


class ConfigError(SchemaError):
    """One or more configuration files are invalid; ``errors`` has one line each."""


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; a syntax error becomes a ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path.name}: cannot be read ({exc.strerror or exc})"]) from exc
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [
                f"{path.name}: is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} on line "
                f"{line}); save it as UTF-8"
            ]
        ) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{path.name}: is not valid YAML{where}: {problem}"]) from exc


def check_file(path: Path) -> Any:
    """Validate one file by its name; returns the built section or raises ConfigError."""
    name = path.name
    if name not in SECTION_FIELD:
        raise ConfigError(
            [
                f"{name}: not a workstation configuration file "
                f"(expected one of {', '.join(SECTION_FIELD)})"
            ]
        )
    data = read_yaml(path)
    try:
        return build_section(name, data)
    except SchemaError as exc:
        raise ConfigError(exc.errors) from exc


def notes_for(name: str, data: Any) -> list[str]:
    """What a VALID file leaves out, named section by section: a missing section (or key)
    takes its defaults; a strategy without a block in strategies.yaml is off."""
    blocks = data if isinstance(data, Mapping) else {}
    if name == "strategies.yaml":
        return _strategy_notes(name, blocks)
    if not blocks:
        return [f"{name}: empty: every value takes its default"]
    notes = []
    for f in dataclasses.fields(SECTIONS[name]):
        if not f.init or f.name in blocks:
            continue
        default = getattr(SECTIONS[name](), f.name)
        if dataclasses.is_dataclass(default):
            notes.append(f"{name}: no '{f.name}' section: its defaults apply")
        else:
            notes.append(f"{name}: no '{f.name}': the default {to_plain(default)!r} applies")
    return notes


def _strategy_notes(name: str, blocks: Mapping[str, Any]) -> list[str]:
    _load_strategy_modules()
    notes = []
    off = [s for s in STRATEGY_PARAMS if s not in blocks]
    for s in off:
        notes.append(
            f"{name}: no '{s}' block: that strategy is off (copy its block from the "
            "project's config/strategies.yaml to turn it on)"
        )
    for s, block in blocks.items():
        cls = STRATEGY_PARAMS.get(str(s))
        given = block if isinstance(block, Mapping) else {}
        if cls is None:
            continue
        missing = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in given]
        if missing:
            notes.append(f"{name}: {s}: no {', '.join(missing)}: the defaults apply")
    if len(off) == len(STRATEGY_PARAMS):
        notes.append(f"{name}: no strategy is on: every scan will find no candidates")
    return notes


def config_notes(config_dir: Path) -> list[str]:
    """:func:`notes_for` of every file of a valid configuration folder."""
    notes: list[str] = []
    for name in SECTION_FIELD:
        path = config_dir / name
        if path.exists():
            notes += notes_for(name, read_yaml(path))
        elif name != "strategies.yaml":
            notes.append(f"{name}: missing: every value takes its default")
    return notes


def load_config(config_dir: Path) -> Config:
    """Load every file of ``config_dir``; missing files take the defaults."""
    errors: list[str] = []
    parts: dict[str, Any] = {}
    for name, attr in SECTION_FIELD.items():
        path = config_dir / name
        if not path.exists():
            if name == "strategies.yaml":
                errors.append(
                    f"{name}: missing in {config_dir}; without it no strategy runs. "
                    "Restore it from the project's config/ folder."
                )
            continue
        try:
            parts[attr] = check_file(path)
        except ConfigError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ConfigError(errors)
    return Config(**parts)


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def atomic_write(
    path: Path, text: str, history_dir: Path | None = None, stamp: datetime | None = None
) -> Path | None:
    """Write ``text`` to ``path`` atomically (temp file, fsync, rename).

    The previous content, if any, is kept in ``history_dir`` as
    ``<stem>.<YYYYmmdd-HHMMSS-ffffff>.yaml`` (the newest ``MAX_HISTORY`` are kept).
    Returns the history copy's path.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    saved: Path | None = None
    if history_dir is not None and path.exists():
        history_dir.mkdir(parents=True, exist_ok=True)
        stamp = stamp or datetime.now()  # a file name, not an engine decision
        saved = history_dir / f"{path.stem}.{stamp:%Y%m%d-%H%M%S-%f}{path.suffix}"
        _write_atomically(saved, path.read_bytes())
        _prune(history_dir, path.stem)
    _write_atomically(path, text.encode("utf-8"))
    return saved


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune(history_dir: Path, stem: str) -> None:
    olds = sorted(history_dir.glob(f"{stem}.*.yaml"))
    for old in olds[:-MAX_HISTORY]:
        old.unlink(missing_ok=True)


def history(history_dir: Path, filename: str) -> list[Path]:
    """Previous versions of ``filename``, newest first."""
    stem = Path(filename).stem
    return sorted(history_dir.glob(f"{stem}.*.yaml"), reverse=True)


class ConfigManager:
    """Holds the configuration in force; reloads keep it when a file is bad."""

    def __init__(self, config_dir: Path, history_dir: Path | None = None) -> None:
        self.config_dir = config_dir
        self.history_dir = history_dir or config_dir / "history"
        self.current: Config = load_config(config_dir)
        self.last_errors: tuple[str, ...] = ()

    @property
    def notes(self) -> list[str]:
        """What the files in force leave to the defaults, or switch off (see notes_for)."""
        try:
            return config_notes(self.config_dir)
        except ConfigError:  # changed on disk since: the reload will say so
            return []

    def reload(self) -> tuple[bool, tuple[str, ...]]:
        """Re-read the files. On error the previous good configuration stays in force."""
        try:
            self.current = load_config(self.config_dir)
        except ConfigError as exc:
            self.last_errors = tuple(exc.errors)
            return False, self.last_errors
        self.last_errors = ()
        return True, ()

    def validate_text(self, filename: str, text: str) -> Any:
        """Validate a candidate file's text without writing it (raises ConfigError)."""
        tmpdir = Path(tempfile.mkdtemp(prefix="ws-cfg-"))
        try:
            probe = tmpdir / filename
            probe.write_text(text, encoding="utf-8")
            return check_file(probe)
        finally:
            for p in tmpdir.iterdir():
                p.unlink()
            tmpdir.rmdir()

    def save(self, filename: str, text: str, *, origin: str | None = None) -> Path | None:
        """Validate then atomically write one file, keeping the previous version.

        ``origin`` names where the new text came from (e.g. an optimize search): the history
        shows it beside this version (:mod:`workstation.core.config_origins`). Nothing is
        written if the text is invalid (ConfigError is raised)."""
        section = self.validate_text(filename, text)
        saved = atomic_write(self.config_dir / filename, text, self.history_dir)
        if origin:
            # After the write: a crash in between loses the caption, never the file.
            record_origin(self.history_dir, filename, text, origin)
        self.current = dataclasses.replace(self.current, **{SECTION_FIELD[filename]: section})
        return saved

    def restore(self, version: Path) -> Path | None:
        """Make a previous version current again (itself saved as a new version)."""
        name = version.name.split(".")[0] + ".yaml"
        return self.save(name, version.read_text(encoding="utf-8"))

    def files(self) -> Iterable[Path]:
        return (self.config_dir / n for n in SECTION_FIELD)
