"""A minimal element builder for the report's HTML and SVG: every text and attribute value
is escaped and every element closed, so the report is well-formed by construction (it parses
as XML) whatever a symbol, a path or a reason contains."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

# HTML elements that never have content (written as <meta ... />).
_VOID = frozenset({"meta", "br", "hr", "img", "col", "wbr"})
# SVG elements written self-closed when they have no children.
_SVG_LEAVES = frozenset({"line", "rect", "circle", "path", "polyline", "polygon"})


class Markup(str):
    """Text that is already markup: inserted as is, never escaped again."""


def text(value: object) -> Markup:
    return Markup(escape(str(value), quote=False))


def _attr_name(name: str) -> str:
    # class_ -> class; text_anchor -> text-anchor; aria_label -> aria-label
    return name.rstrip("_").replace("_", "-")


def _children(children: Iterable[object]) -> Iterable[str]:
    for c in children:
        if c is None:
            continue
        if isinstance(c, Markup):
            yield c
        elif isinstance(c, str | int | float):
            yield text(c)
        else:
            yield from _children(c)  # type: ignore[arg-type]


def el(tag: str, *children: object, **attrs: object) -> Markup:
    """``<tag attrs>children</tag>``; attributes whose value is None or False are left out."""
    parts = [tag]
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        v = name if value is True else str(value)
        parts.append(f'{_attr_name(name)}="{escape(v, quote=True)}"')
    head = " ".join(parts)
    body = "".join(_children(children))
    if not body and (tag in _VOID or tag in _SVG_LEAVES):
        return Markup(f"<{head}/>")
    return Markup(f"<{head}>{body}</{tag}>")


__all__ = ["Markup", "el", "text"]
