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
import logging
import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .se import SE1d
from .sru import BiSRU

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# x2 resampling: windowed-sinc low-pass FIR (Hann window), applied with conv1d.
# Cut-off at RESAMPLE_ROLLOFF x the lower rate's Nyquist; 2 * RESAMPLE_ZEROS + 1 taps at the
# higher rate; edges padded by replication. Linear phase, so no time shift; in-band signals
# survive up -> down almost unchanged (tests check < -60 dB error on a 1 kHz tone).
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


def upsample2(x: Tensor) -> Tensor:
    """(..., N) -> (..., 2N): zero-stuff, then low-pass (gain 2). Sample k of x lands on 2k."""
    shape, n = x.shape[:-1], x.shape[-1]
    pad = RESAMPLE_ZEROS // 2 + 1
    flat = F.pad(x.reshape(-1, 1, n), (pad, pad), mode="replicate")  # (M, 1, N + 2P)
    stuffed = torch.stack([flat, torch.zeros_like(flat)], dim=-1).flatten(-2)  # (M, 1, 2(N + 2P))
    y = F.conv1d(stuffed, 2 * _lowpass_kernel(x.dtype, x.device))
    start = 2 * pad - RESAMPLE_ZEROS
    return y[..., start: start + 2 * n].reshape(*shape, 2 * n)


def downsample2(x: Tensor) -> Tensor:
    """(..., M) -> (..., ceil(M/2)): low-pass, then keep the even samples."""
    shape, m = x.shape[:-1], x.shape[-1]
    flat = F.pad(x.reshape(-1, 1, m), (RESAMPLE_ZEROS, RESAMPLE_ZEROS), mode="replicate")
    y = F.conv1d(flat, _lowpass_kernel(x.dtype, x.device), stride=2)
    return y.reshape(*shape, y.shape[-1])


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
        x = F.relu(self.norm(self.conv(x)))
        x = F.glu(self.rewrite(x), dim=1)
        return self.se(x) if self.se is not None else x


class DecoderLayer(nn.Module):
    """(B, width, T) -> (B, out, (T - context) * s + k); `outermost` skips the final Norm + ReLU."""

    def __init__(self, cfg: ModelConfig, width: int, out_width: int, outermost: bool) -> None:
        super().__init__()
        self.rewrite = nn.Conv1d(width, 2 * width, cfg.context)
        self.norm1 = make_norm(cfg.norm, 2 * width, cfg.norm_groups)
        self.se = SE1d(width, cfg.se_reduction) if cfg.attention == "se" else None
        self.conv_tr = nn.ConvTranspose1d(width, out_width, cfg.kernel_size, cfg.stride)
        self.outermost = outermost
        self.norm2 = nn.Identity() if outermost else make_norm(cfg.norm, out_width, cfg.norm_groups)

    def forward(self, x: Tensor) -> Tensor:
        x = F.glu(self.norm1(self.rewrite(x)), dim=1)
        if self.se is not None:
            x = self.se(x)
        x = self.conv_tr(x)
        return x if self.outermost else F.relu(self.norm2(x))


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
        for _ in range(cfg.depth):
            n_in = (n_in - 1) * cfg.stride + cfg.kernel_size
            n_out = (n_out - cfg.context) * cfg.stride + cfg.kernel_size
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
            x = upsample2(x)  # (B, C, 2L)
        skips = []
        for encode in self.encoder:
            x = encode(x)  # (B, W_d, T_d)
            skips.append(x)
        if self.bottleneck is not None:
            x = self.bottleneck(x)  # (B, W_D, T_D)
        for decode in self.decoder:
            x = x + center_trim(skips.pop(), x.shape[-1])
            x = decode(x)  # (B, W_{d-1} or S*C, T_{d-1}')
        if cfg.resample:
            x = downsample2(x)
        x = center_trim(x, length)  # (B, S*C, T)
        if cfg.normalize:
            x = x * std + mean
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
