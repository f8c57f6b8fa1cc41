"""The status strip fits or wraps at any width, in every state, with the longest texts each
state can show: nothing is cut, nothing hides behind a scroll bar (issue 13 item 4)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractButton, QAbstractScrollArea, QLabel, QWidget

from tests.gui.fake_engine import FakeEngine
from workstation.core.calendar import ET
from workstation.engine.views import ConnectionView, Mode, StatusView
from workstation.ui.panels.status import StatusPanel

pytestmark = pytest.mark.gui

WIDTHS = (360, 480, 640, 800, 1024, 1280, 1600, 1920)

LONG_KILL = (
    "daily loss limit: equity 97,950.00 is 2.05% below the session's start 100,000.00 (limit 2.00%)"
)
LONG_REVIEW = (
    "review of the nightly scan of Tue 2025-03-11: 12 candidates to approve or veto, then resume"
)
MANY_CONNECTIONS = (
    ConnectionView("market-data", "connected", "Alpaca sip"),
    ConnectionView("data-stream", "degraded", "reconnecting (attempt 12)"),
    ConnectionView("trading", "down", "HTTP 503 from the trading API"),
    ConnectionView("trading-stream", "down", "closed by the server"),
    ConnectionView("reconciliation", "down", "trading blocked: 3 differences"),
    ConnectionView("engines", "down", "RuntimeError: the engines stopped"),
)


class Longest(FakeEngine):
    """The fake engine, showing the longest text of every cell at once."""

    def __init__(self, mode: Mode, paused: bool) -> None:
        super().__init__("session", mode=mode)
        self._paused_view = paused

    def status(self) -> StatusView:
        st = super().status()
        return replace(
            st,
            now=datetime(2025, 12, 31, 23, 59, 59, tzinfo=ET),
            market_state="after_hours",
            next_step="Group B confirmation",
            next_step_at=datetime(2026, 1, 2, 9, 50, 1, tzinfo=ET),
            regime="HIGH_VOL",
            kill_switch=True,
            kill_reason=LONG_KILL,
            equity=123_456_789.01,
            day_pnl=-12_345_678.9,
            clock_speed=math.inf,
            clock_paused=self._paused_view,
            connections=MANY_CONNECTIONS,
            scan_review=True,
            pause_reason=LONG_REVIEW if self._paused_view else "",
        )


def _inside(panel: QWidget, w: QWidget) -> bool:
    top_left = w.mapTo(panel, QPoint(0, 0))
    return panel.rect().contains(QRect(top_left, w.size()))


def problems(panel: StatusPanel) -> list[str]:
    """Every visible text or button that is cut (too small for its text, or outside)."""
    out: list[str] = []
    for w in panel.findChildren(QWidget):
        if not w.isVisibleTo(panel) or w.width() == 0:
            continue
        name = f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r:.60}"
        if not _inside(panel, w):
            out.append(f"{name} lies outside the strip")
        if isinstance(w, QLabel):
            if w.wordWrap():
                if w.heightForWidth(w.width()) > w.height():
                    out.append(f"{name} needs {w.heightForWidth(w.width())} px, has {w.height()}")
            elif w.sizeHint().width() > w.width():
                out.append(f"{name} needs {w.sizeHint().width()} px wide, has {w.width()}")
        elif isinstance(w, QAbstractButton) and w.sizeHint().width() > w.width():
            out.append(f"{name} needs {w.sizeHint().width()} px wide, has {w.width()}")
    return out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    ("mode", "paused"),
    [(Mode.SIM, True), (Mode.SIM, False), (Mode.LIVE, False), (Mode.PAPER, False)],
    ids=["sim-paused-for-review", "sim-max", "live", "paper"],
)
def test_the_strip_fits_or_wraps(qtbot, width: int, mode: Mode, paused: bool) -> None:
    p = StatusPanel(Longest(mode, paused))
    qtbot.addWidget(p)
    p.resize(width, 40)
    p.show()
    qtbot.waitExposed(p)
    p.refresh()
    qtbot.waitUntil(lambda: p.height() == p.flow.heightForWidth(p.width()), timeout=2000)
    assert p.findChildren(QAbstractScrollArea) == []
    assert problems(p) == []
    assert "ENGAGED · daily loss limit" in p.kill.value.text()
    assert LONG_KILL in p.kill.toolTip()
    assert p.review_note.isVisibleTo(p) is paused
    assert p.speed_box.isVisibleTo(p) is (mode is Mode.SIM)
    # Wider never needs more lines than narrower.
    if width >= 1920 and not paused:
        assert p.height() <= 2 * p.clock.sizeHint().height() + 20


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)], ids=["1280x800", "1920x1080"])
def test_the_strip_is_whole_in_the_window(qtbot, make_window, size: tuple[int, int]) -> None:
    w = make_window(Longest(Mode.SIM, True))
    w.resize(*size)
    p = w.panels["status"]
    qtbot.waitUntil(lambda: p.height() == p.flow.heightForWidth(p.width()), timeout=2000)
    assert problems(p) == []
    dock = w.docks["status"]
    assert dock.height() >= p.height()  # the dock gives the strip all it asks for
