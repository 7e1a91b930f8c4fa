"""Evaluate a model on a multitrack dataset: per song and stem SDR, medians, baselines, reports.

`evaluate_dataset(model, root)` separates every song of the chosen split with the engine's
`separate()` (the one way StemDeck separates) and measures, per song and stem:

* ``sdr`` — MUSDB/museval-v4 framewise SDR (median of 1 s windows). As museval does when given
  all stems of a song at once, a window is skipped for every stem when any stem is silent in
  it; stems whose reference is silent for the whole song (missing in the folder) are left out
  of that rule and reported as NaN. This is the number published MUSDB results quote.
* ``sdr_global`` — the MDX-challenge whole-track SDR.
* ``isr``/``sir``/``sar`` — full BSS Eval v4 via museval when `full=True` (slow).

Baselines (`baselines=True`), measured on the same songs in the same run: "mixture" (the
mixture as every stem), "scaled_mixture" (mixture × least-squares gain per stem), and
"oracle_mask" (ideal ratio mask from the true stems: a ceiling, not a separator).
Medians over songs per method and stem. For the model, `leakage` also records where each true
stem went (`metrics.stem_leakage`: estimate j ~= sum_i L[j, i] * true stem i, per song).
`EvaluationReport.write(path)` writes JSON + CSV.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import DatasetIndex, Song, StemMapping, discover_dataset, load_song
from .atomic_file import atomic_write_text
from .errors import DatasetError, OutputExistsError
from .separation_settings import DEFAULT_SETTINGS
from .metrics import (
    bss_eval_full,
    mixture_baseline,
    nanmedian,
    oracle_mask_baseline,
    scaled_mixture_baseline,
    sdr_framewise_stems,
    sdr_global,
    stem_leakage,
)

logger = logging.getLogger(__name__)

METHODS_BASELINE = ("mixture", "scaled_mixture", "oracle_mask")
METRICS = ("sdr", "sdr_global", "isr", "sir", "sar")


def song_sdr(references: np.ndarray, estimates: np.ndarray, samplerate: int) -> np.ndarray:
    """Framewise SDR per stem, (S,) float64, museval's joint silence rule over present stems.

    references, estimates: (S, C, N). A stem whose reference is all zeros gets NaN.
    """
    refs = np.asarray(references)
    present = np.array([bool(np.any(r != 0)) for r in refs])
    out = np.full(refs.shape[0], math.nan)
    if present.any():
        out[present] = sdr_framewise_stems(refs[present], np.asarray(estimates)[present], samplerate,
                                           joint_silence=True)
    return out


@dataclass
class EvaluationReport:
    """Rows: one dict per (song, method, stem) with the METRICS (NaN/None when not measured)."""

    model: dict[str, Any]
    data: dict[str, Any]
    sources: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    leakage: dict[str, list[list[float]]] = field(default_factory=dict)  # song -> (S_est, S_ref)

    @property
    def methods(self) -> list[str]:
        seen: list[str] = []
        for r in self.rows:
            if r["method"] not in seen:
                seen.append(r["method"])
        return seen

    def medians(self) -> dict[str, dict[str, dict[str, float]]]:
        """{method: {stem: {metric: median over songs}}}"""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for method in self.methods:
            out[method] = {}
            for stem in self.sources:
                rows = [r for r in self.rows if r["method"] == method and r["stem"] == stem]
                out[method][stem] = {m: nanmedian([_num(r.get(m)) for r in rows]) for m in METRICS}
        return out

    def median_leakage(self) -> np.ndarray | None:
        """(S_est, S_ref) median over songs of the model's leakage matrices, or None."""
        if not self.leakage:
            return None
        return np.median(np.asarray(list(self.leakage.values()), dtype=np.float64), axis=0)

    def to_dict(self) -> dict[str, Any]:
        median = self.median_leakage()
        leakage = None if median is None else {
            "meaning": "estimate[row] ~= sum over columns of gain * true stem[column] (least squares, whole song)",
            "median": {e: {r: float(median[j, i]) for i, r in enumerate(self.sources)}
                       for j, e in enumerate(self.sources)},
            "per_song": self.leakage}
        return _clean({"model": self.model, "data": self.data, "settings": self.settings,
                       "sources": list(self.sources), "medians": self.medians(), "rows": self.rows,
                       "leakage": leakage, "skipped": self.skipped})

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["song", "method", "stem", *METRICS])
        for r in self.rows:
            writer.writerow([r["song"], r["method"], r["stem"],
                             *("" if not math.isfinite(_num(r.get(m))) else f"{_num(r.get(m)):.4f}"
                               for m in METRICS)])
        for method, stems in self.medians().items():
            for stem, vals in stems.items():
                writer.writerow(["(median)", method, stem,
                                 *("" if not math.isfinite(vals[m]) else f"{vals[m]:.4f}" for m in METRICS)])
        return buf.getvalue()

    def format_table(self) -> str:
        """Per-song framewise SDR of the model, then medians of every method."""
        full = any(math.isfinite(_num(r.get("sir"))) for r in self.rows)
        lines = []
        songs = []
        for r in self.rows:
            if r["song"] not in songs:
                songs.append(r["song"])
        stems_head = " ".join(f"{s[:7]:>7}" for s in self.sources)
        first = self.methods[0] if self.methods else "model"
        lines.append(f"framewise SDR (dB), {first}, per song")
        lines.append(f"{'song':40} {stems_head}")
        for song in songs:
            vals = {r["stem"]: _num(r.get("sdr")) for r in self.rows if r["song"] == song and r["method"] == first}
            lines.append(f"{song[:40]:40} " + " ".join(_fmt(vals.get(s, math.nan)) for s in self.sources))
        lines.append("")
        lines.append(f"medians over {len(songs)} songs (dB)")
        metrics = ["sdr", "sdr_global"] + (["sir", "sar"] if full else [])
        lines.append(f"{'method':16} {'metric':10} {stems_head}")
        for method, stems in self.medians().items():
            for m in metrics:
                lines.append(f"{method:16} {m:10} " + " ".join(_fmt(stems[s][m]) for s in self.sources))
        median = self.median_leakage()
        if median is not None:
            lines.append("")
            lines.append("where the true stems went (median gain of each true stem, columns, in each "
                         "estimate, rows; 1 = all of it)")
            lines.append(f"{'estimate':16} {'':10} {stems_head}")
            for j, stem in enumerate(self.sources):
                lines.append(f"{stem:16} {'':10} " + " ".join(f"{v:7.2f}" for v in median[j]))
        if self.skipped:
            lines.append("")
            lines.extend(f"skipped {s['song']}: {s['reason']}" for s in self.skipped)
        return "\n".join(lines)

    def write(self, path: Path | str, overwrite: bool = False) -> list[Path]:
        """Write `<path>.json` and `<path>.csv` (path's suffix is replaced), atomically."""
        base = Path(path)
        if base.suffix.lower() in (".json", ".csv"):
            base = base.with_suffix("")
        targets = [base.with_name(base.name + ".json"), base.with_name(base.name + ".csv")]
        if not overwrite:
            for t in targets:
                if t.exists():
                    raise OutputExistsError(f"{t}: already exists (use --overwrite to replace it)")
        texts = [json.dumps(self.to_dict(), indent=2), self.to_csv()]
        for target, text in zip(targets, texts):
            atomic_write_text(target, text)
        return targets


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def _fmt(v: float) -> str:
    return f"{'-':>7}" if not math.isfinite(v) else f"{v:7.2f}"


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


