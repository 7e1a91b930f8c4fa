"""Demucs' x2 resampling filter, for networks imported from Demucs (config.resample_filter = "demucs").

Demucs resamples with julius.resample_frac(x, 1, 2) and (x, 2, 1): a polyphase windowed-sinc FIR
with 24 zero crossings, a cos^2 window, a cut-off at 0.945 x the lower rate's Nyquist, each phase
normalised to unit DC gain, and edges padded by replicating the first/last sample. An imported
network was trained behind exactly that filter, so it must run behind it too (StemDeck's own
filter in model.network differs by up to ~1e-2 near 20 kHz). Written from that description; the
equivalence tests compare it with julius itself.

Shapes: upsample (..., N) -> (..., 2N); downsample (..., M) -> (..., floor(M / 2)).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

ZEROS = 24
ROLLOFF = 0.945


@functools.lru_cache(maxsize=8)
def _phases(old: int, new: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, int]:
    """Filter taps (new, 1, 2W + old) for resampling by new/old (1/2 or 2/1), and W (the
    replicated samples before the signal)."""
    with torch.inference_mode(False), torch.no_grad():
        cutoff = ROLLOFF * min(old, new)  # in cycles of the reduced rates
        width = math.ceil(ZEROS * old / cutoff)
        idx = torch.arange(-width, width + old, dtype=torch.float64)
        rows = []
        for phase in range(new):
            t = ((idx / old - phase / new) * cutoff).clamp(-ZEROS, ZEROS) * math.pi
            taps = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t) * torch.cos(t / ZEROS / 2) ** 2
            rows.append(taps / taps.sum())
        kernel = torch.stack(rows).view(new, 1, -1).to(dtype=dtype, device=device)
        return kernel, width


def _resample(x: Tensor, old: int, new: int) -> Tensor:
    kernel, width = _phases(old, new, x.dtype, x.device)
    shape, length = x.shape[:-1], x.shape[-1]
    rows = F.pad(x.reshape(-1, 1, length), (width, width + old), mode="replicate")
    y = F.conv1d(rows, kernel, stride=old)  # (R, new, frames)
    y = y.transpose(1, 2).reshape(*shape, -1)
    return y[..., : new * length // old]


def upsample2(x: Tensor) -> Tensor:
    """(..., N) -> (..., 2N)."""
    return _resample(x, 1, 2)


def downsample2(x: Tensor) -> Tensor:
    """(..., M) -> (..., floor(M / 2))."""
    return _resample(x, 2, 1)
