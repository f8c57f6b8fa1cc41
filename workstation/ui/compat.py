"""A check of the Qt binding before the window opens.

PySide6 6.12.0 as installed on Python 3.11 drops a reference to ``None`` on every call of
a method returning nothing (``QLabel.setText``, ``QPainter.drawLine``, ...). On Python 3.12+
``None`` is immortal and nothing happens; on 3.11 its count reaches zero after some
thousands of calls and the interpreter aborts ("Fatal Python error: none_dealloc"). The
workstation would crash minutes after it opened, so it refuses to start on such a binding
with a message saying what to install instead.
"""

from __future__ import annotations

import sys

CALLS = 200


def none_refcount_drift() -> int:
    """How many references to None ``CALLS`` void Qt calls lose (0 on a sound binding)."""
    from PySide6.QtCore import QPointF

    p = QPointF()
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        p.setX(1.0)
    return before - sys.getrefcount(None)


def binding_problem() -> str:
    """A message naming the problem and the fix, or "" when the binding is sound."""
    lost = none_refcount_drift()
    # A few references may come and go with unrelated work; a leak per call is CALLS.
    if lost < CALLS // 2:
        return ""
    import PySide6

    return (
        f"PySide6 {PySide6.__version__} on Python {sys.version.split()[0]} has a reference-"
        "counting bug that would crash the workstation after a few minutes. Install a "
        'sound version: pip install "PySide6-Essentials>=6.6,<6.12" (or use Python 3.12+).'
    )
