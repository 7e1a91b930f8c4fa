"""The SRU's parallel scan must equal the Python time loop: values, gradients, stability."""

from __future__ import annotations

import pytest
import torch

from model.sru import BiSRU, BiSRULayer, linear_scan, linear_scan_naive

torch.set_num_threads(1)


def _inputs(length: int, batch: int = 2, hidden: int = 3, seed: int = 0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    a = torch.rand(batch, length, hidden, generator=gen, dtype=dtype)
    b = torch.randn(batch, length, hidden, generator=gen, dtype=dtype)
    c0 = torch.randn(batch, hidden, generator=gen, dtype=dtype)
    return a, b, c0


@pytest.mark.parametrize("length", [1, 2, 7, 31, 32, 33, 64, 100, 1025])
@pytest.mark.parametrize("chunk", [4, 32])
def test_scan_equals_loop(length, chunk):
    a, b, c0 = _inputs(length)
    torch.testing.assert_close(linear_scan(a, b, chunk=chunk), linear_scan_naive(a, b))
    torch.testing.assert_close(linear_scan(a, b, c0, chunk=chunk), linear_scan_naive(a, b, c0))


@pytest.mark.parametrize("length", [1, 5, 33, 70])
def test_scan_gradients_equal_loop_gradients(length):
    a, b, c0 = _inputs(length)
    grads = []
    for fn in (lambda *t: linear_scan(*t, chunk=8), linear_scan_naive):
        leaves = [t.clone().requires_grad_(True) for t in (a, b, c0)]
        weight = torch.linspace(-1, 1, a.numel(), dtype=a.dtype).view_as(a)
        (fn(*leaves) * weight).sum().backward()
        grads.append([leaf.grad for leaf in leaves])
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("gate", [0.999, 1e-4])
def test_long_sequence_is_stable(gate):
    """T=5000 with forget gates near 1 (long memory) and near 0 (no memory), in float32."""
    length = 5000
    a32 = torch.full((1, length, 4), gate)
    a32[..., 1] = torch.linspace(1e-6, 1 - 1e-6, length)  # the full range in one channel
    b32 = torch.randn(1, length, 4, generator=torch.Generator().manual_seed(1))
    got = linear_scan(a32, b32)
    want = linear_scan_naive(a32.double(), b32.double())
    assert torch.isfinite(got).all()
    scale = want.abs().max().item()
    err_scan = (got.double() - want).abs().max().item()
    err_loop = (linear_scan_naive(a32, b32).double() - want).abs().max().item()
    # float32 rounding only: within ten times the plain loop's own rounding error
    assert err_scan <= max(10 * err_loop, 1e-6 * scale), (err_scan, err_loop, scale)
    assert err_scan <= 2e-5 * scale


def test_layer_naive_and_scan_agree_in_both_directions_with_gradients():
    torch.manual_seed(0)
    layer = BiSRULayer(5, 6, chunk=4).double()
    x = torch.randn(2, 23, 5, dtype=torch.float64, requires_grad=True)
    outs, grads = [], []
    for naive in (False, True):
        layer.zero_grad()
        x.grad = None
        h, c_last = layer(x, naive=naive)
        (h.sin().sum() + c_last.sum()).backward()
        outs.append((h.detach(), c_last.detach()))
        grads.append([x.grad.clone()] + [p.grad.clone() for p in layer.parameters()])
    torch.testing.assert_close(outs[0][0], outs[1][0])
    torch.testing.assert_close(outs[0][1], outs[1][1])
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want)


def test_backward_direction_reads_the_future():
    """Changing the last step changes the backward half at t=0 but not the forward half."""
    torch.manual_seed(0)
    layer = BiSRULayer(4, 4)
    x = torch.randn(1, 10, 4)
    y = x.clone()
    y[:, -1] += 1.0
    hx, _ = layer(x)
    hy, _ = layer(y)
    torch.testing.assert_close(hx[:, :-1, :4], hy[:, :-1, :4])  # forward: the past only
    assert not torch.allclose(hx[:, 0, 4:], hy[:, 0, 4:])  # backward: t=0 sees the change


def test_layer_matches_the_equations_written_out():
    """One step of eq. 3.4-3.7 by hand (forward direction, c0 = 0, equal widths: identity highway)."""
    torch.manual_seed(0)
    layer = BiSRULayer(3, 3)
    x = torch.randn(1, 1, 3)
    h, _ = layer(x)
    w = layer.weight.weight.view(2, 3, 3, 3)[0]  # forward direction: (part, H, in)
    x_tilde = x[0, 0] @ w[0].T
    f = torch.sigmoid(x[0, 0] @ w[1].T + layer.gate_bias[0, 0])
    r = torch.sigmoid(x[0, 0] @ w[2].T + layer.gate_bias[0, 1])
    c = (1 - f) * x_tilde
    want = r * torch.tanh(c) + (1 - r) * x[0, 0]
    torch.testing.assert_close(h[0, 0, :3], want)


def test_bisru_shapes_like_batch_first_lstm():
    model = BiSRU(8, 5, num_layers=3)
    out, c_n = model(torch.randn(4, 17, 8))
    assert out.shape == (4, 17, 10)
    assert c_n.shape == (6, 4, 5)
    lstm_out, _ = torch.nn.LSTM(8, 5, 3, batch_first=True, bidirectional=True)(torch.randn(4, 17, 8))
    assert lstm_out.shape == out.shape


def test_bisru_scan_equals_naive_multilayer_with_initial_state():
    torch.manual_seed(0)
    model = BiSRU(6, 4, num_layers=2, chunk=8).double()
    x = torch.randn(3, 41, 6, dtype=torch.float64)
    c0 = torch.randn(4, 3, 4, dtype=torch.float64)
    fast = model(x, c0)
    model.naive = True
    slow = model(x, c0)
    torch.testing.assert_close(fast[0], slow[0])
    torch.testing.assert_close(fast[1], slow[1])


def test_bisru_has_fewer_parameters_than_bilstm_of_same_width():
    sru = sum(p.numel() for p in BiSRU(64, 64, 2).parameters())
    lstm = sum(p.numel() for p in torch.nn.LSTM(64, 64, 2, bidirectional=True).parameters())
    assert sru < 0.6 * lstm


@pytest.mark.parametrize("input_size", [4, 8, 5])  # = hidden, = 2 * hidden (stacked), other (projected)
def test_highway_paths_match_the_loop(input_size):
    torch.manual_seed(0)
    layer = BiSRULayer(input_size, 4, chunk=4).double()
    assert layer.project_input == (input_size == 5)
    x = torch.randn(2, 19, input_size, dtype=torch.float64)
    fast, _ = layer(x)
    slow, _ = layer(x, naive=True)
    torch.testing.assert_close(fast, slow)


def test_stacked_layer_highway_keeps_each_direction_in_its_half():
    """With r -> 0 (gate bias very negative) a stacked layer passes its input straight through."""
    layer = BiSRULayer(8, 4)
    with torch.no_grad():
        layer.gate_bias[:, 1] = -50.0
    x = torch.randn(1, 6, 8)
    h, _ = layer(x)
    torch.testing.assert_close(h, x)
