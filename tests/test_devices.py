"""Device listing and selection: auto order CUDA > MPS > CPU, explicit requests, clear errors."""

from __future__ import annotations

import pytest
import torch

from model import devices
from model.devices import DeviceInfo, list_devices, select_device
from model.errors import DeviceError

FAKE_CUDA = DeviceInfo("cuda:0", "NVIDIA Fake 24GB", 24 * 2**30)
FAKE_MPS = DeviceInfo("mps", "Apple Metal (MPS)", None)


def _fake(monkeypatch, extra):
    cpu = DeviceInfo("cpu", "CPU (2 cores)", 8 * 2**30)
    monkeypatch.setattr(devices, "list_devices", lambda: [cpu, *extra])


def test_list_devices_has_cpu_first_with_memory():
    found = list_devices()
    assert found[0].id == "cpu"
    assert found[0].memory_bytes is None or found[0].memory_bytes > 2**28
    if torch.cuda.is_available():
        assert any(d.id == "cuda:0" and d.memory_bytes for d in found)
    else:
        assert not any(d.id.startswith("cuda") for d in found)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    _fake(monkeypatch, [FAKE_CUDA, FAKE_MPS])
    dev, report = select_device("auto")
    assert dev == torch.device("cuda:0") and report.used == "cuda:0"
    assert "CUDA" in report.reason and report.name == "NVIDIA Fake 24GB"
    _fake(monkeypatch, [FAKE_MPS])
    dev, report = select_device("auto")
    assert dev.type == "mps" and "MPS" in report.reason
    _fake(monkeypatch, [])
    dev, report = select_device()
    assert dev.type == "cpu" and report.requested == "auto"
    assert "no CUDA or MPS" in report.reason and report.fallbacks == []


def test_explicit_cpu_and_cuda_alias(monkeypatch):
    dev, report = select_device("cpu")
    assert dev.type == "cpu" and report.reason == "requested explicitly"
    _fake(monkeypatch, [FAKE_CUDA])
    dev, report = select_device("cuda")
    assert dev == torch.device("cuda:0") and report.used == "cuda:0"


@pytest.mark.parametrize("request_", ["cuda:3", "mps"])
def test_unavailable_device_names_what_is_available(monkeypatch, request_):
    _fake(monkeypatch, [FAKE_CUDA])
    with pytest.raises(DeviceError) as info:
        select_device(request_)
    message = str(info.value)
    assert request_ in message and "not available" in message
    assert "cpu" in message and "cuda:0 (NVIDIA Fake 24GB)" in message


def test_malformed_request_is_rejected():
    with pytest.raises(DeviceError, match="unknown device 'gpu'.*auto, cpu, cuda"):
        select_device("gpu")


def test_report_summary_mentions_fallbacks():
    _dev, report = select_device("cpu")
    report.fallbacks.append("out of memory on cuda:0: falling back to the CPU")
    assert report.summary().startswith("cpu (")
    assert "falling back" in report.summary()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_cuda_selection():
    dev, report = select_device("auto")
    assert dev.type == "cuda" and report.used.startswith("cuda:")
