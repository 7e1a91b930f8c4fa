"""Queue of songs with per-item status (queued, opening, separating %, done, failed, cancelled).

Double-click (or Enter on) an item to display it; finished songs open instantly from the cache.
Several items can be selected; the context menu's *Export…* exports all selected songs at once.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QMenu, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from .session import QueueItem

logger = logging.getLogger(__name__)

QUEUE_MIN_WIDTH = 200   # px: a song name and its status readable side by side

STATUS_TEXT = {"queued": "Queued", "loading": "Opening…", "separating": "Separating",
               "done": "Done", "failed": "Failed", "cancelled": "Cancelled",
               "partial": "Selection only", "ready": "Ready"}


def status_text(item: QueueItem) -> str:
    text = STATUS_TEXT.get(item.status, item.status)
    if item.status == "separating" and item.fraction > 0:
        text += f" {item.fraction * 100:.0f} %"
    if item.message and item.status in ("done", "ready", "partial"):
        text += f" — {item.message}"
    return text


class QueuePanel(QWidget):
    """See module doc. `activated(QueueItem)` when the user picks an item."""

    activated = Signal(object)
    cancel_requested = Signal(object)
    remove_requested = Signal(object)
    export_requested = Signal(list)        # [QueueItem]: the songs to export

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("queuePanel")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Song", "Status"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemDoubleClicked.connect(self._activated)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self._rows: dict[int, QTreeWidgetItem] = {}
        # never a strip showing "Sor" and "Statu" (a stored layout cannot make it narrower)
        self.setMinimumWidth(QUEUE_MIN_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)

    def add_item(self, item: QueueItem) -> None:
        row = QTreeWidgetItem([item.path.name, status_text(item)])
        row.setToolTip(0, str(item.path))
        row.setData(0, Qt.ItemDataRole.UserRole, item)
        self._rows[id(item)] = row
        self.tree.addTopLevelItem(row)

    def update_item(self, item: QueueItem) -> None:
        row = self._rows.get(id(item))
        if row is None:
            self.add_item(item)
            return
        row.setText(1, status_text(item))
        # the column is narrow: its tooltip holds the whole status (device, or the failure reason)
        row.setToolTip(1, item.message if item.status == "failed" else status_text(item))

    def status_of(self, item: QueueItem) -> str:
        row = self._rows.get(id(item))
        return row.text(1) if row is not None else ""

    def remove_item(self, item: QueueItem) -> None:
        row = self._rows.pop(id(item), None)
        if row is not None:
            self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(row))

    def selected_items(self) -> list[QueueItem]:
        return [row.data(0, Qt.ItemDataRole.UserRole) for row in self.tree.selectedItems()]

    def _context_menu(self, pos) -> None:
        row = self.tree.itemAt(pos)
        item = row.data(0, Qt.ItemDataRole.UserRole) if row is not None else None
        if item is None:
            return
        self.context_menu(item).exec(self.tree.viewport().mapToGlobal(pos))

    def context_menu(self, item: QueueItem) -> QMenu:
        """The menu for a right-click on `item` (acting on the selection when `item` is in it)."""
        menu = QMenu(self)
        menu.addAction("Show", lambda: self.activated.emit(item))
        selected = self.selected_items()
        songs = selected if item in selected else [item]
        label = f"Export {len(songs)} songs…" if len(songs) > 1 else "Export…"
        menu.addAction(label, lambda: self.export_requested.emit(songs))
        if item.status in ("separating", "queued", "loading"):
            menu.addAction("Cancel", lambda: self.cancel_requested.emit(item))
        else:
            menu.addAction("Remove from queue", lambda: self.remove_requested.emit(item))
        return menu

    def count(self) -> int:
        return self.tree.topLevelItemCount()

    def _activated(self, row: QTreeWidgetItem, _column: int = 0) -> None:
        item = row.data(0, Qt.ItemDataRole.UserRole)
        if item is not None:
            self.activated.emit(item)
