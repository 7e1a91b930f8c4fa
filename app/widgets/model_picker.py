"""Model picker: "Default" plus every installed model (bundled and user), with its card as tooltip.

Filled from a worker (`model.model_store.installed_models()` imports torch). The choice is a model
name, or "" for the default that `stemdeck` (CLI and GUI) share.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox

logger = logging.getLogger(__name__)


def card_tooltip(model: Any) -> str:
    card = model.card
    lines = [f"{model.name} ({getattr(model, 'location', '')})"]
    if card.description:
        lines.append(card.description)
    if card.parameters:
        lines.append(f"{card.parameters:,} parameters, {card.config.samplerate} Hz")
    for key, value in (card.metrics or {}).items():
        lines.append(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
    return "\n".join(lines)


class ModelPicker(QComboBox):
    """See module doc. `model_changed(name)` ("" = default) when the user picks one."""

    model_changed = Signal(str)

    def __init__(self, current: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPicker")
        self.setToolTip("Separation model")
        self.setMinimumContentsLength(22)
        self.addItem("Default model", "")
        if current:
            self.addItem(current, current)
            self.setCurrentIndex(1)
        self.currentIndexChanged.connect(lambda _i: self.model_changed.emit(self.model_name()))

    def set_models(self, models: Iterable[Any], default_name: str | None) -> None:
        wanted = self.model_name()
        self.blockSignals(True)
        self.clear()
        models = list(models)
        self.addItem(f"Default ({default_name})" if default_name else "No model installed", "")
        for model in models:
            self.addItem(model.name, model.name)
            self.setItemData(self.count() - 1, card_tooltip(model), 3)  # Qt.ToolTipRole
        index = self.findData(wanted)
        self.setCurrentIndex(max(0, index))
        self.blockSignals(False)

    def model_name(self) -> str:
        return str(self.currentData() or "")
