"""The parameter editor: every parameter of every YAML file, typed, with its allowed range.

Pages are grouped per file, then per section (or per strategy). Each field has an editor
for its type and shows the allowed range from the schema bounds; a field that is out of
range is marked as you type. Nothing is written until "Review changes": the edited files
are validated with :meth:`ConfigManager.validate_text` (every problem listed, nothing
written if any), a diff is shown, and "Save" writes them atomically with
:meth:`ConfigManager.save` (keeping the previous version). The History tab lists the
previous versions of each file and restores one. After a save or a restore, ``on_saved``
is called with the file names (the window asks the engine to reload at a safe point).

:meth:`ParameterEditor.propose` opens the review of values chosen elsewhere (the Optimize
window's *Apply*): the user reads the diff and saves, or goes back; the saved version's
history names where the values came from (:mod:`workstation.core.config_origins`).

Edits keep the files' comments (:mod:`workstation.ui.yaml_edit`).
"""

from __future__ import annotations

import dataclasses
import difflib
import html
import math
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, time
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.core.calendar import ET
from workstation.core.config import SECTIONS
from workstation.core.config_files import (
    SECTION_FIELD,
    ConfigError,
    ConfigManager,
    check_file,
    history,
)
from workstation.core.config_origins import origin_of, origins, text_digest
from workstation.core.schema import Bounds, bounds_of, to_plain
from workstation.research.evidence.change_notes import keep_preview, preview_of, preview_path
from workstation.ui import theme
from workstation.ui.evidence.change import ChangePreview, expected_html
from workstation.ui.yaml_edit import set_values

KeyPath = tuple[str, ...]  # (file name, key, key, ...)

FILE_TITLES = {
    "strategies.yaml": "Strategies",
    "risk.yaml": "Risk",
    "schedule.yaml": "Schedule",
    "scanner.yaml": "Scanner",
    "app.yaml": "Application",
}
FILE_ORDER = ("strategies.yaml", "risk.yaml", "schedule.yaml", "scanner.yaml", "app.yaml")


def _nice(name: str) -> str:
    return name.replace("_", " ")


# ---------------------------------------------------------------- field editors


