"""At a device rate other than the song's, the player converts lanes in a worker (the window
stays responsive) and swaps them in whole; at the same rate it converts nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.audio.lanes import prepare_lane
from app.audio.mixer import ORIGINAL
from app.jobs import JobRunner
from app.player_panel import PlayerPanel
from app.track import Track

pytestmark = pytest.mark.gui

SR = 44100


def _track(seconds: float = 3.0, complete: bool = True) -> Track:
    n = int(seconds * SR)
    t = np.arange(n) / SR
    mix = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)])
    track = Track(path=Path("song.wav"), mixture=mix.astype(np.float32), samplerate=SR)
    if complete:
        track.set_stems(np.stack([mix * w for w in (0.1, 0.2, 0.3, 0.4)]).astype(np.float32))
    return track


@pytest.fixture
def panel(qtbot):
    p = PlayerPanel(enable_audio=False)
    qtbot.addWidget(p)
    p.runner = JobRunner(p)
    yield p
    p.runner.wait(10)


def test_lanes_at_another_rate_are_converted_in_a_worker(panel, qtbot):
    panel.mixer.set_samplerate(48000)
    track = _track()
    with qtbot.waitSignal(panel.lanes_ready, timeout=20_000):
        panel.set_track(track)
        assert panel.mixer.valid_frames(ORIGINAL) == 0   # silent until the worker is done
    mixer = panel.mixer
    assert mixer.duration_frames == 3 * 48000
    lanes = {lane.name: lane for lane in mixer._mix.track.lanes}
    for name, src in [(ORIGINAL, track.mixture), ("vocals", track.stems[3])]:
        assert mixer.valid_frames(name) == mixer.duration_frames
        want = prepare_lane(src, SR, 48000, 2, mixer.duration_frames)
        np.testing.assert_allclose(lanes[name].samples, want, atol=1e-6)


def test_a_newer_track_wins_over_a_late_worker_result(panel, qtbot):
    panel.mixer.set_samplerate(48000)
    first, second = _track(2.0), _track(4.0)
    panel.set_track(first)
    with qtbot.waitSignal(panel.lanes_ready, timeout=20_000):
        panel.set_track(second)
    qtbot.wait(200)
    panel.runner.wait(10)
    assert panel.mixer.duration_frames == 4 * 48000   # the first track's lanes never came back


def test_same_rate_lanes_borrow_the_track(panel):
    track = _track(complete=False)
    panel.set_track(track)
    lanes = {lane.name: lane for lane in panel.mixer._mix.track.lanes}
    assert np.shares_memory(lanes[ORIGINAL].samples, track.mixture)
    assert np.shares_memory(lanes["drums"].samples, track.stems)
    assert panel.runner.running == []
