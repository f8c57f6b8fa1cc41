"""GUI fixtures: a fake engine, a real ConfigManager on a temporary home, a window whose
layout is saved to a temporary QSettings file."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import qasync
from PySide6.QtCore import QCoreApplication, QEvent, QSettings

from tests.gui.fake_engine import FakeEngine
from workstation.core.config_files import ConfigManager
from workstation.core.paths import Paths

if TYPE_CHECKING:
    from workstation.ui.dialogs.params import ParameterEditor


class MemorySecrets:
    """A keyring stand-in: tests never touch the real OS keyring."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def has(self, name: str) -> bool:
        return name in self.values

    def set(self, name: str, value: str) -> None:
        if value:
            self.values[name] = value
        else:
            self.values.pop(name, None)

    def get(self, name: str) -> str | None:
        return self.values.get(name)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine("premarket")


@pytest.fixture
def session_engine() -> FakeEngine:
    return FakeEngine("session")


@pytest.fixture
def paths(home: Path) -> Paths:
    return Paths.resolve(home).ensure()


@pytest.fixture
def manager(paths: Paths) -> ConfigManager:
    return ConfigManager(paths.config_dir, paths.config_history_dir)


@pytest.fixture
def editor(qtbot, manager: ConfigManager) -> Iterator[ParameterEditor]:
    """The parameter editor on the temporary home; ``saved_calls`` lists its saves."""
    from workstation.ui.dialogs.params import ParameterEditor

    saved: list[list[str]] = []
    ed = ParameterEditor(manager, on_saved=saved.append, confirm_live=lambda: False)
    ed.saved_calls = saved  # type: ignore[attr-defined]
    qtbot.addWidget(ed)
    ed.show()
    yield ed
    ed.close()
    ed.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "workstation-ui.ini"


@pytest.fixture
def make_window(
    qtbot, manager: ConfigManager, paths: Paths, settings_path: Path
) -> Iterator[Callable[..., object]]:
    """Build a MainWindow (shown) on an engine; windows are closed after the test."""
    from workstation.ui.main_window import MainWindow

    made: list[MainWindow] = []

    def make(engine: object, **kw: object) -> MainWindow:
        settings = QSettings(str(settings_path), QSettings.Format.IniFormat)
        w = MainWindow(
            engine,  # type: ignore[arg-type]
            manager,
            settings=settings,
            paths=paths,
            secrets=MemorySecrets(),
            **kw,  # type: ignore[arg-type]
        )
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w._shutdown_state = "stopped"  # skip the shutdown hook in teardown
        w.close()
        w.deleteLater()  # a leaked window keeps its timers and slows every later test
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def qloop(qapp: Any) -> Iterator[qasync.QEventLoop]:
    """A qasync loop on the test's QApplication, as the app runs (closed afterwards)."""
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    with contextlib.suppress(RuntimeError):
        loop.close()
    asyncio.set_event_loop(None)


def shown(qtbot: Any, widget: Any, size: tuple[int, int]) -> Any:
    """``widget`` in a window of ``size``, shown, exposed and active (real events reach it)."""
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    return widget
