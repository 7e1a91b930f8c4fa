"""UnetSEBiSRU: shapes for any length and every variant, length maths, resampling, SE recording."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.config import ModelConfig, tiny_config
from model.network import (
    UnetSEBiSRU,
    downsample2,
    group_count,
    record_se,
    se_layers,
    upsample2,
)

torch.set_num_threads(1)

LENGTHS = [1, 2, 3, 17, 256, 1000, 4097]


def _model(**overrides) -> UnetSEBiSRU:
    torch.manual_seed(0)
    return UnetSEBiSRU(tiny_config(**overrides)).eval()


@pytest.mark.parametrize("length", LENGTHS)
def test_output_shape_matches_input_for_any_length(length):
    model = _model()
    with torch.no_grad():
        out = model(torch.randn(2, 2, length))
    assert out.shape == (2, 4, 2, length)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "overrides",
    [
        dict(rnn="sru"), dict(rnn="lstm"), dict(rnn="gru"), dict(rnn="none"),
        dict(norm="batch"), dict(norm="none"), dict(attention="none"),
        dict(resample=True), dict(normalize=False), dict(context=1), dict(rescale=0.0),
        dict(rnn_layers=2, depth=2, channels=6, growth=1.5),
        dict(audio_channels=1, sources=("vocals", "accompaniment")),
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_every_variant_builds_and_keeps_length(overrides):
    model = _model(**overrides)
    cfg = model.config
    for length in (5, 1234):
        with torch.no_grad():
            out = model(torch.randn(2, cfg.audio_channels, length))
        assert out.shape == (2, len(cfg.sources), cfg.audio_channels, length)
        assert torch.isfinite(out).all()


def test_variants_differ_in_their_modules():
    lstm = _model(rnn="lstm")
    assert isinstance(lstm.bottleneck.rnn, torch.nn.LSTM)
    assert _model(rnn="none").bottleneck is None
    assert isinstance(_model(norm="batch").encoder[0].norm, torch.nn.BatchNorm1d)
    assert _model(attention="none").encoder[0].se is None


def test_training_step_reduces_loss_on_a_fixed_batch():
    """Gradients flow through every part: a few Adam steps fit one small batch better."""
    torch.manual_seed(0)
    model = UnetSEBiSRU(tiny_config()).train()
    mix = torch.randn(2, 2, 2000)
    target = torch.stack([mix * 0.5, mix * 0.25, mix * 0.25, mix * 0.0], dim=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(10):
        loss = (model(mix) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.97 * losses[0]
    assert all(losses[i + 1] < losses[i] for i in range(len(losses) - 1))
    assert all(p.grad is not None for p in model.parameters())
    rnn_grads = [p.grad.abs().sum().item() for p in model.bottleneck.parameters()]
    assert min(rnn_grads) > 0


def test_valid_length_is_minimal_and_covers_the_input():
    for model in (_model(), _model(resample=True), _model(context=1)):
        for length in (1, 50, 276, 277, 5000):
            valid = model.valid_length(length)
            assert valid >= length
            # the padded input really is valid: the padded signal comes out complete
            with torch.no_grad():
                assert model(torch.zeros(1, 2, valid)).shape[-1] == valid
            # and minimal: the next shorter valid input (one bottleneck step less) is not enough
            for bottleneck in range(1, 400):
                n_in, n_out = model._lengths(bottleneck)
                if n_in == valid:
                    assert model._lengths(bottleneck - 1)[1] < length or bottleneck == model.config.context + 1
                    break
            else:
                raise AssertionError("valid length not produced by any bottleneck length")
    plain = _model(context=1)  # context 1: output length == input length, so valid lengths are fixed points
    assert plain.valid_length(plain.valid_length(300)) == plain.valid_length(300)


def test_full_size_default_config_keeps_length():
    model = UnetSEBiSRU(ModelConfig(channels=8)).eval()  # default depth 6, resample on
    with torch.no_grad():
        out = model(torch.randn(1, 2, 10000))
    assert out.shape == (1, 4, 2, 10000)


def test_group_count_is_largest_divisor_not_above_limit():
    assert group_count(64, 32) == 32
    assert group_count(48, 32) == 24
    assert group_count(8, 32) == 8
    assert group_count(6, 4) == 3
    assert group_count(7, 32) == 7
    model = _model(channels=6)
    assert model.encoder[0].norm.num_groups == 6


def test_normalisation_makes_output_follow_input_scale():
    """With normalize on, scaling the mix scales the stems (the net sees the same standardised input)."""
    model = _model()
    mix = torch.randn(1, 2, 3000)
    with torch.no_grad():
        a = model(mix)
        b = model(mix * 100.0)
    torch.testing.assert_close(b, a * 100.0, rtol=1e-3, atol=1e-3)


def test_rescale_brings_conv_weights_towards_reference_std():
    model = _model(channels=16, depth=2, rescale=0.1)
    plain = _model(channels=16, depth=2, rescale=0.0)
    std = model.encoder[1].conv.weight.std().item()
    std_plain = plain.encoder[1].conv.weight.std().item()
    assert abs(math.log(std / 0.1)) < abs(math.log(std_plain / 0.1))


def test_upsample_then_downsample_keeps_an_in_band_tone():
    t = torch.arange(8000, dtype=torch.float64) / 44100
    tone = torch.sin(2 * math.pi * 1000 * t).view(1, 1, -1)
    up = upsample2(tone)
    assert up.shape[-1] == 16000
    t2 = torch.arange(16000, dtype=torch.float64) / 88200
    err_up = up[..., 200:-200] - torch.sin(2 * math.pi * 1000 * t2)[200:-200]
    assert 10 * math.log10(err_up.pow(2).mean().item() / 0.5) < -60
    back = downsample2(up)
    assert back.shape == tone.shape
    err = back[..., 200:-200] - tone[..., 200:-200]
    assert 10 * math.log10(err.pow(2).mean().item() / 0.5) < -60


def test_downsample_rejects_content_above_the_new_nyquist():
    t = torch.arange(16000, dtype=torch.float64) / 88200
    high = torch.sin(2 * math.pi * 30000 * t).view(1, 1, -1)  # would alias to 14.1 kHz
    rms = downsample2(high)[..., 200:-200].pow(2).mean().sqrt().item()
    assert rms < 1e-3


# -- SE activations --------------------------------------------------------------------------
def test_se_layer_names_follow_the_contract():
    model = _model(depth=3)
    names = [name for name, _ in se_layers(model)]
    assert names == ["encoder.1", "encoder.2", "encoder.3", "decoder.3", "decoder.2", "decoder.1"]
    assert se_layers(_model(attention="none")) == []


def test_se_recording_is_off_by_default():
    model = _model()
    with torch.no_grad():
        model(torch.randn(1, 2, 500))
    assert all(se.sink is None and se.last_activation is None for _, se in se_layers(model))


def test_se_recording_gives_one_array_per_forward_with_values_in_unit_interval():
    model = _model(depth=3)
    widths = {f"encoder.{i + 1}": layer.conv.out_channels for i, layer in enumerate(model.encoder)}
    with torch.no_grad(), record_se(model) as records:
        model(torch.randn(3, 2, 700))
        model(torch.randn(3, 2, 900))
    assert set(records) == {name for name, _ in se_layers(model)}
    for name, arrays in records.items():
        assert len(arrays) == 2
        for s in arrays:
            assert s.dtype == np.float32 and s.shape[0] == 3
            if name in widths:
                assert s.shape == (3, widths[name])
            assert ((s > 0) & (s < 1)).all()
    # recording stops when the context ends
    with torch.no_grad():
        model(torch.randn(1, 2, 300))
    assert all(len(arrays) == 2 for arrays in records.values())
    assert all(se.sink is None for _, se in se_layers(model))


def test_recording_a_model_without_se_gives_nothing():
    model = _model(attention="none")
    with torch.no_grad(), record_se(model) as records:
        model(torch.randn(1, 2, 300))
    assert records == {}


def test_se_scales_channels_by_its_activation():
    model = _model()
    se = model.encoder[0].se
    v = torch.randn(2, se.channels, 50)
    s = se.excitation(v)
    torch.testing.assert_close(se(v), v * s.unsqueeze(-1))


def test_wrong_channel_count_is_refused():
    with pytest.raises(ValueError, match="2 audio channels"):
        _model()(torch.randn(1, 1, 100))


@pytest.mark.parametrize("resample", [False, True])
def test_output_stays_aligned_with_input_whatever_the_padding(resample):
    """A purely convolutional variant is shift-equivariant on its stride grid: the same excerpt
    inside a longer signal gives the same output samples, so padding/trimming never shifts stems."""
    model = _model(norm="none", attention="none", rnn="none", normalize=False, resample=resample)
    grid = 4 ** model.config.depth // (2 if resample else 1)
    length, long_length = 3000, 9000
    x = torch.randn(1, 2, length, generator=torch.Generator().manual_seed(3))
    pad_short = (model.valid_length(length) - length) // 2
    pad_long = (model.valid_length(long_length) - long_length) // 2
    offset = 3000 + (pad_short - pad_long - 3000) % grid  # same position on the stride grid
    embedded = torch.zeros(1, 2, long_length)
    embedded[..., offset: offset + length] = x
    with torch.no_grad():
        short = model(x)
        long = model(embedded)[..., offset: offset + length]
    middle = slice(length // 2 - 500, length // 2 + 500)
    torch.testing.assert_close(long[..., middle], short[..., middle], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("overrides", [dict(), dict(resample=True), dict(norm="none")],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_inference_in_pieces_equals_the_whole_window_forward(monkeypatch, overrides):
    """At inference the long convolutions run over pieces of CONV_PIECE_FRAMES frames (and
    GroupNorm/GLU reuse buffers) to bound memory: pieces far smaller than the layers, with ragged
    ends, must give the graph-recording forward's result."""
    import model.network as network

    model = _model(**overrides)
    mix = torch.randn(2, 2, 5003)
    with torch.enable_grad():
        reference = model(mix).detach()
    monkeypatch.setattr(network, "CONV_PIECE_FRAMES", 37)
    with torch.inference_mode():
        out = model(mix)
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("overrides", [dict(), dict(resample=True), dict(norm="batch"), dict(attention="none")],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_inference_updates_in_place_without_changing_results_or_the_input(overrides):
    """Without autograd the network reuses activation buffers (ReLU, SE scaling, skip sums in
    place): the result must equal the graph-recording forward and leave the caller's mix intact."""
    model = _model(**overrides)
    mix = torch.randn(2, 2, 3001)
    kept = mix.clone()
    with torch.enable_grad():
        reference = model(mix).detach()
    with torch.inference_mode():
        out = model(mix)
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-6)
    assert torch.equal(mix, kept)
