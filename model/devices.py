"""Compute devices torch can see, and the choice of which one runs a separation.

`select_device("auto")` prefers CUDA, then Apple MPS, then the CPU. An explicitly requested device
that does not exist is an error naming what *is* available — never a silent fallback. Every
choice comes with a `DeviceReport` saying which device ran and why, so the CLI and GUI can show a
"ran on: ..." line (see PEERS.md item 2: "GPU not used / silently falls back to CPU").
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

import torch

from .errors import DeviceError

logger = logging.getLogger(__name__)

_REQUEST_RE = re.compile(r"^(auto|cpu|mps|cuda(?::(\d+))?)$")


@dataclass(frozen=True)
class DeviceInfo:
    """One device torch can use. `id` is what `select_device` accepts ("cpu", "cuda:0", "mps");
    `memory_bytes` is the total device memory (system RAM for the CPU) or None when unknown."""

    id: str
    name: str
    memory_bytes: int | None


@dataclass
class DeviceReport:
    """Which device ran a job and why.

    requested: what the caller asked for ("auto", "cuda:0", ...); used: the device id that actually
    ran the last segment; name: its human name; reason: one sentence on why it was chosen;
    fallbacks: one line per change made while running (smaller batch, CPU fallback after OOM...).
    """

    requested: str
    used: str
    name: str
    reason: str
    fallbacks: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for a log or the CLI: 'cuda:0 (NVIDIA H100) - auto: ...'."""
        text = f"{self.used} ({self.name}) - {self.reason}"
        if self.fallbacks:
            text += "; " + "; ".join(self.fallbacks)
        return text


def cpu_count() -> int:
    """CPU cores this process may run on (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS / Windows
        return max(1, os.cpu_count() or 1)


def _cpu_info() -> DeviceInfo:
    memory = None
    try:
        import psutil

        memory = int(psutil.virtual_memory().total)
    except Exception:  # psutil missing or unsupported platform: memory is optional
        memory = None
    return DeviceInfo("cpu", f"CPU ({cpu_count()} cores)", memory)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    try:
        return bool(backend is not None and backend.is_available())
    except Exception:  # very old torch / broken MPS runtime
        return False


def _mps_info() -> DeviceInfo:
    memory = None
    try:
        memory = int(torch.mps.recommended_max_memory())
    except Exception:  # not available in every torch version
        memory = None
    return DeviceInfo("mps", "Apple Metal (MPS)", memory)


def list_devices() -> list[DeviceInfo]:
    """Every device torch can run on here: the CPU, each CUDA device (name, total memory), MPS."""
    devices = [_cpu_info()]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            devices.append(DeviceInfo(f"cuda:{index}", props.name, int(props.total_memory)))
    if _mps_available():
        devices.append(_mps_info())
    return devices


def _describe(devices: list[DeviceInfo]) -> str:
    parts = []
    for dev in devices:
        if dev.id == "cpu":
            parts.append("cpu")
        else:
            parts.append(f"{dev.id} ({dev.name})")
    return ", ".join(parts)


def select_device(requested: str = "auto") -> tuple[torch.device, DeviceReport]:
    """Pick the device for a job.

    requested: "auto" (CUDA > MPS > CPU), "cpu", "cuda" (= cuda:0), "cuda:N" or "mps".
    Raises DeviceError when the request is malformed or names a device that is not available,
    listing the devices that are.
    """
    text = (requested or "auto").strip().lower()
    match = _REQUEST_RE.match(text)
    devices = list_devices()
    by_id = {dev.id: dev for dev in devices}
    if match is None:
        raise DeviceError(
            f"unknown device {requested!r}: use auto, cpu, cuda, cuda:N or mps "
            f"(available here: {_describe(devices)})"
        )
    if text == "auto":
        cuda = [dev for dev in devices if dev.id.startswith("cuda:")]
        if cuda:
            dev = cuda[0]
            reason = f"auto: CUDA available ({dev.name}, {_gib(dev.memory_bytes)})"
        elif "mps" in by_id:
            dev = by_id["mps"]
            reason = "auto: no CUDA device, Apple MPS available"
        else:
            dev = by_id["cpu"]
            reason = "auto: no CUDA or MPS device found, using the CPU"
        logger.info("device %s chosen (%s)", dev.id, reason)
        return torch.device(dev.id), DeviceReport(requested, dev.id, dev.name, reason)
    wanted = "cuda:0" if text == "cuda" else text
    if wanted not in by_id:
        raise DeviceError(
            f"requested device {requested!r} is not available; available: {_describe(devices)}"
        )
    dev = by_id[wanted]
    return torch.device(dev.id), DeviceReport(requested, dev.id, dev.name, "requested explicitly")


def free_memory_bytes(device: torch.device) -> int | None:
    """Free memory on an accelerator right now (None for the CPU or when unknown)."""
    if device.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(device)
            return int(free)
        except Exception:  # driver hiccup: let the caller use its default
            return None
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except Exception:
            return None
    return None


def _gib(memory: int | None) -> str:
    return "memory unknown" if memory is None else f"{memory / 2**30:.1f} GiB"


def format_memory(memory: int | None) -> str:
    """'15.7 GiB' or 'memory unknown'."""
    return _gib(memory)
