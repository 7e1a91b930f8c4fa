"""A model with more stems than the default four (guitar and piano, which the synthetic corpus
renders separately): `stemdeck train --sources`, `check-dataset --sources`, and the Train tab
showing what such a run and such a dataset hold, with no stem names written into the GUI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model.cli import main as cli_main
from tests.train_fixtures import SOURCES, synth_stems

SIX = ("drums", "bass", "other", "vocals", "guitar", "piano")
SR = 44100


def write_six_stem_song(folder: Path, seed: int, seconds: float = 2.0) -> None:
    """drums/bass/other/vocals as in train_fixtures, plus a guitar (plucked 196 Hz) and a piano
    (decaying 523 Hz) stem; mixture.wav is their sum."""
    folder.mkdir(parents=True, exist_ok=True)
    four = synth_stems(seconds, SR, seed)
    t = np.arange(four.shape[-1]) / SR
    guitar = 0.2 * np.sin(2 * np.pi * 196 * t) * np.exp(-3 * (t % 0.5))
    piano = 0.15 * np.sin(2 * np.pi * 523.25 * t) * np.exp(-1.5 * (t % 1.0))
    extra = np.stack([np.stack([guitar, 0.8 * guitar]), np.stack([0.8 * piano, piano])]).astype(np.float32)
    stems = np.concatenate([four, extra])
    for name, stem in zip(SOURCES + ("guitar", "piano"), stems):
        sf.write(folder / f"{name}.wav", stem.T, SR, subtype="FLOAT")
    sf.write(folder / "mixture.wav", stems.sum(0).T, SR, subtype="FLOAT")


@pytest.fixture
def six_stem_data(tmp_path: Path) -> Path:
    root = tmp_path / "six"
    for i, split in enumerate(("train", "train", "train", "valid")):
        write_six_stem_song(root / split / f"{split} song {i}", seed=i)
    return root


@pytest.mark.slow
def test_train_with_sources_makes_a_six_stem_model(six_stem_data, tmp_path, capsys):
    from model.checkpoint import load_model

    out = tmp_path / "run"
    code = cli_main(["train", "--data", str(six_stem_data), "--out", str(out), "--from", "scratch", "--tiny",
                     "--sources", ",".join(SIX), "--steps", "2", "--batch", "2", "--segment", "0.5",
                     "--workers", "0", "--validate-every", "2", "--valid-seconds", "1.5",
                     "--progress", "json", "--name", "six"])
    assert code == 0, capsys.readouterr().err
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "start" and events[0]["sources"] == list(SIX)
    validation = [e for e in events if e["event"] == "validation"][-1]
    assert list(validation["sdr"]) == list(SIX)
    model, card = load_model(out / "six.safetensors")
    assert tuple(card.config.sources) == SIX
    separated = model(__import__("torch").zeros(1, 2, model.valid_length(SR)))
    assert separated.shape[1] == 6


def test_sources_are_checked_and_cannot_change_a_base_models_stems(six_stem_data, tmp_path, capsys):
    code = cli_main(["train", "--data", str(six_stem_data), "--out", str(tmp_path / "o"), "--from", "scratch",
                     "--tiny", "--sources", "drums,bass,drums", "--progress", "json"])
    assert code == 1
    assert "stem name(s) given twice: drums" in json.loads(capsys.readouterr().out.splitlines()[-1])["message"]

    from tests.gui_fixtures import install_untrained_tiny_model

    install_untrained_tiny_model("four", "untrained 4-stem test model")
    code = cli_main(["train", "--data", str(six_stem_data), "--out", str(tmp_path / "o2"), "--from", "four",
                     "--sources", ",".join(SIX), "--progress", "json", "--workers", "0"])
    assert code == 1
    message = json.loads(capsys.readouterr().out.splitlines()[-1])["message"]
    assert "separates drums, bass, other, vocals" in message and "--from scratch" in message


def test_check_dataset_with_sources_finds_guitar_and_piano(six_stem_data, capsys):
    assert cli_main(["check-dataset", str(six_stem_data), "--sources", ",".join(SIX), "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sources"] == list(SIX)
    assert all(list(song["stems"]) == list(SIX) for song in report["songs"])


@pytest.mark.gui
def test_train_tab_checks_and_shows_a_six_stem_model(qtbot, six_stem_data, tmp_path):
    """Fine-tuning an installed 6-stem model: the dataset is checked for its stems and the run's
    plots and before/after table show all six (events of a run replayed, as on resume)."""
    from app.trainer.trainer_tab import TrainerTab

    tab = TrainerTab(probe_environment=False)
    qtbot.addWidget(tab)
    tab._environment_ready({"models": [{"name": "base"}, {"name": "six", "sources": list(SIX)}],
                            "default": "six", "devices": []})
    assert tab.base_sources() == SIX
    with qtbot.waitSignal(tab.check.finished, timeout=120_000):
        tab.set_dataset(str(six_stem_data))
    found = {tab.report_view.table.item(r, 0).text(): tab.report_view.table.item(r, 2).text()
             for r in range(tab.report_view.table.rowCount())}
    assert set(found.values()) == {", ".join(SIX)}

    before = {s: 1.0 + i for i, s in enumerate(SIX)}
    after = {s: 2.0 + i for i, s in enumerate(SIX)}
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in (
        {"event": "start", "step": 0, "resumed": False, "base_model": "six", "sources": list(SIX)},
        {"event": "validation", "step": 0, "sdr": before},
        {"event": "validation", "step": 10, "sdr": after},
    )) + "\n", encoding="utf-8")
    view = tab.run_view
    view.reset(scratch=False)
    view.replay(events)
    assert list(view.sdr_curves) == list(SIX)
    assert set(view.sdr_points()) == set(SIX)
    view.done({"event": "done", "best_sdr": after, "best_step": 10, "model": "six.safetensors"})
    stems = [view.results_table.item(r, 0).text() for r in range(view.results_table.rowCount())]
    assert stems == list(SIX) + ["mean"]
