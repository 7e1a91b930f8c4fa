"""Real singing re-pitched along generated melodies with the WORLD vocoder (pyworld).

The source recording (vocadito_1, CC BY 4.0) is analysed once (f0, spectral envelope,
aperiodicity at 5 ms frames) and cached as an .npz. For each melody note the next sung syllable
of the source (its consonant onset + voiced part) is stretched to the note's length and
resynthesised with a new f0 contour: the note's pitch plus an onset scoop, delayed vibrato,
portamento between legato notes and a share of the singer's own pitch micro-variation. The
spectral envelope may be warped along frequency (formant shift) to give other "singers".
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .music import Note

logger = logging.getLogger(__name__)

FRAME_PERIOD_MS = 5.0
_REPO = Path(__file__).resolve().parents[2]
#: the shared data folder sits beside the main checkout (../shared) or beside the worktrees (../../shared)
DEFAULT_SOURCES = tuple(base / "shared" / "data" / "singing" / "vocadito_1.wav" for base in (_REPO.parent, _REPO.parent.parent))
SOURCE_LICENCE = ("vocadito_1 (R. M. Bittner et al., 'vocadito: A dataset of solo vocals with f0, note, and "
                  "lyric annotations', 2021), CC BY 4.0")


def default_source() -> Path | None:
    """The real-singing recording: env STEMDECK_SINGING_WAV, else ../shared/data/singing/vocadito_1.wav."""
    env = os.environ.get("STEMDECK_SINGING_WAV")
    candidates = [Path(env)] if env else []
    candidates += list(DEFAULT_SOURCES)
    for c in candidates:
        if c.is_file():
            return c
    return None


def world_available() -> bool:
    try:
        import pyworld  # noqa: F401
    except Exception:  # pragma: no cover - depends on the install
        return False
    return True


@dataclass
class VoiceModel:
    samplerate: int
    f0: np.ndarray  # (frames,) Hz, 0 = unvoiced
    sp: np.ndarray  # (frames, bins) power spectral envelope
    ap: np.ndarray  # (frames, bins) aperiodicity
    syllables: list[tuple[int, int, int]]  # (start, voiced_start, end) frame indices
    jitter: np.ndarray  # (frames,) semitones of the singer's own deviation from a smooth contour


def analyse(source: Path, cache: Path) -> Path:
    """Analyse ``source`` with WORLD once and store it atomically in ``cache`` (an .npz); returns cache."""
    if cache.is_file():
        return cache
    import pyworld as pw
    import soundfile as sf

    x, sr = sf.read(str(source), dtype="float64", always_2d=True)
    x = np.ascontiguousarray(x.mean(axis=1))
    f0, t = pw.dio(x, sr, f0_floor=70.0, f0_ceil=1000.0, frame_period=FRAME_PERIOD_MS)
    f0 = pw.stonemask(x, f0, t, sr)
    sp = pw.cheaptrick(x, f0, t, sr)
    ap = pw.d4c(x, f0, t, sr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=cache.parent)
    os.close(fd)
    np.savez(tmp, samplerate=sr, f0=f0.astype(np.float32), sp=sp.astype(np.float32), ap=ap.astype(np.float32))
    os.replace(tmp, cache)
    logger.info("analysed %s with WORLD into %s", source, cache)
    return cache


_LOADED: dict[str, VoiceModel] = {}


def load(cache: Path) -> VoiceModel:
    key = str(cache)
    if key in _LOADED:
        return _LOADED[key]
    z = np.load(cache)
    f0 = z["f0"].astype(np.float64)
    model = VoiceModel(int(z["samplerate"]), f0, z["sp"].astype(np.float64), z["ap"].astype(np.float64),
                       _syllables(f0), _jitter(f0))
    _LOADED[key] = model
    return model


def _syllables(f0: np.ndarray) -> list[tuple[int, int, int]]:
    """Voiced runs (split at pitch jumps) with up to 60 ms of the unvoiced sound before them."""
    voiced = f0 > 0
    runs = []
    i = 0
    n = len(f0)
    while i < n:
        if voiced[i]:
            j = i
            while j < n and voiced[j]:
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    out = []
    prev_end = 0
    for a, b in runs:
        if b - a < 8:  # < 40 ms
            continue
        semis = 12 * np.log2(f0[a:b] / 440.0)
        cuts = [a]
        for k in range(a + 20, b - 20):
            if abs(semis[k + 4 - a] - semis[k - 4 - a]) > 1.2 and k - cuts[-1] >= 24:
                cuts.append(k)
        cuts.append(b)
        for c0, c1 in zip(cuts[:-1], cuts[1:]):
            start = max(prev_end, c0 - 12) if c0 == a else c0
            out.append((start, c0, c1))
            prev_end = c1
    return out


def _jitter(f0: np.ndarray) -> np.ndarray:
    semis = np.zeros_like(f0)
    v = f0 > 0
    semis[v] = 12 * np.log2(f0[v] / 440.0)
    k = 15
    kernel = np.ones(k) / k
    num = np.convolve(semis * v, kernel, mode="same")
    den = np.convolve(v.astype(float), kernel, mode="same")
    smooth = np.where(den > 0, num / np.maximum(den, 1e-9), 0)
    jit = np.where(v, semis - smooth, 0.0)
    return np.clip(jit, -0.7, 0.7)


def _warp(env: np.ndarray, alpha: float) -> np.ndarray:
    """Shift formants: new[k] = env[k / alpha] (linear interpolation along frequency bins)."""
    if abs(alpha - 1.0) < 1e-3:
        return env
    bins = env.shape[1]
    src = np.arange(bins) / alpha
    src = np.clip(src, 0, bins - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, bins - 1)
    w = src - lo
    return env[:, lo] * (1 - w) + env[:, hi] * w


def sing(model: VoiceModel, notes: list[Note], duration_seconds: float, samplerate: int,
         rng: np.random.Generator, formant_shift: float = 1.0, vibrato_hz: float = 5.5,
         vibrato_semitones: float = 0.3, scoop_semitones: float = 0.8, keep_source_jitter: float = 0.6,
         breaths: bool = True) -> np.ndarray:
    """Sing ``notes`` with the source voice; returns float32 mono (frames,) at ``samplerate``."""
    import pyworld as pw

    fp = FRAME_PERIOD_MS / 1000.0
    n_frames = int(np.ceil(duration_seconds / fp)) + 1
    bins = model.sp.shape[1]
    f0 = np.zeros(n_frames)
    sp = np.full((n_frames, bins), 1e-12)
    ap = np.ones((n_frames, bins))
    gate = np.zeros(n_frames)
    syl = int(rng.integers(len(model.syllables)))
    prev_end_t = -1.0
    prev_pitch = None
    for note in sorted(notes, key=lambda x: x.start):
        a = int(round(note.start / fp))
        b = min(n_frames, int(round(note.end / fp)))
        if b - a < 4 or a >= n_frames:
            continue
        s0, sv, s1 = model.syllables[syl % len(model.syllables)]
        syl += 1
        cons = sv - s0
        length = b - a
        cons_len = min(cons, int(0.3 * length))
        # consonant frames kept at source speed, voiced part stretched to fill the note
        idx_c = np.arange(sv - cons_len, sv)
        vlen = length - cons_len
        idx_v = sv + np.minimum((np.arange(vlen) * (s1 - sv) / max(vlen, 1)).astype(int), s1 - sv - 1)
        # long notes: hold the vowel's middle instead of smearing it
        idx = np.concatenate([idx_c, idx_v]).astype(int)
        dst = np.arange(a - cons_len, a - cons_len + len(idx))
        keep = (dst >= 0) & (dst < n_frames)
        dst, idx = dst[keep], idx[keep]
        sp[dst] = model.sp[idx]
        ap[dst] = model.ap[idx]
        gate[dst] = 1.0
        voiced = model.f0[idx] > 0
        rel = (dst - a) * fp
        target = note.pitch + 0.0
        contour = np.full(len(dst), target)
        legato = prev_pitch is not None and note.start - prev_end_t < 0.05
        if legato:
            glide = np.clip(rel / 0.06, 0, 1)
            contour = prev_pitch + (target - prev_pitch) * glide
        else:
            contour = contour - scoop_semitones * np.clip(1 - rel / 0.09, 0, 1)
        vib_amt = vibrato_semitones * np.clip((rel - 0.18) / 0.35, 0, 1)
        contour = contour + vib_amt * np.sin(2 * np.pi * vibrato_hz * np.maximum(rel, 0) + rng.uniform(0, 6.28))
        contour = contour + keep_source_jitter * model.jitter[idx]
        hz = 440.0 * 2 ** ((contour - 69) / 12)
        f0[dst] = np.where(voiced, hz, 0.0)
        prev_end_t = note.end
        prev_pitch = target
    sp = _warp(sp, formant_shift)
    f0 = np.ascontiguousarray(f0)
    y = pw.synthesize(f0, np.ascontiguousarray(sp), np.ascontiguousarray(ap), model.samplerate, FRAME_PERIOD_MS)
    # smooth gate so rests are truly silent without clicks
    g = np.convolve(gate, np.ones(4) / 4, mode="same")
    g_s = np.interp(np.arange(len(y)) / model.samplerate / fp, np.arange(n_frames), g)
    y = y * g_s
    if breaths:
        y = y + _breaths(notes, len(y), model.samplerate, rng, float(np.sqrt(np.mean(y ** 2)) + 1e-9))
    if samplerate != model.samplerate:
        import soxr
        y = soxr.resample(y, model.samplerate, samplerate)
    out = np.zeros(int(round(duration_seconds * samplerate)), dtype=np.float32)
    m = min(len(out), len(y))
    out[:m] = y[:m]
    return out


def _breaths(notes: list[Note], frames: int, sr: int, rng: np.random.Generator, level: float) -> np.ndarray:
    """Short band-limited noise bursts before phrases (gaps > 0.35 s)."""
    out = np.zeros(frames)
    starts = []
    prev_end = -10.0
    for n in sorted(notes, key=lambda x: x.start):
        if n.start - prev_end > 0.35 and rng.random() < 0.7:
            starts.append(n.start)
        prev_end = n.end
    for t in starts:
        dur = rng.uniform(0.15, 0.3)
        a = int((t - dur - 0.03) * sr)
        if a < 0:
            continue
        length = int(dur * sr)
        noise = rng.standard_normal(length)
        spec = np.fft.rfft(noise)
        freqs = np.fft.rfftfreq(length, 1 / sr)
        lo, hi = rng.uniform(400, 900), rng.uniform(2500, 6000)
        spec *= np.exp(-0.5 * ((np.log(freqs + 1) - np.log((lo * hi) ** 0.5)) / 0.8) ** 2)
        burst = np.fft.irfft(spec, n=length)
        env = np.sin(np.pi * np.arange(length) / length) ** 2
        burst = burst * env
        burst *= level * rng.uniform(0.08, 0.25) / (np.sqrt(np.mean(burst ** 2)) + 1e-12)
        b = min(frames, a + length)
        out[a:b] += burst[:b - a]
    return out
