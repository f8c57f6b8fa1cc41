"""Change values in a YAML text while keeping its comments and layout.

The shipped configuration files explain every key in comments; a parameter editor
that rewrote them with ``yaml.safe_dump`` would throw that away. :func:`set_values`
replaces just the text of each changed value (found through PyYAML's node marks) and
inserts keys the file does not have yet under their parent. The result is checked by
loading it back: if it does not give exactly the intended data (an unusual layout such
as a flow mapping), the whole file is dumped instead, keeping only the leading comment.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import yaml

Path_ = tuple[str, ...]


def scalar_text(value: Any, style: str | None = None) -> str:
    """``value`` as YAML flow text (``style`` '"' or "'" keeps a string's quotes)."""
    if isinstance(value, str) and style == '"':
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and style == "'":
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list | tuple):
        return yaml.safe_dump(list(value), default_flow_style=True, width=10**9).strip()
    text = yaml.safe_dump([value], default_flow_style=True, width=10**9).strip()
    return text[1:-1]  # "[x]" -> "x": dumping a bare scalar would add a "..." end marker


def apply_to_data(data: Any, changes: Mapping[Path_, Any]) -> dict[str, Any]:
    """The plain data ``data`` with ``changes`` applied (missing mappings are created)."""
    out: dict[str, Any] = copy.deepcopy(data) if isinstance(data, dict) else {}
    for path, value in changes.items():
        node = out
        for k in path[:-1]:
            nxt = node.get(k)
            if not isinstance(nxt, dict):
                nxt = {}
                node[k] = nxt
            node = nxt
        node[path[-1]] = list(value) if isinstance(value, tuple) else value
    return out


def _find(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, v in mapping.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


class _Unsupported(Exception):
    """The layout is not one the in-place edit handles: dump the whole file instead."""


def _line_end(text: str, index: int) -> int:
    nl = text.find("\n", index)
    return len(text) if nl < 0 else nl


def set_values(text: str, changes: Mapping[Path_, Any]) -> str:
    """``text`` with the values at ``changes``' key paths replaced (or added)."""
    if not changes:
        return text
    expected = apply_to_data(yaml.safe_load(text) if text.strip() else {}, changes)
    try:
        out = _edit(text, changes)
        if yaml.safe_load(out) == expected:
            return out
    except (_Unsupported, yaml.YAMLError):
        pass
    return _leading_comment(text) + yaml.safe_dump(
        expected, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def _leading_comment(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("#") or not line.strip():
            lines.append(line)
        else:
            break
    return "".join(lines)


def _edit(text: str, changes: Mapping[Path_, Any]) -> str:
    root = yaml.compose(text) if text.strip() else None
    if root is None:
        raise _Unsupported
    if not isinstance(root, yaml.MappingNode) or root.flow_style:
        raise _Unsupported
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement)
    inserts: dict[int, tuple[yaml.MappingNode, dict[str, Any]]] = {}
    for path, value in changes.items():
        node: yaml.Node = root
        for depth, key in enumerate(path):
            if not isinstance(node, yaml.MappingNode) or node.flow_style:
                raise _Unsupported
            child = _find(node, key)
            if child is None:
                # Insert the rest of the path (as nested mappings) under this mapping.
                rest = apply_to_data({}, {path[depth:]: value})
                _, pending = inserts.setdefault(id(node), (node, {}))
                _merge(pending, rest)
                break
            if depth == len(path) - 1:
                if isinstance(child, yaml.MappingNode):
                    raise _Unsupported  # a whole mapping is never one editor's value
                style = getattr(child, "style", None)
                edits.append(
                    _keep_comment_column(
                        text,
                        child.start_mark.index,
                        child.end_mark.index,
                        scalar_text(value, style),
                    )
                )
            node = child
    for mapping, data in inserts.values():
        edits.append(_insertion(text, mapping, data))
    out = text
    for start, end, repl in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:start] + repl + out[end:]
    return out


def _keep_comment_column(text: str, start: int, end: int, repl: str) -> tuple[int, int, str]:
    """Widen the edit over the spaces before a trailing comment so the comment keeps its
    column (at least one space stays)."""
    stop = end
    while stop < len(text) and text[stop] == " ":
        stop += 1
    if stop == end or stop >= len(text) or text[stop] != "#":
        return start, end, repl
    spaces = max(1, (stop - start) - len(repl))
    return start, stop, repl + " " * spaces


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for k, v in more.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def _insertion(text: str, mapping: yaml.MappingNode, data: dict[str, Any]) -> tuple[int, int, str]:
    """An edit adding ``data``'s keys at the end of block mapping ``mapping``."""
    if not mapping.value:
        raise _Unsupported
    indent = mapping.value[0][0].start_mark.column
    block = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    lines = [" " * indent + line if line else line for line in block.splitlines()]
    last_value = mapping.value[-1][1]
    end = last_value.end_mark
    if end.column == 0:  # a nested block ended: insert before the next line's token
        pos = end.index
        return pos, pos, "\n".join(lines) + "\n"
    pos = _line_end(text, end.index)  # after any trailing comment of the last line
    return pos, pos, "\n" + "\n".join(lines)
