"""Lane storage for the mixer: full-length ``(channels, frames)`` float32 buffers at the output rate,
filled whole or region by region, resampled from the stems' rate once, outside the audio callback.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


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


class LaneBuffer:
    """One lane: ``samples (channels, frames)`` at the output rate and ``valid_frames``, the frame up
    to which it holds audio (contiguously from 0). The writer thread fills the data first and only
    then advances ``valid_frames``, so the audio thread never plays half-written frames."""

    def __init__(self, name: str, samples: np.ndarray, valid_frames: int) -> None:
        self.name = name
        self.samples = samples
        self.valid_frames = valid_frames
        self._stream = None  # soxr.ResampleStream while regions arrive in order at another rate
        self._next_source_frame = -1
        self._stream_out_frame = 0

    def fill(self, data: np.ndarray) -> None:
        """Replace the whole lane with ``data`` (already prepared at the output rate)."""
        self.valid_frames = 0
        self._stream = None
        self.samples[...] = data
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
                self.samples[:, start_frame:end] = block[:, :end - start_frame]
            if start_frame <= self.valid_frames:
                self.valid_frames = max(self.valid_frames, end)
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
        if pos <= self.valid_frames:
            self.valid_frames = max(self.valid_frames, end)
