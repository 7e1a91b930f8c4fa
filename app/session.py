"""The separation workflow behind the window: a queue of songs, one displayed track, jobs, cache.

`SeparationSession` owns no widgets. It loads songs (worker), looks results up in the cache,
separates what is missing (worker) in the order the listener needs it — starting at the playhead
so playback can begin within seconds — and reports through signals the window connects to.

Policy:
- One separation runs at a time. The displayed song has priority over the rest of the queue.
- If the user seeks to a part not separated yet, the running job is cancelled and restarted at
  the playhead (regions already finished are kept); gaps left behind are filled afterwards.
- A user cancel stops the job within one segment batch and leaves nothing on disk (the cache
  entry is written only once a song is complete).
- "Separate selection" renders only the A–B region with the chosen quality, for auditioning.
- Changing the quality or model re-opens the displayed song (cache first). Its stems made with
  the earlier settings stay shown and playing (held, see `Track`) until new regions replace
  them; a separation asked for while the song re-opens starts once it is open, on the new settings.
- The GUI thread never waits for a job: what must follow a running separation (re-opening on
  new settings, a selection) is queued and runs when the cancelled job's worker has returned.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from model.separation_settings import SeparationSettings

from .cache import ResultCache
from .jobs import FunctionJob, Job, JobRunner, ModelHolder, SeparationJob, SeparationRequest
from .settings import Settings
from .song_io import (LoadResult, describe_device, expand_paths, load_song, quality_id,
                      separate_to_cache)
from .track import Track

logger = logging.getLogger(__name__)

#: a seek further than this past the job's frontier restarts the job at the playhead
RESTART_MARGIN_SECONDS = 4.0

@dataclass
class QueueItem:
    """One song in the queue. `status`: queued/loading/separating/done/failed/cancelled/partial/ready."""

    path: Path
    status: str = "queued"
    fraction: float = 0.0
    message: str = ""
    key: str = ""


class SeparationSession(QObject):
    """See module doc. Signals carry plain values; the window decides what to show."""

    item_added = Signal(object)           # QueueItem
    item_changed = Signal(object)         # QueueItem
    track_opened = Signal(object)         # Track (now displayed)
    region_ready = Signal(int, int)       # start_frame, end_frame of the displayed track
    track_completed = Signal(object)      # Track
    progress = Signal(float, float, str)  # fraction of the displayed song, eta seconds (-1), text
    busy_changed = Signal(bool)
    message = Signal(str)                 # status-bar text
    error = Signal(str, str)              # title, message (the window shows it; never a traceback)
    model_missing = Signal(str)

    def __init__(self, settings: Settings, runner: JobRunner, cache: ResultCache | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.runner = runner
        self.cache = cache or ResultCache(max_bytes=int(settings.get("cache_limit_gb") * 1e9),
                                          dtype=settings.get("cache_dtype"))
        self.models = ModelHolder()
        self.items: list[QueueItem] = []
        self.track: Track | None = None
        self.current_item: QueueItem | None = None
        self.model: Any = None
        self.playhead_frame = 0
        self.job: SeparationJob | None = None
        self._job_item: QueueItem | None = None
        self._job_track: Track | None = None
        self._load_job: FunctionJob | None = None
        self._restart_after_cancel = False
        self._after_cancel_pump = False
        self._suppress_auto = False
        self._selection_only = False
        self._loading_item: QueueItem | None = None
        #: a separation asked for while the displayed song was (re)opening: ("separate",) or
        #: ("selection", start_frame, end_frame); started once it is open
        self._after_load: tuple | None = None
        #: a separation cancelled so that `_after_stop` can run once its worker has returned
        #: (the GUI thread never waits for it: see `_after_job_stops`)
        self._stopping: Job | None = None
        self._after_stop: list[Callable[[], None]] = []
        self._pump_held = False           # `_pump` was called while a job was stopping
        self.last_device_text = ""

    # -- opening ----------------------------------------------------------------------------
    def open_paths(self, paths: list[str | Path]) -> list[QueueItem]:
        """Queue files/folders; the first new one is displayed (loaded now)."""
        files = expand_paths(paths)
        if not files:
            self.error.emit("Nothing to open", "No audio files were found in what was dropped.")
            return []
        added = []
        for path in files:
            existing = next((i for i in self.items if i.path == path), None)
            item = existing or QueueItem(path)
            if existing is None:
                self.items.append(item)
                self.item_added.emit(item)
            elif item.status in ("failed", "cancelled"):
                item.status, item.message = "queued", ""
                self.item_changed.emit(item)
            added.append(item)
        self.display(added[0])
        return added

    def display(self, item: QueueItem, held: Track | None = None) -> None:
        """Load `item` and make it the displayed track (cache hits are instant). `held`: the
        song as displayed so far (settings changed), whose stems stay until replaced."""
        if (item is self.current_item and self.track is not None and self.track.path == item.path
                and item.status in ("separating", "queued") and self.job is not None):
            return  # already on screen and being separated
        if self.job is not None and self._job_item is not item:
            self._cancel_job(restart=True)   # the displayed song has priority
        self.current_item = item
        self._loading_item = item
        self._after_load = None
        self._set_status(item, "loading", "")
        quality = self.quality_settings()
        spec = self.settings.get("model") or None
        cache = self.cache

        def load(cancel: threading.Event) -> LoadResult:
            return load_song(item.path, spec, quality, cache, held)

        job = FunctionJob(f"opening {item.path.name}", load)
        job.signals.finished.connect(lambda res, it=item: self._on_loaded(it, res))
        job.signals.failed.connect(lambda msg, it=item: self._on_load_failed(it, msg))
        self._load_job = job
        self.runner.start(job)

    def reload_current(self) -> None:
        """Model or quality changed: show the displayed song with the new settings (cache first)."""
        item = self.current_item
        if item is None:
            return
        if self.job is not None or self._stopping is not None:
            self._after_job_stops(self.reload_current)   # once the old settings' job has returned
            return
        # Don't launch a full render just because a setting changed: the user may want to
        # audition it on a selection first ("Separate selection"), or press Separate.
        self._suppress_auto = True
        track = self.track
        self.display(item, held=track if track is not None and track.path == item.path else None)

    def _loading_current(self) -> bool:
        """Whether the displayed song is being (re)opened (its track is about to be replaced)."""
        return self._loading_item is not None and self._loading_item is self.current_item

    def _on_loaded(self, item: QueueItem, res: LoadResult) -> None:
        if item is self._loading_item:
            self._loading_item = None
        if item is not self.current_item:
            self._set_status(item, "queued", "")
            self._pump()
            return
        after, self._after_load = self._after_load, None
        self.model = res.model
        track = res.track
        item.key = res.key
        self.track = track
        self.playhead_frame = 0
        self.settings.add_recent_file(item.path)
        self.track_opened.emit(track)
        for notice in track.notices:
            self.message.emit(notice)
        if res.cached is not None:
            self._set_status(item, "done", "from cache", 1.0)
            self.message.emit(f"{track.name}: stems loaded from the cache")
            self.track_completed.emit(track)
        elif res.model is None:
            self._set_status(item, "ready", "no model")
            self.model_missing.emit(res.model_error)
        elif self.settings.get("auto_separate") and not self._suppress_auto:
            self._set_status(item, "queued", "")
        else:
            self._set_status(item, "ready", "press Separate")
            self.message.emit(f"{track.name}: not separated with these settings yet — press "
                              "Separate, or select a passage and Separate selection")
        self._suppress_auto = False
        if after is not None and res.model is not None and res.cached is None:
            if after[0] == "selection":
                self.separate_selection(after[1], after[2])
                return
            self.separate_current()
            return
        self._pump()

    def _on_load_failed(self, item: QueueItem, message: str) -> None:
        if item is self._loading_item:
            self._loading_item = None
            self._after_load = None
        self._set_status(item, "failed", message)
        self.error.emit(f"Could not open {item.path.name}", message)
        self._pump()

    # -- separation control -----------------------------------------------------------------
    def quality_settings(self) -> dict[str, Any]:
        """The chosen quality preset and segment as the dict that identifies stems in the cache
        (`SeparationSettings.identity`; `SeparationSettings(**it)` gives the settings back)."""
        seg = self.settings.get("segment_seconds")
        return self.settings.quality().settings.replace(segment_seconds=seg if seg > 0 else None).identity()

    def separate_current(self) -> None:
        """(Re)start the full separation of the displayed song with the current settings."""
        if self.current_item is None or self.track is None:
            return
        if self._loading_current():
            self._after_load = ("separate",)
            return
        if self.model is None:
            self.model_missing.emit("no model is installed")
            return
        self._selection_only = False
        if self.current_item.status in ("done",) and self.track.complete:
            return
        self._set_status(self.current_item, "queued", "")
        self._pump()

    def separate_selection(self, start_frame: int, end_frame: int) -> None:
        """Separate only [start_frame, end_frame) of the displayed song (audition a passage)."""
        if self.track is None or self.current_item is None:
            return
        if self._loading_current():   # the settings changed a moment ago: wait for the song
            self._after_load = ("selection", int(start_frame), int(end_frame))
            return
        if self.model is None:
            self.model_missing.emit("no model is installed")
            return
        if self.job is not None or self._stopping is not None:
            track = self.track
            self._after_job_stops(lambda: track is self.track
                                  and self.separate_selection(start_frame, end_frame))
            return
        self._selection_only = True
        self._start_job(self.current_item, self.track, int(start_frame), int(end_frame))

    def cancel(self) -> None:
        """User cancel: stop the running job; nothing is written."""
        if self.job is None:
            return
        item = self._job_item
        self._cancel_job(restart=False)
        if item is not None:
            self._set_status(item, "cancelled", "")
        for it in self.items:  # don't carry on with the rest of the queue either
            if it.status == "queued":
                self._set_status(it, "cancelled", "")

    def cancel_item(self, item: QueueItem) -> None:
        """Stop one queued or running song (the others carry on)."""
        if self._job_item is item and self.job is not None:
            self._cancel_job(restart=False)
            self._after_cancel_pump = True
        if item.status in ("queued", "separating", "loading"):
            self._set_status(item, "cancelled", "")

    def remove_item(self, item: QueueItem) -> bool:
        """Forget a song that is not running or displayed; returns whether it was removed."""
        if item is self.current_item or item is self._job_item or item not in self.items:
            return False
        self.items.remove(item)
        return True

    def seek_hint(self, frame: int) -> None:
        """The playhead moved to `frame`: make the separation run ahead of it."""
        self.playhead_frame = int(frame)
        job, track = self.job, self.track
        if job is None or track is None or self._job_track is not track or self._selection_only:
            return
        if track.is_covered(frame):
            return
        margin = int(RESTART_MARGIN_SECONDS * track.samplerate)
        if job.frontier_frame <= frame <= job.frontier_frame + margin:
            return
        logger.info("seek to %.1f s outside the separated part: restarting there", frame / track.samplerate)
        self._cancel_job(restart=True)

    def _cancel_job(self, restart: bool) -> None:
        if self.job is not None:
            self._restart_after_cancel = restart
            self.job.cancel()

    def _after_job_stops(self, action: Callable[[], None]) -> None:
        """Cancel the running separation and call `action()` once its worker has returned.

        The GUI thread does not wait: the event loop keeps running (playback, redraws, input)
        while the job finishes its current batch; its `done` signal runs the queued actions, in
        order (`_job_returned`). Nothing else is started meanwhile (`_pump` holds back)."""
        if self.job is None and self._stopping is None:
            action()
            return
        if self.job is not None and self._stopping is None:
            self._stopping = self.job
            self._cancel_job(restart=False)
        if action not in self._after_stop:      # e.g. two setting changes: one reload
            self._after_stop.append(action)

    def _job_returned(self, job: Job) -> None:
        """A separation's worker returned (its last signal): run what waited for it."""
        if job is not self._stopping:
            return
        self._stopping = None
        actions, self._after_stop = self._after_stop, []
        held, self._pump_held = self._pump_held, False
        for action in actions:
            action()
        if held:
            self._pump()

    @property
    def busy(self) -> bool:
        return self.job is not None

    def _pump(self) -> None:
        """Start the next separation if none runs (and none is still stopping)."""
        if self._stopping is not None:
            self._pump_held = True
            return
        if self.job is not None:
            return
        item, track = self.current_item, self.track
        if (item is not None and track is not None and self.model is not None
                and item.status in ("queued", "separating")):
            gap = track.next_gap(self.playhead_frame)
            if gap is not None:
                self._start_job(item, track, *gap)
                return
        # background items: load them one at a time (their results land in the cache)
        for other in self.items:
            if other is not self.current_item and other.status == "queued":
                self._start_background(other)
                return
        self.busy_changed.emit(False)

    def _start_job(self, item: QueueItem, track: Track, start: int, end: int) -> None:
        quality = self.quality_settings()
        qid = quality_id(quality, self.model.name)
        if track.quality_id and track.quality_id != qid and track.coverage:
            track.hold_current()   # other settings: start over, showing the old stems meanwhile
            track.quality_id = qid
            if track is self.track:
                self.track_opened.emit(track)   # the lanes take the new array (view kept)
        track.quality_id = qid
        track.model_name = self.model.name
        # the worker writes regions straight into the track (the GUI thread only records them)
        card = getattr(self.model, "card", None)
        sources = tuple(getattr(getattr(card, "config", None), "sources", ()) or ())
        out = track.stems if sources == tuple(track.sources) else None
        request = SeparationRequest(
            mixture=track.mixture, weights_path=self.model.weights_path, model_name=self.model.name,
            device=self.settings.get("device"), start_frame=start, end_frame=end,
            collect_se=True, out=out, settings=SeparationSettings(**quality))
        job = SeparationJob(request, self.models)
        self.job, self._job_item, self._job_track = job, item, track
        self._restart_after_cancel = False
        sig = job.signals
        sig.region.connect(lambda s, b, t=track, j=job: self._on_region(j, t, s, b))
        sig.progress.connect(lambda p, j=job: self._on_progress(j, p))
        sig.finished.connect(lambda out, j=job: self._on_job_finished(j, out))
        sig.failed.connect(lambda msg, j=job: self._on_job_failed(j, msg))
        sig.cancelled.connect(lambda j=job: self._on_job_cancelled(j))
        sig.done.connect(lambda j=job: self._job_returned(j))
        self._set_status(item, "separating", "", track.covered_frames / max(1, track.frames))
        self.busy_changed.emit(True)
        self.runner.start(job)

    def _start_background(self, item: QueueItem) -> None:
        """Separate a queued song that is not displayed, straight into the cache."""
        quality = self.quality_settings()
        spec = self.settings.get("model") or None
        cache, models = self.cache, self.models
        device = self.settings.get("device")

        def run(cancel: threading.Event) -> str:
            return separate_to_cache(item.path, spec, quality, device, cache, models, cancel)

        job = FunctionJob(f"separating {item.path.name}", run)
        self._set_status(item, "separating", "")
        self.busy_changed.emit(True)
        job.signals.finished.connect(lambda msg, it=item: self._background_done(it, "done", msg))
        job.signals.failed.connect(lambda msg, it=item: self._background_done(it, "failed", msg))
        job.signals.cancelled.connect(lambda it=item: self._background_done(it, "cancelled", ""))
        job.signals.done.connect(lambda j=job: self._job_returned(j))
        self.job = job  # type: ignore[assignment]  # one separation at a time
        self._job_item, self._job_track = item, None
        self.runner.start(job)

    def _background_done(self, item: QueueItem, outcome: str, message: str) -> None:
        self.job = None
        if outcome == "cancelled" and self._restart_after_cancel:
            outcome = "queued"   # pre-empted by the displayed song; resumes later
        self._restart_after_cancel = self._after_cancel_pump = False
        self._set_status(item, outcome, message, 1.0 if outcome == "done" else 0.0)
        self._pump()

    # -- job callbacks (GUI thread) -----------------------------------------------------------
    def _on_region(self, job: SeparationJob, track: Track, start: int, block: np.ndarray) -> None:
        s, e = track.write_region(start, block)
        if track is self.track and e > s:
            self.region_ready.emit(s, e)

    def _on_progress(self, job: SeparationJob, p: Any) -> None:
        track = self._job_track
        if track is None or job is not self.job:
            return
        fraction = track.covered_frames / max(1, track.frames)
        eta = float(getattr(p, "eta_seconds", -1.0) or -1.0)
        if self._job_item is not None:
            self._job_item.fraction = fraction
            self.item_changed.emit(self._job_item)
        if track is self.track:
            self.progress.emit(fraction, eta, f"Separating {track.name}")

    def _on_job_finished(self, job: SeparationJob, outcome: Any) -> None:
        if job is not self.job:
            return
        track, item = self._job_track, self._job_item
        self.job = None
        result = outcome.result
        req = outcome.request
        if track is not None:
            self._absorb_result(track, req, result)
            self.last_device_text = describe_device(result.device)
            track.device_text = self.last_device_text
            self.message.emit(f"{track.name}: frames {req.start_frame}–{req.end_frame} separated "
                              f"in {outcome.elapsed_seconds:.1f} s on {track.device_text}")
            for notice in getattr(result, "notices", []) or []:
                self.message.emit(notice)
        if track is not None and item is not None:
            if track.complete:
                self._set_status(item, "done", track.device_text, 1.0)
                self._store(item, track)
                if track is self.track:
                    self.progress.emit(1.0, 0.0, f"{track.name} separated")
                    self.track_completed.emit(track)
            elif self._selection_only:
                self._selection_only = False
                self._set_status(item, "partial", "selection separated",
                                 track.covered_frames / track.frames)
                if track is self.track:
                    self.track_completed.emit(track)
                    self.progress.emit(track.covered_frames / track.frames, 0.0, "Selection separated")
                self.busy_changed.emit(False)
                return
        self._pump()

    def _absorb_result(self, track: Track, req: SeparationRequest, result: Any) -> None:
        """Make sure the whole requested range is in the track (regions normally did it)."""
        stems = np.asarray(result.stems)
        end = track.frames if req.end_frame is None else req.end_frame
        if any(a <= req.start_frame and end <= b for a, b in track.coverage):
            stems = None  # every region already arrived through on_region
        if stems is not None:
            if stems.shape[-1] == track.frames:
                block = stems[..., req.start_frame:end]
            else:
                block = stems[..., : end - req.start_frame]
            s, e = track.write_region(req.start_frame, block)
            if track is self.track and e > s:
                self.region_ready.emit(s, e)
        se = getattr(result, "se_activations", None)
        if se:
            times = np.asarray(getattr(result, "se_times_seconds", None) if
                               getattr(result, "se_times_seconds", None) is not None else
                               np.arange(len(next(iter(se.values())))), dtype=np.float32)
            if track.se_activations is None:
                track.se_activations = {k: np.asarray(v, np.float32) for k, v in se.items()}
                track.se_times_seconds = times
            else:  # merge pieces made by restarted jobs, in time order
                all_times = np.concatenate([track.se_times_seconds, times])
                order = np.argsort(all_times, kind="stable")
                track.se_activations = {
                    k: np.concatenate([track.se_activations[k], np.asarray(v, np.float32)])[order]
                    for k, v in se.items() if k in track.se_activations}
                track.se_times_seconds = all_times[order]

    def _store(self, item: QueueItem, track: Track) -> None:
        if not item.key:
            return
        meta = {"path": str(track.path), "model": track.model_name, "device": track.device_text}
        cache, key = self.cache, item.key
        # no copy: reset_stems() gives the track a new array, so this one stays as it is
        stems, sources, sr = track.stems, track.sources, track.samplerate
        se, times = track.se_activations, track.se_times_seconds
        job = FunctionJob("caching stems", lambda cancel: cache.put(key, stems, sources, sr, meta,
                                                                    se, times))
        self.runner.start(job)

    def _on_job_failed(self, job: SeparationJob, message: str) -> None:
        if job is not self.job:
            return
        item = self._job_item
        self.job = None
        if item is not None:
            self._set_status(item, "failed", message)
        self.error.emit("Separation failed", message)
        self.busy_changed.emit(False)
        self._pump()

    def _on_job_cancelled(self, job: SeparationJob) -> None:
        if job is not self.job:
            return
        self.job = None
        restart = self._restart_after_cancel
        self._restart_after_cancel = False
        self._selection_only = False
        if restart:
            if self._job_item is not None and self._job_item.status == "separating":
                self._job_item.status = "queued"
            self._pump()
        else:
            self.progress.emit(0.0, -1.0, "Cancelled")
            self.busy_changed.emit(False)
            if self._after_cancel_pump:   # one item was cancelled: the rest of the queue goes on
                self._after_cancel_pump = False
                self._pump()

    def _set_status(self, item: QueueItem, status: str, message: str,
                    fraction: float | None = None) -> None:
        item.status, item.message = status, message
        if fraction is not None:
            item.fraction = fraction
        self.item_changed.emit(item)

    def shutdown(self) -> None:
        self._restart_after_cancel = False
        self._after_stop.clear()
        self.runner.cancel_all()
