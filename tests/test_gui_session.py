"""The separation workflow without widgets: open → separate progressively → cache → reopen."""

from __future__ import annotations

import numpy as np
import pytest

from app.cache import ResultCache
from app.jobs import JobRunner
from app.session import SeparationSession
from app.settings import Settings

from tests.gui_fixtures import make_song

pytestmark = pytest.mark.gui


def make_session(tmp_path, **prefs):
    settings = Settings(tmp_path / "s.ini")
    for k, v in prefs.items():
        settings.set(k, v)
    runner = JobRunner()
    cache = ResultCache(tmp_path / "home" / "cache")
    return SeparationSession(settings, runner, cache), runner


def test_separates_progressively_then_reopens_from_cache(qtbot, tmp_path, stemdeck_home):
    song = make_song(tmp_path / "song.wav", seconds=12.0)
    session, runner = make_session(tmp_path)
    regions = []
    session.region_ready.connect(lambda s, e: regions.append((s, e)))
    with qtbot.waitSignal(session.track_completed, timeout=60_000):
        session.open_paths([song])
    track = session.track
    assert track.complete and track.frames == 12 * 44100
    assert len(regions) >= 2, "regions should stream in before the end"
    assert regions[0][0] == 0 and max(e for _s, e in regions) == track.frames
    assert np.abs(track.stems).max() > 0
    assert track.device_text.startswith("cpu")
    assert track.se_activations and "encoder.1" in track.se_activations
    stems = track.stems.copy()
    runner.wait(10)
    assert session.cache.entries(), "the finished song is cached"

    # reopen: from the cache, no separation job
    session2, runner2 = make_session(tmp_path)
    started = []
    session2.busy_changed.connect(lambda b: started.append(b) if b else None)
    with qtbot.waitSignal(session2.track_completed, timeout=20_000):
        session2.open_paths([song])
    assert session2.track.from_cache and not started
    assert np.array_equal(session2.track.stems, stems)
    assert session2.current_item.status == "done"
    runner2.wait(5)


def test_cancel_leaves_nothing(qtbot, tmp_path, stemdeck_home):
    long_song = make_song(tmp_path / "long.wav", seconds=30.0)
    session, runner = make_session(tmp_path)
    with qtbot.waitSignal(session.region_ready, timeout=60_000):
        session.open_paths([long_song])
    assert session.busy
    with qtbot.waitSignal(session.busy_changed, timeout=5_000):
        session.cancel()
    runner.wait(5)
    assert session.current_item.status == "cancelled"
    assert not session.track.complete
    cache_root = tmp_path / "home" / "cache"
    assert not cache_root.exists() or not any(cache_root.iterdir())


def test_corrupt_file_reports_error_and_keeps_working(qtbot, tmp_path, stemdeck_home, song):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    session, runner = make_session(tmp_path, auto_separate=False)
    errors = []
    session.error.connect(lambda title, msg: errors.append((title, msg)))
    with qtbot.waitSignal(session.error, timeout=20_000):
        session.open_paths([bad])
    assert "bad.wav" in errors[0][0] + errors[0][1]
    assert session.items[0].status == "failed"
    with qtbot.waitSignal(session.track_opened, timeout=20_000):
        session.open_paths([song])
    assert session.track.name == "song"
    runner.wait(5)


def test_no_model_still_opens_the_song(qtbot, tmp_path, empty_home, song):
    session, runner = make_session(tmp_path)
    missing = []
    session.model_missing.connect(missing.append)
    with qtbot.waitSignal(session.track_opened, timeout=20_000):
        session.open_paths([song])
    qtbot.waitUntil(lambda: bool(missing), timeout=5000)
    assert "no model" in missing[0].lower()
    assert session.track.frames == 2 * 44100 and not session.busy
    runner.wait(5)


def test_opening_the_song_being_separated_again_keeps_one_job(qtbot, tmp_path, stemdeck_home):
    song = make_song(tmp_path / "song.wav", seconds=30.0)
    session, runner = make_session(tmp_path)
    with qtbot.waitSignal(session.region_ready, timeout=60_000):
        session.open_paths([song])
    track = session.track
    session.open_paths([song])          # dropped again while it runs
    assert session.track is track and len(session.items) == 1
    qtbot.waitUntil(lambda: track.complete, timeout=60_000)
    assert session.track is track
    runner.wait(10)


def test_cancelling_one_queued_song_lets_the_rest_finish(qtbot, tmp_path, stemdeck_home):
    songs = [make_song(tmp_path / f"s{i}.wav", seconds=1.0) for i in range(3)]
    session, runner = make_session(tmp_path)
    session.open_paths(songs)
    first, second, third = session.items
    session.cancel_item(second)
    qtbot.waitUntil(lambda: first.status == "done" and third.status == "done", timeout=60_000)
    assert second.status == "cancelled"
    assert not session.remove_item(first)          # displayed: stays
    assert session.remove_item(second) and second not in session.items
    runner.wait(10)
