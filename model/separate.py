"""Separate a mixture into stems with any network of the contract's shape.

`Separator(model, device=..., settings=SeparationSettings(...)).separate(mix)` (or the one-call
`separate(mix, model, **settings)`) runs `model` (forward: (B, C, T) -> (B, S, C, T)) over fixed-length
segments with a triangular overlap-add (see `model.overlap_add`), optional random time shifts,
batched segments, autocast on GPUs, progress/ETA, cancellation, progressive results and automatic
recovery from GPU out-of-memory errors (the steps are `model.oom_recovery`'s). Working memory does not grow with the track: the only
track-length buffers are the caller's input and the output (which may be a preallocated or
memory-mapped array passed as `out=`).

Shifts: the first pass is always the unshifted grid (so `shifts=1` is deterministic and needs no
seed); each further pass lays the segment grid at a random offset in [1, 0.5 s) drawn from
`seed`. All windows of all passes are combined by one weighted average (Demucs averages per-pass
averages instead; for a shift-invariant model both are identical).
"""

from __future__ import annotations

import concurrent.futures
import copy
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .cpu_runtime import keep_freed_memory, release_freed_memory
from .devices import DeviceReport, cpu_count, free_memory_bytes, select_device
from .errors import Cancelled, DeviceError
from .oom_recovery import OomRecovery, RecoveryStep, free_cached_memory, is_out_of_memory
from .overlap_add import OverlapAdd, plan_windows, triangular_weight
from .separation_settings import DEFAULT_SETTINGS, PRECISIONS, SeparationSettings  # noqa: F401

logger = logging.getLogger(__name__)

EXACT_SUM_MODES = (None, "other", "energy")
MAX_SHIFT_SECONDS = 0.5
MIN_SEGMENT_SECONDS = 0.5       # OOM recovery never goes below this
ENERGY_WINDOW_FRAMES = 2048     # smoothing window of the "energy" residual split
MAX_CPU_WORKERS = 4             # segments run concurrently on the CPU (memory grows with it)


@dataclass
class Progress:
    """fraction: 0..1 of the work done; frames_done: final output frames so far (of
    frames_total, the range length); elapsed/eta in seconds (eta None until measurable)."""

    fraction: float
    frames_done: int
    frames_total: int
    elapsed_seconds: float
    eta_seconds: float | None


@dataclass
class SeparationResult:
    """stems: (S, C, frames) float32 for the separated range (a view of `out` when given);
    se_activations: layer name -> (n_segments, channels) when collect_se, with
    se_times_seconds (n_segments,) the segment centres in track seconds; accumulator_frames:
    the largest overlap-add buffer used (a diagnostic: it does not depend on the track length)."""

    stems: np.ndarray
    sources: tuple[str, ...]
    samplerate: int
    device: DeviceReport
    se_activations: dict[str, np.ndarray] | None
    se_times_seconds: np.ndarray | None
    elapsed_seconds: float
    notices: list[str] = field(default_factory=list)
    start_frame: int = 0
    accumulator_frames: int = 0
    segments_processed: int = 0


