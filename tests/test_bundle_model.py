"""packaging/bundle_model.py: a training run becomes the bundled fp16 model with a card built from
the run's record, the corpus manifest, the evaluation reports and the base model's lineage."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

from model.checkpoint import ModelCard, load_model, save_model
from model.config import tiny_config
from model.network import UnetSEBiSRU

ROOT = Path(__file__).resolve().parents[1]


def _bundle_module():
    spec = importlib.util.spec_from_file_location("bundle_model", ROOT / "packaging" / "bundle_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundle_keeps_weights_and_records_corpus_evaluation_and_lineage(tmp_path):
    torch.manual_seed(0)
    net = UnetSEBiSRU(tiny_config())
    base = save_model(net, tmp_path / "base.safetensors", ModelCard(
        name="base", config=net.config, training={"best_step": 3000, "steps": 3000, "base_model": "scratch"}))
    run = save_model(net, tmp_path / "run" / "starter.safetensors", ModelCard(
        name="starter", config=net.config, training={"best_step": 9000, "steps": 11000, "base_model": "base"},
        metrics={"validation": {"mean_sdr": 3.5}}))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({
        "generator": "g", "generator_version": 1, "seed": 7, "samplerate": 44100,
        "splits": {"train": {"songs": 2, "hours": 0.01}},
        "songs": [{"genre": "rock", "parts": [{"stem": "vocals", "engine": "world"}]},
                  {"genre": "pop", "parts": [{"stem": "vocals", "engine": "formant"}]}],
        "voice_sources": [{"name": "v", "licence": "CC BY 4.0"}]}))
    report = tmp_path / "eval.json"
    report.write_text(json.dumps({
        "data": {"root": "excerpts", "test_songs": 3}, "settings": {"split": "all"},
        "medians": {"model": {s: {"sdr": v} for s, v in zip(("drums", "bass", "other", "vocals"), (8, 3, 2, 1))}},
        "rows": [{"song": "a", "method": "model", "stem": "drums", "sdr": 8.0}],
        "leakage": {"median": {"vocals": {"vocals": 0.3, "other": 0.2}}}}))
    out = tmp_path / "models"

    assert _bundle_module().main(["--weights", str(run), "--corpus", str(manifest), "--eval", f"real={report}",
                                  "--base-card", str(base.with_suffix(".json")), "--note", "heard",
                                  "--out", str(out)]) == 0

    model, card = load_model(out / "starter.safetensors")
    for got, want in zip(model.state_dict().values(), net.state_dict().values()):
        torch.testing.assert_close(got, want.half().float())  # stored as float16
    assert card.training["corpus"]["genres"] == {"rock": 1, "pop": 1}
    assert card.training["corpus"]["vocal_parts_by_engine"] == {"world": 1, "formant": 1}
    assert card.training["base"]["name"] == "base" and card.training["base"]["training"]["best_step"] == 3000
    assert "3000 steps, then continued for 9000 more (12000 in all)" in card.description
    # the card's step count is the lineage's, not the last run's own counter (11000)
    assert card.training["steps"] == 12000 and card.training["steps_by_stage"] == [3000, 9000]
    assert card.training["run_steps"] == 11000
    assert "vocals by re-pitched real voices, formant-synthesised voices" in card.description
    real = card.metrics["real"]
    assert real["mean_sdr_over_stems"] == 3.5
    assert real["where_true_stems_went"]["vocals"]["vocals"] == 0.3
    assert card.metrics["listening_notes"] == ["heard"]
    assert (out / "starter.safetensors").stat().st_size < run.stat().st_size


def test_a_run_continued_from_a_bundled_continuation_counts_every_stage(tmp_path):
    net = UnetSEBiSRU(tiny_config())
    bundled = save_model(net, tmp_path / "bundled.safetensors", ModelCard(
        name="starter", config=net.config,
        training={"best_step": 8000, "steps": 11000,
                  "base": {"name": "starter", "training": {"best_step": 3000, "steps": 3000}}}))
    run = save_model(net, tmp_path / "run" / "starter.safetensors", ModelCard(
        name="starter", config=net.config, training={"best_step": 6000, "steps": 10000}))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"splits": {}, "songs": []}))

    assert _bundle_module().main(["--weights", str(run), "--corpus", str(manifest),
                                  "--base-card", str(bundled.with_suffix(".json")),
                                  "--out", str(tmp_path / "models")]) == 0

    _, card = load_model(tmp_path / "models" / "starter.safetensors")
    assert "3000 steps, then continued for 8000 and 6000 more (17000 in all)" in card.description
    assert card.training["steps"] == 17000
    assert card.training["base"]["training"]["base"]["training"]["best_step"] == 3000


def test_a_run_from_scratch_counts_its_best_step(tmp_path):
    net = UnetSEBiSRU(tiny_config())
    run = save_model(net, tmp_path / "run" / "simple.safetensors", ModelCard(
        name="simple", config=net.config, training={"best_step": 4000, "steps": 4500}))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"splits": {}, "songs": [
        {"genre": "pop", "parts": [{"stem": "vocals", "engine": "fluidsynth"}]}]}))
    assert _bundle_module().main(["--weights", str(run), "--corpus", str(manifest),
                                  "--out", str(tmp_path / "models")]) == 0
    _, card = load_model(tmp_path / "models" / "simple.safetensors")
    assert card.training["steps"] == 4000 and card.training["run_steps"] == 4500
    assert "trained from scratch for 4000 steps" in card.description
    assert "vocals by General MIDI voice patches" in card.description
