"""Crash reports (issue 12 item 10): one file per crash in the home, kept a while; a home that
cannot be written gets a new file of its own in the system's temporary folder."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from workstation.core.paths import Paths
from workstation.crash_log import KEEP_DAYS, KEEP_FILES, crash_folder, prune, write_crash_report


def _report(home: Path | str) -> Path:
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        return write_crash_report(str(home), "workstation scan")


def test_only_the_newest_reports_are_kept(tmp_path: Path) -> None:
    folder = tmp_path / "crashes"
    folder.mkdir()
    now = time.time()
    reports = []
    for i in range(KEEP_FILES + 3):  # all recent: the count, not the age, decides
        p = folder / f"crash-20240101-0000{i:02d}-1.log"
        p.write_text("x")
        os.utime(p, (now - 3600 + i, now - 3600 + i))
        reports.append(p)
    other = folder / "notes.txt"  # not a report: never touched
    other.write_text("mine")
    gone = prune(folder, now=now)
    assert sorted(gone) == reports[:3]
    assert sorted(folder.glob("crash-*.log")) == reports[3:]
    assert other.exists()


def test_reports_older_than_the_limit_go_and_younger_ones_stay(tmp_path: Path) -> None:
    folder = tmp_path / "crashes"
    folder.mkdir()
    now = time.time()
    old, young = folder / "crash-old.log", folder / "crash-young.log"
    for p, age in ((old, KEEP_DAYS * 86400 + 60), (young, KEEP_DAYS * 86400 - 60)):
        p.write_text("x")
        os.utime(p, (now - age, now - age))
    assert prune(folder, now=now) == [old]
    assert young.exists()


def test_two_crashes_in_one_second_are_two_files_in_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first, second = _report(home), _report(home)
    assert first != second
    assert first.parent == second.parent == crash_folder(Paths.resolve(home))
    assert "RuntimeError: a bug" in second.read_text()


def test_a_home_that_cannot_be_written_gets_a_temporary_file_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # the home lies under a file: no folder can be made
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    first, second = _report(blocker / "home"), _report(blocker / "home")
    assert first.parent == second.parent == temp
    assert first != second and first.name.startswith("workstation-crash-")
    text = first.read_text()
    assert "command: workstation scan" in text and "RuntimeError: a bug" in text
