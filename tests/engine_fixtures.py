"""Linear stand-in models for the separation engine tests (no trained network needed).

They follow the network contract: `.config` (ModelConfig) and forward (B, C, T) -> (B, S, C, T)
for any T, and record the input shape of every call so tests can count segments and batches.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from model.config import ModelConfig

SR = 2000  # low rate keeps long stand-in tracks cheap


def standin_config(segment_seconds: float = 1.0, samplerate: int = SR) -> ModelConfig:
    return ModelConfig(samplerate=samplerate, segment_seconds=segment_seconds, channels=4, depth=2)


class GainModel(nn.Module):
    """stems[s] = gains[s] * mix: pointwise, linear and shift-invariant, so any chunking must give
    exactly the whole-track result. Gains live in a Python list (not a buffer) so the module
    survives a trip to the 'meta' device in the OOM fallback test."""

    def __init__(self, config: ModelConfig, gains=(0.1, 0.2, 0.3, 0.4), oom_if=None) -> None:
        super().__init__()
        self.config = config
        self.gains = list(gains)
        self.calls: list[tuple[int, ...]] = []
        self.oom_if = oom_if

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.oom_if is not None and self.oom_if(x):
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        self.calls.append(tuple(x.shape))
        g = torch.tensor(self.gains, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return g * x[:, None]


class PaddedGainModel(GainModel):
    """GainModel that also declares a `valid_length` (like UnetSEBiSRU), so the engine feeds it
    windows longer than a segment, filled with neighbouring audio."""

    def valid_length(self, length: int) -> int:
        return (length + 63) // 64 * 64 + 64


class FirModel(nn.Module):
    """Causal FIR per source: linear but with memory (context effects at window edges)."""

    def __init__(self, config: ModelConfig, taps: int = 16, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        gen = torch.Generator().manual_seed(seed)
        self.kernel = torch.randn(len(config.sources), 1, taps, generator=gen) / taps
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        b, c, t = x.shape
        taps = self.kernel.shape[-1]
        flat = torch.nn.functional.pad(x.reshape(b * c, 1, t), (taps - 1, 0))
        y = torch.nn.functional.conv1d(flat, self.kernel.to(x.device, x.dtype))  # (b*c, S, t)
        return y.reshape(b, c, -1, t).permute(0, 2, 1, 3)


def noise(frames: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((channels, frames)).astype(np.float32) * 0.3


def expected_gain(model: GainModel, mix: np.ndarray) -> np.ndarray:
    return np.asarray(model.gains, dtype=np.float32)[:, None, None] * mix[None]
