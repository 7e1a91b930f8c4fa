"""About StemDeck: versions of everything a bug report needs (app, torch, CUDA/MPS, Qt, PortAudio)."""

from __future__ import annotations

import logging
import platform
import sys

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton,
                               QVBoxLayout)

logger = logging.getLogger(__name__)


def version_lines(device_text: str = "") -> list[str]:
    """'name: version' lines; never raises (a missing part is reported as such)."""
    from model import __version__ as app_version

    lines = [f"StemDeck: {app_version}", f"Python: {platform.python_version()} ({sys.platform})"]
    try:
        import numpy

        lines.append(f"NumPy: {numpy.__version__}")
    except ImportError:  # pragma: no cover
        lines.append("NumPy: not installed")
    try:
        import torch

        lines.append(f"PyTorch: {torch.__version__}")
        cuda = torch.version.cuda
        if torch.cuda.is_available():
            names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
            lines.append(f"CUDA: {cuda} — {names}")
        else:
            lines.append(f"CUDA: {'built for ' + cuda + ', no GPU found' if cuda else 'not in this build'}")
        mps = getattr(torch.backends, "mps", None)
        lines.append(f"MPS: {'available' if mps is not None and mps.is_available() else 'not available'}")
    except Exception as exc:  # noqa: BLE001 - a broken torch must not break About
        lines.append(f"PyTorch: unavailable ({exc})")
    lines.append(f"Qt: {qVersion()} (PySide6 {pyside_version})")
    try:
        import sounddevice

        lines.append(f"PortAudio: {sounddevice.get_portaudio_version()[1]}")
    except Exception as exc:  # noqa: BLE001 - OSError when the library is missing
        lines.append(f"PortAudio: unavailable ({exc})")
    if device_text:
        lines.append(f"Last separation ran on: {device_text}")
    return lines


class AboutDialog(QDialog):
    def __init__(self, device_text: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About StemDeck")
        self.setMinimumWidth(520)
        title = QLabel("<h2>StemDeck</h2><p>Split songs into drums, bass, other and vocals with the "
                       "Unet-SE-BiSRU network, audition them in a synced player and export.</p>")
        title.setWordWrap(True)
        title.setTextFormat(Qt.TextFormat.RichText)
        self.text = QPlainTextEdit("\n".join(version_lines(device_text)))
        self.text.setReadOnly(True)
        copy = QPushButton("Copy for a bug report")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text.toPlainText()))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
