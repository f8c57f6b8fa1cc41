"""The Qt binding must not leak references to None (PySide6 6.12.0 on Python 3.11 does)."""

from __future__ import annotations

import pytest

from workstation.ui import compat

pytestmark = pytest.mark.gui


def test_installed_binding_is_sound() -> None:
    assert compat.none_refcount_drift() < compat.CALLS // 2
    assert compat.binding_problem() == ""


def test_a_leaking_binding_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "none_refcount_drift", lambda: compat.CALLS)
    msg = compat.binding_problem()
    assert "reference-counting bug" in msg
    assert "PySide6-Essentials>=6.6,<6.12" in msg
