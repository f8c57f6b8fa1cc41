"""Status: mode badge, connections, market, next step with countdown, regime, kill switch,
equity, day P&L, and (in simulation) the clock's speed controls and the pause at each nightly
scan for review.

The cells flow: at any width they wrap onto further lines (and a cell wider than the whole
strip wraps its text), so nothing is ever cut and there is no scroll bar; the panel's height
follows what its width needs."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFrame,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workstation.core.numbers import signed, signed_pct
from workstation.engine.api import EngineAPI
from workstation.engine.views import Mode, StatusView, ViewName
from workstation.engine.words import words
from workstation.ui import theme
from workstation.ui.flow import FlowLayout, WrapLabel
from workstation.ui.panels.base import Panel

MARKET_TEXT = {
    "pre_market": "Pre-market",
    "open": "Open",
    "after_hours": "After hours",
    "closed": "Closed",
}

CONN_COLOR = {"connected": "pos", "degraded": "warn", "down": "neg"}
HEALTH_COLOR = {"ok": "pos", "degraded": "warn", "failed": "neg"}
HEALTH_TEXT = {"ok": "OK", "degraded": "DEGRADED", "failed": "FAILED"}


def countdown_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"in {d}d {h:02d}h {m:02d}m"
    if h:
        return f"in {h}h {m:02d}m {sec:02d}s"
    return f"in {m}m {sec:02d}s"


class _Cell(QFrame):
    """A caption above a value."""

    def __init__(self, caption: str, tooltip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusCell")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        lay.setSpacing(0)
        cap = QLabel(caption)
        cap.setObjectName("muted")
        self.value = WrapLabel("-")  # wraps only when the strip is narrower than its text
        self.value.setObjectName("statusValue")
        self.value.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(cap)
        lay.addWidget(self.value)
        self.setToolTip(tooltip)


class StatusPanel(Panel):
    TITLE = "Status"
    OBJECT_NAME = "status"
    VIEWS = frozenset({ViewName.STATUS, ViewName.POSITIONS})

    SPEEDS = (("1x", 1.0), ("60x", 60.0), ("Max", math.inf))

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(engine, parent)
        self.last: StatusView | None = None
        lay = FlowLayout(self, spacing=4)
        lay.setContentsMargins(4, 3, 4, 3)
        self.flow = lay

        self.badge = QLabel("SIM")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setMinimumWidth(80)
        self.badge.setToolTip(
            "Where orders go: SIM (simulated broker), PAPER (Alpaca paper account) "
            "or LIVE (real money)"
        )
        lay.addWidget(self.badge)

        self.clock = _Cell("Clock (ET)", "The engine's time; simulated time in SIM")
        self.market = _Cell("Market", "NYSE session state")
        self.next_step = _Cell("Next step", "The next scheduled step of the trading day")
        self.regime = _Cell("Regime", "Market regime of the latest scan (from SPY)")
        self.kill = _Cell(
            "Kill switch", "Engaged: no new entries this session (Trading > Kill switch)"
        )
        self.equity = _Cell("Equity", "Account equity")
        self.day_pnl = _Cell("Day P&L", "Equity change since the session's start")
        self.conn = _Cell("Connections", "Market data and broker connections")
        self.health = _Cell(
            "Health", "The checks of 'workstation health' (scan, steps, stops, broker, data)"
        )
        self.cells = (
            self.clock,
            self.market,
            self.next_step,
            self.regime,
            self.kill,
            self.equity,
            self.day_pnl,
            self.conn,
            self.health,
        )
        for c in self.cells:
            lay.addWidget(c)

        # Why the engine paused the clock (a nightly scan to review): hard to miss.
        self.review_note = WrapLabel()
        self.review_note.setObjectName("reviewNote")
        self.review_note.setVisible(False)
        lay.addWidget(self.review_note)

        # Sim clock controls (they wrap too).
        self.speed_box = QFrame()
        self.speed_box.setObjectName("statusCell")
        sl = FlowLayout(self.speed_box, spacing=3)
        sl.setContentsMargins(6, 2, 6, 2)
        self.speed_label = QLabel("60x")
        self.speed_label.setObjectName("statusValue")
        self.speed_label.setMinimumWidth(40)
        self.speed_label.setToolTip("Simulated clock speed")
        sl.addWidget(self.speed_label)
        self.pause_btn = QToolButton()
        self.pause_btn.setText("Pause")
        self.pause_btn.setCheckable(True)
        self.pause_btn.setToolTip("Pause / resume the simulated clock (Ctrl+Space)")
        self.pause_btn.clicked.connect(self._toggle_pause)
        sl.addWidget(self.pause_btn)
        self.speed_group = QButtonGroup(self)
        self.speed_group.setExclusive(True)
        self.speed_buttons: dict[float, QToolButton] = {}
        for text, speed in self.SPEEDS:
            b = QToolButton()
            b.setText(text)
            b.setCheckable(True)
            b.setToolTip(
                "Run the simulated clock as fast as the engines allow"
                if math.isinf(speed)
                else f"Run the simulated clock at {text} real time"
            )
            b.clicked.connect(lambda _=False, s=speed: self.set_speed(s))
            self.speed_group.addButton(b)
            self.speed_buttons[speed] = b
            sl.addWidget(b)
        self.jump_btn = QToolButton()
        self.jump_btn.setText("Next step")
        self.jump_btn.setToolTip("Fast-forward the simulated clock to the next scheduled step")
        self.jump_btn.clicked.connect(
            lambda: self.command("Jump to next step", self.engine.jump_to_next)
        )
        sl.addWidget(self.jump_btn)
        self.review_box = QCheckBox("Pause at each nightly scan")
        self.review_box.setToolTip(
            "Stop the simulated clock after each 20:00 scan that has candidates to decide, at "
            "any speed, so you can approve or veto them before the next session; resume to go on"
        )
        self.review_box.toggled.connect(
            lambda on: self.command("Pause at each nightly scan", self.engine.set_scan_review, on)
        )
        sl.addWidget(self.review_box)
        lay.addWidget(self.speed_box)

        # The countdown moves with the clock: poll (the status view is cheap to build).
        self.timer = QTimer(self)
        self.timer.setInterval(500)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        """As tall as the cells need at this width (more lines when narrow), never cut."""
        h = self.flow.heightForWidth(self.width())
        if h != self.minimumHeight() or h != self.maximumHeight():
            self.setFixedHeight(h)

    # --------------------------------------------------------------- commands
    def set_speed(self, speed: float) -> None:
        if self.command("Clock speed", self.engine.set_speed, speed):
            st = self.last
            if st is not None and st.clock_paused:
                self.command("Resume", self.engine.resume)
        self.refresh()

    def _toggle_pause(self) -> None:
        st = self.last
        if st is not None and st.clock_paused:
            self.command("Resume", self.engine.resume)
        else:
            self.command("Pause", self.engine.pause)
        self.refresh()

    # ---------------------------------------------------------------- display
    def refresh(self) -> None:
        st = self.engine.status()
        self.last = st
        fg, bg = theme.MODE_BADGE.get(str(st.mode), ("#ffffff", "#555555"))
        live = st.mode is Mode.LIVE
        self.badge.setText("● LIVE" if live else str(st.mode).upper())
        self.badge.setStyleSheet(
            f"QLabel {{ color: {fg}; background: {bg}; font-weight: 800; "
            f"font-size: {18 if live else 15}px; padding: 6px 12px; border-radius: 4px;"
            f"{' border: 2px solid #ffffff;' if live else ''} }}"
        )
        self.clock.value.setText(st.now.strftime("%a %m-%d %H:%M:%S"))
        self.clock.setToolTip(f"The engine's time: {st.now:%A %Y-%m-%d %H:%M:%S %Z}")
        self.market.value.setText(MARKET_TEXT.get(st.market_state, st.market_state))
        if st.next_step_at is not None:
            self.next_step.value.setText(
                f"{st.next_step} {st.next_step_at:%H:%M} "
                f"<span style='color:{theme.hex_color('accent')}'>"
                f"{countdown_text(st.countdown_seconds)}</span>"
            )
        else:
            self.next_step.value.setText(st.next_step or "-")
        self.regime.value.setText(st.regime or "no scan yet")
        if st.kill_switch:
            # The kind of engagement here; the whole story in the tooltip.
            short = words(st.kill_reason.split(":", 1)[0].strip())
            why = f" · {short}" if short else ""
            self.kill.value.setText(
                f"<span style='color:{theme.hex_color('neg')}'>ENGAGED{why}</span>"
            )
            self.kill.setToolTip(
                f"Engaged: {st.kill_reason or 'no reason recorded'}. No new entries this "
                "session (Trading > Kill switch... releases it)"
            )
        else:
            self.kill.value.setText(f"<span style='color:{theme.hex_color('pos')}'>off</span>")
            self.kill.setToolTip("Off: entries are allowed (Trading > Kill switch... engages it)")
        self.equity.value.setText(f"${st.equity:,.2f}")
        role = "pos" if st.day_pnl >= 0 else "neg"
        self.day_pnl.value.setText(
            f"<span style='color:{theme.hex_color(role)}'>{signed(st.day_pnl)} "
            f"({signed_pct(st.day_pnl_pct)})</span>"
        )
        dots = []
        for c in st.connections:
            col = theme.hex_color(CONN_COLOR.get(c.state, "muted"))
            dots.append(f"<span style='color:{col}'>●</span>&nbsp;{c.component}")
        self.conn.value.setText(" &nbsp;".join(dots) or "-")  # wraps between connections
        self.conn.setToolTip(
            "\n".join(f"{c.component}: {c.state} {c.detail}".rstrip() for c in st.connections)
            or "no connections"
        )

        self._show_health(st)

        self.speed_box.setVisible(st.clock_adjustable)
        self.speed_label.setText(st.speed_text)
        self.review_box.blockSignals(True)
        self.review_box.setChecked(st.scan_review)
        self.review_box.blockSignals(False)
        if st.next_step_at is not None:
            self.jump_btn.setToolTip(
                f"Fast-forward the simulated clock to the next step: {st.next_step} at "
                f"{st.next_step_at:%a %H:%M:%S} (Ctrl+J)"
            )
        reason = st.pause_reason if st.clock_paused else ""
        self.review_note.setVisible(bool(reason))
        if reason:
            self.review_note.setText(
                f"<b style='color:{theme.hex_color('warn')}'>Paused for your {reason}</b>"
            )
        self.pause_btn.setChecked(st.clock_paused)
        self.pause_btn.setText("Resume" if st.clock_paused else "Pause")
        btn = self.speed_buttons.get(st.clock_speed)
        if btn is not None and not st.clock_paused:
            btn.setChecked(True)
        else:
            self.speed_group.setExclusive(False)
            for b in self.speed_buttons.values():
                b.setChecked(False)
            self.speed_group.setExclusive(True)
        self._fit_height()

    def _show_health(self, st: StatusView) -> None:
        health = getattr(st, "health", "")
        if not health:
            self.health.value.setText("-")
            self.health.setToolTip("The health checks have not run yet")
            return
        role = HEALTH_COLOR.get(health, "muted")
        self.health.value.setText(
            f"<span style='color:{theme.hex_color(role)}'>{HEALTH_TEXT.get(health, health)}</span>"
        )
        self.health.setToolTip("\n".join(getattr(st, "health_detail", ())))

    def apply_theme(self) -> None:
        self.refresh()
