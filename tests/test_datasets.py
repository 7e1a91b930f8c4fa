"""Dataset layouts (MUSDB18-HQ, MUSDB18 .stem.mp4, named-file folders), streaming excerpts,
and the checker on generated songs and broken folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from model.augment import AugmentConfig
from model.cli import main as cli_main
from model.dataset_check import check_dataset
from model.datasets import (
    ExcerptDataset,
    StemMapping,
    discover_dataset,
    load_song,
    read_excerpt,
    read_stem,
)
from model.errors import DatasetError
from train_fixtures import SOURCES, make_musdb_hq, synth_stems, write_song

torch.set_num_threads(1)
SR = 44100


def test_musdb_hq_layout_and_splits(tmp_path):
    root = make_musdb_hq(tmp_path / "hq", n_train=3, n_valid=1, n_test=2, seconds=1.5)
    index = discover_dataset(root)
    assert index.layout == "musdb18hq"
    assert (len(index.train), len(index.valid), len(index.test)) == (3, 1, 2)
    song = index.train[0]
    assert song.samplerate == SR and abs(song.duration_seconds - 1.5) < 1e-3
    assert song.mixture is not None and song.missing == []
    assert index.describe()["train_songs"] == 3


def test_musdb_named_validation_tracks_are_held_out(tmp_path):
    for i, name in enumerate(["Leaf - Summerghost", "Some Band - Song", "Other Band - Tune"]):
        write_song(tmp_path / "train" / name, 1.2, seed=i)
    write_song(tmp_path / "test" / "Test Song", 1.2, seed=9)
    index = discover_dataset(tmp_path)
    assert [s.name for s in index.valid] == ["Leaf - Summerghost"]
    assert len(index.train) == 2
    # without named tracks: a held-out fraction
    (tmp_path / "train" / "Leaf - Summerghost").rename(tmp_path / "train" / "Renamed")
    index = discover_dataset(tmp_path, valid_fraction=0.34)
    assert len(index.valid) == 1 and len(index.train) == 2


def test_folders_with_arbitrary_names_and_missing_stem(tmp_path):
    song = tmp_path / "my song"
    song.mkdir(parents=True)
    stems = synth_stems(1.2, SR, seed=4)
    kick, snare = 0.5 * stems[0], 0.5 * stems[0][::-1]
    sf.write(song / "Kick In.wav", kick.T, SR, subtype="FLOAT")
    sf.write(song / "Snare Top.wav", snare.T, SR, subtype="FLOAT")
    sf.write(song / "Bass DI.wav", stems[1].T, SR, subtype="FLOAT")
    sf.write(song / "Guitar.flac", (0.5 * stems[2]).T, SR, subtype="PCM_24")
    sf.write(song / "Keys.wav", (0.5 * stems[2]).T, SR, subtype="FLOAT")
    sf.write(song / "Mix.wav", (kick + snare + stems[1] + stems[2]).T, SR, subtype="FLOAT")
    (song / "notes.txt").write_text("not audio")
    write_song(tmp_path / "second", 1.2, seed=5,
               names={"drums": "drums", "bass": "bass", "other": "pad", "vocals": "Lead Vox"})
    index = discover_dataset(tmp_path, valid_fraction=0.0)
    assert index.layout == "folders" and len(index.train) == 2
    mine = [s for s in index.train if s.name == "my song"][0]
    assert mine.missing == ["vocals"] and mine.mixture.path.name == "Mix.wav"
    assert sorted(r.path.name for r in mine.stems["drums"]) == ["Kick In.wav", "Snare Top.wav"]
    drums = read_stem(mine, "drums", 1000, 20000, SR)
    np.testing.assert_allclose(drums, (kick + snare)[:, 1000:21000], atol=1e-6)
    other = read_stem(mine, "other", 0, 5000, SR)
    np.testing.assert_allclose(other, stems[2][:, :5000], atol=1e-4)  # 24-bit flac + float
    vocals = read_stem(mine, "vocals", 0, 5000, SR)
    assert not vocals.any()  # missing stem = silent target
    second = [s for s in index.train if s.name == "second"][0]
    assert [r.path.name for r in second.stems["vocals"]] == ["Lead Vox.wav"]
    # user mapping: "Keys" becomes vocals; unmatched files dropped with "other="
    m = StemMapping.parse(["vocals=keys*", "other="])
    remapped = [s for s in discover_dataset(tmp_path, m, valid_fraction=0).train if s.name == "my song"][0]
    assert [r.path.name for r in remapped.stems["vocals"]] == ["Keys.wav"]
    assert remapped.stems["other"] == []


def test_bad_mapping_and_missing_folder_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="guitars"):
        StemMapping.parse(["guitars=gtr*"])
    with pytest.raises(DatasetError, match="not found"):
        discover_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no usable song"):
        discover_dataset(tmp_path / "empty")


def test_resampled_and_mono_files_are_read_at_the_model_rate(tmp_path):
    t = np.arange(22050) / 22050
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    song = tmp_path / "lofi"
    song.mkdir()
    sf.write(song / "vocals.wav", tone, 22050, subtype="FLOAT")  # mono, 22.05 kHz
    index = discover_dataset(tmp_path, valid_fraction=0)
    s = index.train[0]
    x = read_excerpt(s.stems["vocals"][0], 11025, 8820, SR)  # 0.25 s in, 0.2 s long
    assert x.shape == (2, 8820)
    np.testing.assert_array_equal(x[0], x[1])
    expected = 0.5 * np.sin(2 * np.pi * 440 * (np.arange(8820) + 11025) / SR)
    assert np.abs(x[0] - expected).max() < 0.01
    mix, stems = load_song(s, SOURCES, SR)
    assert stems.shape == (4, 2, 44100) and np.allclose(mix, stems.sum(0))


def _write_stem_mp4(path: Path, stems: np.ndarray) -> None:
    import av

    signals = [stems.sum(0)] + list(stems)  # musdb order: mixture, drums, bass, other, vocals
    with av.open(str(path), "w", format="mp4") as c:
        streams = [c.add_stream("aac", rate=SR, layout="stereo") for _ in signals]
        for st, x in zip(streams, signals):
            for i in range(0, x.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, i:i + 1024]), format="fltp",
                                                   layout="stereo")
                frame.sample_rate = SR
                for p in st.encode(frame):
                    c.mux(p)
            for p in st.encode(None):
                c.mux(p)


def test_musdb18_stem_mp4_streams(tmp_path):
    stems = synth_stems(1.5, SR, seed=2)
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        _write_stem_mp4(tmp_path / split / "Band - Song.stem.mp4", stems)
    index = discover_dataset(tmp_path)
    assert index.layout == "musdb18"
    song = index.test[0]
    assert song.name == "Band - Song" and song.mixture.stream == 0
    assert [song.stems[s][0].stream for s in SOURCES] == [1, 2, 3, 4]
    assert abs(song.duration_seconds - 1.5) < 0.1
    # a seeked excerpt of a stream holds that stem (PyAV's encoder writes no edit list, so the
    # decoded stream starts with the AAC encoder's 1024 priming samples)
    start, n = 30000, 20000
    x = read_excerpt(song.stems["other"][0], start + 1024, n, SR)
    assert x.shape == (2, n)
    assert np.corrcoef(x[0], stems[2][0, start:start + n])[0, 1] > 0.95
    assert abs(np.corrcoef(x[0], stems[1][0, start:start + n])[0, 1]) < 0.2
    # seeking gives what decoding from the start gives (up to AAC's noise substitution)
    whole = read_excerpt(song.stems["other"][0], 0, start + 1024 + n, SR)
    assert np.abs(whole[:, start + 1024:] - x).max() < 0.02


def test_excerpt_dataset_is_deterministic_and_streams_through_workers(tmp_path):
    root = make_musdb_hq(tmp_path, n_train=2, n_valid=0, n_test=0, seconds=1.5)
    index = discover_dataset(root, valid_fraction=0)
    ds = ExcerptDataset(index.train, SOURCES, SR, 11025, AugmentConfig(), seed=7)
    mix, stems = ds[3]
    assert mix.shape == (2, 11025) and stems.shape == (4, 2, 11025)
    assert torch.equal(mix, stems.sum(0))
    again, _ = ds[3]
    other, _ = ds[4]
    assert torch.equal(mix, again) and not torch.equal(mix, other)
    loader = DataLoader(ds, batch_size=2, sampler=[10, 11, 12, 13], num_workers=2)
    batches = list(loader)
    assert torch.equal(batches[1][0][1], ds[13][0])
    # eval mode: the same excerpt from the same song, never augmented
    plain = ExcerptDataset(index.train, SOURCES, SR, 11025, AugmentConfig(), seed=7, train=False)
    m, s = plain.example(0)
    k = int(np.argmax(plain.weights >= 0))
    assert np.abs(s).max() <= np.abs(load_song(index.train[k], SOURCES, SR)[1]).max() + 1e-6


# --------------------------------------------------------------------------- checker


def _broken_dataset(root: Path) -> Path:
    write_song(root / "good", 1.5, seed=1)
    write_song(root / "no vocals", 1.5, seed=2, skip=("vocals",))
    bad = root / "corrupt"
    bad.mkdir()
    (bad / "drums.wav").write_bytes(b"RIFF" + bytes(range(200)))
    (root / "empty folder").mkdir()
    write_song(root / "short", 0.3, seed=3)
    silent = root / "silent"
    silent.mkdir()
    for s in SOURCES:
        sf.write(silent / f"{s}.wav", np.zeros((66150, 2), np.float32), SR)
    loud = root / "clipped and mastered"
    stems = write_song(loud, 1.5, seed=4, mixture=False, subtype="PCM_16")
    sf.write(loud / "drums.wav", np.clip(stems[0] * 10, -1, 1).T, SR, subtype="PCM_16")
    sf.write(loud / "mixture.wav", (0.5 * stems.sum(0)).T, SR, subtype="FLOAT")
    return root


def test_checker_reports_each_problem_and_never_crashes(tmp_path):
    report = check_dataset(_broken_dataset(tmp_path / "data"))
    assert report.error is None
    by_name = {s.name: s for s in report.songs}
    assert set(by_name) == {"good", "no vocals", "corrupt", "empty folder", "short", "silent",
                            "clipped and mastered"}
    assert by_name["good"].usable and not by_name["good"].warnings
    assert by_name["good"].mixture_residual_db is None or by_name["good"].mixture_residual_db > 90
    assert by_name["no vocals"].usable and by_name["no vocals"].missing == ["vocals"]
    assert not by_name["corrupt"].usable and "drums.wav" in by_name["corrupt"].reasons[0]
    assert not by_name["empty folder"].usable and "no audio" in by_name["empty folder"].reasons[0]
    assert not by_name["short"].usable and "too short" in by_name["short"].reasons[0]
    assert not by_name["silent"].usable and "silent" in by_name["silent"].reasons[0]
    loud = by_name["clipped and mastered"]
    assert loud.usable and loud.stems["drums"].clipped_samples > 0
    assert loud.stems["bass"].clipped_samples == 0
    assert any("mixture ≠ sum" in w for w in loud.warnings)
    assert loud.mixture_residual_db < 10
    data = report.to_dict()
    json.dumps(data)  # serialisable
    assert data["usable_songs"] == 3 and data["unusable_songs"] == 4


def test_check_dataset_cli(tmp_path, capsys):
    root = _broken_dataset(tmp_path / "data")
    assert cli_main(["check-dataset", str(root)]) == 0
    text = capsys.readouterr().out
    assert "3 usable songs" in text and "UNUSABLE" in text and "too short" in text
    assert cli_main(["check-dataset", str(root), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["unusable_songs"] == 4
    assert cli_main(["check-dataset", str(tmp_path / "missing")]) == 1
    assert "not found" in capsys.readouterr().err
