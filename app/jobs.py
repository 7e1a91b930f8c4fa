"""Background jobs: one QRunnable class shape with a fixed signal set (superqt/Picard style).

- `Job.run()` is the only place that catches: a `Cancelled` becomes `cancelled`, a `StemDeckError`
  becomes `failed(message)` (its text names the file and reason), anything else is logged with its
  traceback and becomes `failed(short message)`. Results and errors reach the GUI only through these
  queued signals; workers never touch widgets.
- Cancel is a `threading.Event` the work checks between segment batches (the engine does this).
- `JobRunner` (owned by the window, never global) keeps a reference to every running job until it
  has returned, can cancel them all and wait for them on close.

Torch is imported only inside jobs, so the window appears before torch is loaded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from model.errors import Cancelled, StemDeckError
from model.separation_settings import DEFAULT_SETTINGS, SeparationSettings

logger = logging.getLogger(__name__)


class JobSignals(QObject):
    """Signals of one job. `region(start_frame, block (S, C, n) float32)` streams finished audio."""

    started = Signal()
    progress = Signal(object)          # model.separate.Progress or a float fraction
    region = Signal(int, object)
    finished = Signal(object)          # the job's result
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()                    # always last, after one of finished/failed/cancelled


class Job(QRunnable):
    """A unit of background work; subclasses implement `work()` and may emit progress/region."""

    title = "job"

    def __init__(self) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.signals = JobSignals()
        self.cancel_event = threading.Event()
        self.returned = threading.Event()
        self.outcome: str = "pending"      # finished | failed | cancelled
        self.error: str = ""

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def is_cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def work(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self) -> None:  # noqa: D401 - Qt entry point
        try:
            self.signals.started.emit()
            if self.cancel_event.is_set():
                raise Cancelled(f"{self.title} cancelled before it started")
            result = self.work()
            if self.cancel_event.is_set():
                raise Cancelled(f"{self.title} cancelled")
        except Cancelled:
            self.outcome = "cancelled"
            logger.info("%s cancelled", self.title)
            self.signals.cancelled.emit()
        except StemDeckError as exc:
            self.outcome, self.error = "failed", str(exc)
            logger.warning("%s failed: %s", self.title, exc)
            self.signals.failed.emit(str(exc))
        except MemoryError:
            self.outcome, self.error = "failed", "not enough memory"
            logger.error("%s ran out of memory", self.title)
            self.signals.failed.emit(f"{self.title}: not enough memory. Try a smaller segment "
                                     "length or close other programs.")
        except Exception as exc:  # the one catch-all: report, never crash the window
            self.outcome, self.error = "failed", f"{type(exc).__name__}: {exc}"
            logger.exception("%s crashed", self.title)
            self.signals.failed.emit(f"{self.title} failed unexpectedly ({type(exc).__name__}: "
                                     f"{exc}). Details are in the log.")
        else:
            self.outcome = "finished"
            self.signals.finished.emit(result)
        finally:
            self.signals.done.emit()
            self.returned.set()


class FunctionJob(Job):
    """Runs `fn(cancel_event)` in a worker; its return value is the result."""

    def __init__(self, title: str, fn: Callable[[threading.Event], Any]) -> None:
        super().__init__()
        self.title = title
        self._fn = fn

    def work(self) -> Any:
        return self._fn(self.cancel_event)


def torch_threads_for_playback() -> int:
    """Threads torch may use while audio plays: one core is left for the GUI and PortAudio."""
    return max(1, (os.cpu_count() or 2) - 1)


class ModelHolder:
    """Loaded models by (weights path, device), shared by jobs; loading happens in workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], Any] = {}

    def get(self, weights_path: Any) -> Any:
        from model.checkpoint import load_model

        key = (str(weights_path), "cpu")
        with self._lock:
            if key not in self._models:
                self._models.clear()  # keep one model in memory
                model, _card = load_model(weights_path, device="cpu")
                model.eval()
                self._models[key] = model
            return self._models[key]


@dataclass
class SeparationRequest:
    """Everything a separation needs, captured before the job starts."""

    mixture: np.ndarray                 # (C, frames) float32 at the model's samplerate
    weights_path: Any
    model_name: str
    device: str = "auto"
    settings: SeparationSettings = DEFAULT_SETTINGS
    start_frame: int = 0
    end_frame: int | None = None
    collect_se: bool = True
    torch_threads: int | None = None
    #: optional (S, C, frames) float32 array (the track's stems) that finished regions are written
    #: into here, in the worker, so the GUI thread only records them; `region` then carries views
    #: of it. None: regions are emitted as copies.
    out: np.ndarray | None = None


@dataclass
class SeparationOutcome:
    """What a finished SeparationJob hands back."""

    request: SeparationRequest
    result: Any                         # model.separate.SeparationResult
    elapsed_seconds: float


class SeparationJob(Job):
    """Runs a `model.separate.Separator` on a frame range, streaming finished regions."""

    title = "separation"

    def __init__(self, request: SeparationRequest, models: ModelHolder) -> None:
        super().__init__()
        self.request = request
        self.models = models
        self.frontier_frame = request.start_frame   # end of the last region received

    def work(self) -> SeparationOutcome:
        import torch

        from model.separate import Separator

        req = self.request
        threads = req.torch_threads or torch_threads_for_playback()
        torch.set_num_threads(threads)
        logger.info("separation: %s frames %d..%s on %s, %d torch threads, shifts=%d overlap=%.2f",
                    req.model_name, req.start_frame, req.end_frame, req.device, threads,
                    req.settings.shifts, req.settings.overlap)
        model = self.models.get(req.weights_path)
        if self.cancel_event.is_set():
            raise Cancelled("separation cancelled")
        t0 = time.perf_counter()

        def on_region(start_frame: int, block: np.ndarray) -> None:
            self.frontier_frame = int(start_frame) + int(block.shape[-1])
            if req.out is None:  # a view of separate()'s own buffer: copy it to keep it
                block = np.array(block, dtype=np.float32, copy=True)
            self.signals.region.emit(int(start_frame), block)

        separator = Separator(model, device=req.device, settings=req.settings)
        result = separator.separate(
            req.mixture, start_frame=req.start_frame, end_frame=req.end_frame,
            progress=self.signals.progress.emit, cancel=self.cancel_event, on_region=on_region,
            collect_se=req.collect_se, out=req.out)
        return SeparationOutcome(req, result, time.perf_counter() - t0)


class JobRunner(QObject):
    """Starts jobs on a private thread pool and keeps them alive until they have returned."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._jobs: list[Job] = []

    def start(self, job: Job) -> Job:
        self._prune()
        self._jobs.append(job)
        job.signals.done.connect(self._prune)
        self.pool.start(job)
        return job

    def _prune(self) -> None:
        self._jobs = [j for j in self._jobs if not j.returned.is_set()]

    @property
    def running(self) -> list[Job]:
        self._prune()
        return list(self._jobs)

    def cancel_all(self) -> None:
        for job in self._jobs:
            job.cancel()

    def wait(self, timeout_seconds: float = 10.0) -> bool:
        """Wait until every job has returned; True when they all did."""
        ok = self.pool.waitForDone(int(timeout_seconds * 1000))
        self._prune()
        return ok
