"""Persistent settings (QSettings) with typed defaults.

User preferences (`prefs/...`: device, quality, export format, folders) are kept apart from window
state (`window/...`: geometry, dock/splitter layout), so "reset layout" never loses preferences.
Every value is read back through its declared type, so a hand-edited or stale ini file can only
ever give a valid value or the default.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from model.separation_settings import (  # noqa: F401  (the engine owns the presets; re-exported)
    DEFAULT_QUALITY,
    QUALITY_PRESETS,
    QualityPreset,
)

logger = logging.getLogger(__name__)

ORGANIZATION = "StemDeck"
APPLICATION = "StemDeck"
MAX_RECENT = 10


#: key -> (type, default). Keys live under the "prefs/" group.
PREFS: dict[str, tuple[type, Any]] = {
    "device": (str, "auto"),
    "output_device": (str, ""),         # sound output by name; "" = the system default
    "model": (str, ""),                 # "" = the installed default model
    "quality": (str, DEFAULT_QUALITY),  # a model.separation_settings.QUALITY_PRESETS name
    "segment_seconds": (float, 0.0),    # 0 = the model's own segment length
    "auto_separate": (bool, True),
    "spectrograms": (bool, False),      # lanes show spectrograms instead of waveforms
    "export_container": (str, "wav"),
    "export_bit_depth": (int, 0),       # 0 = like the source
    "export_template": (str, "{track}/{stem}.{ext}"),
    "export_folder": (str, ""),
    "export_stems": (str, "*"),         # comma list; "*" = every stem of the model
    "export_outputs": (str, ""),        # comma list of combined outputs (instrumental, what_i_hear, ...)
    "export_mp3_kbps": (int, 320),
    "export_presets": (str, "{}"),      # JSON: preset name -> app.export_choices.ExportChoices dict
    "open_folder": (str, ""),
    "cache_limit_gb": (float, 4.0),
    "cache_dtype": (str, "float32"),    # float32 (lossless) | float16 (half the disk)
    # the Train tab's form (app.trainer.TrainerTab.save_settings/restore_settings); the output
    # folder and model name are not kept: each run gets a fresh folder
    "train_dataset": (str, ""),
    "train_base_model": (str, ""),      # "" = the installed default model
    "train_steps": (int, 1000),
    "train_batch": (int, 4),
    "train_segment_seconds": (float, 4.0),
    "train_validate_every": (int, 200),
    "train_varispeed": (bool, False),
    "train_device": (str, "auto"),
}


def _coerce(kind: type, value: Any, default: Any) -> Any:
    """`value` as `kind`, or `default` when it cannot be (ini files store everything as text)."""
    if value is None:
        return default
    try:
        if kind is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("true", "1", "yes", "on"):
                    return True
                if low in ("false", "0", "no", "off"):
                    return False
                return default
            return bool(value)
        if kind is list:
            if isinstance(value, str):
                return [value] if value else []
            return [str(v) for v in value]
        return kind(value)
    except (TypeError, ValueError):
        return default


class Settings:
    """Typed access to StemDeck's QSettings.

    `Settings()` uses the platform's native store; `Settings(path)` an ini file (tests, portable
    installs).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            self.qsettings = QSettings(ORGANIZATION, APPLICATION)
        else:
            self.qsettings = QSettings(str(path), QSettings.Format.IniFormat)

    # -- preferences ----------------------------------------------------------------------
    def get(self, key: str) -> Any:
        kind, default = PREFS[key]
        return _coerce(kind, self.qsettings.value(f"prefs/{key}"), default)

    def set(self, key: str, value: Any) -> None:
        kind, _default = PREFS[key]
        self.qsettings.setValue(f"prefs/{key}", kind(value))

    def quality(self) -> QualityPreset:
        return QUALITY_PRESETS.get(self.get("quality"), QUALITY_PRESETS[DEFAULT_QUALITY])

    # -- recent files ---------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = _coerce(list, self.qsettings.value("prefs/recent_files"), [])
        return value[:MAX_RECENT]

    def add_recent_file(self, path: str | Path) -> None:
        text = str(Path(path))
        files = [text] + [f for f in self.recent_files() if f != text]
        self.qsettings.setValue("prefs/recent_files", files[:MAX_RECENT])

    def clear_recent_files(self) -> None:
        self.qsettings.setValue("prefs/recent_files", [])

    # -- window state ---------------------------------------------------------------------
    def window_state(self, name: str) -> QByteArray | None:
        value = self.qsettings.value(f"window/{name}")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, name: str, state: QByteArray) -> None:
        self.qsettings.setValue(f"window/{name}", state)

    def reset_window_state(self) -> None:
        self.qsettings.remove("window")

    def sync(self) -> None:
        self.qsettings.sync()
