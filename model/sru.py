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

Autograd differentiates straight through these tensor ops (tests compare with the Python loop
`linear_scan_naive`, the oracle). Nothing is compiled, so it runs wherever torch runs (CPU, CUDA, MPS).

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
    """Inclusive Hillis-Steele scan along dim -2 of the affine maps `c -> a * c + b`.

    a, b: (..., L, H). Returns (A, B), (..., L, H) each, with `c_t = A_t * c_start + B_t`.
    """
    length = a.shape[-2]
    step = 1
    while step < length:
        # compose step t with step t - `step`: (a_t, b_t) o (a_s, b_s) = (a_t a_s, a_t b_s + b_t)
        a_now, b_now = a[..., step:, :], b[..., step:, :]
        a_prev, b_prev = a[..., :-step, :], b[..., :-step, :]
        b = torch.cat([b[..., :step, :], torch.addcmul(b_now, a_now, b_prev)], dim=-2)
        a = torch.cat([a[..., :step, :], a_now * a_prev], dim=-2)
        step *= 2
    return a, b


def linear_scan(a: Tensor, b: Tensor, c0: Tensor | None = None, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Chunked parallel scan for `c_t = a_t * c_{t-1} + b_t` along dim 1 (equal to `linear_scan_naive`).

    a, b: (batch, time, hidden), `a` normally in [0, 1]; c0: (batch, hidden) or None (zeros).
    Returns c: (batch, time, hidden).
    """
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
    ends = linear_scan(big_a[:, :, -1], big_b[:, :, -1], c0, chunk)  # (batch, n_chunks, hidden)
    first = torch.zeros_like(ends[:, :1]) if c0 is None else c0.unsqueeze(1)
    starts = torch.cat([first, ends[:, :-1]], dim=1)  # (batch, n_chunks, hidden)
    c = torch.addcmul(big_b, big_a, starts.unsqueeze(2))
    return c.reshape(batch, n_chunks * chunk, hidden)[:, :length]


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
        self.weight = nn.Linear(input_size, 2 * self.n_parts * hidden_size, bias=False)
        # biases of the forget and reset gates, per direction: (2, 2, hidden)
        self.gate_bias = nn.Parameter(torch.zeros(2, 2, hidden_size))

    def forward(self, x: Tensor, c0: Tensor | None = None, naive: bool = False) -> tuple[Tensor, Tensor]:
        """x: (B, T, input_size); c0: (2, B, H) or None.

        Returns (h (B, T, 2H) = [forward, backward], c_last (2, B, H): forward's c at T-1,
        backward's c at 0, i.e. each direction's final state).
        """
        batch, length, _ = x.shape
        hid = self.hidden_size
        u = self.weight(x).view(batch, length, 2, self.n_parts, hid)  # (B, T, dir, part, H)
        x_tilde = u[:, :, :, 0]
        gates = torch.sigmoid(u[:, :, :, 1:3] + self.gate_bias)  # (B, T, dir, 2, H)
        forget, reset = gates[:, :, :, 0], gates[:, :, :, 1]
        if self.project_input:
            highway = u[:, :, :, 3]  # (B, T, dir, H)
        elif self.split_input:
            highway = x.view(batch, length, 2, hid)
        else:
            highway = x.unsqueeze(2).expand(-1, -1, 2, -1)
        # scan both directions as one (B, T, 2H) problem; backward half runs on reversed time
        a = _directions_to_scan(forget)
        b = _directions_to_scan((1.0 - forget) * x_tilde)
        init = None if c0 is None else c0.permute(1, 0, 2).reshape(batch, 2 * hid)
        if naive:
            c = linear_scan_naive(a, b, init)
        else:
            c = linear_scan(a, b, init, self.chunk)
        c_last = c[:, -1].view(batch, 2, hid).permute(1, 0, 2) if length else c0
        c = _scan_to_directions(c, hid)  # (B, T, dir, H) in true time order
        h = reset * torch.tanh(c) + (1.0 - reset) * highway
        return h.reshape(batch, length, 2 * hid), c_last


def _directions_to_scan(v: Tensor) -> Tensor:
    """(B, T, 2, H) -> (B, T, 2H) with the backward direction time-reversed."""
    return torch.cat([v[:, :, 0], v[:, :, 1].flip(1)], dim=-1)


def _scan_to_directions(c: Tensor, hid: int) -> Tensor:
    """(B, T, 2H) from `_directions_to_scan` -> (B, T, 2, H) in true time order."""
    return torch.stack([c[..., :hid], c[..., hid:].flip(1)], dim=2)


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
