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


LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
LIBRIVOX_LICENCE = ("LibriVox reading of 'Sense and Sensibility' (public domain), from Debian "
                    "pocketsphinx-testdata (package licence BSD-2); speech re-pitched into singing")


def default_source() -> Path | None:
    """The real-singing recording: env STEMDECK_SINGING_WAV, else ../shared/data/singing/vocadito_1.wav."""
    env = os.environ.get("STEMDECK_SINGING_WAV")
    candidates = [Path(env)] if env else []
    candidates += list(DEFAULT_SOURCES)
    for c in candidates:
        if c.is_file():
            return c
    return None


def default_sources() -> list[Path]:
    """Voice sources used when none are given: the shared singing, then LibriVox speech if installed."""
    out = []
    src = default_source()
    if src is not None:
        out.append(src)
    if LIBRIVOX_DIR.is_dir() and any(LIBRIVOX_DIR.glob("*.wav")):
        out.append(LIBRIVOX_DIR)
    return out


def source_files(source: Path) -> list[Path]:
    """A voice source is one WAV file or a folder of WAV files by the same voice."""
    return sorted(source.glob("*.wav")) if source.is_dir() else [source]


def licence_of(source: Path) -> str:
    if source.name.startswith("vocadito"):
        return SOURCE_LICENCE
    if source.resolve() == LIBRIVOX_DIR.resolve():
        return LIBRIVOX_LICENCE
    return "supplied by the user (check its licence)"


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
    """Analyse ``source`` (a WAV or a folder of WAVs by one voice) with WORLD once and store it atomically in ``cache`` (an .npz); returns cache."""
    if cache.is_file():
        return cache
    import pyworld as pw
    import soundfile as sf

    chunks = []
    sr = None
    for f in source_files(source):
        try:
            y, r = sf.read(str(f), dtype="float64", always_2d=True)
        except Exception as exc:
            from .soundfonts import CorpusError
            raise CorpusError(f"cannot read the voice source {f}: {exc}") from exc
        y = y.mean(axis=1)
        if sr is None:
            sr = r
        elif r != sr:
            import soxr
            y = soxr.resample(y, r, sr)
        chunks += [y / (np.abs(y).max() + 1e-9) * 0.5, np.zeros(int(0.25 * sr))]
    if not chunks:
        from .soundfonts import CorpusError
        raise CorpusError(f"the voice source {source} holds no WAV file")
    x = np.ascontiguousarray(np.concatenate(chunks))
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
        if a < 0 or a >= frames:
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


# ---------------------------------------------------------------------------------------------
# formant-synthesised singing (WORLD with a constructed spectral envelope)
# ---------------------------------------------------------------------------------------------

#: (F1, F2, F3) in Hz for an adult male voice; F4/F5 are fixed per voice type
VOWELS = {"a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (290, 2250, 3010), "o": (570, 840, 2410),
          "u": (320, 870, 2240), "ae": (660, 1720, 2410), "uh": (520, 1190, 2390)}
VOICE_SCALE = {"male": 1.0, "female": 1.17, "child": 1.3}


