"""The speed-ups keep the numbers: block (polyphase) resampling equals the direct FIR."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model.network import RESAMPLE_ZEROS, _block_taps, _lowpass_kernel, downsample2, upsample2


def upsample2_direct(x: torch.Tensor) -> torch.Tensor:
    """The textbook filter: zero-stuff, then a 129-tap conv1d (gain 2)."""
    shape, n = x.shape[:-1], x.shape[-1]
    pad = RESAMPLE_ZEROS // 2 + 1
    flat = F.pad(x.reshape(-1, 1, n), (pad, pad), mode="replicate")
    stuffed = torch.stack([flat, torch.zeros_like(flat)], dim=-1).flatten(-2)
    y = F.conv1d(stuffed, 2 * _lowpass_kernel(x.dtype, x.device))
    start = 2 * pad - RESAMPLE_ZEROS
    return y[..., start: start + 2 * n].reshape(*shape, 2 * n)


def downsample2_direct(x: torch.Tensor) -> torch.Tensor:
    """The textbook filter: 129-tap conv1d with stride 2."""
    shape, m = x.shape[:-1], x.shape[-1]
    flat = F.pad(x.reshape(-1, 1, m), (RESAMPLE_ZEROS, RESAMPLE_ZEROS), mode="replicate")
    y = F.conv1d(flat, _lowpass_kernel(x.dtype, x.device), stride=2)
    return y.reshape(*shape, y.shape[-1])


@pytest.mark.parametrize("length", [1, 2, 5, 16, 17, 31, 64, 129, 1000, 4097])
def test_block_resampling_equals_direct_filter(length: int) -> None:
    torch.manual_seed(length)
    x = torch.randn(2, 3, length, dtype=torch.float64)
    up = upsample2(x)
    assert up.shape == (2, 3, 2 * length)
    torch.testing.assert_close(up, upsample2_direct(x), rtol=0, atol=1e-12)
    for signal in (x, up):
        down = downsample2(signal)
        assert down.shape == (2, 3, (signal.shape[-1] + 1) // 2)
        torch.testing.assert_close(down, downsample2_direct(signal), rtol=0, atol=1e-12)
    # float32 as the network runs it: equal within float rounding
    x32 = x.float()
    torch.testing.assert_close(upsample2(x32), upsample2_direct(x32), rtol=0, atol=2e-6)
    torch.testing.assert_close(downsample2(x32), downsample2_direct(x32), rtol=0, atol=2e-6)


def test_block_resampling_gradients_equal_direct_filter() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 2, 300, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(1, 2, 300, dtype=torch.float64)
    (downsample2(upsample2(x)) * weight).sum().backward()
    fast = x.grad.clone()
    x.grad = None
    (downsample2_direct(upsample2_direct(x)) * weight).sum().backward()
    torch.testing.assert_close(fast, x.grad, rtol=0, atol=1e-12)


def test_taps_cached_in_inference_mode_still_train() -> None:
    """A first call under inference_mode must not poison the tap cache for training."""
    _block_taps.cache_clear()
    with torch.inference_mode():
        upsample2(torch.randn(1, 1, 40))
        downsample2(torch.randn(1, 1, 40))
    x = torch.randn(1, 1, 40, requires_grad=True)
    downsample2(upsample2(x)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_malloc_tuning_is_idempotent_and_can_be_switched_off() -> None:
    import subprocess
    import sys

    from model.cpu_runtime import keep_freed_memory, release_freed_memory

    first = keep_freed_memory()
    assert keep_freed_memory() == first
    release_freed_memory()
    code = "from model.cpu_runtime import keep_freed_memory as k; print(k())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"STEMDECK_MALLOC_TUNING": "0", "PYTHONPATH": "."})
    assert out.stdout.strip() == "False"
