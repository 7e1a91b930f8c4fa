"""`stemdeck evaluate` on the shared real excerpts: a model's rows, baselines that make sense,
JSON/CSV files, and no silent overwrite."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from model.checkpoint import ModelCard, save_model
from model.cli import main as cli_main
from model.config import tiny_config
from model.evaluate import evaluate_dataset, song_sdr
from model.network import UnetSEBiSRU

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory):
    torch.manual_seed(0)
    model = UnetSEBiSRU(tiny_config())
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_model(model, path, ModelCard(name="tiny", config=model.config, description="untrained test net"))
    return path


def _saved_tiny(folder, name: str, seed: int, **config):
    """A tiny untrained network saved as folder/<name>.safetensors; returns the path."""
    torch.manual_seed(seed)
    net = UnetSEBiSRU(tiny_config(**config))
    path = folder / f"{name}.safetensors"
    save_model(net, path, ModelCard(name=name, config=net.config))
    return path


def _cli_evaluate(musdb_excerpts, model_path, option: str, other_path, out) -> int:
    return cli_main(["evaluate", "--model", str(model_path), option, str(other_path), "--data", str(musdb_excerpts),
                     "--max-seconds", "2", "--out", str(out), "--device", "cpu"])


def test_baselines_on_real_excerpts_are_sensible(musdb_excerpts):
    model = UnetSEBiSRU(tiny_config())
    report = evaluate_dataset(model, musdb_excerpts, baselines=True, model_rows=False, max_seconds=3.0)
    med = report.medians()
    assert set(med) == {"mixture", "scaled_mixture", "oracle_mask"}
    songs = {r["song"] for r in report.rows}
    assert len(songs) == 3
    for stem in ("drums", "bass", "other", "vocals"):
        mix, scaled, oracle = (med[m][stem]["sdr"] for m in ("mixture", "scaled_mixture", "oracle_mask"))
        assert mix < 0 < scaled < oracle, (stem, mix, scaled, oracle)
        assert oracle > 5
    # README of the excerpts: mixture scores about -3 to -7 dB as an estimate of a stem
    assert -9 < np.median([med["mixture"][s]["sdr"] for s in report.sources]) < -2


def test_cli_evaluate_writes_json_and_csv_and_refuses_overwrite(musdb_excerpts, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "report.json"
    args = ["evaluate", "--model", str(tiny_model_path), "--data", str(musdb_excerpts), "--max-seconds", "2",
            "--baselines", "--out", str(out), "--device", "cpu"]
    assert cli_main(args) == 0
    screen = capsys.readouterr().out
    assert "medians over 3 songs" in screen and "oracle_mask" in screen
    data = json.loads(out.read_text())
    assert data["model"]["name"] == "tiny"
    methods = {r["method"] for r in data["rows"]}
    assert methods == {"model", "mixture", "scaled_mixture", "oracle_mask"}
    assert len(data["rows"]) == 3 * 4 * 4
    assert "where the true stems went" in screen
    leakage = data["leakage"]
    assert set(leakage["per_song"]) == {r["song"] for r in data["rows"]}
    assert set(leakage["median"]) == set(data["sources"])
    assert all(np.shape(m) == (4, 4) for m in leakage["per_song"].values())
    for r in data["rows"]:
        assert r["sdr"] is None or math.isfinite(r["sdr"])
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert {"song", "method", "stem", "sdr", "sdr_global", "sir", "sar"} <= set(rows[0])
    assert any(r["song"] == "(median)" for r in rows)
    # an untrained network is no separator: far below the oracle
    model_vocals = data["medians"]["model"]["vocals"]["sdr"]
    assert model_vocals < data["medians"]["oracle_mask"]["vocals"]["sdr"] - 5
    before = out.read_text()
    assert cli_main(args) == 1
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == before


def test_song_sdr_leaves_out_missing_stems_and_applies_joint_silence():
    rng = np.random.default_rng(0)
    refs = rng.standard_normal((3, 2, 400)).astype(np.float32)
    refs[2] = 0.0  # a stem the song does not have
    refs[1, :, 100:200] = 0.0  # stem 1 silent in window 1
    est = refs + 0.1 * rng.standard_normal(refs.shape).astype(np.float32)
    sdr = song_sdr(refs, est, samplerate=100)
    assert math.isnan(sdr[2])
    assert np.isfinite(sdr[:2]).all()


def test_full_rows_carry_museval_sir_sar(musdb_excerpts):
    """--full wiring: museval's SIR/SAR land in the rows (its SDR = ours: test_metrics).
    (Two stems, half a second: museval's Gram matrices grow with stems², keep it cheap.)"""
    pytest.importorskip("scipy")
    import soundfile as sf

    from model.evaluate import _rows_for

    folder = musdb_excerpts / "test" / "Music Delta - 80s Rock"
    refs = np.stack([sf.read(folder / f"{s}.wav", frames=22050, dtype="float32")[0].T for s in ("drums", "vocals")])
    est = refs + 0.3 * refs[::-1]  # each estimate leaks the other stem
    rows = _rows_for("song", "leaky", ("drums", "vocals"), refs, est, 44100, full=True)
    for r in rows:
        assert math.isfinite(r["sir"]) and math.isfinite(r["sar"])
        assert r["sir"] < 30  # interference was put in
    plain = _rows_for("song", "leaky", ("drums", "vocals"), refs, est, 44100, full=False)
    assert all("sir" not in r for r in plain)


def test_cli_evaluate_compares_two_models_in_one_report(musdb_excerpts, tiny_model_path, tmp_path, capsys):
    """--compare: both models on the same songs and settings, one report with a row per model
    (an imported Demucs model, which has no SE layers, against a Unet-SE-BiSRU)."""
    other_path = _saved_tiny(tmp_path, "demucs_like", 1, attention="none", rnn="lstm", norm="none",
                             resample_filter="demucs", pad_context=True)
    assert _cli_evaluate(musdb_excerpts, tiny_model_path, "--compare", other_path, tmp_path / "both") == 0
    screen = capsys.readouterr().out
    assert "model tiny vs demucs_like" in screen
    assert "\ntiny " in screen and "\ndemucs_like " in screen  # a medians row per model
    data = json.loads((tmp_path / "both.json").read_text())
    assert set(data["medians"]) == {"tiny", "demucs_like"}
    assert len(data["rows"]) == 2 * 3 * 4
    assert data["settings"]["compared_with"]["name"] == "demucs_like"


def test_model_bag_averages_its_members_and_refuses_mismatched_stems():
    from model.bag import ModelBag
    from model.errors import StemDeckError

    torch.manual_seed(2)
    a = UnetSEBiSRU(tiny_config()).eval()
    b = UnetSEBiSRU(tiny_config(attention="none", rnn="lstm", norm="none", resample_filter="demucs",
                                pad_context=True)).eval()
    bag = ModelBag([a, b]).eval()
    x = torch.randn(1, 2, 3000)
    with torch.no_grad():
        assert torch.allclose(bag(x), (a(x) + b(x)) / 2, atol=1e-6)
    assert bag.valid_length(3000) == max(a.valid_length(3000), b.valid_length(3000))
    assert bag.config is a.config
    two = UnetSEBiSRU(tiny_config(sources=("vocals", "accompaniment")))
    with pytest.raises(StemDeckError, match="cannot bag first with second: different sources"):
        ModelBag([a, two], ["first", "second"])
    with pytest.raises(ValueError, match="at least two"):
        ModelBag([a])


def test_cli_evaluate_bag_scores_the_average_as_one_model(musdb_excerpts, tiny_model_path, tmp_path, capsys):
    other_path = _saved_tiny(tmp_path, "other", 3)
    assert _cli_evaluate(musdb_excerpts, tiny_model_path, "--bag", other_path, tmp_path / "bag") == 0
    assert "model tiny + other (bag) on" in capsys.readouterr().out
    data = json.loads((tmp_path / "bag.json").read_text())
    assert data["model"]["name"] == "tiny + other (bag)"
    assert [m["name"] for m in data["model"]["members"]] == ["tiny", "other"]
    assert len(data["rows"]) == 3 * 4 and set(data["medians"]) == {"model"}
    with pytest.raises(SystemExit, match="cannot be combined"):
        cli_main(["evaluate", "--model", str(tiny_model_path), "--bag", str(other_path), "--compare",
                  str(other_path), "--data", str(musdb_excerpts)])