class FieldEditor(QWidget):
    """One parameter: an editor for its type, its allowed range, and whether it changed."""

    changed = Signal()

    def __init__(self, path: KeyPath, tp: Any, bounds: Bounds, original: Any) -> None:
        super().__init__()
        self.path = path
        self.tp = tp
        self.bounds = bounds
        self.original = original
        self.label = QLabel(_nice(path[-1]))
        self.label.setToolTip(".".join(path[1:]) + (f"\n{bounds.doc}" if bounds.doc else ""))
        self.allowed = QLabel(self.allowed_text())
        self.allowed.setObjectName("muted")
        self.problem = QLabel("")
        self.problem.setObjectName("fieldError")
        self.problem.setVisible(False)
        self.widget = self._make_widget()
        self.widget.setToolTip(
            f"{'.'.join(path[1:])}: allowed {self.allowed_text()}"
            + (f"\n{bounds.doc}" if bounds.doc else "")
        )
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.widget)
        self.set_value(original)

    # ---------------------------------------------------------------- types
    def kind(self) -> str:
        tp = self.tp
        if tp is bool:
            return "bool"
        if isinstance(tp, type) and issubclass(tp, Enum):
            return "enum"
        if tp is str and self.bounds.choices is not None:
            return "choice"
        if tp is int:
            return "int"
        if tp is float:
            return "float"
        if tp is time:
            return "time"
        if typing.get_origin(tp) is tuple:
            return "list"
        if tp is str:
            return "str"
        return "yaml"

    def allowed_text(self) -> str:
        k = self.kind()
        if k == "bool":
            return "true / false"
        if k == "enum":
            return "one of " + ", ".join(str(m.value) for m in self.tp)
        if k == "time":
            return "HH:MM (24 h, New York time)"
        if k == "list":
            return "comma-separated names"
        if k in ("int", "float"):
            d = self.bounds.describe()
            return ("whole number " if k == "int" else "") + ("any" if d == "any" else d)
        return self.bounds.describe()

    def _make_widget(self) -> QWidget:
        k = self.kind()
        if k == "bool":
            w: QWidget = QCheckBox()
            w.toggled.connect(self._on_change)  # type: ignore[attr-defined]
        elif k in ("enum", "choice"):
            w = QComboBox()
            values = (
                [str(m.value) for m in self.tp]
                if k == "enum"
                else [str(c) for c in self.bounds.choices or ()]
            )
            w.addItems(values)  # type: ignore[attr-defined]
            w.currentIndexChanged.connect(self._on_change)  # type: ignore[attr-defined]
        else:
            w = QLineEdit()
            if k == "time":
                w.setPlaceholderText("HH:MM")  # type: ignore[attr-defined]
            w.setMinimumWidth(120)
            w.textChanged.connect(self._on_change)  # type: ignore[attr-defined]
        return w

    # ---------------------------------------------------------------- values
    def set_value(self, v: Any) -> None:
        k = self.kind()
        w = self.widget
        if k == "bool":
            assert isinstance(w, QCheckBox)
            w.setChecked(bool(v))
        elif k in ("enum", "choice"):
            assert isinstance(w, QComboBox)
            i = w.findText(str(v))
            if i < 0:
                w.addItem(str(v))
                i = w.count() - 1
            w.setCurrentIndex(i)
        else:
            assert isinstance(w, QLineEdit)
            w.setText(self._to_text(v))
        self._on_change()

    def _to_text(self, v: Any) -> str:
        k = self.kind()
        if v is None:
            return ""
        if k == "list":
            return ", ".join(str(x) for x in v)
        if k == "float" and isinstance(v, float):
            return repr(v) if abs(v) < 1e15 else f"{v:g}"
        if k == "yaml":
            return yaml.safe_dump(v, default_flow_style=True).strip()
        return str(v)

    def text(self) -> str:
        w = self.widget
        if isinstance(w, QLineEdit):
            return w.text()
        if isinstance(w, QComboBox):
            return w.currentText()
        assert isinstance(w, QCheckBox)
        return "true" if w.isChecked() else "false"

    def set_text(self, text: str) -> None:
        """Type ``text`` into the editor (tests and keyboard users alike)."""
        w = self.widget
        if isinstance(w, QLineEdit):
            w.setText(text)
        elif isinstance(w, QComboBox):
            w.setCurrentIndex(w.findText(text))
        else:
            assert isinstance(w, QCheckBox)
            w.setChecked(text.strip().lower() in ("true", "yes", "1", "on"))

    def value(self) -> Any:
        """The edited value as YAML data; text that is not of the field's type is passed on
        as text, so that validation reports it with the file, key and allowed range."""
        k = self.kind()
        w = self.widget
        if k == "bool":
            assert isinstance(w, QCheckBox)
            return w.isChecked()
        if k in ("enum", "choice"):
            assert isinstance(w, QComboBox)
            return w.currentText()
        raw = self.text().strip()
        if k in ("int", "float"):
            if raw == "":
                return None
            try:
                num = float(raw.replace("_", ""))
            except ValueError:
                return raw
            if k == "int" and num.is_integer():
                return int(num)
            return num
        if k == "list":
            return [x.strip() for x in raw.split(",") if x.strip()]
        if k == "yaml":
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError:
                return raw
        return raw

    def is_modified(self) -> bool:
        return self.value() != self.original

    def check(self) -> str:
        """A quick local check as you type ("" when fine); saving validates for real."""
        k = self.kind()
        v = self.value()
        b = self.bounds
        if k in ("int", "float"):
            if not isinstance(v, int | float):
                return f"expected a {'whole ' if k == 'int' else ''}number, allowed {b.describe()}"
            if k == "int" and not float(v).is_integer():
                return f"expected a whole number, allowed {b.describe()}"
            if not math.isfinite(float(v)):
                return "expected a finite number"
            low = b.lo is not None and (v <= b.lo if b.lo_open else v < b.lo)
            high = b.hi is not None and v > b.hi
            if low or high:
                return f"out of range: allowed {b.describe()}"
        if k == "time":
            try:
                hh, mm = str(v).split(":")
                if not (len(hh) == 2 and len(mm) == 2 and 0 <= int(hh) < 24 and 0 <= int(mm) < 60):
                    raise ValueError
            except ValueError:
                return 'expected a time of day as "HH:MM"'
        return ""

    def _on_change(self, *_: Any) -> None:
        problem = self.check()
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        if isinstance(self.widget, QLineEdit):
            _set_style_flag(self.widget, "invalid", bool(problem))
        modified = self.is_modified()
        _set_style_flag(self.label, "modified", modified)
        self.label.setText(_nice(self.path[-1]) + (" *" if modified else ""))
        self.changed.emit()


