"""Spectrogram images of lanes, for seeing bleed between stems (numpy only; run in a worker).

A lane's image is `ROWS` log-spaced frequency bands (FMIN_HZ up to Nyquist, lowest band in row 0)
by at most `MAX_COLUMNS` time columns, of the channel-averaged signal's power, in dB relative to
one reference shared by every lane of the song (the original's loudest band), mapped onto 0..255
over `RANGE_DB`. Sharing the reference is what makes bleed visible: a stem holding -20 dB of the
original's hi-hats shows them 20 dB darker, not stretched to full brightness.

The column hop grows with the song so the image stays small (≤ MAX_COLUMNS × ROWS bytes) whatever
its length; each column is one Hann-windowed FFT_SIZE frame centred on its column's time span.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

ROWS = 192
MAX_COLUMNS = 4096
FFT_SIZE = 4096  # 10.8 Hz bins at 44.1 kHz: bass notes a semitone apart stay apart
FMIN_HZ = 40.0
RANGE_DB = 80.0
#: columns transformed at once (bounds the worker's scratch memory to a few MB)
_BLOCK_COLUMNS = 256


#: a lane's signal as the spectrogram reads it: clipped frame indices (n, FFT_SIZE) -> the
#: channel-averaged samples there (n, FFT_SIZE) float32, gathered a block at a time
Gather = Callable[[np.ndarray], np.ndarray]


def mono_of(samples: np.ndarray) -> Gather:
    """The channel average of `samples` (channels, frames)."""
    return lambda index: samples[:, index].mean(axis=0)


def residual_of(mixture: np.ndarray, stems: np.ndarray) -> Gather:
    """The channel average of mixture (channels, frames) minus the sum of stems
    (sources, channels, frames), without making the residual for the whole song."""
    return lambda index: mixture[:, index].mean(axis=0) - stems[:, :, index].sum(axis=0).mean(axis=0)


@dataclass(frozen=True)
class Spectrogram:
    """`image` (ROWS, columns) uint8, 0 = RANGE_DB or more below the reference, 255 = at it;
    column k covers track seconds [k, k + 1) * `seconds_per_column`."""

    image: np.ndarray
    seconds_per_column: float

    @property
    def duration_seconds(self) -> float:
        return self.image.shape[1] * self.seconds_per_column


def band_edges(samplerate: int, rows: int = ROWS, fmin: float = FMIN_HZ) -> np.ndarray:
    """(rows + 1,) band edges in Hz, log-spaced from `fmin` to Nyquist."""
    return np.geomspace(fmin, samplerate / 2, rows + 1)


def frequency_position(freq_hz: float, samplerate: int, fmin: float = FMIN_HZ) -> float:
    """Where `freq_hz` lies on a lane's image, 0 (bottom, `fmin`) to 1 (top, Nyquist): the rows
    are log-spaced, so this is the log-frequency fraction."""
    return float(np.log(freq_hz / fmin) / np.log(samplerate / 2 / fmin))


#: frequencies named on a spectrogram lane's axis: (Hz, label, major?)
_AXIS_FREQUENCIES = ((50, "50", False), (100, "100 Hz", True), (200, "200", False),
                     (500, "500", False), (1000, "1 kHz", True), (2000, "2k", False),
                     (5000, "5k", False), (10000, "10 kHz", True), (20000, "20k", False))


def frequency_ticks(samplerate: int) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """(major, minor) axis ticks of a lane's image: (position 0..1 as `frequency_position`, label)
    for round frequencies inside FMIN_HZ..Nyquist."""
    major: list[tuple[float, str]] = []
    minor: list[tuple[float, str]] = []
    for freq, label, is_major in _AXIS_FREQUENCIES:
        if FMIN_HZ <= freq <= samplerate / 2:
            (major if is_major else minor).append((frequency_position(freq, samplerate), label))
    return major, minor


def _band_matrix(samplerate: int, rows: int) -> np.ndarray:
    """(FFT_SIZE // 2 + 1, rows) float32 averaging FFT bins into bands; a band narrower than the
    bin spacing (the lowest ones) takes the bin nearest its centre."""
    freqs = np.fft.rfftfreq(FFT_SIZE, 1.0 / samplerate)
    edges = band_edges(samplerate, rows)
    matrix = np.zeros((freqs.size, rows), np.float32)
    for r in range(rows):
        inside = np.flatnonzero((freqs >= edges[r]) & (freqs < edges[r + 1]))
        if inside.size == 0:
            inside = np.array([np.argmin(np.abs(freqs - np.sqrt(edges[r] * edges[r + 1])))])
        matrix[inside, r] = 1.0 / inside.size
    return matrix


def band_power(signal: Gather, frames: int, samplerate: int, *, rows: int = ROWS,
               max_columns: int = MAX_COLUMNS) -> tuple[np.ndarray, float]:
    """Band power of a `frames`-long signal: ((rows, columns) float32, seconds per column)."""
    hop = max(FFT_SIZE // 4, int(np.ceil(frames / max_columns)))
    columns = max(1, int(np.ceil(frames / hop)))
    window = np.hanning(FFT_SIZE).astype(np.float32)
    matrix = _band_matrix(samplerate, rows)
    power = np.empty((columns, rows), np.float32)
    offsets = np.arange(FFT_SIZE)
    for c0 in range(0, columns, _BLOCK_COLUMNS):     # gathered block by block: no whole-song copy
        c1 = min(columns, c0 + _BLOCK_COLUMNS)
        centres = np.arange(c0, c1) * hop + hop // 2
        index = centres[:, None] - FFT_SIZE // 2 + offsets                  # (n, FFT_SIZE)
        block = np.asarray(signal(np.clip(index, 0, frames - 1)), np.float32)
        block[(index < 0) | (index >= frames)] = 0.0                        # outside the song
        spectrum = np.fft.rfft(block * window, axis=1)
        power[c0:c1] = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32) @ matrix
    return power.T.copy(), hop / samplerate


def to_image(power: np.ndarray, reference: float, seconds_per_column: float) -> Spectrogram:
    """Band `power` (rows, columns) as a Spectrogram in dB relative to `reference` (a power)."""
    db = 10.0 * np.log10(np.maximum(power, 1e-20) / max(reference, 1e-20))
    level = np.clip((db + RANGE_DB) / RANGE_DB, 0.0, 1.0)
    return Spectrogram(np.round(level * 255).astype(np.uint8), seconds_per_column)


def lane_spectrograms(lanes: dict[str, Gather], frames: int, samplerate: int,
                      reference_lane: str) -> dict[str, Spectrogram]:
    """Spectrograms of several `frames`-long lanes on the reference of `reference_lane`'s
    loudest band (that lane must be among them), so their brightness compares across lanes."""
    powers = {name: band_power(signal, frames, samplerate) for name, signal in lanes.items()}
    reference = float(powers[reference_lane][0].max())
    return {name: to_image(p, reference, hop) for name, (p, hop) in powers.items()}
