"""Writing stems and combined outputs to WAV/FLAC/MP3, DAW-ready.

- Default format follows the source: its sample rate, and its bit depth (16/24, or 32-bit float
  for float and 32-bit sources). Lossy sources give 24-bit WAV/FLAC; FLAC cannot hold float, so
  32 becomes 24 there. Each substitution is reported in the notices.
- Stems come from the model at its rate and are resampled back (soxr) to the output rate, then
  trimmed/padded so every file has exactly the source's length, starting at sample 0.
- No per-stem normalisation. If any output of a track would clip (integer PCM and MP3), all of
  that track's outputs get one common gain (`ExportReport.common_gain_db`), so the relative levels
  between stems survive. 32-bit float keeps peaks above 0 dBFS untouched.
- MP3 goes through libsndfile's own MPEG writer (LAME inside the soundfile wheel) in constant
  bitrate mode: it gives the exact bitrate asked for and writes the LAME gapless header, so the
  file decodes to exactly the source's length with no encoder delay. (The `lameenc` package
  writes no such header: its files decode 1105 frames late and ~1500 frames long, and it needs
  16-bit input - so it is not used.)
- Nothing is overwritten without `overwrite=True`; every target of a track is checked before any
  file is written; files are written to temp files in the destination folder and renamed into
  place only when all of them succeeded (a failure leaves no temp file and no partial batch).
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import string
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import soundfile as sf

from .audio_io import SourceInfo, resample, resampled_length
from .errors import AudioWriteError, OutputExistsError
from .export_formats import (  # noqa: F401  (re-exported: callers name them in model.export)
    BIT_DEPTHS,
    CONTAINERS,
    FORMATS,
    MP3_BITRATES,
    MP3_SAMPLERATES,
    ExportFormat,
    FileFormat,
    ResolvedFormat,
    bit_depth_label,
    resolve_format,
)
from .output_specs import (  # noqa: F401  (re-exported: the contract names them in model.export)
    PRESETS,
    OutputSpec,
    OutputSpecError,
    minus_spec,
    others_spec,
    parse_output_spec,
    render_one,
    render_outputs,
)

logger = logging.getLogger(__name__)

#: Peak that a common gain brings an over-full track down to (-0.1 dBFS).
CEILING = 10 ** (-0.1 / 20)
DEFAULT_TEMPLATE = "{track}/{stem}.{ext}"
#: `{parent}` is the name of the song's folder; `{relpath}` its path without extension relative to
#: a batch's root folder (sub-folders kept; the track name when there is no batch).
TEMPLATE_FIELDS = ("track", "stem", "model", "ext", "parent", "relpath")
_WRITE_BLOCK = 65_536


@dataclass
class ExportReport:
    """What `export_track` wrote. `outputs` maps each output name to its file."""

    paths: list[Path]
    common_gain_db: float
    notices: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    format: ResolvedFormat | None = None
    peak_dbfs: float = float("-inf")
    #: targets left alone because they existed (`skip_existing=True`)
    skipped: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# file names


_BAD_CHARS = set('<>:"/\\|?*')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def sanitize_name(text: str, max_length: int = 120) -> str:
    """A string made safe as one file/folder name on Windows, macOS and Linux."""
    cleaned = "".join("_" if (c in _BAD_CHARS or ord(c) < 32 or ord(c) == 127) else c for c in str(text))
    cleaned = cleaned.strip().strip(".").strip()
    if not cleaned:
        cleaned = "untitled"
    if cleaned.split(".")[0].upper() in _RESERVED:
        cleaned = "_" + cleaned
    return cleaned[:max_length].rstrip(" .") or "untitled"


def expand_template(template: str, *, track: str, stem: str, model: str, ext: str,
                    parent: str = "", relpath: str | None = None) -> Path:
    """The relative output path for one file. `/` in the template makes sub-folders.

    Field values are sanitised (a track called "AC/DC" cannot create a folder), except that
    `relpath` ("album/01 song", `/`-separated; default: `track`) keeps its folders, each part
    sanitised. A template without `{ext}` gets ".{ext}" appended. Raises AudioWriteError for
    unknown fields, absolute paths or `..`.
    """
    fields = _template_fields(template)
    if "ext" not in fields:
        template = template + ".{ext}"
    rel_parts = [track] if relpath is None else [
        p for p in str(relpath).replace("\\", "/").split("/") if p not in ("", ".", "..")]
    values = {"track": sanitize_name(track), "stem": sanitize_name(stem), "model": sanitize_name(model), "ext": ext,
              "parent": sanitize_name(parent), "relpath": "/".join(sanitize_name(p) for p in rel_parts) or sanitize_name(track)}
    text = template.format(**values).replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise AudioWriteError(f"file-name template '{template}' must give a path relative to the output folder")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise AudioWriteError(f"file-name template '{template}' must not use '..'")
    if not parts:
        raise AudioWriteError(f"file-name template '{template}' gives an empty file name")
    return Path(*[sanitize_name(part, max_length=200) for part in parts])


def track_name(path: str | os.PathLike) -> str:
    """File name without its extension ('song.stem.mp4' -> 'song')."""
    name = Path(path).name
    if name.lower().endswith(".stem.mp4"):
        return name[: -len(".stem.mp4")]
    return Path(name).stem


def batch_root(inputs: Iterable[str | os.PathLike]) -> Path:
    """The deepest folder holding every input (a folder counts as itself, a file as its folder);
    `{relpath}` is measured from here."""
    folders = [os.path.abspath(t) if Path(t).is_dir() else os.path.dirname(os.path.abspath(t)) for t in inputs]
    return Path(os.path.commonpath(folders)) if folders else Path.cwd()


def relpath_of(path: str | os.PathLike, root: Path) -> str:
    """`path` below `root`, `/`-separated, without extension ('album/01 song'): `{relpath}`."""
    rel = Path(os.path.relpath(os.path.abspath(path), root))
    return (rel.parent / track_name(path)).as_posix()


def check_unique_outputs(planned: Iterable[tuple[Path, Sequence[Path]]]) -> None:
    """Refuse a batch in which two inputs would be written to one file.

    `planned`: (input, its output files). Raises AudioWriteError naming both inputs and the file
    (or, for two outputs of one input, asking for {stem}); meant to run before any work.
    """
    owner: dict[str, Path] = {}
    for source, targets in planned:
        for target in targets:
            key = os.path.normcase(os.path.abspath(target))
            if key in owner:
                if owner[key] == source:
                    raise AudioWriteError(f"two outputs of '{source}' would be written to '{target}'; "
                                          "put {stem} in the file-name template")
                raise AudioWriteError(f"'{owner[key]}' and '{source}' would both be written to '{target}'; "
                                      "nothing was done. Use {relpath} (keeps the folders) or {parent} "
                                      "in the file-name template")
            owner[key] = source


def _template_fields(template: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise AudioWriteError(f"file-name template '{template}' is malformed ({exc}); use " + " ".join("{" + f + "}" for f in TEMPLATE_FIELDS)) from None
    names: set[str] = set()
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conv:
            raise AudioWriteError(
                f"file-name template '{template}' uses {{{name}}}; allowed fields: "
                + " ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
            )
        names.add(name)
    return names


# --------------------------------------------------------------------------------------------
# writing


def _temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")


def _write_file(path: Path, samples: np.ndarray, rf: ResolvedFormat, gain: float,
                on_frames: Callable[[int], None] | None = None) -> None:
    """Write `(channels, frames)` float audio to `path` (already at `rf.samplerate`).

    Samples are scaled by `gain`; for integer and MP3 formats they are then limited to [-1, 1]
    ourselves (libsndfile 1.2 also saturates PCM, but older builds wrap around and the MP3 encoder's
    handling of overs is not documented). `on_frames(n)` is called after each block of n frames.
    """
    channels, frames = samples.shape
    sf_format, kwargs = FORMATS[rf.container].writer(rf, frames * channels * (rf.bit_depth or 32) // 8)
    limit = not rf.is_float
    with sf.SoundFile(str(path), "w", rf.samplerate, channels, subtype=rf.subtype, format=sf_format, **kwargs) as f:
        for start in range(0, frames, _WRITE_BLOCK):
            block = np.array(samples[:, start : start + _WRITE_BLOCK].T, dtype=np.float32, order="C")
            if gain != 1.0:
                block *= np.float32(gain)
            if limit:
                np.clip(block, -1.0, 1.0, out=block)
            f.write(block)
            if on_frames is not None:
                on_frames(block.shape[0])
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


#: `writer(temp_path, on_frames)`: writes one file, calling `on_frames(n)` per block of n frames.
Writer = Callable[[Path, Callable[[int], None]], None]


def default_workers(files: int) -> int:
    """Files encoded at once: one per core, at most one per file. libsndfile releases the GIL
    while it encodes (soundfile calls it through cffi), so threads run the encoders in parallel
    (benchmarks/bench_export.py measures the speedup)."""
    from .devices import cpu_count  # lazily: model.devices imports torch

    return max(1, min(files, cpu_count()))


def _commit(jobs: Sequence[tuple[Path, Writer]], overwrite: bool, *, frames_per_job: int = 0,
            workers: int | None = None, progress: Callable[[float], None] | None = None) -> None:
    """Write every job to a temp file, then rename all into place; all or nothing.

    `jobs` are `(final_path, writer)`. Up to `workers` (default `default_workers`) files are
    written at once on threads. `progress(fraction)` (0..1 of `frames_per_job * len(jobs)`
    frames written) is called on the calling thread only, at most every 0.1 s and once at the end.
    """
    _check_targets([p for p, _ in jobs], overwrite)
    created_dirs: list[Path] = []
    temps: list[tuple[Path, Path]] = []
    for final, _ in jobs:
        created_dirs.extend(_make_parents(final.parent))
        temps.append((_temp_path(final), final))
    workers = default_workers(len(jobs)) if workers is None else max(1, int(workers))
    total = max(1, frames_per_job * len(jobs))
    lock = threading.Lock()
    written = [0]
    failed_at: list[Path] = []

    def count(n: int) -> None:
        with lock:
            written[0] += n

    def run_one(index: int) -> None:
        tmp, final = temps[index]
        try:
            jobs[index][1](tmp, count)
        except BaseException:
            failed_at.append(final)
            raise

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export") if workers > 1 else None
    try:
        if pool is None:
            for i in range(len(jobs)):
                run_one(i)
                if progress is not None:
                    progress(min(1.0, written[0] / total))
        else:
            futures = [pool.submit(run_one, i) for i in range(len(jobs))]
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
                if progress is not None:
                    progress(min(1.0, written[0] / total))
                for fut in finished:
                    if fut.exception() is not None:
                        for other in pending:
                            other.cancel()
                        wait(pending)  # let running writers finish before their temps are removed
                        raise fut.exception()
        if progress is not None:
            progress(1.0)
        for tmp, final in temps:
            os.replace(tmp, final)
    except BaseException as exc:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        for tmp, _ in temps:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                logger.warning("could not remove temp file %s", tmp)
        for d in reversed(created_dirs):
            try:
                d.rmdir()
            except OSError:
                pass
        if isinstance(exc, (AudioWriteError, KeyboardInterrupt, SystemExit)):
            raise
        where = failed_at[0] if failed_at else jobs[0][0]
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise AudioWriteError(f"cannot write '{where}': {reason}; nothing was written") from exc
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


def _make_parents(folder: Path) -> list[Path]:
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    folder.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def _check_targets(paths: Sequence[Path], overwrite: bool) -> None:
    seen: dict[Path, int] = {}
    for p in paths:
        key = Path(os.path.normcase(os.path.abspath(p)))
        if key in seen:
            raise AudioWriteError(f"two outputs would be written to the same file '{p}'; put {{stem}} in the file-name template")
        seen[key] = 1
        if p.is_dir():
            raise AudioWriteError(f"cannot write '{p}': a folder with that name exists")
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise OutputExistsError(f"'{existing[0]}' already exists{more}; nothing was written (allow overwriting to replace)")


def write_audio(
    path: str | os.PathLike,
    samples: np.ndarray,
    samplerate: int,
    fmt: ExportFormat,
    overwrite: bool = False,
) -> Path:
    """Write float `(channels, frames)` audio at `samplerate` Hz atomically; returns the path.

    `fmt.samplerate` (if set) resamples; `fmt.bit_depth=None` writes 24-bit. Values beyond full
    scale are limited for integer/MP3 formats (use `export_track` for the common-gain logic).
    Raises OutputExistsError if the file exists and `overwrite` is False, AudioWriteError otherwise.
    """
    final = Path(path)
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 2:
        raise AudioWriteError(f"cannot write '{final}': samples must be (channels, frames), got {samples.shape}")
    rf, notices = resolve_format(fmt, None, samplerate)
    for n in notices:
        logger.warning("%s: %s", final, n)
    data = samples if rf.samplerate == samplerate else resample(samples, samplerate, rf.samplerate)
    _commit([(final, lambda tmp, on_frames: _write_file(tmp, data, rf, 1.0, on_frames))], overwrite)
    return final


# --------------------------------------------------------------------------------------------
# a whole track


def export_track(
    stems: Mapping[str, np.ndarray],
    mixture: np.ndarray | None,
    samplerate: int,
    source: SourceInfo,
    out_dir: str | os.PathLike,
    *,
    track: str | None = None,
    model_name: str = "model",
    fmt: ExportFormat = ExportFormat(),
    template: str = DEFAULT_TEMPLATE,
    selected: Sequence[str] | None = None,
    outputs: Iterable[OutputSpec] = (),
    overwrite: bool = False,
    avoid_clipping: bool = True,
    parent: str | None = None,
    relpath: str | None = None,
    skip_existing: bool = False,
    workers: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> ExportReport:
    """Export stems (+ combined outputs) of one track; all files or none.

    `stems` map names to float `(channels, frames)` at `samplerate` (the model's rate);
    `mixture` is the input at that rate (needed by mix-minus and residual outputs). Each file is
    resampled to the output rate and has exactly `source.frames` frames when written at the
    source's rate (the proportional, rounded length otherwise). `selected` picks stems (None =
    all, [] = none); `track` defaults to the source's file name without extension.
    """
    specs = list(outputs)
    names = list(stems) if selected is None else list(selected)
    for name in names:
        if name not in stems:
            raise OutputSpecError(f"unknown stem '{name}' (this model produces: {', '.join(stems)})")
    all_specs = [OutputSpec(n, ((n, 1.0),)) for n in names] + specs
    if not all_specs:
        raise AudioWriteError("nothing to export: no stems selected and no combined outputs")
    seen: set[str] = set()
    for spec in all_specs:
        if spec.name in seen:
            raise OutputSpecError(f"two outputs are both called '{spec.name}'")
        seen.add(spec.name)

    rf, notices = resolve_format(fmt, source, samplerate)
    track = track or track_name(source.path)
    out_root = Path(out_dir)
    parent = Path(source.path).parent.name if parent is None else parent
    targets = [out_root / expand_template(template, track=track, stem=s.name, model=model_name, ext=rf.ext,
                                          parent=parent, relpath=relpath) for s in all_specs]
    skipped = [t for t in targets if t.exists()] if skip_existing else []
    _check_targets([t for t in targets if t not in skipped], overwrite)  # early, before any resampling work

    # Outputs are linear in the signals, so resample each needed signal once and combine after.
    target_frames = resampled_length(source.frames, source.samplerate, rf.samplerate)
    needed = {src for spec in all_specs for src, _ in spec.terms}
    for src in sorted(needed - {"mixture", "residual"} - set(stems)):
        raise OutputSpecError(f"an output uses the stem '{src}', which this model does not produce (has: {', '.join(stems)})")
    if needed & {"mixture", "residual"} and mixture is None:
        raise OutputSpecError("mix-minus and residual outputs need the mixture, but none was given")
    base: dict[str, np.ndarray] = {}
    frames_in = None
    for name in stems:
        if name in needed or "residual" in needed:
            base[name] = _to_output(stems[name], samplerate, rf.samplerate, target_frames)
            frames_in = stems[name].shape[1]
    mix = None
    if mixture is not None and needed & {"mixture", "residual"}:
        mix = _to_output(mixture, samplerate, rf.samplerate, target_frames)
        frames_in = mixture.shape[1]
    if frames_in is not None:
        expected_in = resampled_length(source.frames, source.samplerate, samplerate)
        if abs(frames_in - expected_in) > 2:
            notices.append(
                f"the stems are {frames_in} frames long but the source is {expected_in} at {samplerate} Hz; "
                "the exported files were padded/trimmed to the source's length"
            )

    cache: dict[str, np.ndarray] = {}
    peak = 0.0
    for spec in all_specs:
        peak = max(peak, float(np.max(np.abs(render_one(spec, base, mix, cache)), initial=0.0)))
    peak_dbfs = 20 * math.log10(peak) if peak > 0 else float("-inf")
    gain = 1.0
    if peak > 1.0:
        if rf.is_float:
            notices.append(f"peaks reach {peak_dbfs:+.1f} dBFS; kept unchanged in 32-bit float (lower the level in your DAW)")
        elif avoid_clipping:
            gain = CEILING / peak
            notices.append(
                f"the loudest output peaks at {peak_dbfs:+.1f} dBFS; all {len(all_specs)} outputs were lowered together "
                f"by {-20 * math.log10(gain):.2f} dB so none clips (their relative levels are unchanged)"
            )
        else:
            notices.append(f"outputs peak at {peak_dbfs:+.1f} dBFS and were clipped at 0 dBFS (clipping protection is off)")
    common_gain_db = 20 * math.log10(gain)

    def writer_for(spec: OutputSpec) -> Writer:
        def write(tmp: Path, on_frames: Callable[[int], None]) -> None:
            _write_file(tmp, render_one(spec, base, mix, cache), rf, gain, on_frames)

        return write

    written = [(t, s) for t, s in zip(targets, all_specs) if t not in skipped]
    if written:
        _commit([(t, writer_for(s)) for t, s in written], overwrite, frames_per_job=target_frames,
                workers=workers, progress=progress)
    for n in notices:
        logger.info("%s", n)
    logger.info("exported %d file(s) for '%s' as %s", len(written), track, rf.describe())
    return ExportReport(
        paths=[t for t, _ in written],
        common_gain_db=common_gain_db,
        notices=notices,
        outputs={s.name: t for t, s in written},
        format=rf,
        peak_dbfs=peak_dbfs,
        skipped=skipped,
    )


def _to_output(signal: np.ndarray, from_rate: int, to_rate: int, frames: int) -> np.ndarray:
    """Resample `(C, N)` to `to_rate` and trim/zero-pad to exactly `frames` frames."""
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"signals must be (channels, frames), got {x.shape}")
    y = resample(x, from_rate, to_rate) if from_rate != to_rate else x
    if y.shape[1] == frames:
        return y
    out = np.zeros((y.shape[0], frames), dtype=np.float32)
    n = min(frames, y.shape[1])
    out[:, :n] = y[:, :n]
    return out
