"""Min/max envelope pyramid: draw any zoom of a long track from a few thousand points.

Level k holds, for every bucket of ``base_bucket * factor**k`` frames, the minimum and maximum
sample over all channels (float16: it is only for display). A view asks for the frames it shows
and its width in pixels, and gets at most ~2 buckets per pixel, interleaved min/max, so a 60-minute
track costs the same to draw as a 3-minute one. Regions can be filled in incrementally as a
separation produces them (``update``). Display maths only: numpy, no tensors.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

RAW = -1  # "level" meaning: draw the samples themselves


class EnvelopePyramid:
    """Min/max pyramid of a ``total_frames``-long signal; see the module docstring.

    ``raw``: optional ``(channels, frames)`` (or ``(frames,)``) array kept by reference so deep zooms
    (fewer than ``base_bucket`` frames per pixel) draw the actual samples.
    """

    def __init__(self, total_frames: int, base_bucket: int = 64, factor: int = 4,
                 raw: np.ndarray | None = None) -> None:
        if total_frames <= 0 or base_bucket < 1 or factor < 2:
            raise ValueError("bad envelope geometry")
        self.total_frames = int(total_frames)
        self.base_bucket = int(base_bucket)
        self.factor = int(factor)
        self.raw = raw
        self.buckets: list[int] = []
        self.mins: list[np.ndarray] = []
        self.maxs: list[np.ndarray] = []
        bucket, count = self.base_bucket, -(-self.total_frames // self.base_bucket)
        while True:
            self.buckets.append(bucket)
            self.mins.append(np.zeros(count, dtype=np.float16))
            self.maxs.append(np.zeros(count, dtype=np.float16))
            if count <= 256:
                break
            bucket *= self.factor
            count = -(-count // self.factor)
        self.filled_frames = 0  # frames covered contiguously from 0

    @classmethod
    def from_samples(cls, samples: np.ndarray, base_bucket: int = 64, factor: int = 4,
                     keep_raw: bool = True, chunk_frames: int = 1 << 20) -> "EnvelopePyramid":
        """Build from a whole ``(channels, frames)`` or ``(frames,)`` array (in chunks, so memory
        stays small even for an hour of audio). Safe to call in a worker thread."""
        frames = samples.shape[-1]
        pyr = cls(frames, base_bucket, factor, raw=samples if keep_raw else None)
        chunk = max(base_bucket, chunk_frames - chunk_frames % base_bucket)
        for start in range(0, frames, chunk):
            pyr.update(start, samples[..., start:start + chunk], _defer_upper=True)
        pyr._rebuild_upper(0, len(pyr.mins[0]))
        return pyr

    # ------------------------------------------------------------------ filling
    def update(self, start_frame: int, block: np.ndarray, _defer_upper: bool = False) -> None:
        """Fold ``block`` ((channels, n) or (n,)) at ``start_frame`` into every level. Buckets fully
        inside the block are replaced; the partial buckets at its edges are merged."""
        block = np.asarray(block)
        n = block.shape[-1]
        start = int(start_frame)
        end = min(start + n, self.total_frames)
        if n == 0 or start >= self.total_frames:
            return
        if block.ndim == 2:
            lo = block[:, : end - start].min(axis=0)
            hi = block[:, : end - start].max(axis=0)
        else:
            lo = hi = block[: end - start]
        b = self.base_bucket
        first_full = -(-start // b) * b
        last_full = (end // b) * b
        mins, maxs = self.mins[0], self.maxs[0]
        if first_full < last_full:
            a, z = first_full - start, last_full - start
            mins[first_full // b:last_full // b] = lo[a:z].reshape(-1, b).min(axis=1)
            maxs[first_full // b:last_full // b] = hi[a:z].reshape(-1, b).max(axis=1)
        for s, e in ((start, min(end, first_full)), (max(last_full, first_full, start), end)):
            if e > s:
                i = s // b
                part_lo, part_hi = lo[s - start:e - start].min(), hi[s - start:e - start].max()
                if s == i * b:  # the bucket starts here: these are its first frames
                    mins[i], maxs[i] = part_lo, part_hi
                else:  # its start came with an earlier region: merge
                    mins[i] = min(float(mins[i]), float(part_lo))
                    maxs[i] = max(float(maxs[i]), float(part_hi))
        if start <= self.filled_frames:
            self.filled_frames = max(self.filled_frames, end)
        if not _defer_upper:
            self._rebuild_upper(start // b, -(-end // b))

    def _rebuild_upper(self, first: int, stop: int) -> None:
        """Recompute levels 1.. over the buckets that cover level-0 buckets [first, stop)."""
        f = self.factor
        for k in range(1, len(self.mins)):
            first, stop = first // f, -(-stop // f)
            lo_src, hi_src = self.mins[k - 1], self.maxs[k - 1]
            a, z = first * f, min(stop * f, len(lo_src))
            idx = np.arange(0, z - a, f)
            self.mins[k][first:first + len(idx)] = np.minimum.reduceat(lo_src[a:z], idx)
            self.maxs[k][first:first + len(idx)] = np.maximum.reduceat(hi_src[a:z], idx)

    # ------------------------------------------------------------------ reading
    def choose_level(self, frames_per_pixel: float) -> int:
        """Coarsest level whose bucket is at most ``frames_per_pixel`` frames (RAW below the base
        bucket when raw samples are kept, else level 0)."""
        if frames_per_pixel < self.base_bucket:
            return RAW if self.raw is not None else 0
        level = 0
        for k, bucket in enumerate(self.buckets):
            if bucket <= frames_per_pixel:
                level = k
        return level

    def segment(self, start_frame: int, end_frame: int, pixels: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Points to draw frames [start_frame, end_frame) across ``pixels`` pixels.

        Returns ``(x_frames, y, level)``: for envelope levels x repeats each bucket's start frame
        twice and y interleaves min/max (at most ~2 buckets per pixel); for RAW, the samples
        (channel mean) at their own frames.
        """
        start = max(0, int(start_frame))
        end = min(self.total_frames, int(np.ceil(end_frame)))
        if end <= start:
            return np.zeros(0), np.zeros(0, np.float32), 0
        fpp = (end - start) / max(1, pixels)
        level = self.choose_level(fpp)
        if level == RAW:
            raw = self.raw
            a, z = max(0, start - 1), min(self.total_frames, end + 1)
            y = raw[:, a:z].mean(axis=0) if raw.ndim == 2 else raw[a:z]
            return np.arange(a, z, dtype=np.float64), np.asarray(y, dtype=np.float32), RAW
        bucket = self.buckets[level]
        i0, i1 = start // bucket, min(len(self.mins[level]), -(-end // bucket) + 1)
        lo = self.mins[level][i0:i1]
        hi = self.maxs[level][i0:i1]
        step = max(1, int(np.ceil(fpp / bucket)))  # merge further to at most 1 bucket per pixel
        if step > 1 and len(lo) > step:
            idx = np.arange(0, len(lo), step)
            lo = np.minimum.reduceat(lo, idx)
            hi = np.maximum.reduceat(hi, idx)
        else:
            step = 1
        x = (i0 + np.arange(len(lo)) * step) * float(bucket)
        xs = np.repeat(x, 2)
        ys = np.empty(2 * len(lo), dtype=np.float32)
        ys[0::2] = lo
        ys[1::2] = hi
        return xs, ys, level