def _set_style_flag(w: QWidget, name: str, on: bool) -> None:
    """Set a property the stylesheet matches on; re-polish only when it changes (polishing
    is the costly part of building a page of 150 fields)."""
    if bool(w.property(name)) == on:
        return
    w.setProperty(name, on)
    w.style().unpolish(w)
    w.style().polish(w)


# ------------------------------------------------------------------- the dialog


def _section_object(manager: ConfigManager, filename: str) -> Any:
    """The file's validated content as on disk; the configuration in force if it is bad."""
    try:
        return check_file(manager.config_dir / filename)
    except ConfigError:
        return getattr(manager.current, SECTION_FIELD[filename])


def _same(a: Any, b: Any) -> bool:
    """Equal values, floats up to what their text in a field can hold."""
    if isinstance(a, float) and isinstance(b, int | float) and not isinstance(b, bool):
        return math.isclose(a, float(b), rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _stamp_of(version: Path) -> str:
    """When a version was saved, in the app's time zone (ET, as every time the app shows).
    The file names carry the computer's local time."""
    try:
        stamp = version.name.split(".")[1]
        local = datetime.strptime(stamp, "%Y%m%d-%H%M%S-%f").astimezone()
        return local.astimezone(ET).strftime("%Y-%m-%d %H:%M:%S ET")
    except (IndexError, ValueError):
        return version.name


def diff_html(diffs: dict[str, str]) -> str:
    pos, neg, acc, muted = (
        theme.hex_color("pos"),
        theme.hex_color("neg"),
        theme.hex_color("accent"),
        theme.hex_color("muted"),
    )
    out = []
    for text in diffs.values():
        for line in text.splitlines():
            esc = html.escape(line)
            if line.startswith(("+++", "---")):
                out.append(f"<b style='color:{acc}'>{esc}</b>")
            elif line.startswith("@@"):
                out.append(f"<span style='color:{muted}'>{esc}</span>")
            elif line.startswith("+"):
                out.append(f"<span style='color:{pos}'>{esc}</span>")
            elif line.startswith("-"):
                out.append(f"<span style='color:{neg}'>{esc}</span>")
            else:
                out.append(esc)
        out.append("")
    return "<pre style='font-family: monospace'>" + "\n".join(out) + "</pre>"


def unified(filename: str, old: str, new: str, old_label: str = "current") -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{filename} ({old_label})",
            tofile=f"{filename} (new)",
        )
    )


@dataclasses.dataclass(frozen=True)
class _PageSpec:
    title: str
    filename: str
    prefix: tuple[str, ...]
    obj: Any
    only: list[str] | None


def _field_paths(
    filename: str, prefix: tuple[str, ...], obj: Any, only: list[str] | None = None
) -> list[KeyPath]:
    """The key paths a page shows (nested sections included), without building it."""
    hints = typing.get_type_hints(type(obj))
    out: list[KeyPath] = []
    for f in dataclasses.fields(obj):
        if not f.init or (only is not None and f.name not in only):
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            out += _field_paths(filename, (*prefix, f.name), getattr(obj, f.name))
        else:
            out.append((filename, *prefix, f.name))
    return out


