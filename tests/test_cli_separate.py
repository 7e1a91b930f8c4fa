"""`stemdeck separate` / `stemdeck info` end to end with a tiny (random, untrained) UnetSEBiSRU.

The network's weights are random: these tests check files, lengths, rates, selection, messages
and exit codes, never separation quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from model.cli import main

RATE = 22050  # source files are not at the model rate: exercises resampling both ways


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("stemdeck_home")
    monkeypatch.setenv("STEMDECK_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    old = torch.get_num_threads()
    yield home
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory) -> Path:
    from model.checkpoint import ModelCard, save_model
    from model.config import tiny_config
    from model.network import UnetSEBiSRU

    torch.manual_seed(0)
    config = tiny_config(segment_seconds=1.0)
    net = UnetSEBiSRU(config)
    card = ModelCard(name="tiny-test", config=config, description="random weights, for tests only")
    path = tmp_path_factory.mktemp("models") / "tiny-test.safetensors"
    return save_model(net, path, card)


def _song(path: Path, seconds: float = 1.3, rate: int = RATE, seed: int = 0, subtype="PCM_16") -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack([left, right], axis=1).astype(np.float32), rate, subtype=subtype)
    return path


def test_batch_with_folder_and_bad_file(tmp_path, tiny_model_path, capsys):
    songs = tmp_path / "songs"
    a = _song(songs / "a.wav", seconds=1.3)
    b = _song(songs / "sub" / "b.flac", seconds=0.7, rate=48000, seed=1)
    bad = songs / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 4)
    out = tmp_path / "out"
    code = main(["separate", str(songs), "-o", str(out), "--model", str(tiny_model_path), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 1
    bad_lines = [line for line in captured.err.splitlines() if "broken.wav" in line]
    assert len(bad_lines) == 1 and bad_lines[0].startswith(str(bad) + ": ")
    assert "Traceback" not in captured.err
    for song, track in ((a, "a"), (b, "sub/b")):  # the input tree is kept
        info = sf.info(song)
        for stem in ("drums", "bass", "other", "vocals"):
            written = sf.info(out / track / f"{stem}.wav")
            assert written.frames == info.frames and written.samplerate == info.samplerate
            assert written.channels == 2
        line = next(line for line in captured.out.splitlines() if line.startswith(str(song)))
        assert "separated on cpu" in line and str(out / track / "vocals.wav") in line
    assert sf.info(out / "a" / "drums.wav").subtype == "PCM_16"  # like the source
    assert not (out / "broken").exists()
    assert "2 of 3 input(s) separated, 1 failed" in captured.err
    assert "a.wav: writing 4 file(s)" in captured.err and "100%" in captured.err  # encoding progress


def _count_separations(monkeypatch) -> list[str]:
    """Records every song the engine's Separator separates."""
    from model.separate import Separator

    calls: list[str] = []
    real = Separator.separate

    def counting(self, samples, *args, **kwargs):
        calls.append(samples.shape)
        return real(self, samples, *args, **kwargs)

    monkeypatch.setattr(Separator, "separate", counting)
    return calls


