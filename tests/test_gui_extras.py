"""Window extras: drag-and-drop onto the window, `stemdeck song.wav`, recent files, About, SE view."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests.gui_fixtures import make_song

pytestmark = pytest.mark.gui


def test_dropping_files_on_the_window_opens_them(qtbot, make_window, empty_home, song):
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(song))])
    event = QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.session.track_opened, timeout=20_000):
        window.dropEvent(event)
    assert event.isAccepted()
    assert window.session.track.name == "song"
    # and it is remembered as a recent file
    window._fill_recent()
    names = [a.text() for a in window.recent_menu.actions()]
    assert "song.wav" in names


def test_dropping_a_folder_queues_every_file_the_cli_opens(qtbot, make_window, empty_home, tmp_path):
    """One list of input extensions: a dropped folder finds what `stemdeck separate folder/` finds
    (before, .caf, .wv and .m4b files were skipped by the window only)."""
    import soundfile as sf

    from model.audio_io import iter_supported

    folder = tmp_path / "album"
    (folder / "disc 2").mkdir(parents=True)
    sf.write(folder / "a.caf", np.zeros((4410, 2), np.float32), 44100)
    for name in ("b.wv", "c.m4b", "disc 2/d.wav", "e.stem.mp4", "notes.txt", "cover.jpg"):
        (folder / name).write_bytes(b"not decoded here")
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    queued = [item.path.relative_to(folder).as_posix() for item in window.session.items]
    assert queued == ["a.caf", "b.wv", "c.m4b", "disc 2/d.wav", "e.stem.mp4"]
    assert [item.path for item in window.session.items] == list(iter_supported(folder))
    # let the queue settle (no model here: the other files fail to separate) before the window goes
    qtbot.waitUntil(lambda: window.session.track is not None and window.session.job is None
                    and all(i.status not in ("queued", "loading", "separating")
                            for i in window.session.items), timeout=30_000)
    window.runner.wait(10)


def test_command_line_files_are_opened(qtbot, monkeypatch, empty_home, song, temp_home):
    from PySide6.QtWidgets import QApplication

    import app.main as app_main

    # the app's own settings store is in the temporary home (conftest's temp_home)
    seen = {}

    def fake_exec():
        window = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow" and w.isVisible())
        qtbot.waitUntil(lambda: window.session.track is not None, timeout=20_000)
        seen["name"] = window.session.track.name
        window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", staticmethod(fake_exec))
    monkeypatch.setattr("sys.excepthook", __import__("sys").excepthook)
    monkeypatch.setattr("threading.excepthook", __import__("threading").excepthook)
    assert app_main.main([str(song)]) == 0
    assert seen["name"] == "song"
    assert list((temp_home / ".config").rglob("*.conf")), "settings were written to the temporary home"


def test_about_lists_versions():
    from app.dialogs.about_dialog import version_lines

    text = "\n".join(version_lines("cpu"))
    for part in ("StemDeck:", "PyTorch:", "CUDA:", "MPS:", "Qt:", "PortAudio:", "ran on: cpu"):
        assert part in text


def test_se_view_compares_two_songs(qtbot, make_window, stemdeck_home, tmp_path):
    from app.widgets.se_view import activation_difference, heatmap

    window = make_window()
    a = make_song(tmp_path / "a.wav", seconds=2.0)
    b = tmp_path / "b.wav"
    import soundfile as sf

    rng = np.random.default_rng(3)
    sf.write(b, rng.uniform(-0.5, 0.5, (2 * 44100, 2)).astype(np.float32), 44100)
    with qtbot.waitSignal(window.session.track_completed, timeout=60_000):
        window.open_paths([a])
    se_a = window.session.track.se_activations
    with qtbot.waitSignal(window.session.track_completed, timeout=60_000):
        window.open_paths([b])
    se_b = window.session.track.se_activations
    view = window.se_view
    assert set(view.songs) == {"a", "b"}
    grid, names = heatmap(se_b)
    assert names[0] == "encoder.1" and names[-1] == "decoder.1"
    assert np.nanmin(grid) >= 0 and np.nanmax(grid) <= 1
    layer = view.layer_box.currentText()
    diff = activation_difference(se_b, se_a, layer)
    assert diff.shape == (se_a[layer].shape[-1],) and np.abs(diff).max() > 0
    heights = view.diff_bars.opts["height"]
    np.testing.assert_allclose(heights, diff, atol=1e-6)


def test_quitting_while_separating_asks_first(qtbot, make_window, stemdeck_home, tmp_path,
                                              monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window = make_window()
    window.confirm_close = True
    with qtbot.waitSignal(window.session.region_ready, timeout=60_000):
        window.open_paths([make_song(tmp_path / "long.wav", seconds=60.0)])
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No))
    window.close()
    assert asked and window.isVisible() and window.session.busy
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    window.close()
    assert not window.isVisible()
    assert window.runner.wait(5)                    # the job was stopped, nothing cached
    cache = stemdeck_home / "cache"
    assert not cache.exists() or not any(cache.iterdir())


def test_underruns_show_in_the_log_view(qtbot, make_window, empty_home):
    window = make_window()
    window.player.audio._underruns += 3       # as PortAudio's callback would count them
    window.player.poller.poll()
    qtbot.waitUntil(lambda: any("underrun" in line for line in window.log_view.lines), timeout=3000)
    assert window.log_view.warnings >= 1


def test_se_time_plot_spans_the_song_in_seconds(qtbot):
    """The 'chosen layer over time' image covers the song's seconds: one column per segment
    centred on its time, and a song shorter than one segment as one column over all of it
    (it was drawn over 0-1 s whatever the song's length)."""
    from app.widgets.se_view import SEView

    view = SEView()
    qtbot.addWidget(view)
    rng = np.random.default_rng(0)

    def extent() -> tuple[float, float]:
        rect = view.time_img.mapRectToParent(view.time_img.boundingRect())
        return rect.left(), rect.right()

    view.show_song("short", {"encoder.1": rng.uniform(0, 1, (1, 8))}, np.array([3.4]), 6.8)
    assert extent() == pytest.approx((0.0, 6.8))
    view.show_song("long", {"encoder.1": rng.uniform(0, 1, (3, 8))}, np.array([1.0, 3.0, 5.0]), 6.0)
    assert extent() == pytest.approx((0.0, 6.0))
    view.show_song("old cache entry", {"encoder.1": rng.uniform(0, 1, (4, 8))})
    assert extent() == pytest.approx((0.0, 4.0))
    assert view.time_plot.getAxis("bottom").labelText == "segment"


def test_se_view_says_a_model_has_no_se_layers(qtbot):
    """A song separated by a model without SE blocks (an imported Demucs model) clears the view
    and says why, instead of leaving the previous song's activations up."""
    from app.widgets.se_view import SEView

    view = SEView()
    qtbot.addWidget(view)
    rng = np.random.default_rng(0)
    view.show_song("a", {"encoder.1": rng.uniform(0, 1, (3, 8))}, np.array([1.0, 3.0, 5.0]), 6.0)
    assert view.map_img.image is not None
    view.show_no_se_layers("demucs48_hq")
    assert "demucs48_hq has no SE layers" in view.info.text()
    assert view.map_img.image is None and view.time_img.image is None
    assert view.current is None
    view._refresh_layer()  # a layer change afterwards does not break
