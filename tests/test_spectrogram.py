"""Spectrogram images of lanes (app/audio/spectrogram.py): frequency rows, time columns and one
level reference for every lane of a song."""

from __future__ import annotations

import numpy as np
import pytest

from app.audio.spectrogram import (FFT_SIZE, MAX_COLUMNS, RANGE_DB, ROWS, band_edges, band_power,
                                     lane_spectrograms, mono_of, residual_of)

SR = 44100


def tone(freq: float, seconds: float, start: float = 0.0, amplitude: float = 0.5) -> np.ndarray:
    """(2, frames) stereo sine that starts at `start` seconds (silence before)."""
    t = np.arange(int(seconds * SR)) / SR
    x = amplitude * np.sin(2 * np.pi * freq * t) * (t >= start)
    return np.stack([x, x]).astype(np.float32)


def band_of(freq: float) -> int:
    return int(np.searchsorted(band_edges(SR), freq) - 1)


@pytest.mark.parametrize("freq", [110.0, 1000.0, 6000.0])
def test_a_tone_lights_its_own_band_and_the_low_bands_are_at_row_0(freq):
    power, _ = band_power(mono_of(tone(freq, 1.0)), SR, SR)
    assert power.shape[0] == ROWS
    column = power[:, power.shape[1] // 2]
    loudest = np.flatnonzero(column >= 0.99 * column.max())   # narrow low bands share an FFT bin
    assert band_of(freq) in loudest
    centres = np.sqrt(band_edges(SR)[:-1] * band_edges(SR)[1:])
    assert np.all(np.abs(centres[loudest] - freq) < max(SR / FFT_SIZE, 0.03 * freq))


def test_columns_follow_time_and_the_image_spans_the_song():
    x = tone(1000.0, 2.0, start=1.0)
    images = lane_spectrograms({"original": mono_of(x)}, x.shape[-1], SR, "original")
    image = images["original"]
    assert image.duration_seconds == pytest.approx(2.0, abs=FFT_SIZE / 4 / SR)
    row = image.image[band_of(1000.0)]
    column_of = lambda seconds: int(seconds / image.seconds_per_column)  # noqa: E731
    assert row[: column_of(0.9)].max() == 0          # silence (windows end before 1 s)
    assert row[column_of(1.1): column_of(1.9)].min() == 255   # the tone, at the reference level


def test_lanes_share_the_original_reference_so_a_quieter_stem_is_darker():
    x = tone(1000.0, 1.0)
    quiet = x * 0.1                                  # -20 dB
    images = lane_spectrograms({"original": mono_of(x), "vocals": mono_of(quiet)}, x.shape[-1], SR,
                               "original")
    middle = images["original"].image.shape[1] // 2
    loud = int(images["original"].image[band_of(1000.0), middle])
    dark = int(images["vocals"].image[band_of(1000.0), middle])
    assert loud == 255
    assert loud - dark == pytest.approx(20 / RANGE_DB * 255, abs=2)


def test_residual_is_the_mixture_minus_the_stems():
    rng = np.random.default_rng(0)
    mixture = rng.standard_normal((2, SR)).astype(np.float32)
    stems = np.stack([mixture * 0.5, mixture * 0.3]).astype(np.float32)
    index = rng.integers(0, SR, (4, 16))
    expected = (mixture - stems.sum(axis=0)).mean(axis=0)[index]
    np.testing.assert_allclose(residual_of(mixture, stems)(index), expected, atol=1e-6)


def test_a_long_song_keeps_a_bounded_image():
    frames = 20 * 60 * 1000                          # 20 minutes at 1 kHz: cheap, many columns
    power, hop = band_power(lambda index: np.zeros(index.shape, np.float32), frames, 1000)
    assert power.shape[1] <= MAX_COLUMNS and power.shape[1] * hop >= frames / 1000
