"""Out-of-memory recovery, alone (`model.oom_recovery`) and inside a separation with a stand-in
model that raises torch's out-of-memory error (there is no GPU here: the error is mocked)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.errors import DeviceError
from model.oom_recovery import OomRecovery, is_out_of_memory
from model.separate import Separator
from model.separation_settings import SeparationSettings
from tests.engine_fixtures import SR, GainModel, standin_config


def test_ladder_halves_batch_then_segment_then_moves_to_the_cpu():
    ladder = OomRecovery(full_segment_frames=8000, min_segment_frames=1000, samplerate=SR)
    steps, batch, seg, on_cpu = [], 4, 8000, False
    while not on_cpu:
        step = ladder.next_step("cuda:0", on_cpu, batch, seg)
        steps.append((step.batch, step.segment_frames, step.to_cpu))
        batch, seg, on_cpu = step.batch, step.segment_frames, step.to_cpu
    assert steps == [(2, 8000, False), (1, 8000, False), (1, 4000, False), (1, 2000, False),
                     (1, 1000, False), (0, 8000, True)]     # CPU: full segment, batch chosen again
    assert "falling back to the CPU" in ladder.next_step("cuda:0", False, 1, 1000).message
    assert "2.00 s segments" in ladder.next_step("cuda:0", False, 1, 8000).message


def test_ladder_ends_with_a_clear_error_on_the_cpu():
    ladder = OomRecovery(full_segment_frames=4000, min_segment_frames=1000, samplerate=SR)
    with pytest.raises(DeviceError, match="out of memory on the CPU even with 1000 frame segments"):
        ladder.next_step("cpu", True, 1, 1000)


def test_minimum_segment_never_exceeds_the_segment_asked_for():
    ladder = OomRecovery(full_segment_frames=500, min_segment_frames=1000, samplerate=SR)
    with pytest.raises(DeviceError):
        ladder.next_step("cpu", True, 1, 500)


def test_out_of_memory_errors_are_recognised():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_separator_recovers_and_reports_each_step():
    """The result equals the run that never ran out of memory; every step is in the notices."""
    mix = np.random.default_rng(0).standard_normal((2, 6 * SR)).astype(np.float32)
    config = standin_config(segment_seconds=2.0)
    calm = Separator(GainModel(config), device="cpu", batch_size=4).separate(mix)
    model = GainModel(config, oom_if=lambda x: x.shape[0] > 1 or x.shape[-1] > 1500)
    result = Separator(model, device="cpu", batch_size=4,
                       settings=SeparationSettings(overlap=0.25)).separate(mix)
    np.testing.assert_allclose(result.stems, calm.stems, atol=1e-5)
    assert [n.split(": ")[1] for n in result.notices] == [
        "retrying with 2 segment(s) per batch", "retrying with 1 segment(s) per batch",
        "retrying with 1.00 s segments", "retrying with 0.50 s segments"]
    assert result.device.fallbacks == result.notices
