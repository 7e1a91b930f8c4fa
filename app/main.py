"""Desktop app entry point: `stemdeck [song ...]` opens the window (and the files given).

The window is shown before torch is imported (that happens in the first worker job), so start-up
feels immediate. Logging goes to `<StemDeck home>/logs/stemdeck.log` and the in-app log view; an
uncaught exception is logged and shown in one dialog at a time, never as a raw traceback.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys
import threading
from pathlib import Path
from types import TracebackType

from model.resources import resource_root

logger = logging.getLogger(__name__)

RESOURCES = resource_root()


def setup_logging(verbose: bool = False) -> Path | None:
    """Root logger: a rotating file in the StemDeck home, warnings on stderr. Returns the log file."""
    from .cache import stemdeck_home

    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(fmt)
    root.addHandler(console)
    log_file = stemdeck_home() / "logs" / "stemdeck.log"
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=3,
                                                       encoding="utf-8")
        handler.setFormatter(fmt)
        root.addHandler(handler)
    except OSError as exc:
        logger.warning("cannot write the log file %s: %s", log_file, exc)
        return None
    return log_file


class CrashHook:
    """sys/threading excepthook: log the traceback, show one dialog at a time."""

    def __init__(self) -> None:
        self._showing = False

    def __call__(self, exc_type: type[BaseException], exc: BaseException,
                 tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        logger.critical("unexpected error", exc_info=(exc_type, exc, tb))
        if self._showing or threading.current_thread() is not threading.main_thread():
            return
        from PySide6.QtWidgets import QApplication, QMessageBox

        if QApplication.instance() is None:
            return
        self._showing = True
        try:
            QMessageBox.critical(None, "StemDeck — unexpected error",
                                 f"Something went wrong: {exc_type.__name__}: {exc}\n\n"
                                 "StemDeck keeps running; details are in the log "
                                 "(View > Log). Please include them in a bug report.")
        finally:
            self._showing = False

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        self(args.exc_type, args.exc_value or Exception(), args.exc_traceback)

    def install(self) -> None:
        sys.excepthook = self
        threading.excepthook = self.thread_hook


def load_stylesheet() -> str:
    path = RESOURCES / "styles" / "stemdeck.qss"
    try:
        return path.read_text(encoding="utf-8").replace("@ICONS@", (RESOURCES / "icons").as_posix())
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stemdeck", description="StemDeck desktop app")
    parser.add_argument("files", nargs="*", help="songs or folders to open")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--new-window", action="store_true",
                        help="start a second app even when StemDeck is already open")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    log_file = setup_logging(args.verbose)
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from . import settings as settings_mod
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "stemdeck"])
    app.setOrganizationName(settings_mod.ORGANIZATION)
    app.setApplicationName(settings_mod.APPLICATION)
    app.setDesktopFileName("stemdeck")   # matches packaging/stemdeck.desktop (Wayland app id, taskbar icon)
    from .single_instance import send_to_running, serve_window

    if not args.new_window and send_to_running(args.files):
        print("StemDeck is already open: " + (f"{len(args.files)} item(s) added to its queue"
                                              if args.files else "its window was raised"))
        return 0
    app.setWindowIcon(QIcon(str(RESOURCES / "icons" / "stemdeck.svg")))
    app.setStyleSheet(load_stylesheet())
    hook = CrashHook()
    hook.install()
    window = MainWindow(settings_mod.Settings())
    window.show()
    if not args.new_window:
        window.instance_server = serve_window(window)
    logger.info("StemDeck started; log file %s", log_file)
    if args.files:
        QTimer.singleShot(0, lambda: window.open_paths(args.files))
    return int(app.exec())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
