"""Log view: a logging handler that forwards records (from any thread) to a read-only text view.

Playback underruns are logged by the player as warnings and show up here; the view also counts
warnings so the window can flag them in the status bar.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit

logger = logging.getLogger(__name__)

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _Emitter(QObject):
    record = Signal(str, int)  # formatted text, level


class QtLogHandler(logging.Handler):
    """Forwards formatted records through a queued Qt signal (safe from worker threads)."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.emitter = _Emitter()
        self.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.emitter.record.emit(self.format(record), record.levelno)
        except RuntimeError:  # emitter already deleted at shutdown
            pass


class LogView(QPlainTextEdit):
    """Shows log lines; warnings in amber, errors in red."""

    MAX_LINES = 5000
    COLOURS = {logging.WARNING: "#e0b050", logging.ERROR: "#ff6b6b", logging.CRITICAL: "#ff6b6b"}

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("logView")
        self.setReadOnly(True)
        self.setMaximumBlockCount(self.MAX_LINES)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.warnings = 0
        self.lines: list[str] = []

    def append_record(self, text: str, level: int) -> None:
        if level >= logging.WARNING:
            self.warnings += 1
        self.lines.append(text)
        del self.lines[: -self.MAX_LINES]
        colour = self.COLOURS.get(level)
        safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        self.appendHtml(f'<span style="color:{colour}">{safe}</span>' if colour else safe)

    def attach(self, handler: QtLogHandler) -> None:
        handler.emitter.record.connect(self.append_record)
