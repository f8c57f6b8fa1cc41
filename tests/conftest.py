"""Shared fixtures: every test runs with its own home folder and offscreen Qt."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"real data folder {SHARED_DATA} is absent")
    for item in items:
        if "realdata" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _cyclic_gc_on_the_main_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test with widgets collects cyclic garbage on its main thread only, as the app does
    (workstation/ui/gc_guard.py): a collection started by a worker thread that destroys a Qt
    object deadlocks against the GUI thread, and hung CI. The young generations are collected
    here after the widgets are gone; the app's own timer does this while it runs."""
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(1)
        if enabled:
            gc.enable()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real market data (tests using it are marked realdata)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workstation home (config seeded from config/, data folder) for one test."""
    from workstation.core.paths import HOME_ENV, Paths

    h = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(h))
    Paths.resolve(h).ensure()
    return h