def test_same_file_name_in_sub_folders_gives_distinct_outputs(tmp_path, tiny_model_path, capsys, monkeypatch):
    # the shell's */mixture.wav: three files all called mixture.wav
    lengths = {"Song A": 0.6, "Song B": 0.9, "Song C": 1.2}
    songs = [_song(tmp_path / "tree" / name / "mixture.wav", seconds=sec, seed=i)
             for i, (name, sec) in enumerate(lengths.items())]
    monkeypatch.chdir(tmp_path)
    code = main(["separate", *map(str, songs), "-o", "out", "--model", str(tiny_model_path), "--stems", "vocals"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for song, name in zip(songs, lengths):
        written = sf.info(tmp_path / "out" / name / "mixture" / "vocals.wav")
        assert written.frames == sf.info(song).frames
    assert "3 of 3 input(s) separated" in captured.err
    # a whole folder given keeps its sub-folders the same way
    assert main(["separate", "tree", "-o", "out2", "--model", str(tiny_model_path), "--stems", "vocals"]) == 0
    assert sorted(p.parent.parent.name for p in (tmp_path / "out2").rglob("vocals.wav")) == list(lengths)


def test_colliding_template_is_refused_before_any_separation(tmp_path, tiny_model_path, capsys, monkeypatch):
    songs = [_song(tmp_path / name / "mixture.wav", seed=i) for i, name in enumerate(("x", "y"))]
    calls = _count_separations(monkeypatch)
    out = tmp_path / "out"
    code = main(["separate", *map(str, songs), "-o", str(out), "--model", str(tiny_model_path),
                 "--template", "{track}/{stem}.{ext}"])
    err = capsys.readouterr().err
    assert code == 1 and calls == []
    assert str(songs[0]) in err and str(songs[1]) in err and "{relpath}" in err and "nothing was done" in err
    assert "Traceback" not in err
    assert not out.exists()
    # {parent} tells them apart
    assert main(["separate", *map(str, songs), "-o", str(out), "--model", str(tiny_model_path),
                 "--template", "{parent}-{track}/{stem}.{ext}", "--stems", "bass"]) == 0
    assert (out / "x-mixture" / "bass.wav").exists() and (out / "y-mixture" / "bass.wav").exists()


def test_skip_existing_writes_only_missing_files(tmp_path, tiny_model_path, capsys, monkeypatch):
    one = _song(tmp_path / "in" / "one.wav", seed=1)
    two = _song(tmp_path / "in" / "two.wav", seconds=0.8, seed=2)
    out = tmp_path / "out"
    args = ["separate", str(tmp_path / "in"), "-o", str(out), "--model", str(tiny_model_path),
            "--stems", "bass,vocals"]
    assert main(args) == 0
    (out / "one" / "bass.wav").write_bytes(b"kept as it is")
    (out / "one" / "vocals.wav").unlink()
    capsys.readouterr()
    calls = _count_separations(monkeypatch)
    assert main(args + ["--skip-existing"]) == 0
    captured = capsys.readouterr()
    assert len(calls) == 1  # 'two' has every output already: not separated again
    assert (out / "one" / "bass.wav").read_bytes() == b"kept as it is"
    assert sf.info(out / "one" / "vocals.wav").frames == sf.info(one).frames
    assert "1 of 2 input(s) separated, 1 skipped" in captured.err
    assert f"{two}: skipped" in captured.out
    with pytest.raises(SystemExit):  # argparse: not allowed together
        main(args + ["--skip-existing", "--overwrite"])


def test_output_folder_defaults_to_separated(tmp_path, tiny_model_path, capsys, monkeypatch):
    song = _song(tmp_path / "song.wav")
    monkeypatch.chdir(tmp_path)
    assert main(["separate", "song.wav", "--model", str(tiny_model_path), "--stems", "drums"]) == 0
    assert sf.info(tmp_path / "separated" / "song" / "drums.wav").frames == sf.info(song).frames


def test_stems_mix_and_exact_sum(tmp_path, tiny_model_path, capsys):
    # at the model's rate (no resampling), so the null test is exact up to float rounding
    song = _song(tmp_path / "song.wav", rate=44100, subtype="FLOAT")
    out = tmp_path / "out"
    code = main([
        "separate", str(song), "-o", str(out), "--model", str(tiny_model_path),
        "--stems", "vocals", "--mix", "backing=drums+bass+other", "--exact-sum", "other",
        "--bit-depth", "32", "--template", "{track}-{model}/{stem}.{ext}",
    ])
    assert code == 0, capsys.readouterr().err
    folder = out / "song-tiny-test"
    assert sorted(p.name for p in folder.iterdir()) == ["backing.wav", "vocals.wav"]
    vocals, rate = sf.read(folder / "vocals.wav", dtype="float32")
    backing, _ = sf.read(folder / "backing.wav", dtype="float32")
    mixture, _ = sf.read(song, dtype="float32")
    assert rate == 44100 and vocals.shape == mixture.shape
    # stems forced to sum to the input: the two outputs null against the original
    np.testing.assert_allclose(vocals + backing, mixture, atol=1e-5)
    assert np.abs(vocals).max() > 1e-3  # and neither output is trivially empty


def test_existing_outputs_are_kept_without_overwrite(tmp_path, tiny_model_path, capsys):
    song = _song(tmp_path / "keep.wav")
    out = tmp_path / "out"
    args = ["separate", str(song), "-o", str(out), "--model", str(tiny_model_path), "--stems", "bass"]
    assert main(args) == 0
    target = out / "keep" / "bass.wav"
    target.write_bytes(b"user's own file")
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert target.read_bytes() == b"user's own file"
    assert main(args + ["--overwrite"]) == 0
    assert sf.info(target).frames == sf.info(song).frames


def test_unknown_stem_and_missing_input(tmp_path, tiny_model_path, capsys):
    song = _song(tmp_path / "x.wav")
    assert main(["separate", str(song), "-o", str(tmp_path / "o"), "--model", str(tiny_model_path),
                 "--stems", "guitar"]) == 1
    err = capsys.readouterr().err
    assert "guitar" in err and "drums, bass, other, vocals" in err
    assert main(["separate", str(tmp_path / "nope.wav"), str(song), "-o", str(tmp_path / "o"),
                 "--model", str(tiny_model_path), "--shifts", "2", "--segment", "0.5", "--overlap", "0.5",
                 "--precision", "fp32"]) == 1
    err = capsys.readouterr().err
    assert "nope.wav: no such file or folder" in err
    assert (tmp_path / "o" / "x" / "vocals.wav").exists()  # the good file still ran


def test_without_an_installed_model_says_so(tmp_path, capsys, monkeypatch):
    from model import model_store

    monkeypatch.setattr(model_store, "bundled_models_dir", lambda: tmp_path / "no-bundled")
    song = _song(tmp_path / "s.wav")
    assert main(["separate", str(song), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "no model is installed" in err
    assert not (tmp_path / "o").exists()


def test_unavailable_device_is_an_error_before_any_work(tmp_path, tiny_model_path, capsys):
    song = _song(tmp_path / "s.wav")
    code = main(["separate", str(song), "-o", str(tmp_path / "o"), "--model", str(tiny_model_path),
                 "--device", "cuda:9"])
    assert code == 1
    assert "not available; available: cpu" in capsys.readouterr().err


def test_musdb_excerpt(musdb_excerpts, tmp_path, tiny_model_path, capsys):
    song = sorted((musdb_excerpts / "test").iterdir())[0] / "mixture.wav"
    out = tmp_path / "out"
    assert main(["separate", str(song), "-o", str(out), "--model", str(tiny_model_path),
                 "--format", "flac", "--template", "{stem}.{ext}"]) == 0
    source = sf.info(song)
    for stem in ("drums", "bass", "other", "vocals"):
        info = sf.info(out / f"{stem}.flac")
        assert (info.frames, info.samplerate, info.subtype) == (source.frames, source.samplerate, "PCM_16")


def test_info_lists_versions_devices_and_models(tiny_model_path, capsys, monkeypatch):
    from model import model_store

    installed = model_store.install_model(tiny_model_path)
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    for label in ("StemDeck:", "torch:", "CUDA:", "MPS:", "numpy:", "libsndfile", "soxr:", "PyAV:", "devices:"):
        assert label in text
    assert "  cpu " in text and "GiB" in text
    assert installed.name in text and "parameters" in text and "44100 Hz" in text


def test_quality_presets_are_the_apps(tmp_path, tiny_model_path, capsys, monkeypatch):
    """`--quality fast|balanced|best` separates with the presets the app's quality box offers;
    --shifts/--overlap override the preset; balanced is the default."""
    from app.settings import QUALITY_PRESETS as APP_PRESETS
    from model.separate import Separator
    from model.separation_settings import QUALITY_PRESETS

    assert APP_PRESETS is QUALITY_PRESETS
    used = []
    real = Separator.separate
    monkeypatch.setattr(Separator, "separate", lambda self, *a, **k: (used.append(self.settings),
                                                                       real(self, *a, **k))[1])
    song = _song(tmp_path / "song.wav")
    runs = {"default": [], "fast": ["--quality", "fast"], "best": ["--quality", "best"],
            "best, 2 shifts": ["--quality", "best", "--shifts", "2"]}
    for name, extra in runs.items():
        args = ["separate", str(song), "-o", str(tmp_path / name), "--model", str(tiny_model_path)]
        assert main(args + extra) == 0, capsys.readouterr().err
    assert [(s.shifts, s.overlap) for s in used] == [(1, 0.25), (1, 0.1), (4, 0.5), (2, 0.5)]
    assert main(["separate", str(song), "--quality", "best", "--overlap", "1.5"]) == 1
    assert "overlap must be in [0, 1)" in capsys.readouterr().err
