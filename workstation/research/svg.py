"""Charts as inline SVG, drawn here so the report needs no script, font or file from anywhere:
lines over sessions (equity against the benchmark, drawdown), a scatter (MFE against MAE) and
a histogram (the R of each trade)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from workstation.research.markup import Markup, el

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 14, 40
PALETTE = ("#1f6fb2", "#d9822b", "#2e9e5b", "#b23a48", "#7a4fb5", "#5b6770", "#c4a000")
AXIS, GRID, POSITIVE, NEGATIVE = "#555", "#e3e3e3", "#2e9e5b", "#c0392b"


@dataclass(frozen=True)
class Line:
    name: str
    values: Sequence[float]
    color: str
    fill_to_zero: bool = False


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    color: str
    title: str


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi] (steps of 1, 2 or 5 times 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    lo, hi = min(lo, hi), max(lo, hi)
    if hi == lo:  # a flat series still gets an axis around its value
        pad = abs(lo) * 0.01 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 12))
    return ticks


class _Frame:
    """The plot area and the mapping of data to pixels."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float) -> None:
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1
        self.y0, self.y1 = y0, y1 if y1 > y0 else y0 + 1

    def x(self, v: float) -> float:
        return LEFT + (v - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def y(self, v: float) -> float:
        return HEIGHT - BOTTOM - (v - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)


def _svg(label: str, *body: object) -> Markup:
    return el(
        "svg",
        el("title", label),
        *body,
        viewBox=f"0 0 {WIDTH} {HEIGHT}",
        width="100%",
        role="img",
        aria_label=label,
        class_="chart",
    )


def decimals(ticks: Sequence[float], scale: float = 1.0) -> int:
    """The decimals that tell ``ticks`` (times ``scale``) apart: 0 for a step of 1 or more."""
    step = (ticks[1] - ticks[0]) * scale if len(ticks) > 1 else 1.0
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0


def percent(ticks: Sequence[float]) -> Callable[[float], str]:
    d = decimals(ticks, 100)
    return lambda v: f"{v:.{d}%}"


def number(ticks: Sequence[float]) -> Callable[[float], str]:
    d = decimals(ticks)
    return lambda v: f"{v:,.{d}f}"


Formatter = Callable[[Sequence[float]], Callable[[float], str]]


def _y_axis(f: _Frame, ticks: Sequence[float], fmt: Formatter = number) -> list[Markup]:
    out = []
    show = fmt(ticks)
    for t in ticks:
        y = f"{f.y(t):.1f}"
        out.append(el("line", x1=LEFT, x2=WIDTH - RIGHT, y1=y, y2=y, stroke=GRID))
        out.append(el("text", show(t), x=LEFT - 6, y=y, text_anchor="end", dy="0.32em"))
    return out


def _x_axis(f: _Frame, ticks: Sequence[tuple[float, str]], label: str = "") -> list[Markup]:
    base = HEIGHT - BOTTOM
    out = [el("line", x1=LEFT, x2=WIDTH - RIGHT, y1=base, y2=base, stroke=AXIS)]
    for v, name in ticks:
        px = f.x(v)
        x = f"{px:.1f}"
        out.append(el("line", x1=x, x2=x, y1=base, y2=base + 4, stroke=AXIS))
        # a label at either edge is anchored inside the chart, so it is not cut off
        anchor = "start" if px <= LEFT + 1 else "end" if px >= WIDTH - RIGHT - 1 else "middle"
        out.append(el("text", name, x=x, y=base + 16, text_anchor=anchor))
    if label:
        out.append(el("text", label, x=WIDTH - RIGHT, y=HEIGHT - 4, text_anchor="end"))
    return out


def _legend(items: Sequence[tuple[str, str]]) -> list[Markup]:
    out, x = [], LEFT + 8
    for name, color in items:
        out.append(el("rect", x=x, y=TOP + 2, width=10, height=10, fill=color))
        out.append(el("text", name, x=x + 14, y=TOP + 11))
        x += 24 + 7 * len(name)
    return out


def line_chart(
    label: str, x_labels: Sequence[str], lines: Sequence[Line], fmt: Formatter = number
) -> Markup:
    """Lines over evenly spaced points (one per session: trading days, not calendar days)."""
    values = np.array([v for ln in lines for v in ln.values], dtype=float)
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if any(ln.fill_to_zero for ln in lines):
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    ticks = nice_ticks(lo, hi)
    n = len(x_labels)
    f = _Frame(0, max(1, n - 1), ticks[0], ticks[-1])
    step = max(1, math.ceil(n / 6))
    body: list[object] = [*_y_axis(f, ticks, fmt)]
    body += _x_axis(f, [(i, x_labels[i]) for i in range(0, n, step)])
    for ln in lines:
        pts = [
            f"{f.x(i):.1f},{f.y(v):.1f}"
            for i, v in enumerate(ln.values)
            if v is not None and math.isfinite(v)
        ]
        if not pts:
            continue
        if ln.fill_to_zero:
            zero = f"{f.y(0):.1f}"
            first_x, last_x = pts[0].split(",")[0], pts[-1].split(",")[0]
            poly = [f"{first_x},{zero}", *pts, f"{last_x},{zero}"]
            body.append(el("polygon", points=" ".join(poly), fill=ln.color, fill_opacity="0.35"))
        body.append(
            el("polyline", points=" ".join(pts), fill="none", stroke=ln.color, stroke_width="1.6")
        )
    body += _legend([(ln.name, ln.color) for ln in lines])
    return _svg(label, *body)


def scatter(
    label: str,
    points: Sequence[Point],
    x_label: str,
    y_label: str,
    legend: Sequence[tuple[str, str]] = (),
) -> Markup:
    """Points with a zero line; each point's ``title`` is its tooltip."""
    xs = [p.x for p in points] or [0.0]
    ys = [p.y for p in points] or [0.0]
    xt = nice_ticks(min(min(xs), 0.0), max(max(xs), 0.0))
    yt = nice_ticks(min(min(ys), 0.0), max(max(ys), 0.0))
    f = _Frame(xt[0], xt[-1], yt[0], yt[-1])
    body: list[object] = [*_y_axis(f, yt)]
    body += _x_axis(f, [(t, f"{t:g}") for t in xt], x_label)
    body.append(el("text", y_label, x=LEFT + 4, y=TOP + 26))
    body.append(
        el(
            "line",
            x1=f.x(0),
            x2=f.x(0),
            y1=TOP,
            y2=HEIGHT - BOTTOM,
            stroke=AXIS,
            stroke_dasharray="3 3",
        )
    )
    for p in points:
        body.append(
            el(
                "circle",
                el("title", p.title),
                cx=f"{f.x(p.x):.1f}",
                cy=f"{f.y(p.y):.1f}",
                r="3.2",
                fill=p.color,
                fill_opacity="0.75",
            )
        )
    body += _legend(legend)
    return _svg(label, *body)


def histogram(label: str, values: Sequence[float], width: float, x_label: str) -> Markup:
    """Counts of ``values`` in bins of ``width`` aligned on 0; bars below 0 in red."""
    v = np.array([x for x in values if math.isfinite(x)], dtype=float)
    if len(v) == 0:
        v = np.array([0.0])
    lo = math.floor(v.min() / width) * width
    hi = max(math.ceil(v.max() / width) * width, lo + width)
    if hi == v.max():
        hi += width
    edges = np.arange(lo, hi + width / 2, width)
    counts, _ = np.histogram(v, bins=edges)
    yt = nice_ticks(0, max(1, int(counts.max())))
    yt = [t for t in yt if float(t).is_integer()] or [0.0, 1.0]
    f = _Frame(float(edges[0]), float(edges[-1]), 0, yt[-1])
    body: list[object] = [*_y_axis(f, yt)]
    xt = nice_ticks(float(edges[0]), float(edges[-1]), 8)
    body += _x_axis(f, [(t, f"{t:g}") for t in xt if edges[0] <= t <= edges[-1]], x_label)
    for left, count in zip(edges[:-1], counts, strict=True):
        if not count:
            continue
        x0, x1 = f.x(left), f.x(left + width)
        color = NEGATIVE if left < 0 else POSITIVE
        body.append(
            el(
                "rect",
                el("title", f"{left:g} to {left + width:g}: {count}"),
                x=f"{x0 + 0.5:.1f}",
                y=f"{f.y(count):.1f}",
                width=f"{max(0.5, x1 - x0 - 1):.1f}",
                height=f"{f.y(0) - f.y(count):.1f}",
                fill=color,
            )
        )
    return _svg(label, *body)


__all__ = [
    "PALETTE",
    "Line",
    "Point",
    "decimals",
    "histogram",
    "line_chart",
    "nice_ticks",
    "number",
    "percent",
    "scatter",
]
