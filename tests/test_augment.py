"""Augmentations: the training mixture is always the sum of the augmented stems; eval mode does nothing."""

from __future__ import annotations

import numpy as np
import pytest

from model.augment import (
    AugmentConfig,
    augment_stems,
    centre_crop,
    change_speed,
    random_shift,
    remix_song_indices,
)
from train_fixtures import synth_stems


@pytest.fixture
def stems() -> np.ndarray:
    return synth_stems(0.5, samplerate=8000, seed=1)  # (4, 2, 4000)


def test_training_mixture_is_sum_of_augmented_stems(stems):
    cfg = AugmentConfig(shift_seconds=0.0)
    segment = 3000
    for seed in range(20):
        out, mix = augment_stems(stems, segment, np.random.default_rng(seed), cfg)
        assert out.shape == (4, 2, segment) and mix.shape == (2, segment)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(mix, out.sum(axis=0))
        # the stems really were changed (gain/sign/swap), not just cropped
        assert not np.allclose(out, centre_crop(stems, segment)) or seed == 0


def test_each_augmentation_does_what_it_says():
    stems = synth_stems(0.2, samplerate=8000, seed=2)  # (4, 2, 1600)
    segment = 1550
    shift = (stems.shape[-1] - segment) / 8000
    gains, flips, swaps = [], 0, 0
    for seed in range(40):
        out, _ = augment_stems(stems, segment, np.random.default_rng(seed), AugmentConfig(shift_seconds=shift))
        for j in range(4):
            # find where this stem was cut from (random shift), then compare shapes
            best = None
            for o in range(0, stems.shape[-1] - segment + 1):
                src = stems[j, :, o:o + segment]
                for swapped in (False, True):
                    s = src[::-1] if swapped else src
                    g = float(np.sum(out[j] * s) / np.sum(s * s))
                    err = float(np.abs(out[j] - g * s).max())
                    if best is None or err < best[0]:
                        best = (err, g, swapped, o)
                if best[0] < 1e-5:
                    break
            err, g, swapped, _ = best
            assert err < 1e-5  # a shifted, scaled, maybe flipped, maybe swapped copy
            gains.append(abs(g))
            flips += g < 0
            swaps += swapped
    gains = np.array(gains)
    assert gains.min() >= 0.25 - 1e-4 and gains.max() <= 1.25 + 1e-4
    assert gains.std() > 0.1
    assert 30 < flips < 130 and 30 < swaps < 130  # ~half of 160


def test_random_shift_cuts_each_stem_at_its_own_offset():
    x = np.tile(np.arange(100, dtype=np.float32), (3, 2, 1))
    offsets = set()
    for seed in range(10):
        out = random_shift(x, 60, np.random.default_rng(seed))
        for j in range(3):
            start = int(out[j, 0, 0])
            np.testing.assert_array_equal(out[j, 0], np.arange(start, start + 60))
            offsets.add(start)
    assert len(offsets) > 5 and max(offsets) <= 40


def test_eval_mode_changes_nothing_and_draws_no_randomness(stems):
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    out, mix = augment_stems(stems, 3000, rng, AugmentConfig(), train=False)
    assert rng.bit_generator.state == state
    np.testing.assert_array_equal(out, stems[:, :, 500:3500])
    np.testing.assert_array_equal(mix, out.sum(0))
    off, _ = augment_stems(stems, 3000, np.random.default_rng(1), AugmentConfig.off(), train=True)
    np.testing.assert_array_equal(off, out)


def test_remix_picks_songs_per_stem_with_the_given_probability():
    weights = np.array([1.0, 1.0, 1.0, 1.0])
    same = [remix_song_indices(np.random.default_rng(s), 4, weights, 0.0) for s in range(50)]
    assert all(len(set(x.tolist())) == 1 for x in same)
    mixed = [remix_song_indices(np.random.default_rng(s), 4, weights, 1.0) for s in range(50)]
    assert sum(len(set(x.tolist())) > 1 for x in mixed) > 40
    skewed = np.concatenate([remix_song_indices(np.random.default_rng(s), 4, np.array([9.0, 1.0]), 1.0)
                             for s in range(100)])
    assert 0.8 < np.mean(skewed == 0) < 0.97  # songs drawn by length


@pytest.mark.parametrize("factor", [0.92, 1.08])
def test_varispeed_moves_pitch_and_length_together(factor):
    sr = 8000
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 500 * t).astype(np.float32)
    stems = np.stack([np.stack([tone, tone]), np.stack([0.5 * tone, tone])])       # (2, 2, sr)
    out = change_speed(stems, factor)
    assert out.shape[:2] == (2, 2)
    assert out.shape[-1] == pytest.approx(sr / factor, abs=1)
    spectrum = np.abs(np.fft.rfft(out[0, 0] * np.hanning(out.shape[-1])))
    peak_hz = np.argmax(spectrum) * sr / out.shape[-1]
    assert peak_hz == pytest.approx(500 * factor, abs=2)
    np.testing.assert_allclose(out[1, 0], 0.5 * out[0, 0], atol=1e-5)   # every stem alike


def test_varispeed_examples_keep_the_segment_and_the_exact_sum(stems):
    cfg = AugmentConfig(shift_seconds=0.0, speed_probability=1.0)
    segment = 3000
    read = cfg.read_frames(segment, 8000)
    assert read >= segment * (1 + cfg.speed_range)
    long_stems = np.concatenate([stems, stems], axis=-1)[..., :read]
    plain = AugmentConfig(shift_seconds=0.0)
    for seed in range(10):
        out, mix = augment_stems(long_stems, segment, np.random.default_rng(seed), cfg)
        assert out.shape == (4, 2, segment)
        np.testing.assert_array_equal(mix, out.sum(axis=0))
        unsped, _ = augment_stems(long_stems, segment, np.random.default_rng(seed), plain)
        assert not np.allclose(out, unsped)
    # off by default, and off() turns it off: no extra frames read
    assert AugmentConfig().read_frames(segment, 8000) == segment + AugmentConfig().shift_frames(8000)
    assert AugmentConfig.off().read_frames(segment, 8000) == segment
