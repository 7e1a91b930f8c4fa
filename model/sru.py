"""Simple Recurrent Unit (SRU) in plain PyTorch, with a chunked parallel scan for the cell state.

Paper eq. 3.4-3.7 (Lei et al.'s SRU without the peephole term), per direction:

    [x~_t, f_t, r_t] = [W x_t,  sigmoid(W_f x_t + b_f),  sigmoid(W_r x_t + b_r)]   (one matmul)
    c_t = f_t * c_{t-1} + (1 - f_t) * x~_t                                        (linear recurrence)
    h_t = r_t * tanh(c_t) + (1 - r_t) * x'_t                                      (highway)

where the highway input x'_t is: x_t itself when the input width equals the hidden width (both
directions); the direction's own half of x_t when the input is twice as wide (stacked bidirectional
layers, whose input is [forward h, backward h]: this is what the reference `sru` package does); else a
learned projection W_p x_t computed in the same matmul.

Because every gate depends on the input only, `c` is a first-order *linear* recurrence
`c_t = a_t * c_{t-1} + b_t` with `a_t = f_t in (0, 1)` and `b_t = (1 - f_t) * x~_t`. We solve it with
`linear_scan`: a two-level scan that only multiplies numbers in [0, 1] and adds (no division by
cumulative products, no logarithms), so it is stable for any sequence length and any gate values:

1. time is split into chunks of `chunk` steps (identity padding at the end);
2. inside every chunk, all chunks at once, a Hillis-Steele doubling scan over the pairs
   `(A, B)` (meaning "c_end = A * c_start + B") gives each step's state relative to the chunk start
   (log2(chunk) vectorised steps);
3. the chunk totals form a sequence n = T/chunk times shorter, which is scanned the same way
   (recursively), giving each chunk's starting state; one multiply-add finishes every step.

The backward pass is the same scan run backwards in time (a small autograd.Function), so nothing
of the doubling steps is stored for it; tests compare values and gradients with the Python loop
`linear_scan_naive`, the oracle. Nothing is compiled, so it runs wherever torch runs (CPU, CUDA, MPS).

Layout: `BiSRU` is batch-first, `(batch, time, features)`, like `nn.LSTM(batch_first=True)`.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

#: Steps per chunk of the parallel scan (4 doubling steps per level). Measured on CPU for
#: T = 172..5000: 16 is as fast as any other size within noise; 64+ is slower for short sequences.
DEFAULT_CHUNK = 16


def linear_scan_naive(a: Tensor, b: Tensor, c0: Tensor | None = None) -> Tensor:
    """Reference loop for `c_t = a_t * c_{t-1} + b_t` along dim 1.

    a, b: (batch, time, hidden); c0: (batch, hidden) or None (zeros). Returns c: (batch, time, hidden).
    """
    c = torch.zeros_like(a[:, 0]) if c0 is None else c0
    out = []
    for t in range(a.shape[1]):
        c = a[:, t] * c + b[:, t]
        out.append(c)
    return torch.stack(out, dim=1)


def _doubling_scan(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Inclusive Hillis-Steele scan along dim -2 of the affine maps `c -> a * c + b` (no autograd).

    a, b: (..., L, H), left untouched. Returns (A, B), (..., L, H) each, with
    `c_t = A_t * c_start + B_t`. Two buffer pairs are written alternately (no allocation per step).
    """
    length = a.shape[-2]
    if length <= 1:
        return a, b
    src_a, src_b = a, b
    dst_a, dst_b = torch.empty_like(a), torch.empty_like(b)
    spare_a, spare_b = torch.empty_like(a), torch.empty_like(b)
    step = 1
    while step < length:
        # compose step t with step t - `step`: (a_t, b_t) o (a_s, b_s) = (a_t a_s, a_t b_s + b_t)
        torch.addcmul(src_b[..., step:, :], src_a[..., step:, :], src_b[..., :-step, :],
                      out=dst_b[..., step:, :])
        torch.mul(src_a[..., step:, :], src_a[..., :-step, :], out=dst_a[..., step:, :])
        dst_a[..., :step, :] = src_a[..., :step, :]
        dst_b[..., :step, :] = src_b[..., :step, :]
        src_a, src_b, dst_a, dst_b = dst_a, dst_b, (spare_a if src_a is a else src_a), \
            (spare_b if src_b is b else src_b)
        step *= 2
    return src_a, src_b


