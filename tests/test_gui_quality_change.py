"""Changing Quality on a displayed song: the stems on screen and in the speakers stay until new
ones replace them, and a separation asked for right after the change is not lost."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui_fixtures import make_song
from tests.test_gui_window import heard_at, open_and_separate, settle

pytestmark = pytest.mark.gui

SR = 44100


def test_separate_selection_right_after_a_quality_change_keeps_its_result(
        qtbot, make_window, stemdeck_home, tmp_path):
    song = make_song(tmp_path / "song.wav", seconds=8.0)
    window = make_window()
    open_and_separate(qtbot, window, song)
    window.runner.wait(10)
    player = window.player
    player.set_selection(2 * SR, 4 * SR)
    player.set_solo("bass", True)
    player.waveform.set_visible_range(SR, 6 * SR)
    # the user changes Quality and clicks Separate selection at once (the song is re-opening)
    window.quality_box.setCurrentIndex(window.quality_box.findData("fast"))
    window.selection_action.trigger()
    qtbot.waitUntil(lambda: window.session.current_item.status == "partial", timeout=60_000)
    settle(qtbot, window)
    track = window.session.track
    assert track.coverage == [(2 * SR, 4 * SR)]
    assert "'overlap', 0.1" in track.quality_id          # made with the new setting
    # what is shown and played is that result: the selection still loops, bass still soloed
    assert player.track is track
    assert player.selection() == (2 * SR, 4 * SR)
    assert player.mixer.params.loop == (2 * SR, 4 * SR)
    assert player.lanes["bass"].solo_button.isChecked()
    assert player.waveform.visible_range()[0] == pytest.approx(SR, abs=SR // 100)
    got = heard_at(player.mixer, 3 * SR)
    np.testing.assert_allclose(got, track.stems[1, :, 3 * SR:3 * SR + 2048], atol=1e-5)
    assert window.export_action.isEnabled()


def test_quality_change_keeps_the_stems_until_new_ones_replace_them(qtbot, make_window,
                                                                    stemdeck_home, tmp_path):
    song = make_song(tmp_path / "long.wav", seconds=30.0)
    window = make_window()
    open_and_separate(qtbot, window, song)
    window.runner.wait(10)
    balanced = window.session.track.stems.copy()
    assert np.abs(balanced).max() > 0
    mixer = window.player.mixer
    with qtbot.waitSignal(window.session.track_opened, timeout=20_000):
        window.quality_box.setCurrentIndex(window.quality_box.findData("fast"))
    track = window.session.track
    assert track.covered_frames == 0                       # nothing made with "fast" yet ...
    # ... but the balanced stems are still on screen and heard
    x, y = window.player.waveform.lane_points("drums")
    assert np.abs(y).max() > 0
    start = 20 * SR
    np.testing.assert_allclose(heard_at(mixer, start), balanced.sum(axis=0)[:, start:start + 2048],
                               atol=1e-5)
    assert window.export_action.isEnabled()

    # separate with "fast", cancel after the first regions: those are new, the rest still balanced
    with qtbot.waitSignal(window.session.region_ready, timeout=60_000):
        window.separate_action.trigger()
    window.cancel_action.trigger()
    qtbot.waitUntil(lambda: not window.session.busy, timeout=10_000)
    settle(qtbot, window)
    assert window.session.track is track and 0 < track.covered_frames < track.frames
    a, b = track.coverage[0]
    tail = b + SR
    assert tail + 2048 < track.frames, "the separation ran too far to test this"
    np.testing.assert_array_equal(track.stems[:, :, tail:], balanced[:, :, tail:])
    np.testing.assert_allclose(heard_at(mixer, tail), balanced.sum(axis=0)[:, tail:tail + 2048],
                               atol=1e-5)
    x, y = window.player.waveform.lane_points("vocals")
    assert np.abs(y[x > tail / SR]).max() > 0