def auto_batch_size(device: torch.device, window_frames: int, model: Any) -> int:
    """Segments per forward call. CPU: about 256 k input frames per batch (1-8 segments: one
    default 8 s segment, measured faster per second of audio than two and half the memory).
    GPU: from free memory with a rough activation estimate of 32 bytes x channels x frames x
    (2 if the net upsamples), using 60 % of what is free (OOM recovery handles misjudgements)."""
    if device.type == "cpu" or device.type == "meta":
        return int(np.clip(2**18 // max(1, window_frames), 1, 8))
    free = free_memory_bytes(device)
    if free is None:
        return 4
    config = getattr(model, "config", None)
    width = getattr(config, "channels", 32)
    upsample = 2 if getattr(config, "resample", False) else 1
    per_window = 32 * width * window_frames * upsample
    return int(np.clip(int(free * 0.6) // max(1, per_window), 1, 32))


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else None
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def _model_window(model: Any, segment_frames: int) -> int:
    """Input length fed to the model for a segment: its valid length when it has one, so that
    the padding is real neighbouring audio instead of the network's own zero padding."""
    valid = getattr(model, "valid_length", None)
    if callable(valid):
        return max(segment_frames, int(valid(segment_frames)))
    return segment_frames


def _energy_split(stems: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """Share of the residual per stem, (S, 1, n), from each stem's smoothed local energy."""
    energy = np.square(stems, dtype=np.float64).sum(axis=1)  # (S, n)
    n = energy.shape[-1]
    half = min(ENERGY_WINDOW_FRAMES, n) // 2
    if half > 0:  # centred moving average via cumulative sums: O(n), window shrinks at the edges
        csum = np.concatenate([np.zeros((energy.shape[0], 1)), np.cumsum(energy, axis=1)], axis=1)
        idx = np.arange(n)
        left, right = np.maximum(idx - half, 0), np.minimum(idx + half + 1, n)
        energy = (csum[:, right] - csum[:, left]) / (right - left)
    total = energy.sum(axis=0, keepdims=True)
    share = np.where(total > 1e-12, energy / np.maximum(total, 1e-30), 1.0 / stems.shape[0])
    return share[:, None, :].astype(np.float32)


def apply_exact_sum(stems: np.ndarray, mix: np.ndarray, mode: str, sources: tuple[str, ...]) -> None:
    """Make stems (S, C, n) sum to mix (C, n), in place. "other": the residual goes to "other"
    (the last stem if the model has none); "energy": spread by each stem's local energy."""
    residual = mix - stems.sum(axis=0)
    if mode == "other":
        index = sources.index("other") if "other" in sources else len(sources) - 1
        stems[index] += residual
    elif mode == "energy":
        stems += _energy_split(stems, residual) * residual[None]
    else:
        raise ValueError(f"exact_sum must be one of {EXACT_SUM_MODES}, got {mode!r}")


def _record_se_context(model: Any):
    from .network import record_se  # owned by branch `net`

    return record_se(model)


class _Windows:
    """Builds model input windows (B, C, W) from the mixture, zeros outside the track."""

    def __init__(self, mix: np.ndarray, segment_frames: int, window_frames: int) -> None:
        self.mix = mix
        self.segment_frames = segment_frames
        self.window_frames = window_frames
        self.pad_left = (window_frames - segment_frames) // 2

    def batch(self, starts: list[int]) -> np.ndarray:
        channels, total = self.mix.shape
        out = np.zeros((len(starts), channels, self.window_frames), dtype=np.float32)
        for i, a in enumerate(starts):
            w0 = a - self.pad_left
            s0, s1 = max(0, w0), min(total, w0 + self.window_frames)
            if s1 > s0:
                out[i, :, s0 - w0 : s1 - w0] = self.mix[:, s0:s1]
        return out


class _CpuWorkers:
    """Runs the segments of a batch concurrently on Python threads, each with its own torch
    intra-op thread count (1 on a 2-core machine), instead of one segment at a time with
    OpenMP-parallel operators.

    Why: torch's OpenMP threads spin at every operator's barrier, so when anything else uses the
    cores (another app, a training job) a 2-thread forward pass took 2-4x longer than a 1-thread
    one (measured on the 2-core project VM: 2.3-4.5 s vs 1.1-1.2 s per 8 s window). Independent
    segments need no barriers. Each worker owns a replica of the model that shares its parameters
    (so SE recording, which writes into the modules, stays per segment).
    """

    def __init__(self, model: torch.nn.Module, workers: int, threads_each: int) -> None:
        shared = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
        self.replicas = [model] + [copy.deepcopy(model, dict(shared)) for _ in range(workers - 1)]
        self.pool = concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix="stemdeck-segment",
            initializer=torch.set_num_threads, initargs=(threads_each,))

    @classmethod
    def create(cls, model: torch.nn.Module, device: torch.device, threads: int) -> "_CpuWorkers | None":
        """Workers for `threads` CPU threads, or None (GPU, one thread, or an uncopyable model)."""
        workers = min(threads, MAX_CPU_WORKERS)
        if device.type != "cpu" or workers < 2:
            return None
        try:
            return cls(model, workers, max(1, threads // workers))
        except Exception as exc:  # noqa: BLE001 - any model we cannot replicate runs serially
            logger.debug("segments run one at a time: cannot replicate the model (%s)", exc)
            return None

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class Separator:
    """A model, the device it runs on and the settings it separates with: the one way the CLI,
    the app's worker and the evaluator separate songs.

    `settings`: a `SeparationSettings` (default: the balanced preset); `threads`: torch CPU
    threads per call (default: torch's setting, capped to the cores available; on the CPU with 2
    or more threads the segments of a batch run concurrently, see `_CpuWorkers`); `batch_size`:
    segments per forward call (default: from the device's memory). The device is resolved once
    (`select_device`: an unavailable one is a DeviceError here, before any song); the model is
    moved to it on each call and left there.
    """

    def __init__(self, model: torch.nn.Module, *, device: str | torch.device = "auto",
                 settings: SeparationSettings = DEFAULT_SETTINGS, threads: int | None = None,
                 batch_size: int | None = None) -> None:
        self.model = model
        self.device = str(device)
        self.settings = settings
        self.threads = threads
        self.batch_size = batch_size
        select_device(self.device)   # refuse an unavailable device now

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.model.config.sources)

    @property
    def samplerate(self) -> int:
        return int(self.model.config.samplerate)

    def separate(self, mix: np.ndarray, *, start_frame: int = 0, end_frame: int | None = None,
                 exact_sum: str | None = None, progress: Callable[[Progress], None] | None = None,
                 cancel: threading.Event | None = None,
                 on_region: Callable[[int, np.ndarray], None] | None = None, collect_se: bool = False,
                 seed: int = 0, out: np.ndarray | None = None) -> SeparationResult:
        """Separate `mix` (C, frames) float32 at the model's samplerate into (S, C, n) stems.

        Only [start_frame, end_frame) is separated (n = end - start); windows still read the
        neighbouring audio as context. `on_region(start_frame, block (S, C, k))` receives
        consecutive, non-overlapping final regions in time order covering the range exactly once
        (block is a view of the output: copy it to keep it). `out`: optional (S, C, n) or
        (S, C, frames) array to write into (e.g. a memmap). `cancel`: checked before every segment
        batch, raises Cancelled. `exact_sum`: None, "other" or "energy" (`apply_exact_sum`);
        `seed` draws the shift offsets. The caller's `mix` is never modified.
        """
        run = _Run(self, mix, start_frame, end_frame, exact_sum, out, seed)
        return run.execute(progress, cancel, on_region, collect_se)


def separate(mix: np.ndarray, model: torch.nn.Module, *, device: str | torch.device = "auto",
             shifts: int = DEFAULT_SETTINGS.shifts, overlap: float = DEFAULT_SETTINGS.overlap,
             segment_seconds: float | None = None, precision: str = "auto",
             batch_size: int | None = None, threads: int | None = None, **call: Any) -> SeparationResult:
    """One call of `Separator(model, ...).separate(mix, **call)` (scripts and tests): the settings
    as keywords, the rest (`start_frame`, `end_frame`, `exact_sum`, `progress`, `cancel`,
    `on_region`, `collect_se`, `seed`, `out`) as for `Separator.separate`."""
    settings = SeparationSettings(shifts=shifts, overlap=overlap, segment_seconds=segment_seconds,
                                  precision=precision)
    separator = Separator(model, device=device, settings=settings, threads=threads, batch_size=batch_size)
    return separator.separate(mix, **call)


class _Run:
    """One `Separator.separate` call: the checked inputs, the overlap-add state and the loop
    over segment batches (with out-of-memory recovery from `model.oom_recovery`)."""

    def __init__(self, separator: Separator, mix: np.ndarray, start_frame: int, end_frame: int | None,
                 exact_sum: str | None, out: np.ndarray | None, seed: int) -> None:
        self.t0 = time.perf_counter()
        self.separator = separator
        self.model = model = separator.model
        settings = separator.settings
        config = model.config
        self.sources = tuple(config.sources)
        self.samplerate = samplerate = int(config.samplerate)
        mix = np.asarray(mix)
        if mix.ndim != 2 or mix.shape[0] != config.audio_channels:
            raise ValueError(f"mix must be ({config.audio_channels}, frames), got shape {mix.shape}")
        if mix.dtype != np.float32:
            mix = mix.astype(np.float32)
        self.mix = mix
        total = mix.shape[1]
        self.lo = lo = int(start_frame)
        self.hi = hi = total if end_frame is None else int(end_frame)
        if not 0 <= lo < hi <= total:
            raise ValueError(f"invalid range [{start_frame}, {end_frame}) for {total} frames")
        if exact_sum not in EXACT_SUM_MODES:
            raise ValueError(f"exact_sum must be one of {EXACT_SUM_MODES}")
        self.exact_sum = exact_sum
        self.overlap = float(settings.overlap)
        self.precision = settings.precision
        self.n_out = n_out = hi - lo
        S, C = len(self.sources), mix.shape[0]
        if out is None:
            out, self.out_offset = np.zeros((S, C, n_out), dtype=np.float32), lo
        elif out.shape == (S, C, n_out):
            self.out_offset = lo
        elif out.shape == (S, C, total):
            self.out_offset = 0
        else:
            raise ValueError(f"out must have shape {(S, C, n_out)} or {(S, C, total)}, got {out.shape}")
        self.out = out
        self.device, self.report = select_device(separator.device)
        self.notices: list[str] = []
        self.segment_frames = int(round((settings.segment_seconds or config.segment_seconds) * samplerate))
        if self.segment_frames <= 0:
            raise ValueError("segment_seconds must be positive")
        self.recovery = OomRecovery(self.segment_frames, max(64, int(MIN_SEGMENT_SECONDS * samplerate)),
                                    samplerate)
        rng = np.random.default_rng(seed)
        max_shift = max(2, int(MAX_SHIFT_SECONDS * samplerate))
        self.offsets = [0] + [int(x) for x in rng.integers(1, max_shift, size=settings.shifts - 1)]
        self.acc = OverlapAdd(S, C, base=lo)
        self.se_rows: dict[str, list[np.ndarray]] = {}
        self.se_times: list[float] = []
        self.done = 0                  # segments finished in earlier plans (after a replan)
        self.frames_done = 0
        self.max_capacity = 0
        self.on_region: Callable[[int, np.ndarray], None] | None = None

    def plan(self, from_frame: int, seg: int) -> tuple[list[int], int, _Windows]:
        """Window starts covering [from_frame, hi) with segments of `seg` frames."""
        seg = min(seg, self.hi - from_frame)
        stride = max(1, int(round(seg * (1.0 - self.overlap))))
        starts = plan_windows(from_frame, self.hi, seg, stride, self.offsets)
        return starts, seg, _Windows(self.mix, seg, _model_window(self.model, seg))

    def flush(self, until: int) -> None:
        """Hand the final output before frame `until` to `out` and `on_region`."""
        until = min(until, self.hi)
        acc = self.acc
        if until <= acc.base:
            return
        region_start, block = acc.pop_until(until)
        r0, r1 = max(region_start, self.lo), until
        if r1 <= r0:
            return
        block = block[..., r0 - region_start:]
        if self.exact_sum is not None:
            apply_exact_sum(block, self.mix[:, r0:r1], self.exact_sum, self.sources)
        target = self.out[..., r0 - self.out_offset: r1 - self.out_offset]
        target[...] = block
        self.frames_done = r1 - self.lo
        if self.on_region is not None:
            self.on_region(r0, target)

    def execute(self, progress, cancel, on_region, collect_se: bool) -> SeparationResult:
        self.on_region = on_region
        model, sep = self.model, self.separator
        keep_freed_memory()  # large activations reused, not page-faulted again per segment
        old_threads = torch.get_num_threads()
        wanted_threads = sep.threads or min(old_threads, cpu_count())
        was_training = model.training
        model.eval()
        model.to(self.device)
        if wanted_threads != old_threads:
            torch.set_num_threads(wanted_threads)
        workers = _CpuWorkers.create(model, self.device, wanted_threads)
        try:
            self._loop(progress, cancel, collect_se, workers)
        finally:
            if workers is not None:
                workers.close()
            if wanted_threads != old_threads or workers is not None:  # MKL's count is process-wide
                torch.set_num_threads(old_threads)
            model.train(was_training)
            release_freed_memory()
        return self._result(progress, collect_se)

    def _loop(self, progress, cancel, collect_se: bool, workers: _CpuWorkers | None) -> None:
        model, acc, lo = self.model, self.acc, self.lo
        fixed_batch = self.separator.batch_size
        starts, seg, windows = self.plan(lo, self.segment_frames)
        acc.base = starts[0] if starts else lo
        batch = fixed_batch or auto_batch_size(self.device, windows.window_frames, model)
        if workers is not None and not fixed_batch:
            batch = max(batch, len(workers.replicas))
        weight = triangular_weight(seg)
        i = 0
        while i < len(starts):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"separation cancelled after {self.done} of {self.done + len(starts) - i} segments")
            chunk = starts[i: i + batch]
            self.flush(chunk[0])
            x = windows.batch(chunk)
            try:
                y = _run_model(model, x, self.device, self.precision, self.notices, collect_se, self.se_rows,
                               workers if self.device.type == "cpu" else None)
            except Exception as exc:  # noqa: BLE001 - only OOM is handled, the rest re-raised
                if not is_out_of_memory(exc):
                    raise
                free_cached_memory(self.device)
                try:
                    step = self.recovery.next_step(self.report.used, self.device.type == "cpu", batch, seg)
                except DeviceError as error:
                    raise error from exc
                self._announce(step)
                batch, new_seg = step.batch, step.segment_frames
                if step.to_cpu:
                    self.device = torch.device("cpu")
                    model.to(self.device)
                if batch == 0 or new_seg != windows.segment_frames:
                    self.done += i
                    starts, seg, windows = self.plan(max(chunk[0], acc.base, lo), new_seg)
                    i = 0
                    weight = triangular_weight(seg)
                    if batch == 0:
                        batch = fixed_batch or auto_batch_size(self.device, windows.window_frames, model)
                continue
            trim = y[..., windows.pad_left: windows.pad_left + seg]
            for k, a in enumerate(chunk):
                acc.add(a, trim[k], weight)
                if collect_se:
                    self.se_times.append((a + seg / 2) / self.samplerate)
            self.max_capacity = max(self.max_capacity, acc.capacity)
            if workers is not None:
                # concurrent workers interleave their activations in one malloc heap, which
                # fragments: freed pages pile up and the resident set crept up with the track
                # (measured 626 -> 784 MB working memory, 1 -> 10 min). Handing the free pages
                # back after each batch keeps it at one batch's peak, for ~10 % more wall time.
                release_freed_memory()
            i += len(chunk)
            if progress is not None:
                done, total_jobs = self.done + i, self.done + len(starts)
                elapsed = time.perf_counter() - self.t0
                fraction = done / max(1, total_jobs)
                eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
                progress(Progress(fraction, self.frames_done, self.n_out, elapsed, eta))
        self.done += len(starts)
        self.flush(self.hi)

    def _announce(self, step: RecoveryStep) -> None:
        """Tell the log, the result's notices and the device report what recovery did."""
        report = self.report
        if step.to_cpu:
            report.used, report.name = "cpu", "CPU"
            report.reason += " (then CPU after running out of GPU memory)"
        logger.warning(step.message)
        self.notices.append(step.message)
        report.fallbacks.append(step.message)

    def _result(self, progress, collect_se: bool) -> SeparationResult:
        elapsed = time.perf_counter() - self.t0
        if progress is not None:
            progress(Progress(1.0, self.n_out, self.n_out, elapsed, 0.0))
        se_activations = se_times = None
        if collect_se:
            se_activations = {name: np.concatenate(rows, axis=0) for name, rows in self.se_rows.items()}
            se_times = np.asarray(self.se_times, dtype=np.float64)
        logger.info("separated %.1f s in %.1f s on %s", self.n_out / self.samplerate, elapsed,
                    self.report.summary())
        return SeparationResult(
            stems=self.out[..., self.lo - self.out_offset: self.hi - self.out_offset],
            sources=self.sources, samplerate=self.samplerate, device=self.report,
            se_activations=se_activations, se_times_seconds=se_times, elapsed_seconds=elapsed,
            notices=self.notices, start_frame=self.lo, accumulator_frames=self.max_capacity,
            segments_processed=self.done)


def _forward(
    model: torch.nn.Module, x: np.ndarray, device: torch.device, dtype: torch.dtype | None, collect_se: bool
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """x (B, C, W) -> ((B, S, C, W) float32 numpy, SE layer name -> (B, channels) when collect_se)."""
    with torch.inference_mode():
        xt = torch.from_numpy(x).to(device)
        record = _record_se_context(model) if collect_se else None
        recorded = record.__enter__() if record is not None else None
        try:
            if dtype is not None:
                with torch.autocast(device_type=device.type, dtype=dtype):
                    yt = model(xt)
            else:
                yt = model(xt)
        finally:
            if record is not None:
                record.__exit__(None, None, None)
        y = yt.float().cpu().numpy()
    se = {name: np.asarray(rows[-1], dtype=np.float32) for name, rows in (recorded or {}).items() if rows}
    return y, se


def _run_model(
    model: torch.nn.Module,
    x: np.ndarray,
    device: torch.device,
    precision: str,
    notices: list[str],
    collect_se: bool,
    se_rows: dict[str, list[np.ndarray]],
    workers: _CpuWorkers | None = None,
) -> np.ndarray:
    """One batch: x (B, C, W) -> (B, S, C, W) float32 numpy, SE rows appended. With `workers`
    and B > 1 the batch is split across them (in order), one forward pass each."""
    dtype = _autocast_dtype(precision, device)
    for attempt_dtype in (dtype, None) if dtype is not None else (None,):
        if workers is not None and x.shape[0] > 1:
            parts = np.array_split(x, min(len(workers.replicas), x.shape[0]))
            jobs = [workers.pool.submit(_forward, replica, part, device, attempt_dtype, collect_se)
                    for replica, part in zip(workers.replicas, parts)]
            concurrent.futures.wait(jobs)  # none left running if one failed (e.g. out of memory)
            results = [job.result() for job in jobs]
            y = np.concatenate([r[0] for r in results], axis=0)
            se = {name: np.concatenate([r[1][name] for r in results], axis=0)
                  for name in results[0][1] if all(name in r[1] for r in results)}
        else:
            y, se = _forward(model, x, device, attempt_dtype, collect_se)
        if attempt_dtype is not None and not np.isfinite(y).all():
            msg = f"{precision} produced non-finite values on {device}: this batch was redone in fp32"
            if msg not in notices:
                notices.append(msg)
            continue
        for name, rows in se.items():
            se_rows.setdefault(name, []).append(rows)
        return y
    raise AssertionError("unreachable")  # pragma: no cover
