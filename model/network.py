"""Unet-SE-BiSRU: a Demucs-v2-shaped waveform U-Net with SE blocks, GroupNorm and a BiSRU bottleneck.

Shapes (B = batch, C = audio channels, S = sources, T = samples at `config.samplerate`):

    mix (B, C, T)
      -> standardise by the mono mixture's mean/std           (config.normalize)
      -> zero-pad (centred) to valid_length(T)
      -> upsample x2 (windowed-sinc FIR)                       (config.resample)
      -> encoder.1 .. encoder.D   each: Conv1d(k, s) -> Norm -> ReLU -> Conv1d(1x1, 2W) -> GLU -> SE
      -> bottleneck: 2-layer BiSRU (or BiLSTM / BiGRU / nothing) -> Linear(2W -> W)
      -> decoder.D .. decoder.1   each: + skip -> Conv1d(context, 2W) -> Norm -> GLU -> SE
                                        -> ConvTranspose1d(k, s) -> Norm -> ReLU (not on decoder.1)
      -> downsample /2, restore mean/std, centre-trim to T
    -> (B, S, C, T)

Widths: W_1 = config.channels, W_{d+1} = int(growth * W_d). Choices where the paper is silent follow
Demucs v2 (see model/config.py); they are also written into every model card via the config.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import demucs_resample
from .config import ModelConfig
from .se import SE1d
from .sru import BiSRU

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# x2 resampling: windowed-sinc low-pass FIR (Hann window), applied with conv1d.
# Cut-off at RESAMPLE_ROLLOFF x the lower rate's Nyquist; 2 * RESAMPLE_ZEROS + 1 taps at the
# higher rate; edges padded by replication. Linear phase, so no time shift. Measured up -> down
# at 44.1 kHz: flat within 0.01 dB to 19 kHz, -1.4 dB at 20 kHz, -21 dB at 21 kHz; a 30 kHz tone at
# 88.2 kHz is suppressed by ~70 dB on the way down (tests check a 1 kHz tone to < -60 dB error).
# ----------------------------------------------------------------------------------------------
RESAMPLE_ROLLOFF = 0.94
RESAMPLE_ZEROS = 64


def _lowpass_kernel(dtype: torch.dtype, device: torch.device) -> Tensor:
    """Half-band low-pass taps at the higher rate, (1, 1, 2Z+1), unit DC gain."""
    n = torch.arange(-RESAMPLE_ZEROS, RESAMPLE_ZEROS + 1, dtype=torch.float64)
    cutoff = 0.25 * RESAMPLE_ROLLOFF  # cycles per sample at the higher rate
    window = 0.5 + 0.5 * torch.cos(math.pi * n / (RESAMPLE_ZEROS + 1))
    taps = 2 * cutoff * torch.sinc(2 * cutoff * n) * window
    taps = taps / taps.sum()
    return taps.to(dtype=dtype, device=device).view(1, 1, -1)


# Both filters run as block (polyphase) matrix products instead of a 1-channel conv1d: the signal
# is cut into blocks of P samples, and every output block is sum_j block[b + j] @ M_j with small
# (P, N) matrices M_j holding the taps (zeros where a tap falls outside the filter). Same products
# as the direct filter, summed in another order (equal within float rounding); measured on one
# core for an 8 s window: upsample 63 -> 5 ms, downsample of 4 stereo stems 120 -> 18 ms.
# The upsampler only ever multiplies by the taps that meet a real (not zero-stuffed) sample.
RESAMPLE_BLOCK = 16  # input samples per block (down: output samples per block); best of 8..64


@functools.lru_cache(maxsize=16)
def _block_taps(kind: str, block: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Tap matrices (J, P, N) for `_block_fir` (cached; built outside inference mode so that
    training may use them after an inference call).

    up:   P = block input samples -> N = 2 * block outputs; output 2q + p of block b is
          sum_u 2 h[2u + p] x[b * block + q + p + 1 + u] (x replicate-padded by Z/2 + 1).
    down: P = 2 * block input samples -> N = block outputs; output q of block b is
          sum_k h[k] x[2 (b * block + q) + k] (x replicate-padded by Z).
    """
    with torch.inference_mode(False), torch.no_grad():
        h = _lowpass_kernel(torch.float64, torch.device("cpu")).view(-1)
        taps = h.numel()
        if kind == "up":
            h = 2 * h
            span = -(-(block + RESAMPLE_ZEROS + 1) // block)  # blocks one output block reads
            row = torch.arange(span * block)[:, None]
            col = torch.arange(2 * block)[None, :]
            q, p = col // 2, col % 2
            k = 2 * (row - q - p - 1) + p  # tap index met by input `row` for output `col`
            width_in, width_out = block, 2 * block
        else:
            width_in, width_out = 2 * block, block
            span = -(-(width_in - 2 + taps) // width_in)
            k = torch.arange(span * width_in)[:, None] - 2 * torch.arange(block)[None, :]
        mats = torch.where((k >= 0) & (k < taps), h[k.clamp(0, taps - 1)], torch.zeros((), dtype=h.dtype))
        return mats.view(span, width_in, width_out).to(dtype=dtype, device=device).contiguous()


def _block_fir(rows: Tensor, mats: Tensor, n_blocks: int) -> Tensor:
    """rows: (R, (n_blocks + J - 1) * P) padded signals; mats: (J, P, N) -> (R, n_blocks * N)."""
    span, width_in, width_out = mats.shape
    blocks = rows.view(rows.shape[0], n_blocks + span - 1, width_in)
    if torch.is_grad_enabled() and (rows.requires_grad or mats.requires_grad):
        y = torch.matmul(blocks[:, :n_blocks], mats[0])
        for j in range(1, span):
            y = y + torch.matmul(blocks[:, j: j + n_blocks], mats[j])
        return y.view(rows.shape[0], n_blocks * width_out)
    y = rows.new_empty(rows.shape[0], n_blocks, width_out)
    for i in range(rows.shape[0]):  # 2-D products on contiguous slices: no copies
        torch.mm(blocks[i, :n_blocks], mats[0], out=y[i])
        for j in range(1, span):
            y[i].addmm_(blocks[i, j: j + n_blocks], mats[j])
    return y.view(rows.shape[0], n_blocks * width_out)


def _pad_rows(x: Tensor, left: int, right: int, total: int) -> Tensor:
    """(..., n) -> (rows, total): `left` and up to `right` edge replicas around x, then zeros up to
    `total` (the block filters never read past the replicas they need)."""
    rows = x.reshape(-1, x.shape[-1])
    right = min(right, total - left - rows.shape[1])
    parts = [rows[:, :1].expand(-1, left), rows, rows[:, -1:].expand(-1, right)]
    extra = total - rows.shape[1] - left - right
    if extra > 0:
        parts.append(rows.new_zeros(rows.shape[0], extra))
    return torch.cat(parts, dim=1)


def upsample2(x: Tensor) -> Tensor:
    """(..., N) -> (..., 2N): zero-stuff, then low-pass (gain 2). Sample k of x lands on 2k."""
    shape, n = x.shape[:-1], x.shape[-1]
    mats = _block_taps("up", RESAMPLE_BLOCK, x.dtype, x.device)
    n_blocks = -(-n // RESAMPLE_BLOCK)
    pad = RESAMPLE_ZEROS // 2 + 1
    rows = _pad_rows(x, pad, pad, (n_blocks + mats.shape[0] - 1) * RESAMPLE_BLOCK)
    return _block_fir(rows, mats, n_blocks)[:, : 2 * n].reshape(*shape, 2 * n)


def downsample2(x: Tensor) -> Tensor:
    """(..., M) -> (..., ceil(M/2)): low-pass, then keep the even samples."""
    shape, m = x.shape[:-1], x.shape[-1]
    mats = _block_taps("down", RESAMPLE_BLOCK, x.dtype, x.device)
    n_out = -(-m // 2)
    n_blocks = -(-n_out // RESAMPLE_BLOCK)
    rows = _pad_rows(x, RESAMPLE_ZEROS, RESAMPLE_ZEROS, (n_blocks + mats.shape[0] - 1) * 2 * RESAMPLE_BLOCK)
    return _block_fir(rows, mats, n_blocks)[:, :n_out].reshape(*shape, n_out)


# ----------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------
def group_count(width: int, max_groups: int) -> int:
    """Largest divisor of `width` that is <= `max_groups` (paper: 32 groups; narrow layers use fewer)."""
    return max(g for g in range(1, min(width, max(max_groups, 1)) + 1) if width % g == 0)


def make_norm(kind: str, width: int, max_groups: int) -> nn.Module:
    """Normalisation over channels of (B, width, T)."""
    if kind == "group":
        return nn.GroupNorm(group_count(width, max_groups), width)
    if kind == "batch":
        return nn.BatchNorm1d(width)
    return nn.Identity()


def center_trim(x: Tensor, length: int) -> Tensor:
    """Keep the middle `length` samples of the last axis."""
    delta = x.shape[-1] - length
    if delta < 0:
        raise ValueError(f"cannot trim {x.shape[-1]} samples to {length}")
    return x[..., delta // 2: delta // 2 + length]


class EncoderLayer(nn.Module):
    """(B, in, T) -> (B, width, floor((T - k) / s) + 1)."""

    def __init__(self, cfg: ModelConfig, in_width: int, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_width, width, cfg.kernel_size, cfg.stride)
        self.norm = make_norm(cfg.norm, width, cfg.norm_groups)
        self.rewrite = nn.Conv1d(width, 2 * width, 1)
        self.se = SE1d(width, cfg.se_reduction) if cfg.attention == "se" else None

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(_normalise(self.norm, _conv(self.conv, x)), inplace=_reuse_buffers())  # (B, W, T')
        x = _glu(_conv(self.rewrite, x), spare=x)  # (B, 2W, T') -> (B, W, T')
        return self.se(x) if self.se is not None else x


class DecoderLayer(nn.Module):
    """(B, width, T) -> (B, out, (T - context) * s + k), or (T - 1) * s + k with pad_context;
    `outermost` skips the final Norm + ReLU."""

    def __init__(self, cfg: ModelConfig, width: int, out_width: int, outermost: bool) -> None:
        super().__init__()
        self.rewrite = nn.Conv1d(width, 2 * width, cfg.context)
        self.pad = cfg.context // 2 if cfg.pad_context else 0  # zeros each side before `rewrite`
        self.norm1 = make_norm(cfg.norm, 2 * width, cfg.norm_groups)
        self.se = SE1d(width, cfg.se_reduction) if cfg.attention == "se" else None
        self.conv_tr = nn.ConvTranspose1d(width, out_width, cfg.kernel_size, cfg.stride)
        self.outermost = outermost
        self.norm2 = nn.Identity() if outermost else make_norm(cfg.norm, out_width, cfg.norm_groups)

    def forward(self, x: Tensor) -> Tensor:
        if self.pad:
            x = F.pad(x, (self.pad, self.pad))  # (B, W, T + context - 1)
        x = _glu(_normalise(self.norm1, _conv(self.rewrite, x)), spare=x)  # (B, 2W, T - context + 1) -> (B, W, ...)
        if self.se is not None:
            x = self.se(x)
        x = _transposed_conv(self.conv_tr, x)  # (B, out, (T - context) * s + k)
        return x if self.outermost else F.relu(_normalise(self.norm2, x), inplace=_reuse_buffers())


class Bottleneck(nn.Module):
    """(B, W, T) -> (B, W, T): bidirectional RNN over time, then Linear(2W -> W) (Demucs' BLSTM)."""

    def __init__(self, kind: str, width: int, layers: int) -> None:
        super().__init__()
        if kind == "sru":
            self.rnn: nn.Module = BiSRU(width, width, layers)
        elif kind == "lstm":
            self.rnn = nn.LSTM(width, width, layers, batch_first=True, bidirectional=True)
        else:
            self.rnn = nn.GRU(width, width, layers, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(2 * width, width)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.rnn(x.transpose(1, 2))  # (B, T, 2W)
        return self.linear(y).transpose(1, 2)


def _normalise(norm: nn.Module, x: Tensor) -> Tensor:
    """Apply `norm` to a freshly computed (B, C, T) activation. At inference GroupNorm works in
    place (x is overwritten and returned): the largest decoder layer then never holds two copies
    of its 2W-channel tensor (45 MB for channels 32 at an 8 s window), and it is no slower than
    the native kernel (a centring pass, a sum-of-squares pass, one multiply-add)."""
    if not (_reuse_buffers() and isinstance(norm, nn.GroupNorm) and x.is_contiguous()
            and x.dtype == torch.float32):  # half precision: autocast's float32 GroupNorm
        return norm(x)
    b, c, _ = x.shape
    g = norm.num_groups
    groups = x.view(b, g, -1)  # (B, G, C/G * T)
    n = groups.shape[-1]
    groups.sub_(groups.sum(-1, keepdim=True) / n)  # centred: the variance pass needs no shift
    var = _sum_of_squares(groups) / n  # (B, G, 1) float64
    scale = (var + norm.eps).rsqrt().to(x.dtype).expand(b, g, c // g).reshape(b, c, 1)  # (B, C, 1)
    if not norm.affine:
        return x.mul_(scale)
    return torch.addcmul(norm.bias.view(1, c, 1), x, scale * norm.weight.view(1, c, 1), out=x)


def _glu(h: Tensor, spare: Tensor) -> Tensor:
    """GLU over channels, (B, 2W, T) -> (B, W, T). At inference the result is written into the
    storage of `spare` - the layer's input, which nothing reads once `h` has been computed from
    it - so the largest layers never hold input, `h` and result at once (channels 32, 8 s
    window: 22 MB less at the outermost layers)."""
    b, c2, t = h.shape
    if not (_reuse_buffers() and spare.is_contiguous() and spare.dtype == h.dtype
            and spare.device == h.device and spare.numel() >= b * (c2 // 2) * t):
        return F.glu(h, dim=1)
    w = c2 // 2
    out = spare.view(-1)[: b * w * t].view(b, w, t)
    torch.sigmoid(h[:, w:], out=out)  # glu(h) = h[:, :W] * sigmoid(h[:, W:])
    return out.mul_(h[:, :w])


#: at inference on the CPU a convolution runs over pieces of at most this many frames: its
#: scratch buffers (unrolled input, reordered copies) then scale with the piece, not the window
#: (1/11 of the outermost layers' 180 k frames for a channels-32 network at an 8 s window).
CONV_PIECE_FRAMES = 1 << 14


def _in_pieces(x: Tensor, frames: int) -> bool:
    """Whether a convolution over `x` with `frames` output (or input) frames runs in pieces."""
    return _reuse_buffers() and x.device.type == "cpu" and frames > CONV_PIECE_FRAMES


def _conv(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """conv(x) for x (B, in, T) -> (B, out, (T - k) // s + 1). At inference on the CPU, long
    outputs are computed in pieces of CONV_PIECE_FRAMES frames written into one output
    tensor: the convolution's scratch space then scales with a piece, not the window. With
    `_glu` and `_normalise`, a channels-32 forward of an 8 s window peaks at 93 MB of activations
    instead of 111 MB (sampled with mallinfo2). Results equal the direct call."""
    (stride,), (kernel,) = conv.stride, conv.kernel_size
    frames = (x.shape[-1] - kernel) // stride + 1
    if not _in_pieces(x, frames):
        return conv(x)
    y = x.new_empty(x.shape[0], conv.out_channels, frames)
    for start in range(0, frames, CONV_PIECE_FRAMES):
        stop = min(frames, start + CONV_PIECE_FRAMES)
        piece = x[..., start * stride:(stop - 1) * stride + kernel]
        y[..., start:stop] = F.conv1d(piece, conv.weight, conv.bias, stride)
    return y


def _transposed_conv(conv: nn.ConvTranspose1d, x: Tensor) -> Tensor:
    """conv(x) for x (B, in, T) -> (B, out, (T - 1) * s + k). At inference on the CPU, long
    inputs go through in pieces whose outputs overlap by k - s samples and are summed (the bias is
    added once), which bounds the convolution's scratch buffer; results equal the direct call."""
    frames = x.shape[-1]
    if not _in_pieces(x, frames):
        return conv(x)
    (stride,), (kernel,) = conv.stride, conv.kernel_size
    y = x.new_zeros(x.shape[0], conv.out_channels, (frames - 1) * stride + kernel)
    for start in range(0, frames, CONV_PIECE_FRAMES):
        piece = F.conv_transpose1d(x[..., start:start + CONV_PIECE_FRAMES], conv.weight, None, stride)
        y[..., start * stride:start * stride + piece.shape[-1]] += piece
    if conv.bias is not None:
        y += conv.bias.view(1, -1, 1)
    return y


def _sum_of_squares(groups: Tensor, piece: int = 4096) -> Tensor:
    """(B, G, N) -> (B, G, 1) float64 sums of squares, accumulated in float32 over pieces of
    `piece` samples and in float64 across pieces: as accurate as GroupNorm's own statistics
    (one float32 pass over 360 k samples drifts by ~1e-5 relative) at float32 speed."""
    n = groups.shape[-1]
    whole = n - n % piece
    total = torch.zeros(groups.shape[:-1] + (1,), dtype=torch.float64, device=groups.device)
    if whole:
        pieces = torch.linalg.vector_norm(groups[..., :whole].view(*groups.shape[:-1], -1, piece), dim=-1)
        total += pieces.double().square().sum(-1, keepdim=True)
    if whole < n:
        total += torch.linalg.vector_norm(groups[..., whole:], dim=-1, keepdim=True).double().square()
    return total


def _reuse_buffers() -> bool:
    """True when no autograd graph is recorded (inference): activations are then updated in
    place, which lowers a forward pass's peak memory (channels 32, 8 s window: 277 -> 229 MB)."""
    return not torch.is_grad_enabled()


def rescale_weights(module: nn.Module, reference: float) -> None:
    """Demucs' init trick: scale each conv's weight and bias by sqrt(reference / std(weight))."""
    for sub in module.modules():
        if isinstance(sub, (nn.Conv1d, nn.ConvTranspose1d)):
            std = sub.weight.detach().std()
            scale = (std / reference) ** 0.5
            with torch.no_grad():
                sub.weight.div_(scale)
                if sub.bias is not None:
                    sub.bias.div_(scale)


# ----------------------------------------------------------------------------------------------
# the network
# ----------------------------------------------------------------------------------------------
class UnetSEBiSRU(nn.Module):
    """The separator: forward(mix (B, C, T)) -> stems (B, S, C, T) for any T >= 1."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = cfg = config
        self.encoder = nn.ModuleList()
        decoder = []
        in_width, width = cfg.audio_channels, cfg.channels
        for index in range(cfg.depth):
            self.encoder.append(EncoderLayer(cfg, in_width, width))
            out_width = in_width if index > 0 else len(cfg.sources) * cfg.audio_channels
            decoder.append(DecoderLayer(cfg, width, out_width, outermost=index == 0))
            in_width, width = width, int(cfg.growth * width)
        self.decoder = nn.ModuleList(reversed(decoder))  # innermost first, in call order
        self.bottleneck = Bottleneck(cfg.rnn, in_width, cfg.rnn_layers) if cfg.rnn != "none" else None
        if cfg.rescale:
            rescale_weights(self, cfg.rescale)
        self.valid_length(1)  # fail at construction, not at the first forward, for impossible shapes

    # -- length maths ---------------------------------------------------------------------------
    def _internal_lengths(self, bottleneck: int) -> tuple[int, int]:
        """For a bottleneck length, the (input, output) lengths at the encoder's rate."""
        cfg = self.config
        n_in = n_out = bottleneck
        shrink = 0 if cfg.pad_context else cfg.context - 1  # samples the context conv removes
        for _ in range(cfg.depth):
            n_in = (n_in - 1) * cfg.stride + cfg.kernel_size
            n_out = (n_out - 1 - shrink) * cfg.stride + cfg.kernel_size
        return n_in, n_out

    def _lengths(self, bottleneck: int) -> tuple[int, int]:
        """(input, output) lengths in samples at config.samplerate for a bottleneck length."""
        n_in, n_out = self._internal_lengths(bottleneck)
        if self.config.resample:  # the x2 upsampled input must be even; output is halved
            return n_in // 2, -(-n_out // 2)
        return n_in, n_out

    def valid_length(self, length: int) -> int:
        """Smallest padded input length >= `length` whose output covers `length` samples."""
        cfg = self.config
        if length < 1:
            raise ValueError("length must be at least 1 sample")
        scale = cfg.stride ** cfg.depth
        # a bottleneck of at least context + 1 steps keeps >= 2 samples per norm group everywhere
        start = max(cfg.context + 1, (length * (2 if cfg.resample else 1)) // scale - 1)
        for bottleneck in range(start, start + 4 * cfg.context + 8):
            n_in, n_out = self._lengths(bottleneck)
            whole = not cfg.resample or 2 * n_in == self._internal_lengths(bottleneck)[0]
            if n_in >= length and n_out >= length and whole:
                return n_in
        raise ValueError(f"no valid input length for {length} samples with this config "
                         "(with resample, kernel_size and stride must allow an even length)")

    # -- forward --------------------------------------------------------------------------------
    def forward(self, mix: Tensor) -> Tensor:
        """mix: (B, C, T) -> (B, S, C, T)."""
        cfg = self.config
        batch, channels, length = mix.shape
        if channels != cfg.audio_channels:
            raise ValueError(f"expected {cfg.audio_channels} audio channels, got {channels}")
        if cfg.normalize:
            mono = mix.mean(dim=1, keepdim=True)  # (B, 1, T)
            mean = mono.mean(dim=-1, keepdim=True)  # (B, 1, 1)
            std = mono.std(dim=-1, keepdim=True, correction=0)  # population std: defined for T = 1
            x = (mix - mean) / (1e-5 + std)
        else:
            x = mix
        padded = self.valid_length(length)
        delta = padded - length
        x = F.pad(x, (delta // 2, delta - delta // 2))  # (B, C, L)
        if cfg.resample:
            x = (demucs_resample.upsample2 if cfg.resample_filter == "demucs" else upsample2)(x)  # (B, C, 2L)
        skips = []
        for encode in self.encoder:
            x = encode(x)  # (B, W_d, T_d)
            skips.append(x)
        if self.bottleneck is not None:
            x = self.bottleneck(x)  # (B, W_D, T_D)
        reuse = _reuse_buffers()
        for decode in self.decoder:
            skip = center_trim(skips.pop(), x.shape[-1])
            x = x.add_(skip) if reuse else x + skip
            del skip  # the encoder activation is freed as soon as it has been used
            x = decode(x)  # (B, W_{d-1} or S*C, T_{d-1}')
        if cfg.resample:
            x = (demucs_resample.downsample2 if cfg.resample_filter == "demucs" else downsample2)(x)
        x = center_trim(x, length)  # (B, S*C, T)
        if cfg.normalize:
            x = x.mul_(std).add_(mean) if reuse else x * std + mean
        return x.view(batch, len(cfg.sources), cfg.audio_channels, length)


# ----------------------------------------------------------------------------------------------
# SE activations for the GUI (paper Fig. 4.3)
# ----------------------------------------------------------------------------------------------
def se_layers(model: UnetSEBiSRU) -> list[tuple[str, SE1d]]:
    """SE blocks in call order: "encoder.1".."encoder.D", then "decoder.D".."decoder.1"."""
    depth = len(model.encoder)
    named = [(f"encoder.{i + 1}", layer.se) for i, layer in enumerate(model.encoder)]
    named += [(f"decoder.{depth - i}", layer.se) for i, layer in enumerate(model.decoder)]
    return [(name, se) for name, se in named if se is not None]


@contextlib.contextmanager
def record_se(model: UnetSEBiSRU) -> Iterator[dict[str, list[np.ndarray]]]:
    """While active, every forward appends each SE block's activations (B, C) float32 to the dict."""
    layers = se_layers(model)
    records: dict[str, list[np.ndarray]] = {name: [] for name, _ in layers}
    previous = [se.sink for _, se in layers]
    for name, se in layers:
        se.sink = records[name]
    try:
        yield records
    finally:
        for (_, se), old in zip(layers, previous):
            se.sink = old
