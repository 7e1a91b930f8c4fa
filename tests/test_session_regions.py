"""Separated regions are written into the track by the worker: the GUI thread only records them,
and the track ends up holding exactly what the engine computed."""

from __future__ import annotations

import numpy as np
import pytest

from app.cache import ResultCache
from app.jobs import JobRunner
from app.session import SeparationSession
from app.settings import Settings

from tests.gui_fixtures import make_song

pytestmark = pytest.mark.gui


def test_regions_land_in_the_track_from_the_worker(qtbot, tmp_path, stemdeck_home):
    song = make_song(tmp_path / "song.wav", seconds=10.0)
    settings = Settings(tmp_path / "s.ini")
    session = SeparationSession(settings, JobRunner(), ResultCache(tmp_path / "home" / "cache"))
    blocks = []
    original_on_region = session._on_region

    def spy(job, track, start, block):
        blocks.append((start, block, track.stems))
        original_on_region(job, track, start, block)

    session._on_region = spy
    with qtbot.waitSignal(session.track_completed, timeout=60_000):
        session.open_paths([song])
    track = session.track
    assert track.complete and len(blocks) >= 2
    # every region arrived as a view of the track's own stems (no copy on the GUI thread)
    assert all(np.shares_memory(block, stems) and stems is track.stems for _s, block, stems in blocks)
    # and the track holds what the engine computes for this song
    from model.checkpoint import load_model
    from model.separate import separate

    model, _card = load_model(session.model.weights_path)
    quality = session.quality_settings()
    want = separate(track.mixture, model, device="cpu", **quality).stems
    np.testing.assert_allclose(track.stems, want, atol=1e-5)
    session.runner.wait(10)