def select_songs(index: DatasetIndex, split: str) -> list[Song]:
    """Songs of `split` ("test", "valid", "train", "all"); "test" falls back to validation songs."""
    if split == "all":
        seen, songs = set(), []
        for s in index.train + index.valid + index.test:
            if str(s.path) not in seen:
                seen.add(str(s.path))
                songs.append(s)
        return songs
    songs = {"test": index.test, "valid": index.valid, "train": index.train}[split]
    if not songs and split == "test":
        songs = index.valid
    return songs


def _rows_for(song: str, method: str, sources, refs, est, samplerate, full: bool) -> list[dict[str, Any]]:
    sdr = song_sdr(refs, est, samplerate)
    extra: dict[str, np.ndarray] = {}
    if full:
        present = np.array([bool(np.any(r != 0)) for r in refs])
        if present.any():
            res = bss_eval_full(refs[present], est[present], samplerate)
            for key in ("isr", "sir", "sar"):
                vals = np.full(len(sources), math.nan)
                vals[present] = res[key]
                extra[key] = vals
    rows = []
    for j, stem in enumerate(sources):
        silent_ref = not np.any(refs[j] != 0)
        rows.append({
            "song": song, "method": method, "stem": stem,
            "sdr": float(sdr[j]),
            "sdr_global": math.nan if silent_ref else sdr_global(refs[j], est[j]),
            **{k: float(v[j]) for k, v in extra.items()},
        })
    return rows


