"""Drive the real main window offscreen: open, separate with a tiny model, play/mix, export."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.gui_fixtures import make_song

pytestmark = pytest.mark.gui

SR = 44100


def open_and_separate(qtbot, window, path: Path) -> None:
    with qtbot.waitSignal(window.session.track_completed, timeout=60_000):
        window.open_paths([path])
    settle(qtbot, window)


def settle(qtbot, window) -> None:
    """Let the panel apply every separated region (it does so in slices between events)."""
    qtbot.waitUntil(lambda: not window.player._pending, timeout=10_000)


def render(mixer, frames: int) -> np.ndarray:
    out = np.zeros((frames, 2), np.float32)
    mixer.render(out, frames)
    return out


def heard_at(mixer, start: int, frames: int = 2048) -> np.ndarray:
    """What the mixer plays for [start, start+frames) once ramps have settled: (C, frames)."""
    mixer.pause()
    render(mixer, 1024)                     # let a running playback fade out first
    mixer.seek(start - 1024)
    mixer.play()
    render(mixer, 1024)                     # fade-in / gain ramps happen here
    return render(mixer, frames).T


def test_open_separate_lanes_and_mix(qtbot, make_window, stemdeck_home, song):
    window = make_window()
    open_and_separate(qtbot, window, song)
    track = window.session.track
    mixer = window.player.mixer
    assert track.complete and track.frames == 2 * SR
    assert set(mixer.lane_names) == {"original", "drums", "bass", "other", "vocals"}
    assert all(mixer.valid_frames(n) == mixer.duration_frames for n in track.sources)
    assert "cpu" in window.device_label.text()
    stems = track.stems_dict()

    # all stems at 0 dB: the stems' sum
    start = SR // 2
    got = heard_at(mixer, start)
    want = sum(s[:, start:start + 2048] for s in stems.values())
    np.testing.assert_allclose(got, want, atol=1e-5)

    # mute vocals, drums at -6 dB
    window.player.set_mute("vocals", True)
    window.player.set_gain_db("drums", -6.0)
    got = heard_at(mixer, start)
    g = 10 ** (-6 / 20)
    want = g * stems["drums"] + stems["bass"] + stems["other"]
    np.testing.assert_allclose(got, want[:, start:start + 2048], atol=1e-5)

    # solo bass: only bass
    window.player.set_solo("bass", True)
    got = heard_at(mixer, start)
    np.testing.assert_allclose(got, stems["bass"][:, start:start + 2048], atol=1e-5)

    # A/B against the original
    window.player.set_listen_original(True)
    got = heard_at(mixer, start)
    np.testing.assert_allclose(got, track.mixture[:, start:start + 2048], atol=1e-5)
    window.player.set_listen_original(False)

    # seek: the cursor moves and playback continues from there
    mixer.pause()
    render(mixer, 1024)
    window.player.seek_frame(SR)
    assert mixer.position_frames == SR
    mixer.play()
    out = render(mixer, 4096).T
    np.testing.assert_allclose(out[:, 1024:], stems["bass"][:, SR + 1024:SR + 4096], atol=1e-5)


def test_export_writes_stems_and_what_i_hear(qtbot, make_window, stemdeck_home, song, tmp_path):
    window = make_window()
    open_and_separate(qtbot, window, song)
    window.player.set_mute("drums", True)
    dialog = window.export_dialog()
    dialog.folder.setText(str(tmp_path / "out"))
    dialog.container.setCurrentIndex(dialog.container.findData("wav"))
    dialog.bit_depth.setCurrentIndex(dialog.bit_depth.findData(32))
    for name, box in dialog.stem_checks.items():
        box.setChecked(name in ("vocals", "bass"))
    dialog.output_checks["instrumental"].setChecked(True)
    dialog.output_checks["what_i_hear"].setChecked(True)
    shown = []
    dialog.progress.valueChanged.connect(shown.append)
    with qtbot.waitSignal(dialog.exported, timeout=30_000) as blocker:
        dialog.start_export()
        assert dialog.progress.isVisible()
    report = blocker.args[0]
    assert shown[-1] == dialog.progress.maximum() and shown == sorted(shown)  # the bar filled up
    assert not dialog.progress.isVisible()
    files = sorted(Path(p).name for p in report.paths)
    assert files == ["bass.wav", "instrumental.wav", "vocals.wav", "what_i_hear.wav"]
    track = window.session.track
    gain = 10 ** (report.common_gain_db / 20)
    for path in report.paths:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        assert rate == SR and data.shape == (2 * SR, 2)
    vocals, _ = sf.read(tmp_path / "out" / "song" / "vocals.wav", dtype="float32", always_2d=True)
    np.testing.assert_allclose(vocals.T, gain * track.stems[3], atol=1e-5)
    heard, _ = sf.read(tmp_path / "out" / "song" / "what_i_hear.wav", dtype="float32", always_2d=True)
    want = gain * (track.stems[1] + track.stems[2] + track.stems[3])
    np.testing.assert_allclose(heard.T, want, atol=1e-5)
    assert "Wrote 4 file(s)" in dialog.status.text()
    dialog.close()


def test_drag_out_gives_file_urls(qtbot, make_window, stemdeck_home, song):
    window = make_window()
    open_and_separate(qtbot, window, song)
    mime = window.player.drag_mime("vocals")
    urls = [u.toLocalFile() for u in mime.urls()]
    assert len(urls) == 1 and urls[0].endswith("vocals.wav")
    data, rate = sf.read(urls[0], dtype="float32", always_2d=True)
    assert rate == SR and data.shape == (2 * SR, 2)
    np.testing.assert_allclose(data.T, window.session.track.stems[3], atol=1e-4)


def test_cancel_from_the_window_leaves_nothing(qtbot, make_window, stemdeck_home, tmp_path):
    long_song = make_song(tmp_path / "long.wav", seconds=30.0)
    window = make_window()
    with qtbot.waitSignal(window.session.region_ready, timeout=60_000):
        window.open_paths([long_song])
    assert window.cancel_action.isEnabled()
    t0 = time.perf_counter()
    window.cancel_action.trigger()
    qtbot.waitUntil(lambda: not window.session.busy, timeout=5000)
    assert time.perf_counter() - t0 < 2.0, "cancel should take effect within about a second"
    window.runner.wait(5)
    assert window.session.current_item.status == "cancelled"
    cache = stemdeck_home / "cache"
    assert not cache.exists() or not any(cache.iterdir())
    assert not window.cancel_action.isEnabled()


def test_reopen_is_instant_from_cache(qtbot, make_window, stemdeck_home, song):
    window = make_window()
    open_and_separate(qtbot, window, song)
    window.runner.wait(10)
    first = window.session.track.stems.copy()
    window.close()
    window2 = make_window()
    jobs = []
    window2.session.busy_changed.connect(lambda busy: jobs.append(busy) if busy else None)
    open_and_separate(qtbot, window2, song)
    assert window2.session.track.from_cache and not jobs
    np.testing.assert_array_equal(window2.session.track.stems, first)
    assert window2.queue.status_of(window2.session.current_item).startswith("Done")


def test_corrupt_file_shows_message_and_app_keeps_working(qtbot, make_window, stemdeck_home, song,
                                                          tmp_path):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"\x00\x01not audio at all" * 10)
    window = make_window(auto_separate=False)
    with qtbot.waitSignal(window.error_shown, timeout=20_000):
        window.open_paths([bad])
    assert window.banner_row.isVisible()
    assert "broken.mp3" in window.banner.text()
    with qtbot.waitSignal(window.session.track_opened, timeout=20_000):
        window.open_paths([song])
    assert window.player.isVisible() and window.session.track.name == "song"


def test_no_model_explains_how_to_get_one(qtbot, make_window, empty_home, song):
    window = make_window()
    with qtbot.waitSignal(window.error_shown, timeout=20_000):
        window.open_paths([song])
    assert "Install or import a model" in window.banner.text()
    assert window.player.isVisible()
    assert "original" in window.player.mixer.lane_names


def test_settings_survive_restart(qtbot, make_window, empty_home):
    window = make_window()
    window.quality_box.setCurrentIndex(window.quality_box.findData("best"))
    window.log_dock.show()
    window.resize(640, 470)
    window.settings.add_recent_file("/music/a.wav")
    window.close()
    window2 = make_window()
    assert window2.quality_box.currentData() == "best"
    assert window2.settings.quality().shifts == 4
    assert window2.settings.recent_files() == ["/music/a.wav"]
    assert window2.log_dock.isVisible()
    assert (window2.width(), window2.height()) == (640, 470)


def test_folder_goes_into_the_queue(qtbot, make_window, stemdeck_home, tmp_path):
    folder = tmp_path / "album"
    folder.mkdir()
    for name in ("a.wav", "b.wav"):
        make_song(folder / name, seconds=1.0)
    (folder / "notes.txt").write_text("not audio")
    window = make_window()
    window.open_paths([folder])
    assert window.queue.count() == 2
    items = window.session.items
    qtbot.waitUntil(lambda: all(i.status == "done" for i in items), timeout=60_000)
    assert all(window.queue.status_of(i).startswith("Done") for i in items)


def test_quality_change_reseparates_and_switching_back_uses_the_cache(qtbot, make_window,
                                                                      stemdeck_home, song):
    window = make_window()
    open_and_separate(qtbot, window, song)
    window.runner.wait(10)
    balanced = window.session.track.stems.copy()
    with qtbot.waitSignal(window.session.track_opened, timeout=20_000):
        window.quality_box.setCurrentIndex(window.quality_box.findData("fast"))
    # a new preset is not rendered until asked (it may be auditioned on a selection first)
    assert window.session.current_item.status == "ready" and not window.session.busy
    assert window.session.track.covered_frames == 0
    with qtbot.waitSignal(window.session.track_completed, timeout=60_000):
        window.separate_action.trigger()
    assert not window.session.track.from_cache
    window.runner.wait(10)
    with qtbot.waitSignal(window.session.track_completed, timeout=20_000):
        window.quality_box.setCurrentIndex(window.quality_box.findData("balanced"))
    assert window.session.track.from_cache
    np.testing.assert_array_equal(window.session.track.stems, balanced)


def test_separate_selection_fills_only_the_region(qtbot, make_window, stemdeck_home, tmp_path):
    long_song = make_song(tmp_path / "long.wav", seconds=8.0)
    window = make_window(auto_separate=False)
    with qtbot.waitSignal(window.session.track_opened, timeout=20_000):
        window.open_paths([long_song])
    assert not window.selection_action.isEnabled()
    window.player.set_selection(2 * SR, 4 * SR)
    assert window.selection_action.isEnabled()
    with qtbot.waitSignal(window.session.track_completed, timeout=60_000):
        window.selection_action.trigger()
    settle(qtbot, window)
    track = window.session.track
    assert track.coverage == [(2 * SR, 4 * SR)]
    assert np.abs(track.stems[:, :, 2 * SR:4 * SR]).max() > 0
    assert np.abs(track.stems[:, :, :2 * SR]).max() == 0
    assert window.session.current_item.status == "partial"
    # the loop plays the selection, and it is audible in the mixer
    mixer = window.player.mixer
    assert mixer.params.loop == (2 * SR, 4 * SR)
    got = heard_at(mixer, 3 * SR)
    np.testing.assert_allclose(got, track.stems.sum(axis=0)[:, 3 * SR:3 * SR + 2048], atol=1e-5)


def test_seek_ahead_restarts_separation_at_the_playhead(qtbot, make_window, stemdeck_home, tmp_path):
    long_song = make_song(tmp_path / "long.wav", seconds=90.0)
    window = make_window()
    starts = []
    window.session.region_ready.connect(lambda s, e: starts.append(s))
    with qtbot.waitSignal(window.session.region_ready, timeout=60_000):
        window.open_paths([long_song])
    track = window.session.track
    target = 70 * SR
    if track.is_covered(target):
        pytest.skip("separation already passed the seek target on this machine")
    window.player.seek_frame(target)            # the user clicks at 1:10
    qtbot.waitUntil(lambda: track.is_covered(target), timeout=60_000)
    assert target in starts, "a job restarted exactly at the playhead"
    if not track.complete:
        # the region at the playhead is audible before the gap behind it is filled
        window.player.flush_regions()   # apply what arrived (normally spread over a few turns)
        mixer = window.player.mixer
        got = heard_at(mixer, target + SR // 2)
        want = track.stems.sum(axis=0)[:, target + SR // 2:target + SR // 2 + 2048]
        np.testing.assert_allclose(got, want, atol=1e-5)
    qtbot.waitUntil(lambda: track.complete, timeout=120_000)   # the gaps are filled afterwards
    # the job's finished signal reaches the queue a moment after the last region
    qtbot.waitUntil(lambda: window.session.current_item.status == "done", timeout=30_000)


def test_residual_lane_shows_what_no_stem_caught(qtbot, make_window, stemdeck_home, song):
    window = make_window()
    open_and_separate(qtbot, window, song)
    qtbot.waitUntil(lambda: "residual" in window.player.waveform.lane_names, timeout=10_000)
    track = window.session.track
    env = window.player.waveform._lanes["residual"].envelope
    residual = track.mixture - track.stems.sum(axis=0)
    assert env.filled_frames == track.frames
    # the envelope's top level holds the residual's extremes (float16)
    assert float(np.max(env.maxs[-1])) == pytest.approx(float(residual.max()), rel=1e-2, abs=1e-3)
    assert len(window.player.lanes_extra) == 1
