"""Preferences: sound output device, segment length, separate-on-open, and the result cache
(size limit, precision, clear)."""

from __future__ import annotations

import logging
import shutil

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFormLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout)

from ..audio.player import output_device_names
from ..cache import ResultCache
from ..settings import Settings

logger = logging.getLogger(__name__)


class PreferencesDialog(QDialog):
    def __init__(self, settings: Settings, cache: ResultCache, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("StemDeck preferences")
        self.settings, self.cache = settings, cache
        self.output = QComboBox()
        self.output.setObjectName("outputDevice")
        self.output.addItem("System default", "")
        for name in output_device_names():
            self.output.addItem(name, name)
        chosen = settings.get("output_device")
        if chosen and self.output.findData(chosen) < 0:   # remembered, but not connected now
            self.output.addItem(f"{chosen} (not available)", chosen)
        self.output.setCurrentIndex(max(0, self.output.findData(chosen)))
        self.output.setToolTip("Where StemDeck plays; applied when you press OK")
        self.segment = QDoubleSpinBox()
        self.segment.setRange(0.0, 60.0)
        self.segment.setSingleStep(0.5)
        self.segment.setSuffix(" s")
        self.segment.setSpecialValueText("Model default")
        self.segment.setValue(settings.get("segment_seconds"))
        self.segment.setToolTip("Shorter segments use less memory (try 4 s if the GPU runs out)")
        self.auto = QCheckBox("Start separating as soon as a song is opened")
        self.auto.setChecked(settings.get("auto_separate"))
        self.limit = QDoubleSpinBox()
        self.limit.setRange(0.1, 1000.0)
        self.limit.setSuffix(" GB")
        self.limit.setValue(settings.get("cache_limit_gb"))
        self.dtype = QComboBox()
        self.dtype.addItem("32-bit float (lossless)", "float32")
        self.dtype.addItem("16-bit float (half the disk)", "float16")
        self.dtype.setCurrentIndex(max(0, self.dtype.findData(settings.get("cache_dtype"))))
        self.usage = QLabel()
        clear = QPushButton("Clear cache")
        clear.clicked.connect(self.clear_cache)
        row = QHBoxLayout()
        row.addWidget(self.usage, 1)
        row.addWidget(clear)
        form = QFormLayout()
        form.addRow("Sound output", self.output)
        form.addRow("Segment length", self.segment)
        form.addRow("", self.auto)
        form.addRow("Cache size limit", self.limit)
        form.addRow("Cache precision", self.dtype)
        form.addRow("Cache", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._show_usage()

    def _show_usage(self) -> None:
        entries = self.cache.entries()
        self.usage.setText(f"{len(entries)} song(s), {sum(e[1] for e in entries) / 1e9:.2f} GB "
                           f"in {self.cache.root}")

    def clear_cache(self) -> None:
        for entry, _size, _t in self.cache.entries():
            shutil.rmtree(entry, ignore_errors=True)
        logger.info("cache cleared")
        self._show_usage()

    def accept(self) -> None:
        self.settings.set("output_device", self.output.currentData())
        self.settings.set("segment_seconds", self.segment.value())
        self.settings.set("auto_separate", self.auto.isChecked())
        self.settings.set("cache_limit_gb", self.limit.value())
        self.settings.set("cache_dtype", self.dtype.currentData())
        self.cache.max_bytes = int(self.limit.value() * 1e9)
        self.cache.dtype = ResultCache(self.cache.root, dtype=self.dtype.currentData()).dtype
        super().accept()
