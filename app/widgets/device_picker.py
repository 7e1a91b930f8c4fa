"""Compute device picker: "Auto" plus every device torch sees, with its memory.

The list is filled from a worker (`model.devices.list_devices()` imports torch), so the window
never waits for torch. The selection is a device id string ("auto", "cpu", "cuda:0", "mps").
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox

logger = logging.getLogger(__name__)


def describe(info: Any) -> str:
    """'cuda:0 — NVIDIA H100 (79.1 GB)' from a DeviceInfo."""
    mem = getattr(info, "memory_bytes", None)
    name = getattr(info, "name", "") or ""
    text = f"{info.id} — {name}" if name and name != info.id else str(info.id)
    if mem:
        text += f" ({mem / 1e9:.1f} GB)"
    return text


class DevicePicker(QComboBox):
    """Combo box of compute devices; `device_changed(id)` when the user picks one."""

    device_changed = Signal(str)

    def __init__(self, current: str = "auto", parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("devicePicker")
        self.setToolTip("Compute device for separation (Auto picks the fastest that works)")
        self._wanted = current
        self.addItem("Auto", "auto")
        if current != "auto":
            self.addItem(current, current)
            self.setCurrentIndex(1)
        self.currentIndexChanged.connect(self._emit)

    def set_devices(self, devices: Iterable[Any]) -> None:
        """Fill the list with DeviceInfo objects, keeping the current choice when it still exists."""
        wanted = self.device_id()
        self.blockSignals(True)
        self.clear()
        self.addItem("Auto", "auto")
        for info in devices:
            self.addItem(describe(info), str(info.id))
        index = self.findData(wanted)
        if index < 0 and wanted != "auto":
            self.addItem(f"{wanted} (not available)", wanted)
            index = self.count() - 1
        self.setCurrentIndex(max(0, index))
        self.blockSignals(False)

    def device_id(self) -> str:
        return str(self.currentData() or "auto")

    def _emit(self, _index: int) -> None:
        self.device_changed.emit(self.device_id())
