"""Dark and light themes: a Fusion palette, a small stylesheet, and semantic colours.

Panels never hard-code colours: they ask :func:`color` for a role ("pos", "neg",
"warn", ...) so both themes stay readable, and charts take theirs from :func:`chart`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("dark", "light")


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str
    alt_base: str
    text: str
    muted: str
    button: str
    highlight: str
    highlight_text: str
    border: str
    pos: str  # gains, pass, approved
    neg: str  # losses, fail, vetoed, rejected
    warn: str  # pending, day 1, degraded
    accent: str  # links, info
    chart_bg: str
    chart_fg: str
    grid_alpha: float = 0.25


DARK = Theme(
    name="dark",
    window="#1f2329",
    base="#16191d",
    alt_base="#1c2025",
    text="#dfe3e8",
    muted="#8b949e",
    button="#2b3038",
    highlight="#2f5f9e",
    highlight_text="#ffffff",
    border="#3a4049",
    pos="#3fb950",
    neg="#f26d6d",
    warn="#e3b341",
    accent="#58a6ff",
    chart_bg="#16191d",
    chart_fg="#c9d1d9",
)

LIGHT = Theme(
    name="light",
    window="#f3f4f6",
    base="#ffffff",
    alt_base="#f6f8fa",
    text="#1f2328",
    muted="#57606a",
    button="#e8eaed",
    highlight="#0969da",
    highlight_text="#ffffff",
    border="#c8ccd1",
    pos="#1a7f37",
    neg="#cf222e",
    warn="#9a6700",
    accent="#0969da",
    chart_bg="#ffffff",
    chart_fg="#24292f",
)

_current: Theme = DARK
_applied: tuple[int, str] | None = None

# Mode badge colours are the same in both themes: LIVE must be unmistakable anywhere.
MODE_BADGE = {
    "live": ("#ffffff", "#c62828"),
    "paper": ("#1f2328", "#f2c744"),
    "sim": ("#ffffff", "#1f6feb"),
    "backtest": ("#ffffff", "#6e40c9"),
}


#: Chart series colours per theme: distinct from the candles' green/red and from each other,
#: readable on the chart background of their theme.
SERIES: dict[str, dict[str, str]] = {
    "dark": {
        "sma50": "#f0883e",
        "sma200": "#d2a8ff",
        "ema20": "#39c5cf",
        "bb": "#6e7681",
        "rsi": "#58a6ff",
        "adx": "#e3b341",
        "pdi": "#3fb950",
        "mdi": "#f26d6d",
        "threshold": "#8b949e",
        "crosshair": "#8b949e",
        "TREND": "#2ea043",
        "RANGING": "#4c8dff",
        "HIGH_VOL": "#db6d28",
    },
    "light": {
        "sma50": "#bc4c00",
        "sma200": "#8250df",
        "ema20": "#1b7c83",
        "bb": "#8c959f",
        "rsi": "#0969da",
        "adx": "#9a6700",
        "pdi": "#1a7f37",
        "mdi": "#cf222e",
        "threshold": "#57606a",
        "crosshair": "#57606a",
        "TREND": "#2da44e",
        "RANGING": "#218bff",
        "HIGH_VOL": "#e16f24",
    },
}


def series_color(name: str) -> str:
    """The colour of chart series ``name`` (see :data:`SERIES`) in the current theme."""
    return SERIES["light" if current().name == "light" else "dark"][name]


def current() -> Theme:
    return _current


def color(role: str) -> QColor:
    """A semantic colour of the current theme: pos, neg, warn, accent, muted, text, ..."""
    return QColor(getattr(_current, role))


def hex_color(role: str) -> str:
    return str(getattr(_current, role))


def _stylesheet(t: Theme) -> str:
    return f"""
QToolTip {{ color: {t.text}; background-color: {t.base}; border: 1px solid {t.border}; }}
QDockWidget::title {{ background: {t.button}; padding: 3px 6px; }}
QTableView {{ gridline-color: {t.border}; }}
QHeaderView::section {{ background: {t.button}; color: {t.text}; padding: 3px 6px;
    border: 0; border-right: 1px solid {t.border}; border-bottom: 1px solid {t.border}; }}
QLabel#muted {{ color: {t.muted}; }}
QLabel#fieldError {{ color: {t.neg}; }}
QLabel#errorBox {{ color: {t.neg}; border: 1px solid {t.neg}; padding: 6px; }}
QLabel#statusValue {{ font-weight: 600; }}
QFrame#statusCell {{ border: 1px solid {t.border}; border-radius: 4px; }}
QLineEdit[invalid="true"] {{ border: 1px solid {t.neg}; }}
QLabel[modified="true"] {{ font-weight: 700; color: {t.accent}; }}
QPushButton#approve {{ background: {t.pos}; color: #ffffff; font-weight: 600;
    padding: 4px 14px; border-radius: 3px; }}
QPushButton#veto {{ background: {t.neg}; color: #ffffff; font-weight: 600;
    padding: 4px 14px; border-radius: 3px; }}
QPushButton#approve:disabled, QPushButton#veto:disabled {{ background: {t.button};
    color: {t.muted}; }}
QPushButton#danger {{ background: #c62828; color: #ffffff; font-weight: 600;
    padding: 5px 14px; border-radius: 3px; }}
QPushButton#danger:disabled {{ background: {t.button}; color: {t.muted}; }}
QToolButton {{ padding: 2px 8px; }}
QCheckBox::indicator {{ width: 13px; height: 13px; border: 1px solid {t.muted};
    border-radius: 2px; background: {t.base}; }}
QCheckBox::indicator:checked {{ background: {t.highlight}; border: 1px solid {t.highlight};
    image: none; }}
QCheckBox::indicator:disabled {{ border: 1px solid {t.border}; background: {t.window}; }}
QToolButton:checked {{ background: {t.highlight}; color: {t.highlight_text};
    border: 1px solid {t.highlight}; border-radius: 3px; }}
"""


def apply(app: QApplication, name: str) -> Theme:
    """Switch the whole application to theme ``name`` ("dark" or "light")."""
    global _current, _applied
    t = LIGHT if name == "light" else DARK
    _current = t
    if _applied == (id(app), t.name):
        return t  # re-styling every widget of the application is not free
    _applied = (id(app), t.name)
    app.setStyle("Fusion")
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: t.window,
        QPalette.ColorRole.WindowText: t.text,
        QPalette.ColorRole.Base: t.base,
        QPalette.ColorRole.AlternateBase: t.alt_base,
        QPalette.ColorRole.ToolTipBase: t.base,
        QPalette.ColorRole.ToolTipText: t.text,
        QPalette.ColorRole.PlaceholderText: t.muted,
        QPalette.ColorRole.Text: t.text,
        QPalette.ColorRole.Button: t.button,
        QPalette.ColorRole.ButtonText: t.text,
        QPalette.ColorRole.BrightText: t.neg,
        QPalette.ColorRole.Link: t.accent,
        QPalette.ColorRole.Highlight: t.highlight,
        QPalette.ColorRole.HighlightedText: t.highlight_text,
    }
    for role, c in roles.items():
        p.setColor(role, QColor(c))
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(t.muted))
    app.setPalette(p)
    app.setStyleSheet(_stylesheet(t))
    pg.setConfigOptions(background=t.chart_bg, foreground=t.chart_fg, antialias=True)
    return t
