"""One selected symbol shared by the panels.

Selecting a row in the candidates, positions, orders or journal table selects its symbol
everywhere: the other tables select their row of that symbol (when they have one) and the
chart shows it. :class:`SymbolSelection` holds the symbol and says who chose it; a panel that
follows a selection never announces it again (selecting the same symbol is no change), so the
panels cannot chase each other.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class SymbolSelection(QObject):
    """The symbol selected in the window. ``changed(symbol, source)`` is emitted once per
    change; ``source`` is the panel's object name (or "chart" for the symbol box)."""

    changed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.symbol = ""
        self.source = ""

    def select(self, symbol: str, source: str) -> bool:
        """Select ``symbol``; False (nothing announced) when it already is the selection."""
        symbol = symbol.strip().upper()
        if not symbol or symbol == self.symbol:
            return False
        self.symbol, self.source = symbol, source
        self.changed.emit(symbol, source)
        return True


__all__ = ["SymbolSelection"]
