"""Window planning and the rolling overlap-add accumulator behind `model.separate`.

A separation runs the network on fixed-length windows ("segments") laid on a grid, and
cross-fades neighbouring windows with a triangular weight. Every output frame is the weighted
average of all windows covering it:

    stems[t] = sum_k w(t - a_k) * y_k[t - a_k] / sum_k w(t - a_k)

where `a_k` is the start frame of window k. That formula does not care how the windows are laid
out, which gives three things for free: `shifts` (extra grids offset by random amounts) are just
more windows, a grid can be re-planned mid-track (smaller segments after an out-of-memory error),
and a frame is *final* as soon as no unprocessed window starts before it. Windows are processed in
order of their start frame, so the final region grows from the left and the accumulator only needs
to span the windows of one batch: its size is independent of the track length.
"""

from __future__ import annotations

import numpy as np


def triangular_weight(length: int) -> np.ndarray:
    """Triangular cross-fade weight, shape (length,), float32, peak 1, strictly positive.

    Positive at the ends so a frame covered by only one window edge (track start/end) still has
    a defined average."""
    idx = np.arange(length, dtype=np.float64)
    tri = np.minimum(idx + 1, length - idx)
    return (tri / tri.max()).astype(np.float32)


def plan_windows(
    lo: int, hi: int, segment_frames: int, stride_frames: int, offsets: list[int]
) -> list[int]:
    """Start frames (sorted) of the windows covering [lo, hi).

    One grid per offset `d` in `offsets` (0 = unshifted), starting at `lo - d` and stepping by
    `stride_frames`. The unshifted grid's last window is pulled back to end exactly at `hi`, so it
    sees real audio instead of zero padding. Windows that do not reach into [lo, hi) are dropped.
    """
    if hi <= lo:
        return []
    step = max(1, stride_frames)
    starts: list[int] = []
    for d in offsets:
        a = lo - d
        while a + segment_frames <= lo:  # a shift longer than a window: skip empty windows
            a += step
        while a + segment_frames < hi:
            starts.append(a)
            a += step
        if d == 0 and a > lo:
            a = max(lo, hi - segment_frames)  # previous start < hi - segment_frames: order kept
        starts.append(a)
    return sorted(starts)


class OverlapAdd:
    """Rolling weighted accumulator for (sources, channels) signals.

    Holds `sum w*y` (S, C, capacity) and `sum w` (capacity,) for absolute frames
    [base, base + capacity). `add()` accumulates one window (parts before `base` are dropped,
    they are final already); `pop_until(frame)` returns the finished average for [base, frame)
    and rolls the buffer forward. Capacity grows on demand to the span of one batch of windows
    and never with the track length.
    """

    def __init__(self, sources: int, channels: int, base: int, capacity: int = 0) -> None:
        self.sources = sources
        self.channels = channels
        self.base = base
        self._acc = np.zeros((sources, channels, max(capacity, 0)), dtype=np.float32)
        self._wsum = np.zeros(max(capacity, 0), dtype=np.float32)
        self._used = 0  # frames [base, base + used) may hold data

    @property
    def capacity(self) -> int:
        return self._wsum.shape[0]

    def ensure(self, end_frame: int) -> None:
        """Make room for frames up to `end_frame` (absolute, exclusive)."""
        need = end_frame - self.base
        if need <= self.capacity:
            return
        acc = np.zeros((self.sources, self.channels, need), dtype=np.float32)
        wsum = np.zeros(need, dtype=np.float32)
        acc[..., : self._used] = self._acc[..., : self._used]
        wsum[: self._used] = self._wsum[: self._used]
        self._acc, self._wsum = acc, wsum

    def add(self, start_frame: int, block: np.ndarray, weight: np.ndarray) -> None:
        """Accumulate `block` (S, C, L) weighted by `weight` (L,) at absolute `start_frame`."""
        length = block.shape[-1]
        skip = max(0, self.base - start_frame)
        if skip >= length:
            return
        i0 = start_frame + skip - self.base
        i1 = start_frame + length - self.base
        self.ensure(start_frame + length)
        w = weight[skip:]
        self._acc[..., i0:i1] += block[..., skip:] * w
        self._wsum[i0:i1] += w
        self._used = max(self._used, i1)

    def pop_until(self, frame: int) -> tuple[int, np.ndarray]:
        """Finish [base, frame): returns (start_frame, average (S, C, n)) and rolls forward.

        Frames no window covered come back as zeros (they do not occur for a valid plan)."""
        n = frame - self.base
        start = self.base
        if n <= 0:
            return start, np.zeros((self.sources, self.channels, 0), dtype=np.float32)
        take = min(n, self.capacity)
        wsum = self._wsum[:take]
        block = np.zeros((self.sources, self.channels, n), dtype=np.float32)
        np.divide(self._acc[..., :take], wsum, out=block[..., :take], where=wsum > 0)
        keep = max(0, self._used - take)
        if keep:
            self._acc[..., :keep] = self._acc[..., take : take + keep]
            self._wsum[:keep] = self._wsum[take : take + keep]
        self._acc[..., keep : self._used] = 0.0
        self._wsum[keep : self._used] = 0.0
        self._used = keep
        self.base = frame
        return start, block

    def covered_until(self) -> int:
        """Absolute frame up to which something has been accumulated."""
        return self.base + self._used
