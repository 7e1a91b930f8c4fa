"""One instance: `stemdeck song.wav` while the app is open queues the song in the open window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gui_fixtures import make_song

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[1]


def test_second_start_adds_the_song_to_the_running_window(qtbot, make_window, stemdeck_home, tmp_path):
    from app.single_instance import serve_window, server_name

    window = make_window()
    server = serve_window(window)
    assert server.name == server_name()
    song = make_song(tmp_path / "later.wav", seconds=1.0)
    home = tmp_path / "user-home"   # the second start must not touch the real home either
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", STEMDECK_HOME=str(stemdeck_home), HOME=str(home),
               XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"))
    # the real command line, as a user types it while the app is open
    proc = subprocess.Popen([sys.executable, "-m", "app.main", str(song)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "already open" in out and "1 item(s) added" in out
    assert [item.path for item in window.session.items] == [song]
    server.close()


def test_without_a_running_app_nothing_answers(qtbot, stemdeck_home):
    from app.single_instance import send_to_running

    assert send_to_running(["x.wav"], name="stemdeck-test-nobody-listens") is False


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes leave no file behind")
def test_a_socket_left_by_a_crash_does_not_block_the_next_start(qtbot, stemdeck_home):
    import socket

    from PySide6.QtCore import QDir

    from app.single_instance import InstanceServer, send_to_running

    name = f"stemdeck-test-stale-{os.getpid()}"
    path = Path(QDir.tempPath()) / name
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    crashed.bind(str(path))   # bound, then closed without unlinking: what a killed app leaves
    crashed.close()
    assert path.exists()
    server = InstanceServer(name)
    try:
        assert server.listen()
        assert server.server.isListening()
    finally:
        server.close()
    assert send_to_running([], name=name) is False  # closed: nobody answers