def _scan(a: Tensor, b: Tensor, c0: Tensor | None, chunk: int) -> Tensor:
    """The chunked scan itself (see module docstring); shapes as in `linear_scan`."""
    batch, length, hidden = a.shape
    if length == 0:
        return b.clone()
    if length <= chunk:
        big_a, big_b = _doubling_scan(a, b)
        return big_b if c0 is None else torch.addcmul(big_b, big_a, c0.unsqueeze(1))
    n_chunks = -(-length // chunk)
    pad = n_chunks * chunk - length
    if pad:  # identity maps (a=1, b=0) at the end change nothing before them
        a = torch.cat([a, a.new_ones(batch, pad, hidden)], dim=1)
        b = torch.cat([b, b.new_zeros(batch, pad, hidden)], dim=1)
    a = a.reshape(batch, n_chunks, chunk, hidden)
    b = b.reshape(batch, n_chunks, chunk, hidden)
    big_a, big_b = _doubling_scan(a, b)  # (batch, n_chunks, chunk, hidden), relative to chunk start
    # state at the end of every chunk, from the chunk totals: a sequence chunk times shorter
    ends = _scan(big_a[:, :, -1], big_b[:, :, -1], c0, chunk)  # (batch, n_chunks, hidden)
    first = torch.zeros_like(ends[:, :1]) if c0 is None else c0.unsqueeze(1)
    starts = torch.cat([first, ends[:, :-1]], dim=1)  # (batch, n_chunks, hidden)
    c = torch.addcmul(big_b, big_a, starts.unsqueeze(2))
    return c.reshape(batch, n_chunks * chunk, hidden)[:, :length]


class _LinearScanFn(torch.autograd.Function):
    """Autograd for the scan without recording its internal steps.

    The gradient of a linear recurrence is the same recurrence run backwards in time:
        g_t = dL/dc_t + a_{t+1} * g_{t+1},   dL/db_t = g_t,   dL/da_t = g_t * c_{t-1},   dL/dc0 = a_0 * g_0
    so backward is one more `_scan` on time-reversed tensors. Only a, c (and c0) are kept for it,
    instead of every intermediate of the doubling steps.
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, c0: Tensor | None, chunk: int) -> Tensor:  # type: ignore[override]
        c = _scan(a, b, c0, chunk)
        ctx.chunk = chunk
        ctx.has_c0 = c0 is not None
        ctx.save_for_backward(a, c, c0 if c0 is not None else a.new_zeros(a.shape[0], a.shape[2]))
        return c

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_c: Tensor):  # type: ignore[override]
        a, c, c0 = ctx.saved_tensors
        if a.shape[1] == 0:
            return torch.zeros_like(a), grad_c, (torch.zeros_like(c0) if ctx.has_c0 else None), None
        a_next = torch.cat([a[:, 1:], torch.ones_like(a[:, :1])], dim=1)  # last value never used
        g = _scan(a_next.flip(1), grad_c.flip(1), None, ctx.chunk).flip(1)
        c_prev = torch.cat([c0.unsqueeze(1), c[:, :-1]], dim=1)
        grad_a = g * c_prev if ctx.needs_input_grad[0] else None
        grad_c0 = a[:, 0] * g[:, 0] if ctx.has_c0 and ctx.needs_input_grad[2] else None
        return grad_a, g, grad_c0, None


def linear_scan(a: Tensor, b: Tensor, c0: Tensor | None = None, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Chunked parallel scan for `c_t = a_t * c_{t-1} + b_t` along dim 1 (equal to `linear_scan_naive`).

    a, b: (batch, time, hidden), `a` normally in [0, 1]; c0: (batch, hidden) or None (zeros).
    Returns c: (batch, time, hidden). Differentiable in a, b and c0 (first-order gradients).
    """
    if torch.is_grad_enabled() and (a.requires_grad or b.requires_grad
                                    or (c0 is not None and c0.requires_grad)):
        return _LinearScanFn.apply(a, b, c0, chunk)
    return _scan(a, b, c0, chunk)


class BiSRULayer(nn.Module):
    """One bidirectional SRU layer: (batch, time, input_size) -> (batch, time, 2 * hidden_size).

    Both directions share one matmul over all time steps (eq. 3.7) and one scan call: the backward
    direction is the same scan on the time-reversed sequence, flipped back afterwards.
    """

    def __init__(self, input_size: int, hidden_size: int, chunk: int = DEFAULT_CHUNK) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.chunk = chunk
        self.split_input = input_size == 2 * hidden_size  # highway: each direction its own half
        self.project_input = input_size not in (hidden_size, 2 * hidden_size)
        # per direction: x~, f, r (+ highway projection when no width matches)
        self.n_parts = 4 if self.project_input else 3
        # output rows: part-major, then direction: [x~ fwd, x~ bwd, f fwd, f bwd, r fwd, r bwd, (p fwd, p bwd)]
        self.weight = nn.Linear(input_size, self.n_parts * 2 * hidden_size, bias=False)
        # biases of the forget (row 0) and reset (row 1) gates, [forward | backward] along the columns
        self.gate_bias = nn.Parameter(torch.zeros(2, 2 * hidden_size))

    def forward(self, x: Tensor, c0: Tensor | None = None, naive: bool = False) -> tuple[Tensor, Tensor]:
        """x: (B, T, input_size); c0: (2, B, H) or None.

        Returns (h (B, T, 2H) = [forward | backward], c_last (2, B, H): forward's c at T-1,
        backward's c at 0, i.e. each direction's final state).
        """
        batch, length, _ = x.shape
        hid = self.hidden_size
        parts = self.weight(x).view(batch, length, self.n_parts, 2 * hid).unbind(2)  # each (B, T, 2H)
        x_tilde = parts[0]
        forget = torch.sigmoid(parts[1] + self.gate_bias[0])
        reset = torch.sigmoid(parts[2] + self.gate_bias[1])
        if self.project_input:
            highway = parts[3]
        elif self.split_input:
            highway = x  # already [forward h | backward h] of the layer below
        else:
            highway = torch.cat([x, x], dim=-1)
        # scan both directions as one (B, T, 2H) problem; the backward half runs on reversed time
        a = _reverse_backward_half(forget, hid)
        b = _reverse_backward_half((1.0 - forget) * x_tilde, hid)
        init = None if c0 is None else c0.permute(1, 0, 2).reshape(batch, 2 * hid)
        c = linear_scan_naive(a, b, init) if naive else linear_scan(a, b, init, self.chunk)
        c_last = c[:, -1].view(batch, 2, hid).permute(1, 0, 2) if length else c0
        c = _reverse_backward_half(c, hid)  # (B, T, 2H) in true time order
        h = reset * torch.tanh(c) + (1.0 - reset) * highway
        return h, c_last


def _reverse_backward_half(v: Tensor, hid: int) -> Tensor:
    """(B, T, 2H) -> (B, T, 2H) with the last H features (the backward direction) time-reversed.

    Its own inverse: maps true time order to scan order and back.
    """
    forward, backward = v.split(hid, dim=-1)
    return torch.cat([forward, backward.flip(1)], dim=-1)


class BiSRU(nn.Module):
    """Multi-layer bidirectional SRU with an `nn.LSTM(batch_first=True)`-like call.

    `BiSRU(input_size, hidden_size, num_layers)(x (B, T, input_size))` returns
    `(output (B, T, 2 * hidden_size), c_n (num_layers * 2, B, hidden_size))`.
    `naive=True` uses the Python time loop (the test oracle) instead of the parallel scan.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 2,
                 chunk: int = DEFAULT_CHUNK, naive: bool = False) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("BiSRU needs at least one layer")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.naive = naive
        self.layers = nn.ModuleList(
            BiSRULayer(input_size if i == 0 else 2 * hidden_size, hidden_size, chunk)
            for i in range(num_layers)
        )

    def forward(self, x: Tensor, c0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x: (B, T, input_size); c0: (num_layers * 2, B, H) or None -> (B, T, 2H), (num_layers * 2, B, H)."""
        finals = []
        for i, layer in enumerate(self.layers):
            init = None if c0 is None else c0[2 * i: 2 * i + 2]
            x, c_last = layer(x, init, naive=self.naive)
            finals.append(c_last)
        if x.shape[1] == 0 and c0 is None:
            return x, x.new_zeros(2 * self.num_layers, x.shape[0], self.hidden_size)
        return x, torch.cat(finals, dim=0)
