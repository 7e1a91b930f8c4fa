"""Separation quality metrics (built in, milliseconds) and the evaluation baselines.

* `sdr_framewise` — SDR as MUSDB18 reports it (museval / BSS Eval v4 "images" mode, its
  default): the signal is cut into non-overlapping windows of `window_seconds`; only full
  windows count (a signal shorter than one window is one window); per window
  ``10·log10(Σ s² / Σ (s − ŝ)²)`` over both channels; windows where the reference or the
  estimate is silent are skipped (museval's rule: their samples sum to exactly 0); the median
  of the remaining windows. In BSS Eval v4 images mode the SDR's distortion filters cancel out
  (SDR = ‖s_true‖² / ‖e_spat + e_interf + e_artif‖² and that sum is ŝ − s), so this plain ratio
  IS museval's SDR — tests/test_metrics.py checks it against museval to 0.01 dB.
* `sdr_framewise_stems` — the same for all stems of a song at once, with museval's joint rule
  (`museval.evaluate` on all stems together skips a window for every stem when ANY stem's
  reference or estimate is silent in it).
* `sdr_global` — the Music Demixing Challenge SDR: the same ratio over the whole track,
  with 1e-7 added to numerator and denominator.
* `bss_eval_full` — SDR/ISR/SIR/SAR via the optional `museval` package (~0.6 s per second of
  audio per stem set); only for `stemdeck evaluate --full`.

Baselines (what a separator must beat, and the ceiling):
* `mixture_baseline` — the mixture itself as every stem's estimate.
* `scaled_mixture_baseline` — mixture × the least-squares constant gain per stem
  (g = ⟨m, s⟩ / ⟨m, m⟩ over the whole song): the best a volume knob can do.
* `oracle_mask_baseline` — ideal ratio mask on the mixture's STFT, computed from the true
  stems' magnitudes (Wiener-like, power 1 by default): an upper reference, not a separator.

Diagnostic:
* `stem_leakage` — where each true stem went: each estimate written as the least-squares
  combination of all reference stems over the whole song (entry [j, i] = how much of reference
  i is in estimate j; 1 = all of it at its level, 0 = none). A perfect separator gives the
  identity; "vocals landing in other" shows as a large [other, vocals] entry.

All signals are numpy arrays `(channels, frames)`; stems `(sources, channels, frames)`.
Metrics are computed in float64.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .errors import StemDeckError

logger = logging.getLogger(__name__)

__all__ = [
    "sdr_frames",
    "sdr_framewise",
    "sdr_framewise_stems",
    "sdr_global",
    "bss_eval_full",
    "load_museval_metrics",
    "mixture_baseline",
    "scaled_mixture_baseline",
    "oracle_mask_baseline",
    "nanmedian",
]


def _as_pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.ndim == 1:
        ref = ref[None]
    if est.ndim == 1:
        est = est[None]
    if ref.shape[0] != est.shape[0]:
        raise ValueError(f"channel counts differ: reference {ref.shape}, estimate {est.shape}")
    # museval's pad_or_truncate: the estimate is cut or zero-padded to the reference's length.
    n = ref.shape[-1]
    if est.shape[-1] > n:
        est = est[:, :n]
    elif est.shape[-1] < n:
        est = np.pad(est, ((0, 0), (0, n - est.shape[-1])))
    return ref, est


def _windows(frames: int, window: int) -> list[slice]:
    """museval's Framing with hop == window: full windows only; one window if shorter."""
    if window >= frames:
        return [slice(0, frames)]
    return [slice(i * window, (i + 1) * window) for i in range(frames // window)]


def _ratio_db(num: float, den: float) -> float:
    if den == 0:
        return math.inf
    return 10.0 * math.log10(num / den)


def sdr_frames(
    reference: np.ndarray, estimate: np.ndarray, samplerate: int, window_seconds: float = 1.0
) -> np.ndarray:
    """Per-window SDR in dB (float64, NaN for skipped silent windows).

    reference, estimate: (channels, frames) at `samplerate` Hz.
    """
    ref, est = _as_pair(reference, estimate)
    window = int(window_seconds * samplerate)
    if window <= 0:
        raise ValueError("window_seconds * samplerate must be at least one frame")
    out = []
    for win in _windows(ref.shape[-1], window):
        r, e = ref[:, win], est[:, win]
        if np.sum(r) == 0 or np.sum(e) == 0:
            out.append(math.nan)
            continue
        out.append(_ratio_db(float(np.sum(r * r)), float(np.sum((r - e) ** 2))))
    return np.asarray(out, dtype=np.float64)


def nanmedian(values: np.ndarray | list[float]) -> float:
    """Median ignoring NaN; NaN when nothing is left (no warning)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(np.median(arr)) if arr.size else math.nan


def sdr_framewise(
    reference: np.ndarray, estimate: np.ndarray, samplerate: int, window_seconds: float = 1.0
) -> float:
    """MUSDB/museval-v4 SDR of one stem in dB: median over 1 s windows; NaN if no valid window.

    reference, estimate: (channels, frames) float arrays at `samplerate` Hz; the estimate is
    cut or zero-padded to the reference's length as museval does.
    """
    return nanmedian(sdr_frames(reference, estimate, samplerate, window_seconds))


def sdr_framewise_stems(
    references: np.ndarray,
    estimates: np.ndarray,
    samplerate: int,
    window_seconds: float = 1.0,
    joint_silence: bool = True,
) -> np.ndarray:
    """Framewise SDR per stem, (sources,) float64, as `museval.evaluate` on all stems at once.

    references, estimates: (sources, channels, frames). With `joint_silence` a window is
    skipped for every stem when any stem's reference or estimate is silent in it (museval's
    behaviour when given all stems together); without it each stem is judged alone.
    """
    refs = np.asarray(references, dtype=np.float64)
    ests = np.asarray(estimates, dtype=np.float64)
    if refs.shape[:2] != ests.shape[:2]:
        raise ValueError(f"stem shapes differ: {refs.shape} vs {ests.shape}")
    per = np.stack([sdr_frames(r, e, samplerate, window_seconds) for r, e in zip(refs, ests)])
    if joint_silence and per.size:
        per[:, np.isnan(per).any(axis=0)] = np.nan
    return np.asarray([nanmedian(row) for row in per], dtype=np.float64)


def sdr_global(reference: np.ndarray, estimate: np.ndarray) -> float:
    """MDX-challenge SDR in dB over the whole signal: 10·log10((Σs² + 1e-7) / (Σ(s−ŝ)² + 1e-7))."""
    ref, est = _as_pair(reference, estimate)
    delta = 1e-7
    num = float(np.sum(ref * ref)) + delta
    den = float(np.sum((ref - est) ** 2)) + delta
    return 10.0 * math.log10(num / den)


def bss_eval_full(
    references: np.ndarray, estimates: np.ndarray, samplerate: int, window_seconds: float = 1.0
) -> dict[str, np.ndarray]:
    """Full BSS Eval v4 via museval: {"sdr","isr","sir","sar"} -> (sources,) medians over windows.

    references, estimates: (sources, channels, frames). Slow (~0.6 s per second of audio).
    Raises StemDeckError when museval is not installed.
    """
    bss = load_museval_metrics()
    refs = np.asarray(references, dtype=np.float64).transpose(0, 2, 1)
    ests = np.asarray(estimates, dtype=np.float64).transpose(0, 2, 1)
    win = int(window_seconds * samplerate)
    n = refs.shape[1]
    ests = ests[:, :n] if ests.shape[1] >= n else np.pad(ests, ((0, 0), (0, n - ests.shape[1]), (0, 0)))
    sdr, isr, sir, sar, _ = bss.bss_eval(
        refs, ests, window=win, hop=win, compute_permutation=False,
        framewise_filters=False, bsseval_sources_version=False,
    )
    return {
        name: np.asarray([nanmedian(row) for row in values], dtype=np.float64)
        for name, values in (("sdr", sdr), ("isr", isr), ("sir", sir), ("sar", sar))
    }


def load_museval_metrics():
    """museval's `metrics` module (BSS Eval v4), loaded without the museval package's __init__.

    `import museval` pulls in musdb and stempeg, which refuse to import without the ffmpeg
    command line tools; the metrics themselves need only numpy and scipy. `museval.evaluate(...,
    mode="v4")` is `metrics.bss_eval(..., framewise_filters=False, bsseval_sources_version=False)`
    after padding/truncating the estimates, which is what `bss_eval_full` calls.
    Raises StemDeckError when museval (or scipy) is not installed.
    """
    import importlib.util
    import sys

    cached = sys.modules.get("_stemdeck_museval_metrics")
    if cached is not None:
        return cached
    spec = importlib.util.find_spec("museval")
    if spec is None or not spec.submodule_search_locations:
        raise StemDeckError("SIR/SAR need the optional 'museval' package (pip install museval)")
    from pathlib import Path

    path = Path(list(spec.submodule_search_locations)[0]) / "metrics.py"
    mspec = importlib.util.spec_from_file_location("_stemdeck_museval_metrics", path)
    if mspec is None or mspec.loader is None or not path.is_file():
        raise StemDeckError(f"museval is installed but {path} is missing")
    module = importlib.util.module_from_spec(mspec)
    try:
        mspec.loader.exec_module(module)
    except ImportError as exc:
        raise StemDeckError(f"museval's metrics could not be loaded: {exc}") from exc
    sys.modules["_stemdeck_museval_metrics"] = module
    return module


# --------------------------------------------------------------------------- baselines


def mixture_baseline(mixture: np.ndarray, n_sources: int) -> np.ndarray:
    """The mixture as every stem's estimate: (n_sources, channels, frames) float32."""
    mix = np.asarray(mixture, dtype=np.float32)
    return np.repeat(mix[None], n_sources, axis=0)


def scaled_mixture_baseline(mixture: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Mixture × the least-squares constant gain per stem (whole song, both channels).

    mixture: (channels, frames); references: (sources, channels, frames). Returns
    (sources, channels, frames) float32 with gain g_j = ⟨m, s_j⟩ / ⟨m, m⟩ (0 for a silent mixture).
    """
    mix = np.asarray(mixture, dtype=np.float64)
    refs = np.asarray(references, dtype=np.float64)
    n = min(mix.shape[-1], refs.shape[-1])
    mix_n, refs_n = mix[:, :n], refs[:, :, :n]
    energy = float(np.sum(mix_n * mix_n))
    gains = np.zeros(refs.shape[0])
    if energy > 0:
        gains = np.einsum("ct,sct->s", mix_n, refs_n) / energy
    return (gains[:, None, None] * mix[None]).astype(np.float32)


def oracle_mask_baseline(
    mixture: np.ndarray,
    references: np.ndarray,
    n_fft: int = 4096,
    hop: int = 1024,
    power: float = 1.0,
) -> np.ndarray:
    """Ideal ratio mask estimates: (sources, channels, frames) float32.

    mask_j = |S_j|^p / Σ_k |S_k|^p per STFT bin (Hann window `n_fft`, hop `hop`), applied to
    the mixture's complex STFT and inverted. It uses the true stems, so it is a ceiling for
    masking separators, not a separator. power=1: magnitude ratio mask; power=2: Wiener-like.
    """
    import torch

    mix = torch.as_tensor(np.asarray(mixture, dtype=np.float32))
    refs = torch.as_tensor(np.asarray(references, dtype=np.float32))
    frames = mix.shape[-1]
    n = min(frames, refs.shape[-1])
    if n < n_fft:  # short clip: a window that fits
        n_fft = max(16, 1 << int(math.log2(max(n, 16))))
        hop = n_fft // 4
    window = torch.hann_window(n_fft, dtype=torch.float32)

    def stft(x: torch.Tensor) -> torch.Tensor:
        return torch.stft(
            x.reshape(-1, x.shape[-1]), n_fft, hop, window=window, return_complex=True
        )

    mix_spec = stft(mix)  # (C, F, T)
    ref_specs = stft(refs[..., :frames] if refs.shape[-1] >= frames else
                     torch.nn.functional.pad(refs, (0, frames - refs.shape[-1])))
    ref_specs = ref_specs.reshape(refs.shape[0], refs.shape[1], *ref_specs.shape[-2:])
    mags = ref_specs.abs() ** power
    masks = mags / (mags.sum(dim=0, keepdim=True) + 1e-10)
    est_specs = masks * mix_spec[None]
    est = torch.istft(
        est_specs.reshape(-1, *est_specs.shape[-2:]), n_fft, hop, window=window, length=frames
    )
    return est.reshape(refs.shape[0], mix.shape[0], frames).numpy().astype(np.float32)


LEAKAGE_BLOCK_FRAMES = 1 << 20  # Gram sums in float64 over blocks: no track-sized float64 copy


def stem_leakage(references: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """(S_est, S_ref) least-squares gains: estimates[j] ~= sum_i L[j, i] * references[i].

    references, estimates: (S, C, T). A reference that is silent for the whole song gets a zero
    column (it cannot be attributed)."""
    refs = np.asarray(references)
    est = np.asarray(estimates)
    if refs.ndim != 3 or est.ndim != 3 or refs.shape[1:] != est.shape[1:]:
        raise ValueError(f"references {refs.shape} and estimates {est.shape} must be (S, C, T) alike")
    n_ref, n_est = refs.shape[0], est.shape[0]
    gram = np.zeros((n_ref, n_ref))
    cross = np.zeros((n_est, n_ref))
    for start in range(0, refs.shape[-1], LEAKAGE_BLOCK_FRAMES):
        r = refs[..., start:start + LEAKAGE_BLOCK_FRAMES].reshape(n_ref, -1).astype(np.float64)
        e = est[..., start:start + LEAKAGE_BLOCK_FRAMES].reshape(n_est, -1).astype(np.float64)
        gram += r @ r.T
        cross += e @ r.T
    present = np.diag(gram) > 0
    out = np.zeros((n_est, n_ref))
    if present.any():
        g = gram[np.ix_(present, present)]
        out[:, present] = np.linalg.lstsq(g, cross[:, present].T, rcond=None)[0].T
    return out
