"""Separation engine: chunking, shifts, progressive regions, ranges, cancel, exact sum, OOM
recovery and bounded memory, all against linear stand-in models (tests/engine_fixtures.py)."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
import torch

from model.errors import Cancelled, DeviceError
from model.overlap_add import OverlapAdd, plan_windows, triangular_weight
from model.separate import separate
from tests.engine_fixtures import (
    SR,
    FirModel,
    GainModel,
    PaddedGainModel,
    expected_gain,
    noise,
    standin_config,
)


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize("model_cls", [GainModel, PaddedGainModel])
@pytest.mark.parametrize("frames", [300, 2000, 4321, 10007])
@pytest.mark.parametrize("overlap", [0.1, 0.25, 0.5])
def test_chunked_equals_whole_track(model_cls, frames, overlap):
    model = model_cls(standin_config(segment_seconds=1.0))
    mix = noise(frames)
    result = separate(mix, model, device="cpu", overlap=overlap)
    assert result.stems.shape == (4, 2, frames)
    np.testing.assert_allclose(result.stems, expected_gain(model, mix), atol=1e-6)
    assert result.sources == ("drums", "bass", "other", "vocals")
    assert result.samplerate == SR
    if frames > SR:  # longer than one segment: really chunked
        assert result.segments_processed > 1
        assert all(shape[-1] >= SR for shape in model.calls)


def test_shifts_average_shift_invariant_model():
    mix = noise(7000)
    one = GainModel(standin_config())
    separate(mix, one, device="cpu", shifts=1)
    model = GainModel(standin_config())
    result = separate(mix, model, device="cpu", shifts=3, seed=5)
    np.testing.assert_allclose(result.stems, expected_gain(model, mix), atol=1e-6)
    windows_one = sum(shape[0] for shape in one.calls)
    windows_three = sum(shape[0] for shape in model.calls)
    assert windows_three >= 3 * windows_one - 2


def test_shifts_are_seeded():
    mix = noise(6000)
    cfg = standin_config()
    a = separate(mix, FirModel(cfg), device="cpu", shifts=2, seed=1).stems
    b = separate(mix, FirModel(cfg), device="cpu", shifts=2, seed=1).stems
    c = separate(mix, FirModel(cfg), device="cpu", shifts=2, seed=2).stems
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-6
    # shifts=1 is the unshifted grid: the seed does not matter
    d = separate(mix, FirModel(cfg), device="cpu", shifts=1, seed=1).stems
    e = separate(mix, FirModel(cfg), device="cpu", shifts=1, seed=9).stems
    np.testing.assert_array_equal(d, e)


@pytest.mark.parametrize("shifts", [1, 2])
def test_on_region_covers_range_once_in_order_and_early(shifts):
    model = GainModel(standin_config())
    mix = noise(15000)
    regions = []
    calls_at_first_region = []

    def on_region(start, block):
        if not regions:
            calls_at_first_region.append(len(model.calls))
        regions.append((start, block.copy()))

    result = separate(mix, model, device="cpu", on_region=on_region, batch_size=1, shifts=shifts)
    position = 0
    for start, block in regions:
        assert start == position
        assert block.shape[:2] == (4, 2) and block.shape[-1] > 0
        position += block.shape[-1]
    assert position == 15000
    np.testing.assert_array_equal(np.concatenate([b for _, b in regions], axis=-1), result.stems)
    # progressive: the first region was handed out long before the last segment ran
    assert calls_at_first_region[0] <= 2 * shifts
    assert len(model.calls) > 5 * shifts


def test_range_equals_slice_of_full_run():
    mix = noise(12000, seed=3)
    full = separate(mix, GainModel(standin_config()), device="cpu").stems
    regions = []
    part = separate(
        mix, GainModel(standin_config()), device="cpu", start_frame=3333, end_frame=8100,
        on_region=lambda s, b: regions.append((s, b.shape[-1])),
    )
    assert part.stems.shape == (4, 2, 8100 - 3333)
    assert part.start_frame == 3333
    np.testing.assert_allclose(part.stems, full[..., 3333:8100], atol=1e-6)
    assert regions[0][0] == 3333 and sum(n for _, n in regions) == 8100 - 3333


def test_range_reads_neighbouring_audio_as_context():
    model = PaddedGainModel(standin_config())
    mix = noise(12000, seed=4)
    seen = []
    original_forward = model.forward

    def spy(x):
        seen.append(x.detach().clone())
        return original_forward(x)

    model.forward = spy
    separate(mix, model, device="cpu", start_frame=4000, end_frame=5000)
    window = seen[0][0]
    pad = (window.shape[-1] - 1000) // 2
    assert pad > 0
    np.testing.assert_array_equal(window.numpy(), mix[:, 4000 - pad : 4000 - pad + window.shape[-1]])


def test_out_array_is_filled_in_place_and_mix_untouched(tmp_path):
    mix = noise(5000)
    before = mix.copy()
    out = np.lib.format.open_memmap(tmp_path / "stems.npy", mode="w+", dtype=np.float32, shape=(4, 2, 5000))
    model = GainModel(standin_config())
    result = separate(mix, model, device="cpu", out=out, start_frame=1000, end_frame=4000, exact_sum="energy")
    np.testing.assert_array_equal(mix, before)
    assert np.shares_memory(result.stems, out)
    assert not out[..., :1000].any() and not out[..., 4000:].any()
    np.testing.assert_allclose(out[..., 1000:4000].sum(axis=0), mix[:, 1000:4000], atol=1e-5)


def test_progress_reports_fraction_and_eta():
    seen = []
    separate(noise(9000), GainModel(standin_config()), device="cpu", batch_size=1, progress=seen.append)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) > 3
    assert seen[-1].frames_done == seen[-1].frames_total == 9000
    assert all(p.eta_seconds is not None and p.eta_seconds >= 0 for p in seen)
    frames = [p.frames_done for p in seen]
    assert frames == sorted(frames)


def test_cancel_stops_within_one_batch():
    model = GainModel(standin_config())
    cancel = threading.Event()
    batches_when_set = []

    def progress(p):
        if len(model.calls) == 2 and not cancel.is_set():
            cancel.set()
            batches_when_set.append(len(model.calls))

    with pytest.raises(Cancelled, match="cancelled"):
        separate(noise(20000), model, device="cpu", batch_size=2, progress=progress, cancel=cancel)
    assert batches_when_set == [2]
    assert len(model.calls) == 2  # no further batch ran after the event was set


def test_cancel_before_start_runs_nothing():
    model = GainModel(standin_config())
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        separate(noise(5000), model, device="cpu", cancel=cancel)
    assert model.calls == []


def test_exact_sum_other_puts_residual_into_other():
    mix = noise(6000)
    model = GainModel(standin_config(), gains=(0.1, 0.2, 0.3, 0.1))
    plain = separate(mix, model, device="cpu").stems
    exact = separate(mix, model, device="cpu", exact_sum="other").stems
    np.testing.assert_allclose(exact.sum(axis=0), mix, atol=1e-5)
    for index in (0, 1, 3):  # drums, bass, vocals untouched
        np.testing.assert_array_equal(exact[index], plain[index])
    np.testing.assert_allclose(exact[2], plain[2] + (mix - plain.sum(axis=0)), atol=1e-5)


def test_exact_sum_energy_spreads_by_energy():
    mix = noise(6000)
    model = GainModel(standin_config(), gains=(0.1, 0.0, 0.2, 0.3))
    plain = separate(mix, model, device="cpu").stems
    exact = separate(mix, model, device="cpu", exact_sum="energy").stems
    np.testing.assert_allclose(exact.sum(axis=0), mix, atol=1e-5)
    assert not exact[1].any()  # a silent stem receives none of the residual
    gained = np.abs(exact - plain).sum(axis=(1, 2))
    assert gained[3] > gained[2] > gained[0] > 0  # louder stems take more of the residual


def test_oom_retries_smaller_batch_then_smaller_segment():
    # forward fails for batches > 1 and for windows longer than 1500 frames
    model = GainModel(standin_config(segment_seconds=2.0), oom_if=lambda x: x.shape[0] > 1 or x.shape[-1] > 1500)
    mix = noise(12000)
    result = separate(mix, model, device="cpu", batch_size=4)
    np.testing.assert_allclose(result.stems, expected_gain(model, mix), atol=1e-6)
    text = " | ".join(result.notices)
    assert "1 segment(s) per batch" in text and "1.00 s segments" in text
    assert result.device.fallbacks == result.notices
    assert all(shape[0] == 1 and shape[-1] <= 1500 for shape in model.calls)


def test_oom_on_accelerator_falls_back_to_cpu():
    # 'meta' stands in for a GPU: every forward there runs out of memory
    model = GainModel(standin_config(), oom_if=lambda x: x.device.type == "meta")
    mix = noise(5000)
    result = separate(mix, model, device=torch.device("meta"), batch_size=2)
    np.testing.assert_allclose(result.stems, expected_gain(model, mix), atol=1e-6)
    assert result.device.used == "cpu"
    assert any("falling back to the CPU" in n for n in result.notices)
    assert "CPU" in result.device.summary()


def test_oom_on_cpu_with_smallest_settings_is_a_clear_error():
    model = GainModel(standin_config(), oom_if=lambda x: True)
    with pytest.raises(DeviceError, match="out of memory on the CPU"):
        separate(noise(5000), model, device="cpu")


def test_accumulator_does_not_grow_with_track_length():
    sizes, peaks = {}, {}
    for minutes in (1, 10):
        frames = minutes * 60 * SR
        mix = noise(frames)
        out = np.zeros((4, 2, frames), dtype=np.float32)
        model = GainModel(standin_config())
        tracemalloc.start()
        result = separate(mix, model, device="cpu", out=out, batch_size=4)
        _, peaks[minutes] = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sizes[minutes] = result.accumulator_frames
        np.testing.assert_allclose(out[..., -100:], expected_gain(model, mix)[..., -100:], atol=1e-6)
    stride = int(SR * 0.75)
    assert sizes[1] == sizes[10] <= 3 * stride + SR
    out_10min_bytes = 4 * 2 * 10 * 60 * SR * 4  # 38 MB
    assert peaks[10] - peaks[1] < 0.05 * out_10min_bytes, peaks


def test_bad_arguments_are_rejected():
    model = GainModel(standin_config())
    with pytest.raises(ValueError, match="mix must be"):
        separate(noise(100, channels=1), model, device="cpu")
    with pytest.raises(ValueError, match="invalid range"):
        separate(noise(100), model, device="cpu", start_frame=50, end_frame=40)
    with pytest.raises(ValueError, match="overlap"):
        separate(noise(100), model, device="cpu", overlap=1.0)
    with pytest.raises(DeviceError, match="available"):
        separate(noise(100), model, device="cuda:7")


def test_plan_windows_cover_range_in_order():
    starts = plan_windows(0, 10000, 2000, 1500, [0, 333])
    assert starts == sorted(starts)
    covered = np.zeros(10000, dtype=int)
    for a in starts:
        covered[max(a, 0) : max(0, min(a + 2000, 10000))] += 1
    assert covered.min() >= 1
    assert max(a + 2000 for a in starts if a >= 0) >= 10000
    w = triangular_weight(7)
    assert w.min() > 0 and w.max() == 1.0 and np.allclose(w, w[::-1])


def test_overlap_add_rolls_without_growing():
    acc = OverlapAdd(1, 1, base=0)
    weight = np.ones(100, dtype=np.float32)
    for k in range(50):
        acc.add(k * 50, np.full((1, 1, 100), float(k), dtype=np.float32), weight)
        start, block = acc.pop_until(k * 50 + 50)
        assert start == k * 50 and block.shape[-1] == 50
    assert acc.capacity <= 150


def test_real_network_progressive_with_se_activations():
    from model.config import tiny_config
    from model.network import UnetSEBiSRU, se_layers

    torch.manual_seed(0)
    model = UnetSEBiSRU(tiny_config(samplerate=8000, segment_seconds=0.5))
    mix = noise(8000 * 2 + 123)
    model.train()
    regions = []
    result = separate(mix, model, device="cpu", collect_se=True, on_region=lambda s, b: regions.append(b.copy()))
    assert result.stems.shape == (4, 2, mix.shape[1]) and np.isfinite(result.stems).all()
    assert model.training  # the caller's mode is restored
    np.testing.assert_array_equal(np.concatenate(regions, axis=-1), result.stems)
    names = [name for name, _ in se_layers(model)]
    assert list(result.se_activations) == names
    n = result.segments_processed
    assert n >= 4 and result.se_times_seconds.shape == (n,)
    assert np.all(np.diff(result.se_times_seconds) > 0)
    assert 0 < result.se_times_seconds[0] < result.se_times_seconds[-1] < mix.shape[1] / 8000
    for name, se in se_layers(model):
        acts = result.se_activations[name]
        assert acts.shape[0] == n and acts.ndim == 2
        assert np.all((acts > 0) & (acts < 1))  # sigmoid gates
    # a second run without collect_se does not record anything
    plain = separate(mix, model, device="cpu")
    assert plain.se_activations is None
    np.testing.assert_allclose(plain.stems, result.stems, atol=1e-5)