def evaluate_dataset(
    model: Any,
    root: Path | str,
    *,
    model_info: dict[str, Any] | None = None,
    split: str = "test",
    device: str = "auto",
    shifts: int = DEFAULT_SETTINGS.shifts,
    full: bool = False,
    baselines: bool = False,
    model_rows: bool = True,
    label: str = "model",
    max_seconds: float | None = None,
    mapping: StemMapping | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> EvaluationReport:
    """Separate and score every song of `split` under `root` (see module docstring).

    model: a UnetSEBiSRU (its config fixes sources, rate, channels); `model_rows=False`
    measures only the baselines; `label` is the model rows' method name (a model's name when two
    models are compared in one report). max_seconds: score only the middle part of each song.
    """
    cfg = model.config
    sources = tuple(cfg.sources)
    mapping = mapping or StemMapping(sources=sources)
    index = discover_dataset(root, mapping)
    songs = select_songs(index, split)
    if not songs:
        raise DatasetError(f"{root}: no songs in the {split!r} split")
    report = EvaluationReport(
        model=model_info or {"name": getattr(cfg, "name", "model")},
        data=index.describe(), sources=sources,
        settings={"split": split, "shifts": shifts, "full": full, "baselines": baselines,
                  "max_seconds": max_seconds, "metric": "framewise SDR, museval v4, 1 s windows"},
    )
    report.skipped = [{"song": Path(p).name, "reason": r} for p, r in index.unusable]
    separator = None
    if model_rows:
        from .separate import Separator

        separator = Separator(model, device=device, settings=DEFAULT_SETTINGS.replace(shifts=shifts))
    t0 = time.perf_counter()
    sr = int(cfg.samplerate)
    for i, song in enumerate(songs):
        if progress is not None:
            progress(i, len(songs), song.name)
        try:
            mix, refs = load_song(song, sources, sr, cfg.audio_channels, max_seconds=max_seconds)
        except DatasetError as exc:
            report.skipped.append({"song": song.name, "reason": str(exc)})
            continue
        if separator is not None:
            result = separator.separate(mix)
            report.settings.setdefault("device", result.device.used)
            report.rows.extend(_rows_for(song.name, label, sources, refs, result.stems, sr, full))
            report.leakage[song.name] = stem_leakage(refs, result.stems).round(4).tolist()
        if baselines:
            for method, est in (("mixture", mixture_baseline(mix, len(sources))),
                                ("scaled_mixture", scaled_mixture_baseline(mix, refs)),
                                ("oracle_mask", oracle_mask_baseline(mix, refs))):
                report.rows.extend(_rows_for(song.name, method, sources, refs, est, sr, full))
    if progress is not None:
        progress(len(songs), len(songs), "")
    report.settings["seconds"] = round(time.perf_counter() - t0, 2)
    return report
