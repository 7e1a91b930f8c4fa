"""Lane storage for the mixer: full-length ``(channels, frames)`` float32 buffers at the output rate,
allocated once per track and filled whole or region by region in place, resampled from the stems'
rate once, outside the audio callback. At the output rate lanes can borrow the track's own arrays
(``prepare_lanes(share=True)``), so nothing is copied between the separation and the speakers.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

ORIGINAL = "original"  # the lane holding the song as it was (re-exported by the mixer)


def match_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """``(C, N)`` -> ``(channels, N)``: mono is repeated, extra channels dropped, missing ones copy
    the last channel."""
    if samples.ndim != 2:
        raise ValueError(f"expected (channels, frames), got shape {samples.shape}")
    c = samples.shape[0]
    if c == channels:
        return samples
    if c == 1:
        return np.repeat(samples, channels, axis=0)
    if channels == 1:
        return samples.mean(axis=0, keepdims=True)
    if c > channels:
        return samples[:channels]
    return np.concatenate([samples, np.repeat(samples[-1:], channels - c, axis=0)])


def prepare_lane(samples: np.ndarray, source_samplerate: int, samplerate: int, channels: int,
                 out_frames: int) -> np.ndarray:
    """``(C, N)`` at ``source_samplerate`` -> new contiguous float32 ``(channels, out_frames)`` at
    ``samplerate`` (soxr HQ when the rates differ; cut or zero-padded to ``out_frames``)."""
    data = match_channels(np.asarray(samples, dtype=np.float32), channels)
    if source_samplerate != samplerate:
        import soxr

        data = soxr.resample(np.ascontiguousarray(data.T), source_samplerate, samplerate,
                             quality="HQ").T
    result = np.zeros((channels, out_frames), dtype=np.float32)
    m = min(out_frames, data.shape[1])
    result[:, :m] = data[:, :m]
    return result


def same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` and ``b`` are views of exactly the same elements (copying is a no-op)."""
    return (a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def prepare_lanes(source_samplerate: int, total_frames: int, stems: Sequence[str], samplerate: int,
                  channels: int, original: np.ndarray | None = None,
                  stem_buffers: Sequence[np.ndarray] | None = None,
                  share: bool = False, original_later: bool = False) -> list["LaneBuffer"]:
    """Full-length lanes for a track of ``total_frames`` frames at ``source_samplerate``: an
    ``original`` lane (when given, ``(C, total_frames)``) then one per name in ``stems``.

    With ``share`` and nothing to convert (same rate and channel count, float32), the lanes *borrow*
    the caller's arrays instead of copying them: ``original`` is only read, and ``stem_buffers``
    (one zero-initialised ``(C, total_frames)`` float32 array per stem, e.g. ``Track.stems[i]``)
    are the buffers the caller writes separated regions into, so ``write_region`` with a block
    that is that very memory only advances the lane's frontier. The caller must not modify
    ``original`` while the lanes live. Otherwise lanes get their own (zeroed) buffers.
    ``original_later``: make a silent ``original`` lane now (no ``original`` given) that is filled
    later with ``LaneBuffer.swap`` (e.g. once a worker has resampled the song).
    Pure numpy: safe to call in a worker thread."""
    out_frames = (int(total_frames) if source_samplerate == samplerate
                  else int(round(total_frames * samplerate / source_samplerate)))
    same_format = source_samplerate == samplerate

    def borrowable(a: np.ndarray | None) -> bool:
        return (share and same_format and a is not None and a.dtype == np.float32
                and a.shape == (channels, out_frames) and a.flags.c_contiguous)

    lanes: list[LaneBuffer] = []
    if original_later and original is None:
        lanes.append(LaneBuffer(ORIGINAL, np.zeros((channels, out_frames), np.float32), 0))
    elif original is not None:
        if borrowable(original):
            lanes.append(LaneBuffer(ORIGINAL, original, out_frames, borrowed=True))
        else:
            lanes.append(LaneBuffer(ORIGINAL, prepare_lane(original, source_samplerate, samplerate,
                                                           channels, out_frames), out_frames))
    if stem_buffers is not None and len(stem_buffers) != len(stems):
        raise ValueError(f"{len(stem_buffers)} stem buffers for {len(stems)} stems")
    for i, name in enumerate(stems):
        if name == ORIGINAL or name in (lane.name for lane in lanes):
            raise ValueError(f"duplicate or reserved lane name {name!r}")
        buf = None if stem_buffers is None else stem_buffers[i]
        if borrowable(buf):
            lanes.append(LaneBuffer(name, buf, 0, borrowed=True))
        else:
            lanes.append(LaneBuffer(name, np.zeros((channels, out_frames), np.float32), 0))
    return lanes


class LaneBuffer:
    """One lane: ``samples (channels, frames)`` at the output rate and ``valid_frames``, the frame up
    to which it holds audio. The writer thread fills the data first and only then advances
    ``valid_frames``, so the audio thread never plays half-written frames. Buffers start as
    silence; a region written past the frontier (separation restarted ahead of the playhead)
    makes the whole lane playable (silence where nothing was separated yet), without copying it.
    ``borrowed``: ``samples`` is the caller's array (see ``prepare_lanes``); ``fill`` then gives
    the lane its own copy instead of writing into it."""

    def __init__(self, name: str, samples: np.ndarray, valid_frames: int,
                 borrowed: bool = False) -> None:
        self.name = name
        self.samples = samples
        self.valid_frames = valid_frames
        self.borrowed = borrowed
        self._stream = None  # soxr.ResampleStream while regions arrive in order at another rate
        self._next_source_frame = -1
        self._stream_out_frame = 0

    def fill(self, data: np.ndarray) -> None:
        """Replace the whole lane with ``data`` (already prepared at the output rate)."""
        self.valid_frames = 0
        self._stream = None
        if same_memory(self.samples, data):
            pass  # a borrowed buffer that already holds it
        elif self.borrowed:  # never write into the caller's array: swap in our own copy
            self.samples = np.array(data, dtype=np.float32, order="C", copy=True)
            self.borrowed = False
        else:
            self.samples[...] = data
        self.valid_frames = self.samples.shape[1]

    def swap(self, samples: np.ndarray) -> None:
        """Replace the whole lane by ``samples`` (already at the output rate, the lane's shape),
        taking the array itself (no copy): the audio thread sees the old or the new one whole."""
        if samples.shape != self.samples.shape or samples.dtype != np.float32:
            raise ValueError(f"lane {self.name!r} needs float32 {self.samples.shape}, got "
                             f"{samples.dtype} {samples.shape}")
        self.valid_frames = 0
        self._stream = None
        self.samples = np.ascontiguousarray(samples)
        self.borrowed = False
        self.valid_frames = self.samples.shape[1]

    def write(self, start_frame: int, block: np.ndarray, source_samplerate: int, samplerate: int,
              total_frames: int) -> None:
        """Write ``block (channels, n)`` given at ``source_samplerate`` at source frame
        ``start_frame``. In-order regions at another rate go through one streaming resampler, so
        region boundaries leave no seams; any other order starts a fresh stream."""
        n = block.shape[1]
        if start_frame < 0 or n == 0:
            raise ValueError(f"bad region for lane {self.name!r}: start {start_frame}, {n} frames")
        if source_samplerate == samplerate:
            end = min(start_frame + n, total_frames)
            if end > start_frame:
                target, src = self.samples[:, start_frame:end], block[:, :end - start_frame]
                if not same_memory(target, src):  # a borrowed buffer already holds it
                    self.samples[:, start_frame:end] = src
            self._advance(start_frame, end, total_frames)
            return
        import soxr  # resampling happens here, never in the callback

        ratio = samplerate / source_samplerate
        total_src = int(round(total_frames / ratio))
        if self._stream is None or start_frame != self._next_source_frame:
            self._stream = soxr.ResampleStream(source_samplerate, samplerate, block.shape[0],
                                               dtype="float32", quality="HQ")
            self._stream_out_frame = int(round(start_frame * ratio))
        last = start_frame + n >= total_src
        out = self._stream.resample_chunk(np.ascontiguousarray(block.T), last=last).T
        self._next_source_frame = start_frame + n
        pos = self._stream_out_frame
        end = min(pos + out.shape[1], total_frames)
        if end > pos:
            self.samples[:, pos:end] = out[:, :end - pos]
        self._stream_out_frame = pos + out.shape[1]
        if last:
            self._stream = None
            end = total_frames
        self._advance(pos, end, total_frames)

    def _advance(self, start: int, end: int, total_frames: int) -> None:
        """Frames [start, end) were just written: move the playable frontier."""
        if start <= self.valid_frames + 1:  # (+1: rate-conversion rounding)
            self.valid_frames = max(self.valid_frames, end)
        else:  # out of order: the rest of the lane is silence until separated, so play it all
            self.valid_frames = total_frames
