"""Training augmentations on stems (paper + Demucs v2), numpy, driven by an explicit RNG.

Every function takes stems `(sources, channels, frames)` float32 and a `numpy.random.Generator`
and returns new arrays; the training mixture is ALWAYS rebuilt as the sum of the augmented
stems (`augment_stems` returns both), so the target stems add up to the input exactly.
Nothing random happens in eval mode (`train=False`): a centre crop, stems unchanged.

* random shift — each stem is cut from a window `shift_seconds` longer than the segment at its
  own random offset (Demucs v2 `Shift(same=False)`, 8192 samples ≈ 0.19 s at 44.1 kHz);
* remix across songs — with `remix_probability` each stem of a training example comes from an
  independently chosen song (`remix_song_indices`; the dataset reads them);
* amplitude scaling — one gain per stem, uniform in `gain_range` (0.25–1.25 as in the
  experiment recorded in CORPUS_NOTES.md);
* sign flip — each stem multiplied by ±1;
* channel swap — left/right exchanged per stem (stereo only);
* varispeed — with `speed_probability` the whole example (every stem alike) is played up to
  `speed_range` faster or slower, pitch and tempo together like a tape or turntable (±8 % ≈
  ±1.3 semitones; resampled with soxr). Formants move with the pitch, so one recorded voice or
  instrument stands in for several; Demucs trains with a pitch/tempo augmentation for the same
  reason. Off by default.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from .audio_io import resample

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations run during training and how strong they are."""

    enabled: bool = True
    shift_seconds: float = 0.2
    remix_probability: float = 0.5
    gain_low: float = 0.25
    gain_high: float = 1.25
    sign_flip: bool = True
    channel_swap: bool = True
    speed_probability: float = 0.0
    speed_range: float = 0.08

    @classmethod
    def off(cls) -> "AugmentConfig":
        return cls(enabled=False, shift_seconds=0.0, remix_probability=0.0, gain_low=1.0,
                   gain_high=1.0, sign_flip=False, channel_swap=False, speed_probability=0.0)

    def shift_frames(self, samplerate: int) -> int:
        return int(round(self.shift_seconds * samplerate)) if self.enabled else 0

    def read_frames(self, segment_frames: int, samplerate: int) -> int:
        """Frames a training example reads from each stem: the segment, the shift margin, and
        room for the fastest varispeed (which consumes `1 + speed_range` times the frames)."""
        frames = segment_frames + self.shift_frames(samplerate)
        if self.enabled and self.speed_probability > 0:
            frames = int(math.ceil(frames * (1.0 + self.speed_range))) + 1
        return frames


def remix_song_indices(
    rng: np.random.Generator, n_sources: int, weights: np.ndarray, probability: float
) -> np.ndarray:
    """Song index per stem, (n_sources,) int: one song for all stems, or with `probability`
    an independent song per stem. `weights` (n_songs,) are the selection probabilities."""
    weights = np.asarray(weights, dtype=np.float64)
    weights = weights / weights.sum()
    first = int(rng.choice(len(weights), p=weights))
    if probability > 0 and rng.random() < probability:
        return rng.choice(len(weights), size=n_sources, p=weights).astype(np.int64)
    return np.full(n_sources, first, dtype=np.int64)


#: nominal rate for varispeed resampling: only the ratio of the two rates matters
_SPEED_BASE_RATE = 48000


def change_speed(stems: np.ndarray, factor: float) -> np.ndarray:
    """(S, C, N) -> (S, C, ~N / factor): every stem played `factor` times as fast (pitch and
    tempo together)."""
    flat = np.ascontiguousarray(stems, dtype=np.float32).reshape(-1, stems.shape[-1])
    out = resample(flat, int(round(_SPEED_BASE_RATE * factor)), _SPEED_BASE_RATE)
    return out.reshape(stems.shape[:-1] + (out.shape[-1],))


def random_shift(stems: np.ndarray, segment_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(S, C, N >= segment) -> (S, C, segment): each stem cut at its own random offset."""
    extra = stems.shape[-1] - segment_frames
    if extra < 0:
        raise ValueError(f"stems have {stems.shape[-1]} frames, need {segment_frames}")
    offsets = rng.integers(0, extra + 1, size=stems.shape[0])
    return np.stack([s[:, o:o + segment_frames] for s, o in zip(stems, offsets)])


def centre_crop(stems: np.ndarray, segment_frames: int) -> np.ndarray:
    extra = stems.shape[-1] - segment_frames
    start = max(0, extra // 2)
    return stems[..., start:start + segment_frames]


def scale_amplitude(stems: np.ndarray, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    gains = rng.uniform(low, high, size=(stems.shape[0], 1, 1)).astype(np.float32)
    return stems * gains


def flip_sign(stems: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(stems.shape[0], 1, 1))
    return stems * signs


def swap_channels(stems: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if stems.shape[1] != 2:
        return stems
    swap = rng.random(stems.shape[0]) < 0.5
    out = stems.copy()
    out[swap] = stems[swap][:, ::-1]
    return out


def augment_stems(
    stems: np.ndarray,
    segment_frames: int,
    rng: np.random.Generator,
    config: AugmentConfig,
    train: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Augment one example: stems (S, C, N >= segment) -> (stems (S, C, segment), mixture (C, segment)).

    The mixture is the sum of the returned stems. In eval mode (or with augmentation
    disabled) the stems are only centre-cropped.
    """
    stems = np.asarray(stems, dtype=np.float32)
    if not (train and config.enabled):
        out = np.ascontiguousarray(centre_crop(stems, segment_frames))
        return out, out.sum(axis=0)
    if config.speed_probability > 0 and rng.random() < config.speed_probability:
        factor = rng.uniform(1.0 - config.speed_range, 1.0 + config.speed_range)
        stems = change_speed(stems, factor)
    out = random_shift(stems, segment_frames, rng)
    if config.gain_low != 1.0 or config.gain_high != 1.0:
        out = scale_amplitude(out, rng, config.gain_low, config.gain_high)
    if config.sign_flip:
        out = flip_sign(out, rng)
    if config.channel_swap:
        out = swap_channels(out, rng)
    out = np.ascontiguousarray(out, dtype=np.float32)
    return out, out.sum(axis=0)
