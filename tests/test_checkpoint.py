"""Model files: round trips, fp16, and every kind of damaged file is refused with file + reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from model.checkpoint import FORMAT_VERSION, ModelCard, load_model, save_model
from model.config import tiny_config
from model.errors import ModelLoadError
from model.network import UnetSEBiSRU

torch.set_num_threads(1)


def _trained_looking_model(**overrides) -> UnetSEBiSRU:
    torch.manual_seed(0)
    model = UnetSEBiSRU(tiny_config(**overrides)).eval()
    with torch.no_grad():  # move weights away from their init so a wrong load shows
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


def _card(model: UnetSEBiSRU, **extra) -> ModelCard:
    return ModelCard(name="tiny", config=model.config, description="test model",
                     training={"steps": 3, "data": "synthetic"}, metrics={"sdr": 1.5}, **extra)


@pytest.fixture()
def saved(tmp_path) -> tuple[UnetSEBiSRU, Path]:
    model = _trained_looking_model()
    path = save_model(model, tmp_path / "tiny.safetensors", _card(model))
    return model, path


def _out(model, seed=1, length=1500):
    with torch.no_grad():
        return model(torch.randn(1, 2, length, generator=torch.Generator().manual_seed(seed)))


def test_round_trip_gives_identical_outputs_and_full_card(saved):
    model, path = saved
    loaded, card = load_model(path)
    assert torch.equal(_out(model), _out(loaded))
    assert not loaded.training
    assert card.name == "tiny" and card.config == model.config
    assert card.training == {"steps": 3, "data": "synthetic"} and card.metrics == {"sdr": 1.5}
    assert card.format_version == FORMAT_VERSION
    assert card.parameters == sum(p.numel() for p in model.parameters())
    assert len(card.sha256) == 64
    on_disk = json.loads(path.with_suffix(".json").read_text())
    assert on_disk["config"]["channels"] == model.config.channels
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.json", "tiny.safetensors"]  # no temp files


@pytest.mark.parametrize("variant", [dict(rnn="lstm"), dict(norm="batch"), dict(attention="none", rnn="gru")])
def test_round_trip_for_variants(tmp_path, variant):
    model = _trained_looking_model(**variant)
    path = save_model(model, tmp_path / "v.safetensors", _card(model))
    loaded, _ = load_model(path)
    assert torch.equal(_out(model), _out(loaded))


def test_half_precision_is_smaller_and_loads_as_float32_close(tmp_path):
    model = _trained_looking_model(channels=8)
    full = save_model(model, tmp_path / "full.safetensors", _card(model))
    half = save_model(model, tmp_path / "half.safetensors", _card(model), half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded, _ = load_model(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    ref, got = _out(model), _out(loaded)
    assert (got - ref).abs().max() <= 2e-2 * ref.abs().max()


def test_loading_never_uses_pickle(saved, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_model(saved[1])


def test_json_path_is_accepted_for_the_weights(saved):
    model, path = saved
    loaded, _ = load_model(path.with_suffix(".json"))
    assert torch.equal(_out(model), _out(loaded))


def _rewrite_card(path: Path, edit) -> None:
    card_path = path.with_suffix(".json")
    data = json.loads(card_path.read_text())
    edit(data)
    card_path.write_text(json.dumps(data))


def _fix_sha(path: Path) -> None:
    import hashlib

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _rewrite_card(path, lambda d: d.update(sha256=digest))


def _expect_refusal(path: Path, reason: str, names: Path | None = None) -> None:
    with pytest.raises(ModelLoadError) as info:
        load_model(path)
    message = str(info.value)
    assert str(names or path) in message, message
    assert reason in message, message


def test_missing_file_is_refused(tmp_path):
    _expect_refusal(tmp_path / "nothing.safetensors", "not found")


def test_missing_card_is_refused(saved):
    _, path = saved
    path.with_suffix(".json").unlink()
    _expect_refusal(path, "model card tiny.json is missing")


def test_truncated_file_is_refused(saved):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect_refusal(path, "sha256 mismatch")
    _fix_sha(path)  # even with a matching checksum, the file itself is refused
    _expect_refusal(path, "not a valid safetensors file")


def test_random_bytes_are_refused(saved):
    _, path = saved
    path.write_bytes(os.urandom(4096))
    _fix_sha(path)
    _expect_refusal(path, "not a valid safetensors file")


def test_sha_mismatch_is_refused(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40  # flip one bit inside the last tensor
    path.write_bytes(bytes(data))
    _expect_refusal(path, "sha256 mismatch")


def test_edited_card_config_is_refused(saved):
    _, path = saved
    _rewrite_card(path, lambda d: d["config"].update(normalize=False))  # same shapes, different net
    _expect_refusal(path, "does not match the weights' config (differs in: normalize)")


def test_invalid_card_config_is_refused(saved):
    _, path = saved
    _rewrite_card(path, lambda d: d["config"].update(rnn="transformer"))
    _expect_refusal(path, "rnn must be one of", names=path.with_suffix(".json"))


def test_card_that_is_not_json_is_refused(saved):
    _, path = saved
    path.with_suffix(".json").write_text("{not json")
    _expect_refusal(path, "not valid JSON", names=path.with_suffix(".json"))


def test_weights_of_another_shape_are_refused(tmp_path):
    small = _trained_looking_model(channels=4)
    wide = _trained_looking_model(channels=8)
    path = save_model(wide, tmp_path / "m.safetensors", _card(wide))
    # a card (and embedded config) claiming the small network over the wide weights
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in wide.state_dict().items()}
    save_file(state, str(path), metadata={"format": "pt"})
    _rewrite_card(path, lambda d: d.update(config=small.config.to_dict()))
    _fix_sha(path)
    _expect_refusal(path, "wrong shapes")


def test_missing_tensor_is_refused(saved):
    from safetensors.torch import load_file, save_file

    _, path = saved
    state = load_file(str(path))
    state.pop(sorted(state)[0])
    save_file(state, str(path), metadata={"format": "pt"})
    _fix_sha(path)
    _expect_refusal(path, "missing tensors")


def test_nan_weights_are_refused(saved):
    from safetensors.torch import load_file, save_file

    _, path = saved
    state = load_file(str(path))
    key = sorted(state)[0]
    state[key] = torch.full_like(state[key], float("nan"))
    save_file(state, str(path), metadata={"format": "pt"})
    _fix_sha(path)
    _expect_refusal(path, "NaN")


def test_newer_format_is_refused(saved):
    _, path = saved
    _rewrite_card(path, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    _expect_refusal(path, "newer StemDeck")


def test_saving_over_a_model_replaces_it_atomically(tmp_path):
    a = _trained_looking_model()
    b = _trained_looking_model(channels=6)
    path = save_model(a, tmp_path / "m.safetensors", _card(a))
    save_model(b, path, _card(b))
    loaded, card = load_model(path)
    assert card.config.channels == 6
    assert torch.equal(_out(b), _out(loaded))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]


def test_card_json_round_trip():
    model = _trained_looking_model()
    card = _card(model, sha256="ab" * 32, parameters=5)
    assert ModelCard.from_json(card.to_json()) == card


def test_same_weights_give_the_same_file(tmp_path):
    model = _trained_looking_model()
    a = save_model(model, tmp_path / "a.safetensors", _card(model))
    b = save_model(model, tmp_path / "b.safetensors", _card(model))
    assert a.read_bytes() == b.read_bytes()