class ParameterEditor(QDialog):
    """Edit, validate, diff, save and restore the YAML parameter files."""

    saved = Signal(list)  # the file names written

    def __init__(
        self,
        manager: ConfigManager,
        parent: QWidget | None = None,
        *,
        on_saved: Callable[[list[str]], None] | None = None,
        confirm_live: Callable[[], bool] | None = None,
        evidence: Any = None,
    ) -> None:
        super().__init__(parent)
        self.evidence = evidence  # the backtester's service: "What would this change do?"
        self.setWindowTitle("Parameters")
        self.setObjectName("parameterEditor")
        self.resize(980, 700)
        self.manager = manager
        self.on_saved = on_saved
        self.confirm_live = confirm_live
        self.fields: dict[KeyPath, FieldEditor] = {}
        self.pending: dict[str, str] = {}  # file name -> new text, while reviewing
        # Values proposed by propose() and where they came from (None: the user's own edits).
        self.proposal: dict[KeyPath, Any] = {}
        self.proposal_origin: str | None = None

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_editor_tab(), "Parameters")
        self.tabs.addTab(self._build_history_tab(), "History")
        self.tabs.currentChanged.connect(lambda i: self.refresh_history() if i == 1 else None)

        self.error_box = QLabel("")
        self.error_box.setObjectName("errorBox")
        self.error_box.setWordWrap(True)
        self.error_box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_box.setVisible(False)
        self.info = QLabel("")
        self.info.setObjectName("muted")

        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(self.error_box)
        lay.addWidget(self.info)
        self._update_buttons()

    # ------------------------------------------------------------ editor tab
    def _build_editor_tab(self) -> QWidget:
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setMinimumWidth(210)
        self.tree.setToolTip("Parameter groups: per file, then per section or strategy")
        self.page_area = QScrollArea()
        self.page_area.setWidgetResizable(True)
        self._specs: list[_PageSpec] = []
        self._built: dict[int, QWidget] = {}
        self._page_of_path: dict[KeyPath, int] = {}
        self._item_of_page: dict[int, QTreeWidgetItem] = {}
        self.current_page = -1
        for filename in FILE_ORDER:
            self._add_file(filename)
        self.tree.expandAll()
        self.tree.currentItemChanged.connect(self._tree_changed)

        self.review_view = QTextBrowser()
        self.review_view.setFont(QFont("monospace"))
        self.review_title = QLabel("")
        self.save_btn = QPushButton("Save")
        self.save_btn.setObjectName("approve")
        self.save_btn.setToolTip("Write the files (the previous versions are kept in History)")
        self.back_btn = QPushButton("Back to editing")
        self.save_btn.clicked.connect(self.save)
        self.back_btn.clicked.connect(self.back)
        review = QWidget()
        rl = QVBoxLayout(review)
        rl.addWidget(self.review_title)
        rl.addWidget(self.review_view, 1)
        rb = QHBoxLayout()
        rb.addStretch(1)
        rb.addWidget(self.back_btn)
        rb.addWidget(self.save_btn)
        rl.addLayout(rb)

        self.main_stack = QStackedWidget()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.tree)
        split.addWidget(self.page_area)
        split.setSizes([230, 720])
        self.main_stack.addWidget(split)
        self.main_stack.addWidget(review)
        self.main_stack.addWidget(self._build_preview_page())

        self.review_btn = QPushButton("Review changes...")
        self.review_btn.setToolTip("Validate the edits and show what would change")
        self.review_btn.clicked.connect(self.review)
        self.preview_btn = QPushButton("What would this change do?")
        self.preview_btn.setToolTip(
            "Backtest the current and the edited values side by side (in worker processes)"
        )
        self.preview_btn.clicked.connect(self.open_preview)
        self.revert_btn = QPushButton("Revert")
        self.revert_btn.setToolTip("Throw away the edits not saved yet")
        self.revert_btn.clicked.connect(self.revert)
        self.close_btn = QPushButton("Close")
        self.close_btn.clicked.connect(self.reject)
        self.changes_label = QLabel("")
        self.changes_label.setObjectName("muted")
        buttons = QHBoxLayout()
        buttons.addWidget(self.changes_label, 1)
        buttons.addWidget(self.revert_btn)
        buttons.addWidget(self.preview_btn)
        buttons.addWidget(self.review_btn)
        buttons.addWidget(self.close_btn)

        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.main_stack, 1)
        lay.addLayout(buttons)
        if self._specs:
            self.show_page(0)
        return w

    def _add_file(self, filename: str) -> None:
        top = QTreeWidgetItem([f"{FILE_TITLES[filename]}  ({filename})"])
        top.setToolTip(0, str(self.manager.config_dir / filename))
        self.tree.addTopLevelItem(top)
        obj = _section_object(self.manager, filename)
        if filename == "strategies.yaml":
            for name, params in obj.items():
                self._add_page(top, name, filename, (name,), params)
            return
        cls = SECTIONS[filename]
        hints = typing.get_type_hints(cls)
        scalars = [
            f
            for f in dataclasses.fields(cls)
            if f.init and not dataclasses.is_dataclass(hints[f.name])
        ]
        if scalars:
            self._add_page(top, "general", filename, (), obj, only=[f.name for f in scalars])
        for f in dataclasses.fields(cls):
            if f.init and dataclasses.is_dataclass(hints[f.name]):
                self._add_page(top, f.name, filename, (f.name,), getattr(obj, f.name))

    def _add_page(
        self,
        parent: QTreeWidgetItem,
        title: str,
        filename: str,
        prefix: tuple[str, ...],
        obj: Any,
        only: list[str] | None = None,
    ) -> None:
        """Register a page; its widgets are built when it is first shown (a page of a
        dozen typed fields costs tens of milliseconds to build, all of them seconds)."""
        index = len(self._specs)
        self._specs.append(_PageSpec(title, filename, prefix, obj, only))
        for path in _field_paths(filename, prefix, obj, only):
            self._page_of_path[path] = index
        item = QTreeWidgetItem([_nice(title)])
        item.setData(0, Qt.ItemDataRole.UserRole, index)
        parent.addChild(item)
        self._item_of_page[index] = item

    def _page(self, index: int) -> QWidget:
        page = self._built.get(index)
        if page is not None:
            return page
        spec = self._specs[index]
        page = QWidget()
        grid = QGridLayout(page)
        grid.setColumnStretch(3, 1)
        heading = QLabel(
            f"<b>{html.escape(FILE_TITLES[spec.filename])} · {html.escape(_nice(spec.title))}</b>"
            f" <span style='color:{theme.hex_color('muted')}'>({spec.filename})</span>"
        )
        grid.addWidget(heading, 0, 0, 1, 4)
        row = self._add_fields(
            grid, 1, spec.filename, spec.prefix, self._current_obj(spec), spec.only
        )
        grid.setRowStretch(row, 1)
        self._built[index] = page
        return page

    def _current_obj(self, spec: _PageSpec) -> Any:
        """The page's section as on disk now (a save may have changed it since opening)."""
        obj = _section_object(self.manager, spec.filename)
        for key in spec.prefix:
            obj = obj[key] if isinstance(obj, Mapping) else getattr(obj, key)
        return obj

    def show_page(self, index: int) -> None:
        page = self._page(index)
        if self.page_area.widget() is not page:
            self.page_area.takeWidget()  # ownership stays with self._built
            self.page_area.setWidget(page)
        self.current_page = index
        item = self._item_of_page.get(index)
        if item is not None and self.tree.currentItem() is not item:
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(item)
            self.tree.blockSignals(False)

    def _add_fields(
        self,
        grid: QGridLayout,
        row: int,
        filename: str,
        prefix: tuple[str, ...],
        obj: Any,
        only: list[str] | None = None,
    ) -> int:
        cls = type(obj)
        hints = typing.get_type_hints(cls)
        plain = to_plain(obj)
        nested = []
        for f in dataclasses.fields(cls):
            if not f.init or (only is not None and f.name not in only):
                continue
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                nested.append(f)
                continue
            path = (filename, *prefix, f.name)
            ed = FieldEditor(path, tp, bounds_of(f), plain[f.name])
            ed.changed.connect(self._update_buttons)
            ed.changed.connect(self._recheck_errors)
            self.fields[path] = ed
            grid.addWidget(ed.label, row, 0)
            grid.addWidget(ed, row, 1)
            grid.addWidget(ed.allowed, row, 2)
            doc = QLabel(bounds_of(f).doc)
            doc.setTextFormat(Qt.TextFormat.PlainText)
            doc.setObjectName("muted")
            doc.setWordWrap(True)
            grid.addWidget(doc, row, 3)
            row += 1
            grid.addWidget(ed.problem, row, 1, 1, 3)
            row += 1
        for f in nested:
            box = QGroupBox(_nice(f.name))
            inner = QGridLayout(box)
            inner.setColumnStretch(3, 1)
            self._add_fields(inner, 0, filename, (*prefix, f.name), getattr(obj, f.name))
            grid.addWidget(box, row, 0, 1, 4)
            row += 1
        return row

    def _tree_changed(self, item: QTreeWidgetItem | None, _prev: Any) -> None:
        if item is None:
            return
        index = item.data(0, Qt.ItemDataRole.UserRole)
        if index is None and item.childCount():
            index = item.child(0).data(0, Qt.ItemDataRole.UserRole)
        if index is not None:
            self.show_page(int(index))

    def field_paths(self) -> list[KeyPath]:
        """Every parameter of every file (built or not)."""
        return list(self._page_of_path)

    def field(self, *path: str) -> FieldEditor:
        """``path``'s editor (its page is built if it was not yet)."""
        key = tuple(path)
        if key not in self.fields:
            self._page(self._page_of_path[key])
        return self.fields[key]

    def show_field(self, path: KeyPath) -> FieldEditor:
        """Bring ``path``'s page up and return its editor."""
        self.main_stack.setCurrentIndex(0)
        self.show_page(self._page_of_path[path])
        ed = self.fields[path]
        ed.widget.setFocus()
        return ed

    # --------------------------------------------------------------- actions
    def modified(self) -> dict[KeyPath, FieldEditor]:
        return {p: ed for p, ed in self.fields.items() if ed.is_modified()}

    def _update_buttons(self) -> None:
        mods = self.modified()
        files = sorted({p[0] for p in mods})
        self.review_btn.setEnabled(bool(mods))
        self.revert_btn.setEnabled(bool(mods))
        self.preview_btn.setEnabled(bool(mods) and self.evidence is not None)
        self.changes_label.setText(
            f"{len(mods)} change(s) in {', '.join(files)} not saved yet" if mods else "No changes."
        )

    def revert(self) -> None:
        self.proposal, self.proposal_origin = {}, None
        for ed in self.fields.values():
            ed.set_value(ed.original)
        self.back()
        self._show_errors([])

    def _new_texts(self) -> dict[str, str]:
        changes: dict[str, dict[tuple[str, ...], Any]] = {}
        for path, ed in self.modified().items():
            changes.setdefault(path[0], {})[path[1:]] = ed.value()
        out = {}
        for filename, ch in changes.items():
            path = self.manager.config_dir / filename
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            out[filename] = set_values(old, ch)
        return out

    def propose(self, values: Mapping[KeyPath, Any], origin: str) -> bool:
        """Put ``values`` into their fields and open the review (diff and validation), as if
        the user had typed them; nothing is written until the user saves. The saved version
        names ``origin`` in the history. True when the review shows a diff; False when the
        values break a rule (listed) or are what the files already say (nothing to save)."""
        unknown = [".".join(p) for p in values if p not in self._page_of_path]
        if unknown:
            raise KeyError(f"no such parameter: {', '.join(unknown)}")
        self.revert()
        for path, value in values.items():
            self.field(*path).set_value(value)
        self.proposal = dict(values)
        self.proposal_origin = origin
        if not self.modified():
            self.info.setText(f"The values of {origin} are already in force: nothing to save.")
            return False
        first = next(iter(self.modified()))
        self.show_field(first)
        return self.review()

    def save_origin(self) -> str | None:
        """What the history names as the origin of the version a save now writes."""
        if self.proposal_origin is None:
            return None
        mods = self.modified()
        same = all(_same(self.field(*p).value(), v) for p, v in self.proposal.items()) and all(
            p in self.proposal for p in mods
        )
        return self.proposal_origin if same else f"{self.proposal_origin}, then edited by hand"

    def review(self) -> bool:
        """Validate the edits; show the diff (True) or every problem (False). Writes nothing."""
        texts = self._new_texts()
        errors = self._errors(texts)
        if errors:
            self._show_errors(errors)
            self.pending = {}
            return False
        self._show_errors([])
        self.pending = texts
        diffs = {}
        for filename, text in texts.items():
            path = self.manager.config_dir / filename
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            diffs[filename] = unified(filename, old, text)
        origin = self.save_origin()
        source = f" from {html.escape(origin)}" if origin else ""
        self.review_title.setText(
            f"<b>Review</b>: {len(self.modified())} change(s){source} in "
            f"{', '.join(sorted(texts))}. "
            "Save writes the files atomically and keeps the previous versions."
            + (
                " The change preview is kept with them (History: what it was expected to do)."
                if self.preview.result_for(self.edits()) is not None
                else ""
            )
        )
        self.review_view.setHtml(diff_html(diffs))
        self.main_stack.setCurrentIndex(1)
        self.review_btn.setEnabled(False)
        return True

    def back(self) -> None:
        self.pending = {}
        self.main_stack.setCurrentIndex(0)
        self._update_buttons()

    def save(self) -> bool:
        """Write the reviewed files. Returns False (nothing written) if any is refused."""
        if not self.pending:
            return False
        texts = dict(self.pending)
        if "app.yaml" in texts and not self._live_confirmed(texts["app.yaml"]):
            self._show_errors(["app.yaml: mode live was not confirmed; nothing was saved"])
            return False
        # Validate everything first: one bad file means no file is written.
        errors = self._errors(texts)
        if errors:
            self._show_errors(errors)
            return False
        written, versions = [], []
        previewed = self.preview.result_for(self.edits())
        origin = self.save_origin()
        for filename, text in texts.items():
            try:
                versions.append(self.manager.save(filename, text, origin=origin))
            except (ConfigError, OSError) as exc:
                msg = exc.errors if isinstance(exc, ConfigError) else [f"{filename}: {exc}"]
                self._show_errors(
                    [*msg, f"saved before the problem: {', '.join(written) or 'none'}"]
                )
                self._after_save(written)
                return False
            written.append(filename)
        if previewed is not None:  # what this change was expected to do, with its versions
            keep_preview([v for v in versions if v is not None], previewed)
        self._after_save(written)
        self.info.setText(f"Saved {', '.join(written)}; the engine reloads at its next safe point.")
        return True

    def _live_confirmed(self, app_yaml: str) -> bool:
        """True unless ``app_yaml`` switches to live mode and the user did not type LIVE."""
        if not self._goes_live(app_yaml):
            return True
        return self.confirm_live is not None and bool(self.confirm_live())

    def _goes_live(self, text: str) -> bool:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            return False
        was = getattr(self.manager.current, "app", None)
        return data.get("mode") == "live" and getattr(was, "mode", None) != "live"

    def _after_save(self, written: list[str]) -> None:
        self.pending = {}
        self.proposal, self.proposal_origin = {}, None
        for filename in written:
            self._reload_originals(filename)
        self.main_stack.setCurrentIndex(0)
        self._update_buttons()
        self.refresh_history()
        if written:
            self.saved.emit(written)
            if self.on_saved is not None:
                self.on_saved(written)

    def _reload_originals(self, filename: str) -> None:
        obj = _section_object(self.manager, filename)
        plain = (
            to_plain(obj)
            if filename != "strategies.yaml"
            else {k: to_plain(v) for k, v in obj.items()}
        )
        for path, ed in self.fields.items():
            if path[0] != filename:
                continue
            node: Any = plain
            for k in path[1:]:
                node = node.get(k) if isinstance(node, dict) else None
            ed.original = node
            ed.set_value(node)

    def _recheck_errors(self) -> None:
        """While the "Not saved" banner shows, every edit checks the set again: the banner
        lists what is still wrong, and goes once it is all fixed (without reviewing)."""
        if getattr(self, "last_errors", None):
            self._show_errors(self._errors(self._new_texts()))

    def _errors(self, texts: dict[str, str]) -> list[str]:
        """Every problem of the edited files' new texts (the schema's messages)."""
        errors: list[str] = []
        for filename, text in texts.items():
            try:
                self.manager.validate_text(filename, text)
            except ConfigError as exc:
                errors.extend(exc.errors)
        return errors

    def _show_errors(self, errors: list[str]) -> None:
        if errors:
            self.error_box.setText(
                "<b>Not saved.</b> Fix these and review again:<br>"
                + "<br>".join(html.escape(e) for e in errors)
            )
        self.error_box.setVisible(bool(errors))
        self.last_errors = list(errors)

    # ------------------------------------------------------------ change preview
    def edits(self) -> dict[KeyPath, Any]:
        """The edited values not saved yet."""
        return {p: ed.value() for p, ed in self.modified().items()}

    def _build_preview_page(self) -> QWidget:
        self.preview = ChangePreview(self.edits)
        self.preview.set_service(self.evidence)
        # Review and Save are the editor's own buttons below; this page only leads back.
        self.preview_back_btn = QPushButton("Back to editing")
        self.preview_back_btn.clicked.connect(self.back)
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.addWidget(self.preview, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.preview_back_btn)
        lay.addLayout(row)
        return w

    def done(self, result: int) -> None:
        """Closing the editor stops a preview still running (its child and workers)."""
        self.preview.cancel()
        super().done(result)

    def open_preview(self) -> None:
        """Show the preview page and run it for the edits (unless it already has)."""
        if not self.modified():
            return
        self.main_stack.setCurrentIndex(2)
        if self.preview.result_for(self.edits()) is None and not self.preview.running:
            self.preview.run()

    # ------------------------------------------------------------ history tab
    def _build_history_tab(self) -> QWidget:
        self.history_file = QComboBox()
        for filename in FILE_ORDER:
            self.history_file.addItem(f"{FILE_TITLES[filename]} ({filename})", filename)
        self.history_file.currentIndexChanged.connect(lambda _i: self.refresh_history())
        self.history_current = QLabel("")
        self.history_current.setObjectName("muted")
        self.history_current.setWordWrap(True)
        self.history_list = QListWidget()
        self.history_list.setToolTip("Previous versions, newest first")
        self.history_list.currentItemChanged.connect(self._history_selected)
        self.history_diff = QTextBrowser()
        self.restore_btn = QPushButton("Restore this version")
        self.restore_btn.setToolTip(
            "Make the selected version current again (the current one is kept in History)"
        )
        self.restore_btn.clicked.connect(self.restore_selected)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.history_file)
        ll.addWidget(self.history_current)
        ll.addWidget(self.history_list, 1)
        ll.addWidget(self.restore_btn)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.history_diff)
        split.setSizes([300, 650])
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.addWidget(split)
        self.refresh_history()
        return w

    def versions(self, filename: str) -> list[Path]:
        return history(self.manager.history_dir, filename)

    def refresh_history(self) -> None:
        filename = self.history_file.currentData()
        self.history_list.clear()
        named = origins(self.manager.history_dir, filename)
        current = origin_of(self.manager.history_dir, filename, self.manager.config_dir / filename)
        self.history_current.setText(
            f"In force: {'from ' + current if current else 'as last edited'}"
        )
        for v in self.versions(filename):
            previewed = " · previewed" if preview_path(v).exists() else ""
            try:
                origin = named.get(text_digest(v.read_bytes()))
            except OSError:
                origin = None
            item = QListWidgetItem(
                _stamp_of(v) + previewed + (f"  ·  from {origin}" if origin else "")
            )
            item.setData(Qt.ItemDataRole.UserRole, str(v))
            item.setToolTip(str(v) + (f"\nfrom {origin}" if origin else ""))
            self.history_list.addItem(item)
        if not self.history_list.count():
            self.history_diff.setHtml(
                f"<p>No previous versions of {html.escape(filename)} yet: every save keeps one.</p>"
            )
        self.restore_btn.setEnabled(self.history_list.count() > 0)
        if self.history_list.count():
            self.history_list.setCurrentRow(0)

    def _history_selected(self, item: QListWidgetItem | None, _prev: Any) -> None:
        if item is None:
            return
        version = Path(item.data(Qt.ItemDataRole.UserRole))
        filename = self.history_file.currentData()
        current = self.manager.config_dir / filename
        cur = current.read_text(encoding="utf-8") if current.exists() else ""
        old = version.read_text(encoding="utf-8")
        d = unified(filename, cur, old, "current").replace(
            f"{filename} (new)", f"{filename} ({_stamp_of(version)})"
        )
        self.history_diff.setHtml(
            expected_html(preview_of(version), _stamp_of(version))
            + (diff_html({filename: d}) if d else "<p>Same as the current file.</p>")
        )

    def restore_selected(self) -> bool:
        item = self.history_list.currentItem()
        if item is None:
            return False
        version = Path(item.data(Qt.ItemDataRole.UserRole))
        filename = self.history_file.currentData()
        if filename == "app.yaml" and not self._live_confirmed(version.read_text(encoding="utf-8")):
            self._show_errors(["app.yaml: mode live was not confirmed; nothing was restored"])
            return False
        try:
            self.manager.restore(version)
        except ConfigError as exc:
            self._show_errors(
                ["This version cannot be restored under the current rules:", *exc.errors]
            )
            return False
        self._show_errors([])
        self.info.setText(f"Restored {filename} from {_stamp_of(version)}.")
        self._after_save([filename])
        return True
