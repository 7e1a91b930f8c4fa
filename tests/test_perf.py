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


def test_concurrent_cpu_segments_equal_serial_separation() -> None:
    """threads=2 runs the segments of a batch on two worker threads (one model replica each):
    same stems and the same SE activations, in segment order, as one segment at a time."""
    import numpy as np

    from model.config import tiny_config
    from model.network import UnetSEBiSRU, se_layers
    from model.separate import _CpuWorkers, separate

    torch.manual_seed(0)
    model = UnetSEBiSRU(tiny_config(samplerate=8000, segment_seconds=0.5))
    mix = np.random.default_rng(3).standard_normal((2, 8000 * 2 + 77)).astype(np.float32) * 0.3
    old = torch.get_num_threads()
    try:
        serial = separate(mix, model, device="cpu", threads=1, collect_se=True)
        both = separate(mix, model, device="cpu", threads=2, collect_se=True, batch_size=3)
        assert torch.get_num_threads() == old  # the caller's setting is restored
    finally:
        torch.set_num_threads(old)
    assert both.segments_processed == serial.segments_processed >= 4
    np.testing.assert_allclose(both.stems, serial.stems, rtol=0, atol=1e-5)
    for name, _ in se_layers(model):
        np.testing.assert_allclose(both.se_activations[name], serial.se_activations[name], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(both.se_times_seconds, serial.se_times_seconds)
    workers = _CpuWorkers.create(model, torch.device("cpu"), 2)
    try:  # replicas share the weights: no second copy of the model in memory
        assert len(workers.replicas) == 2 and workers.replicas[1] is not model
        assert all(a is b for a, b in zip(model.parameters(), workers.replicas[1].parameters()))
    finally:
        workers.close()
    assert _CpuWorkers.create(model, torch.device("cpu"), 1) is None


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
