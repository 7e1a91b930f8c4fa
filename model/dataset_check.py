"""Dataset checker: what a dataset folder holds, song by song, and which songs cannot be used.

`check_dataset(root)` never raises for a bad song or file: every problem becomes a reason
(unusable) or a warning in that song's `SongReport`. Per song: the stems found (files),
missing stems, duration, sample rate, channels, silent stems, clipped stems (runs of 3+
samples at |x| >= 0.999), and — when a mixture file exists — how far the mixture is from the sum of the
stems (residual level in dB below the mixture; < 30 dB is reported as "mixture ≠ sum").
Audio is read in blocks (no whole-file loads), so the check works on long songs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import SOURCES
from .datasets import Song, StemMapping, discover_dataset, read_excerpt
from .errors import DatasetError

logger = logging.getLogger(__name__)

SILENT_PEAK = 1e-4          # -80 dBFS
CLIP_LEVEL = 0.999
MIN_SECONDS = 1.0
MIX_SUM_TOLERANCE_DB = 30.0
BLOCK_SECONDS = 10.0


@dataclass
class StemReport:
    files: list[str]
    duration_seconds: float = 0.0
    samplerate: int = 0
    channels: int = 0
    peak_db: float | None = None
    silent: bool = False
    clipped_samples: int = 0


@dataclass
class SongReport:
    name: str
    path: str
    split: str
    usable: bool = True
    reasons: list[str] = field(default_factory=list)    # why unusable
    warnings: list[str] = field(default_factory=list)
    stems: dict[str, StemReport] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0
    samplerate: int = 0
    mixture: str | None = None
    mixture_residual_db: float | None = None  # 10·log10(Σmix² / Σ(mix − Σstems)²)


@dataclass
class DatasetReport:
    root: str
    layout: str = ""
    songs: list[SongReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    sources: list[str] = field(default_factory=lambda: list(SOURCES))   # the stems looked for, in order

    @property
    def usable(self) -> list[SongReport]:
        return [s for s in self.songs if s.usable]

    @property
    def unusable(self) -> list[SongReport]:
        return [s for s in self.songs if not s.usable]

    def to_dict(self) -> dict[str, Any]:
        def clean(obj: Any) -> Any:
            if isinstance(obj, float) and not math.isfinite(obj):
                return None
            if isinstance(obj, dict):
                return {k: clean(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [clean(v) for v in obj]
            return obj

        data = asdict(self)
        data["usable_songs"] = len(self.usable)
        data["unusable_songs"] = len(self.unusable)
        data["usable_hours"] = round(sum(s.duration_seconds for s in self.usable) / 3600, 4)
        return clean(data)


def _check_song(song: Song, split: str, sources: tuple[str, ...]) -> SongReport:
    rep = SongReport(song.name, str(song.path), split, samplerate=song.samplerate,
                     duration_seconds=round(song.duration_seconds, 3), missing=song.missing)
    rep.warnings.extend(song.notes)
    rate, frames = song.samplerate, song.frames
    if song.mixture is not None:
        rep.mixture = song.mixture.path.name + (f" (stream {song.mixture.stream})" if song.mixture.stream else "")
    if rep.missing:
        rep.warnings.append(f"missing stems {', '.join(rep.missing)}: trained as silent targets")
    if song.duration_seconds < MIN_SECONDS:
        rep.usable = False
        rep.reasons.append(f"too short ({song.duration_seconds:.2f} s < {MIN_SECONDS:g} s)")
        return rep
    present = [stem for stem in sources if song.stems.get(stem)]
    peaks = {stem: 0.0 for stem in present}
    clipped = {stem: 0 for stem in present}
    mix_energy = 0.0
    diff_energy = 0.0
    block = int(BLOCK_SECONDS * rate)
    for start in range(0, frames, block):  # block by block: memory stays bounded
        n = min(block, frames - start)
        total = np.zeros((2, n), np.float64)
        for stem in present:
            for ref in song.stems[stem]:
                x = read_excerpt(ref, start, n, rate)
                peaks[stem] = max(peaks[stem], float(np.max(np.abs(x))) if x.size else 0.0)
                full = np.abs(x) >= CLIP_LEVEL
                # clipping = runs of >= 3 full-scale samples (a lone peak at 0 dBFS is not)
                clipped[stem] += int(np.count_nonzero(full[:, :-2] & full[:, 1:-1] & full[:, 2:]))
                total += x
        if song.mixture is not None:
            m = read_excerpt(song.mixture, start, n, rate).astype(np.float64)
            mix_energy += float(np.sum(m * m))
            diff_energy += float(np.sum((m - total) ** 2))
    any_sound = False
    for stem in present:
        refs = song.stems[stem]
        srep = StemReport(
            files=[r.path.name + (f" (stream {r.stream})" if r.stream is not None else "") for r in refs],
            duration_seconds=round(min(r.frames / r.samplerate for r in refs), 3),
            samplerate=refs[0].samplerate, channels=max(r.channels for r in refs),
            peak_db=round(20 * math.log10(peaks[stem]), 2) if peaks[stem] > 0 else None,
            silent=peaks[stem] < SILENT_PEAK, clipped_samples=clipped[stem])
        if srep.silent:
            rep.warnings.append(f"{stem} is silent")
        else:
            any_sound = True
        if srep.clipped_samples:
            rep.warnings.append(f"{stem} is clipped ({srep.clipped_samples} samples at full scale)")
        rep.stems[stem] = srep
    if not any_sound:
        rep.usable = False
        rep.reasons.append("every stem is silent")
    if song.mixture is not None:
        if mix_energy > 0:
            ratio = math.inf if diff_energy == 0 else 10 * math.log10(mix_energy / diff_energy)
            rep.mixture_residual_db = round(ratio, 2) if math.isfinite(ratio) else None
            if ratio < MIX_SUM_TOLERANCE_DB:
                rep.warnings.append(
                    f"mixture ≠ sum of stems (difference only {ratio:.1f} dB below the mixture); training "
                    "uses the sum of the stems, evaluation the mixture file")
        else:
            rep.warnings.append("mixture file is silent")
    return rep


def check_dataset(
    root: Path | str,
    mapping: StemMapping | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> DatasetReport:
    """Check every song under `root` (see module docstring). Never raises for bad content."""
    mapping = mapping or StemMapping()
    report = DatasetReport(str(root), sources=list(mapping.sources))
    try:
        index = discover_dataset(root, mapping)
    except DatasetError as exc:
        report.error = str(exc)
        return report
    except Exception as exc:  # pragma: no cover - defensive: the checker must not crash
        report.error = f"{root}: {type(exc).__name__}: {exc}"
        return report
    report.layout = index.layout
    report.notes = list(index.notes)
    for path, reason in index.unusable:
        report.songs.append(SongReport(Path(path).name, path, "?", usable=False, reasons=[reason]))
    todo: list[tuple[str, Song]] = []
    seen: set[str] = set()
    for split, songs in (("train", index.train), ("valid", index.valid), ("test", index.test)):
        for song in songs:
            key = str(song.path)
            if key in seen:
                continue
            seen.add(key)
            todo.append((split, song))
    for i, (split, song) in enumerate(todo):
        if progress is not None:
            progress(i, len(todo), song.name)
        try:
            report.songs.append(_check_song(song, split, tuple(mapping.sources)))
        except Exception as exc:  # a file that fails mid-read: unusable, with the reason
            reason = str(exc) if isinstance(exc, DatasetError) else f"{type(exc).__name__}: {exc}"
            report.songs.append(SongReport(song.name, str(song.path), split, usable=False, reasons=[reason]))
    if progress is not None:
        progress(len(todo), len(todo), "")
    return report


def format_report(report: DatasetReport, sources: tuple[str, ...] = SOURCES) -> str:
    """A plain-text table for the terminal."""
    lines = [f"dataset {report.root}" + (f" ({report.layout})" if report.layout else "")]
    if report.error:
        lines.append(f"error: {report.error}")
        return "\n".join(lines)
    lines.extend(f"  {n}" for n in report.notes)
    header = f"{'song':40} {'split':6} {'dur s':>7} {'Hz':>6}  " + " ".join(f"{s[:6]:>6}" for s in sources) + "  mix-sum dB"
    lines.append(header)
    lines.append("-" * len(header))
    for s in sorted(report.songs, key=lambda r: (not r.usable, r.split, r.name)):
        if not s.usable and not s.stems:
            lines.append(f"{s.name[:40]:40} {s.split:6} UNUSABLE: {'; '.join(s.reasons)}")
            continue
        cells = []
        for stem in sources:
            st = s.stems.get(stem)
            if st is None:
                cells.append(f"{'-':>6}")
            elif st.silent:
                cells.append(f"{'silent':>6}")
            elif st.clipped_samples:
                cells.append(f"{'CLIP':>6}")
            else:
                cells.append(f"{'ok':>6}")
        if s.mixture is None:
            mix = f"{'no mix':>10}"
        elif s.mixture_residual_db is None or s.mixture_residual_db > 90:
            mix = f"{'exact':>10}"
        else:
            mix = f"{s.mixture_residual_db:10.1f}"
        lines.append(f"{s.name[:40]:40} {s.split:6} {s.duration_seconds:7.1f} {s.samplerate:6d}  "
                     + " ".join(cells) + f"  {mix}")
        if not s.usable:
            lines.append(f"    UNUSABLE: {'; '.join(s.reasons)}")
        for w in s.warnings:
            lines.append(f"    note: {w}")
    usable = report.usable
    hours = sum(s.duration_seconds for s in usable) / 3600
    lines.append(f"{len(usable)} usable songs ({hours * 60:.1f} min), {len(report.unusable)} unusable")
    return "\n".join(lines)
