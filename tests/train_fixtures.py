"""Generated multitrack songs for the trainer/dataset tests (seconds of audio, distinct stems).

Each stem has its own character so a tiny network can learn something in a few steps:
drums = decaying noise bursts on a beat, bass = low sine notes, other = mid-range chord,
vocals = a high vibrato tone with gaps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SOURCES = ("drums", "bass", "other", "vocals")


def synth_stems(seconds: float, samplerate: int = 44100, seed: int = 0) -> np.ndarray:
    """(4, 2, frames) float32 stems in SOURCES order."""
    rng = np.random.default_rng(seed)
    n = int(seconds * samplerate)
    t = np.arange(n) / samplerate
    stems = np.zeros((4, 2, n), np.float32)
    beat = 60 / rng.uniform(90, 140)
    env = np.exp(-((t % beat) / 0.05))
    stems[0] = 0.5 * env * rng.uniform(-1, 1, (2, n))
    f_bass = rng.uniform(45, 90) * np.where((t // (2 * beat)) % 2 == 0, 1.0, 1.5)
    stems[1] = 0.4 * np.sin(2 * np.pi * np.cumsum(f_bass) / samplerate)
    f0 = rng.uniform(200, 400)
    chord = sum(np.sin(2 * np.pi * f0 * r * t + rng.uniform(0, 6)) for r in (1.0, 1.25, 1.5))
    stems[2] = 0.15 * chord * np.array([[0.8], [1.0]])
    f_voc = rng.uniform(500, 900) * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    gate = ((t % (4 * beat)) < 3 * beat).astype(np.float64)
    stems[3] = 0.3 * gate * np.sin(2 * np.pi * np.cumsum(f_voc) / samplerate) * np.array([[1.0], [0.7]])
    return stems


def write_song(folder: Path, seconds: float = 2.0, samplerate: int = 44100, seed: int = 0,
               names: dict[str, str] | None = None, mixture: bool = True, skip: tuple[str, ...] = (),
               subtype: str = "FLOAT") -> np.ndarray:
    """Write one song folder (one file per stem, optional mixture.wav); returns the stems."""
    folder.mkdir(parents=True, exist_ok=True)
    stems = synth_stems(seconds, samplerate, seed)
    names = names or {s: s for s in SOURCES}
    for j, stem in enumerate(SOURCES):
        if stem in skip:
            stems[j] = 0
            continue
        sf.write(folder / f"{names[stem]}.wav", stems[j].T, samplerate, subtype=subtype)
    if mixture:
        sf.write(folder / "mixture.wav", stems.sum(0).T, samplerate, subtype=subtype)
    return stems


def make_musdb_hq(root: Path, n_train: int = 3, n_valid: int = 1, n_test: int = 1, seconds: float = 2.0,
                  samplerate: int = 44100) -> Path:
    """A small MUSDB18-HQ-layout folder (train/valid/test)."""
    seed = 0
    for split, count in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        for i in range(count):
            write_song(root / split / f"{split} song {i}", seconds, samplerate, seed=seed)
            seed += 1
    return root
