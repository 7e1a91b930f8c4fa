"""The GUI thread never waits for a separation to stop: a quality change or "Separate selection"
while a song is separating cancels the job and carries on when its worker has returned, with the
event loop running meanwhile (before, the session blocked it for up to 5 s)."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QTimer

from app.cache import ResultCache
from app.jobs import JobRunner, SeparationJob
from app.session import SeparationSession
from app.settings import Settings
from model.errors import Cancelled
from tests.gui_fixtures import make_song

pytestmark = pytest.mark.gui


@pytest.fixture
def slow_to_stop(monkeypatch) -> threading.Event:
    """Separation jobs that, once cancelled, finish stopping only when the returned event is set."""
    release = threading.Event()
    real_work = SeparationJob.work

    def work(self):
        try:
            return real_work(self)
        except Cancelled:
            release.wait(30)
            raise

    monkeypatch.setattr(SeparationJob, "work", work)
    return release


@pytest.mark.parametrize("action", ["quality change", "separate selection"])
def test_event_loop_runs_while_a_job_shuts_down(qtbot, tmp_path, stemdeck_home, slow_to_stop, action):
    song = make_song(tmp_path / "song.wav", seconds=30.0)
    session = SeparationSession(Settings(tmp_path / "s.ini"), JobRunner(), ResultCache(tmp_path / "cache"))
    with qtbot.waitSignal(session.region_ready, timeout=60_000):
        session.open_paths([song])
    old_job = session.job
    assert old_job is not None and not old_job.returned.is_set()
    # the old job can finish stopping only if the GUI event loop runs (this timer sets it free)
    QTimer.singleShot(0, slow_to_stop.set)
    seen = []                # (event loop ran, old job done stopping) when the next step starts
    if action == "quality change":
        real = session.display
        session.display = lambda item, held=None: (seen.append((slow_to_stop.is_set(),
                                                                old_job.outcome == "cancelled")),
                                                   real(item, held))
        session.settings.set("quality", "fast")
        session.reload_current()
    else:
        real = session._start_job
        session._start_job = lambda *a: (seen.append((slow_to_stop.is_set(), old_job.outcome == "cancelled")),
                                         real(*a))
        session.separate_selection(44100, 3 * 44100)
    qtbot.waitUntil(lambda: bool(seen), timeout=30_000)
    assert seen[0] == (True, True)
    if action == "quality change":
        qtbot.waitUntil(lambda: session.track is not None and session.track.quality_id != ""
                        and not session._loading_current(), timeout=30_000)
        assert "('overlap', 0.1)" in session.track.quality_id      # reopened with the new quality
    else:
        qtbot.waitUntil(lambda: session.job is None, timeout=60_000)
        assert session.track.is_covered(2 * 44100)
    session.shutdown()
    session.runner.wait(30)
