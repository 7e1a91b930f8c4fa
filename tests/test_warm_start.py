"""`stemdeck train --init-from`: a Unet-SE-BiSRU started from an SE-less network (an imported
Demucs model) computes the source's function at step 0."""

from __future__ import annotations

import torch

from model.config import tiny_config
from model.network import UnetSEBiSRU, se_layers
from model.warm_start import warm_start


def _demucs_like(seed: int = 0, **overrides) -> UnetSEBiSRU:
    """What import-demucs produces (random weights, tiny): LSTM bottleneck, no SE, no norm."""
    torch.manual_seed(seed)
    cfg = tiny_config(rnn="lstm", attention="none", norm="none", resample=True, resample_filter="demucs",
                      pad_context=True, rescale=0.0, **overrides)
    net = UnetSEBiSRU(cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


def _run(net: UnetSEBiSRU, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.eval()(x)


def test_mapped_lstm_reproduces_the_source_exactly():
    source = _demucs_like()
    warm = warm_start(source, rnn="lstm")
    assert len(se_layers(warm)) == 2 * source.config.depth
    x = torch.randn(2, 2, 20000)
    want, got = _run(source, x), _run(warm, x)
    assert want.abs().max() > 0.01
    assert (got - want).abs().max().item() < 1e-5


def test_new_bisru_with_bottlenecks_bypassed_reproduces_the_source():
    source = _demucs_like()
    warm = warm_start(source, rnn="sru")
    assert warm.config.rnn == "sru" and warm.config.attention == "se"
    x = torch.randn(1, 2, 20000)
    with_sru = _run(warm, x)
    source.bottleneck = warm.bottleneck = None  # bypass both
    want, got = _run(source, x), _run(warm, x)
    assert (got - want).abs().max().item() < 1e-5
    assert (with_sru - want).abs().max().item() > 1e-4  # the new BiSRU does change the output


def test_se_blocks_learn_from_the_first_step():
    warm = warm_start(_demucs_like(), rnn="sru")
    x = torch.randn(1, 2, 20000)
    warm(x).square().mean().backward()
    grads = [se.fc2.bias.grad.abs().sum().item() for _, se in se_layers(warm)]  # per-channel gains
    assert min(grads) > 0


def test_train_init_from_an_installed_import(tmp_path, monkeypatch):
    """End to end: an installed SE-less model -> `train --init-from` -> the run's model card
    records the warm start and the trained network has SE layers and a BiSRU."""
    from tests.train_fixtures import make_musdb_hq
    from model.checkpoint import ModelCard, load_model, save_model
    from model.cli import main

    monkeypatch.setenv("STEMDECK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STEMDECK_BUNDLED_MODELS", str(tmp_path / "none"))
    source = _demucs_like(segment_seconds=0.5)
    save_model(source, tmp_path / "home" / "models" / "imported.safetensors",
               ModelCard(name="imported", config=source.config))
    data = make_musdb_hq(tmp_path / "data", n_train=2, n_valid=1, n_test=0, seconds=1.0)
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--init-from", "imported",
                 "--steps", "2", "--batch", "1", "--segment", "0.5", "--workers", "0", "--validate-every", "0",
                 "--progress", "none", "--device", "cpu"])
    assert code == 0
    model, card = load_model(next((tmp_path / "run").glob("*.safetensors")))
    assert model.config.attention == "se" and model.config.rnn == "sru"
    assert card.training["base_model"] == "imported" or "imported" in str(card.training)
