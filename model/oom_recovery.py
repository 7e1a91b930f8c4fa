"""What separation tries next after running out of memory.

The ladder, one rung per out-of-memory error: halve the segments per batch (down to one), then
halve the segment length (down to `min_segment_frames`), then, on an accelerator, move to the CPU
with the full segment and an automatic batch size; on the CPU with the smallest settings there is
nothing left and a `DeviceError` says so. `model.separate.Separator` applies each step and replans.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DeviceError


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is torch's out-of-memory error (or a RuntimeError saying so, older torch)."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_cached_memory(device) -> None:
    """Give the allocator's cached blocks of `device` (a torch.device) back before retrying."""
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        try:
            torch.mps.empty_cache()
        except Exception:  # older torch without the call
            pass


@dataclass(frozen=True)
class RecoveryStep:
    """The settings to retry with. `batch` 0 = choose the batch size again for the new device;
    `to_cpu`: move the model to the CPU first; `message`: what the user is told."""

    batch: int
    segment_frames: int
    to_cpu: bool
    message: str


class OomRecovery:
    """See module doc. `full_segment_frames`: the segment asked for (the CPU fallback goes back
    to it); `min_segment_frames`: the shortest segment tried; `samplerate` (Hz) for messages."""

    def __init__(self, full_segment_frames: int, min_segment_frames: int, samplerate: int) -> None:
        self.full_segment_frames = int(full_segment_frames)
        self.min_segment_frames = min(int(min_segment_frames), self.full_segment_frames)
        self.samplerate = int(samplerate)

    def next_step(self, device_name: str, on_cpu: bool, batch: int, segment_frames: int) -> RecoveryStep:
        """The rung after an out-of-memory error with `batch` segments of `segment_frames` on
        `device_name` ("cuda:0", "cpu", ...). Raises DeviceError when none is left."""
        if batch > 1:
            batch = max(1, batch // 2)
            return RecoveryStep(batch, segment_frames, False,
                                f"out of memory on {device_name}: retrying with {batch} segment(s) per batch")
        if segment_frames > self.min_segment_frames:
            new = max(self.min_segment_frames, segment_frames // 2)
            return RecoveryStep(batch, new, False,
                                f"out of memory on {device_name}: retrying with {new / self.samplerate:.2f} s "
                                "segments")
        if not on_cpu:
            return RecoveryStep(0, self.full_segment_frames, True,
                                f"out of memory on {device_name} even with the smallest settings: "
                                "falling back to the CPU")
        raise DeviceError(f"out of memory on the CPU even with {segment_frames} frame segments")
