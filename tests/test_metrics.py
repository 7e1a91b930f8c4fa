"""Built-in SDR against museval (BSS Eval v4) on real MUSDB18-HQ excerpts, and the baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from model.config import SOURCES
from model.metrics import (
    stem_leakage,
    bss_eval_full,
    load_museval_metrics,
    mixture_baseline,
    oracle_mask_baseline,
    scaled_mixture_baseline,
    sdr_frames,
    sdr_framewise,
    sdr_framewise_stems,
    sdr_global,
)

SR = 44100


def _load_song(folder, seconds: float):
    n = int(seconds * SR) + 777  # a partial last window, which museval drops
    mix = sf.read(folder / "mixture.wav", frames=n, dtype="float32", always_2d=True)[0].T
    refs = np.stack(
        [sf.read(folder / f"{s}.wav", frames=n, dtype="float32", always_2d=True)[0].T for s in SOURCES]
    )
    return mix, refs


def _museval_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """museval.evaluate(mode='v4', win=hop=1 s) for one stem, median over windows."""
    bss = load_museval_metrics()
    sdr, _, _, _, _ = bss.bss_eval(
        ref.T[None].astype(np.float64),  # museval wants (sources, frames, channels)
        est.T[None].astype(np.float64),
        window=SR, hop=SR, compute_permutation=False, framewise_filters=False,
        bsseval_sources_version=False,
    )
    return float(np.nanmedian(sdr[0]))


@pytest.mark.slow
def test_sdr_framewise_equals_museval_on_real_excerpts(musdb_excerpts):
    pytest.importorskip("scipy")
    songs = sorted(p for p in (musdb_excerpts / "test").iterdir() if p.is_dir())
    assert len(songs) >= 2
    checked = 0
    for song in songs[:2]:
        mix, refs = _load_song(song, 2.0)
        estimates = {"oracle": oracle_mask_baseline(mix, refs)}
        if song == songs[0]:
            estimates["mixture"] = mixture_baseline(mix, len(SOURCES))
        for name, est in estimates.items():
            for j, stem in enumerate(SOURCES):
                ours = sdr_framewise(refs[j], est[j], SR)
                theirs = _museval_sdr(refs[j], est[j])
                assert abs(ours - theirs) < 0.01, (song.name, name, stem, ours, theirs)
                checked += 1
    assert checked == 12


def test_bss_eval_full_gives_sir_sar(musdb_excerpts):
    pytest.importorskip("scipy")
    mix, refs = _load_song(musdb_excerpts / "test" / "Music Delta - 80s Rock", 1.0)
    est = oracle_mask_baseline(mix, refs)
    n = SR // 2  # two stems, half a second: museval's cost grows with stems squared
    refs, est = refs[[0, 3], :, :n], est[[0, 3], :, :n]
    full = bss_eval_full(refs, est, SR)
    assert set(full) == {"sdr", "isr", "sir", "sar"}
    ours = np.array([sdr_framewise(refs[j], est[j], SR) for j in range(2)])
    np.testing.assert_allclose(full["sdr"], ours, atol=0.01)
    assert np.all(full["sir"] > full["sdr"] - 0.01)  # SIR ignores artefacts


def test_silent_windows_are_skipped_and_all_silent_is_nan():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((2, 3 * 100)).astype(np.float32)
    ref[:, 100:200] = 0.0  # second window silent in the reference
    est = ref + 0.1 * rng.standard_normal(ref.shape).astype(np.float32)
    frames = sdr_frames(ref, est, samplerate=100)
    assert np.isnan(frames[1]) and np.isfinite(frames[[0, 2]]).all()
    assert 15 < sdr_framewise(ref, est, 100) < 25  # noise 20 dB below the signal
    assert math.isnan(sdr_framewise(np.zeros((2, 300)), est, 100))
    # museval's joint rule: a silent stem blanks that window for every stem
    refs = np.stack([ref, rng.standard_normal((2, 300))])
    ests = np.stack([est, refs[1] * 0.5])
    joint = sdr_framewise_stems(refs, ests, 100)
    alone = sdr_framewise_stems(refs, ests, 100, joint_silence=False)
    assert joint[0] == pytest.approx(alone[0])
    assert np.isfinite(joint).all()


def test_sdr_global_mdx_definition_and_perfect_estimate():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((2, 1000))
    est = ref + 0.01 * rng.standard_normal((2, 1000))
    expected = 10 * np.log10((np.sum(ref**2) + 1e-7) / (np.sum((ref - est) ** 2) + 1e-7))
    assert sdr_global(ref, est) == pytest.approx(expected)
    assert sdr_global(ref, ref) > 90  # only the 1e-7 limits it
    assert sdr_global(np.zeros((2, 10)), np.zeros((2, 10))) == pytest.approx(0.0)


def test_baselines_are_ordered_mixture_below_scaled_below_oracle(musdb_excerpts):
    mix, refs = _load_song(musdb_excerpts / "test" / "Mu - Too Bright", 3.0)
    per = {}
    for name, est in {
        "mixture": mixture_baseline(mix, 4),
        "scaled": scaled_mixture_baseline(mix, refs),
        "oracle": oracle_mask_baseline(mix, refs),
    }.items():
        assert est.shape == refs.shape
        per[name] = np.array([sdr_framewise(refs[j], est[j], SR) for j in range(4)])
    assert np.median(per["mixture"]) < 0  # the mixture is a poor estimate of any stem
    assert np.median(per["scaled"]) > np.median(per["mixture"]) + 1
    assert np.all(per["oracle"] > per["scaled"] + 3)


def test_stem_leakage_recovers_a_known_mixing_of_the_references():
    rng = np.random.default_rng(3)
    refs = rng.standard_normal((4, 2, 5000)).astype(np.float32)
    mixing = np.array([[1.0, 0.0, 0.0, 0.0],
                       [0.1, 0.8, 0.0, 0.0],
                       [0.0, 0.0, 0.9, 0.4],   # half the vocals landed in "other"
                       [0.0, 0.0, 0.0, 0.2]])
    est = np.einsum("ji,ict->jct", mixing, refs)
    np.testing.assert_allclose(stem_leakage(refs, est), mixing, atol=1e-5)


def test_stem_leakage_gives_a_silent_reference_a_zero_column():
    rng = np.random.default_rng(4)
    refs = rng.standard_normal((4, 2, 3000))
    refs[3] = 0.0
    leak = stem_leakage(refs, refs.copy())
    np.testing.assert_allclose(leak[:, :3], np.eye(4)[:, :3], atol=1e-9)
    assert not leak[:, 3].any()
