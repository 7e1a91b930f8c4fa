"""Sizes that keep the window readable at 1280×800 with every dock open (see tests/test_layout.py).

- `READABLE_PLOT_HEIGHT`: the least height (px) of a plot: title, axis labels and a drawing area
  that is more than a strip.
- `scrollable(widget)`: a dock's content in a scroll area, so a dock can be made smaller than what
  its content needs without raising the window's minimum size or cutting anything: it scrolls.
- `fit_columns(table)`: a table at least as wide as its header texts need (in a scroll area it
  scrolls instead of cutting them).
- `fit_width(label, *texts)`: a label at least as wide as the widest of its texts, so it is not cut
  and does not jump as its text changes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QFrame, QLabel, QScrollArea, QWidget

READABLE_PLOT_HEIGHT = 170


def scrollable(widget: QWidget) -> QScrollArea:
    """`widget` in a frameless scroll area that resizes it (scroll bars only when needed)."""
    area = QScrollArea()
    area.setObjectName(f"{widget.objectName() or 'content'}Scroll")
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    area.setWidget(widget)
    return area


def fit_width(label: QLabel, *texts: str) -> None:
    """Make `label` at least as wide as the widest of `texts` in its font."""
    metrics = label.fontMetrics()
    margins = label.contentsMargins()
    width = max(metrics.horizontalAdvance(t) for t in texts) + margins.left() + margins.right() + 4
    label.setMinimumWidth(width)


def fit_columns(view: QAbstractItemView) -> None:
    """Make a table/tree at least as wide as its horizontal header's sections need to show their
    titles whole (the style's padding included)."""
    header = view.horizontalHeader() if hasattr(view, "horizontalHeader") else view.header()
    view.ensurePolished()
    header.ensurePolished()
    need = sum(header.sectionSizeHint(i) for i in range(header.count()))
    view.setMinimumWidth(need + 2 * view.frameWidth() + 12)