def formant_sing(notes: list[Note], duration_seconds: float, samplerate: int, rng: np.random.Generator,
                 voice_type: str = "female", vibrato_hz: float = 5.5, vibrato_semitones: float = 0.3,
                 scoop_semitones: float = 0.5, breathiness: float = 0.02, singer_formant_db: float = 6.0,
                 consonants: float = 0.6) -> np.ndarray:
    """Sing ``notes`` on vowels with a formant-built spectral envelope; float32 mono (frames,)."""
    import pyworld as pw

    fs = samplerate
    fp = FRAME_PERIOD_MS / 1000.0
    n_frames = int(np.ceil(duration_seconds / fp)) + 1
    fft = pw.get_cheaptrick_fft_size(fs)
    freqs = np.linspace(0, fs / 2, fft // 2 + 1)
    scale = VOICE_SCALE.get(voice_type, 1.0) * rng.uniform(0.95, 1.05)
    f0 = np.zeros(n_frames)
    sp = np.full((n_frames, len(freqs)), 1e-12)
    ap = np.ones((n_frames, len(freqs)))
    tilt = 1.0 / (1.0 + (freqs / 250.0) ** 2)
    ap_voiced = np.clip(breathiness + (freqs / 7000.0) ** 2, 0.001, 1.0)
    bws = np.array([70, 100, 130, 160, 200]) * rng.uniform(0.8, 1.3)
    amps = 10 ** (np.array([0, -4, -9, -14, -20]) / 10)
    sf_boost = 10 ** (singer_formant_db / 10) * np.exp(-0.5 * ((freqs - 2900 * scale ** 0.5) / 350) ** 2)
    prev_form = None
    vowel_names = list(VOWELS)
    for note in sorted(notes, key=lambda x: x.start):
        a = int(round(note.start / fp))
        b = min(n_frames, int(round(note.end / fp)))
        if b - a < 4 or a >= n_frames:
            continue
        v = VOWELS[vowel_names[int(rng.integers(len(vowel_names)))]]
        form = np.array(list(v) + [3300, 3750], dtype=float) * scale
        length = b - a
        rel = np.arange(length) * fp
        # coarticulation: glide from the previous vowel over 40 ms
        if prev_form is not None:
            w = np.clip(rel / 0.04, 0, 1)[:, None]
            fr = prev_form[None, :] * (1 - w) + form[None, :] * w
        else:
            fr = np.repeat(form[None, :], length, axis=0)
        env = np.zeros((length, len(freqs)))
        for k in range(5):
            env += amps[k] / (1.0 + ((freqs[None, :] - fr[:, k:k + 1]) / (bws[k] / 2)) ** 2)
        env = env * tilt[None, :] + sf_boost[None, :] * tilt[None, :] * 0.3
        # loudness: attack 30 ms, slow decay, release 40 ms
        amp = np.minimum(1.0, rel / 0.03) * np.exp(-rel * rng.uniform(0.05, 0.6)) * np.minimum(1.0, (length - 1 - np.arange(length)) * fp / 0.04 + 0.05)
        amp = amp * (note.velocity / 100.0)
        sp[a:b] = env * (amp[:, None] ** 2) * 1e-3
        ap[a:b] = ap_voiced[None, :]
        contour = note.pitch - scoop_semitones * np.clip(1 - rel / 0.08, 0, 1)
        contour = contour + vibrato_semitones * np.clip((rel - 0.2) / 0.3, 0, 1) * np.sin(2 * np.pi * vibrato_hz * rel)
        contour = contour + np.cumsum(rng.normal(0, 0.01, length))  # slow pitch drift
        f0[a:b] = 440.0 * 2 ** ((contour - 69) / 12)
        if rng.random() < consonants and a > 8:  # a fricative or plosive before the vowel
            c = int(rng.integers(4, 12))
            lo = rng.uniform(1500, 5000)
            noise_env = np.exp(-0.5 * ((np.log(freqs + 1) - np.log(lo * 1.6)) / 0.5) ** 2) * 1e-6 * rng.uniform(0.3, 1.0)
            sp[a - c:a] = noise_env[None, :]
            ap[a - c:a] = 1.0
            f0[a - c:a] = 0.0
        prev_form = form
    # WORLD takes the log of the envelope: an exact zero (a note's first frame, an underflowed
    # consonant band) made it emit NaN for ~2-3 % of songs. -160 dB is silence, and finite.
    np.maximum(sp, 1e-16, out=sp)
    y = pw.synthesize(np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap), fs, FRAME_PERIOD_MS)
    out = np.zeros(int(round(duration_seconds * samplerate)), dtype=np.float32)
    m = min(len(out), len(y))
    out[:m] = y[:m]
    return out
