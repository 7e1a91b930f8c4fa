"""Real recorded instrument tracks mixed into the "other" stem of some songs.

Debian's Frets on Fire song packs hold isolated, real lead/rhythm guitar recordings
(`guitar.ogg`, 44.1 kHz stereo): 4 metal songs by Muldjord (CC BY-SA 3.0) and 4 rock/metal songs
by Sectoid (MIT-style). An excerpt of one of them, played as recorded (its key and tempo are not
the song's; the separator learns timbre, and the trainer remixes across songs anyway), gives
"other" real distorted-guitar sound that no General MIDI patch has.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

FOF_DIR = Path("/usr/share/games/fretsonfire/data/songs")
LICENCES = {
    "muldjord": "CC BY-SA 3.0 (El Senator / Muldjord, Debian fretsonfire-songs-muldjord)",
    "sectoid": "MIT-style (Carlos Viola Iborra / Sectoid, Debian fretsonfire-songs-sectoid)",
}


@dataclass(frozen=True)
class RealTrack:
    path: Path
    name: str
    licence: str


def find_real_guitars(root: Path = FOF_DIR) -> list[RealTrack]:
    """The isolated guitar recordings installed on this machine (empty if none)."""
    out = []
    for pack, lic in LICENCES.items():
        for p in sorted((root / pack).glob("*/guitar.ogg")):
            out.append(RealTrack(p, f"{pack}/{p.parent.name}", lic))
    return out


def read_excerpt(track: RealTrack, frames: int, samplerate: int, rng: np.random.Generator,
                 tries: int = 6) -> tuple[np.ndarray, float]:
    """The loudest of ``tries`` random excerpts: float32 (2, frames) and its start (s)."""
    import soundfile as sf

    info = sf.info(str(track.path))
    native = int(np.ceil(frames * info.samplerate / samplerate))
    starts = rng.integers(0, max(1, info.frames - native), size=tries)
    best, best_rms, best_start = None, -1.0, 0
    for st in starts:
        x, _ = sf.read(str(track.path), start=int(st), frames=native, dtype="float32", always_2d=True)
        rms = float(np.sqrt(np.mean(x ** 2))) if x.size else 0.0
        if rms > best_rms:
            best, best_rms, best_start = x, rms, int(st)
    x = best.T
    if x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    x = x[:2]
    if info.samplerate != samplerate:
        import soxr

        x = soxr.resample(x.T, info.samplerate, samplerate).T.astype(np.float32)
    out = np.zeros((2, frames), dtype=np.float32)
    m = min(frames, x.shape[1])
    out[:, :m] = x[:, :m]
    return out, best_start / info.samplerate
