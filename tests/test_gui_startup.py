"""Start-up: the window appears without importing torch; the crash hook shows one dialog at a time."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.gui


def test_window_is_shown_before_torch_is_imported(tmp_path):
    code = textwrap.dedent(f"""
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ["STEMDECK_HOME"] = {str(tmp_path / 'home')!r}
        t0 = time.perf_counter()
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from app.main_window import MainWindow
        from app.settings import Settings
        w = MainWindow(Settings({str(tmp_path / 's.ini')!r}), enable_audio=False)
        w.show()
        print("torch" in sys.modules, round(time.perf_counter() - t0, 2))
        w.close()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr
    torch_loaded, _seconds = out.stdout.split()
    assert torch_loaded == "False"


def test_crash_hook_shows_one_dialog_at_a_time(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from app.main import CrashHook

    shown = []
    hook = CrashHook()

    def fake_critical(parent, title, text):
        shown.append(text)
        # an error raised while the first dialog is open must not open a second one
        try:
            raise RuntimeError("second")
        except RuntimeError as exc:
            hook(type(exc), exc, exc.__traceback__)

    monkeypatch.setattr(QMessageBox, "critical", staticmethod(fake_critical))
    try:
        raise ValueError("boom")
    except ValueError as exc:
        hook(type(exc), exc, exc.__traceback__)
    assert len(shown) == 1 and "ValueError: boom" in shown[0]
