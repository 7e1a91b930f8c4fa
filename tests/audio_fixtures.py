"""Tiny generated test signals and an FFmpeg (PyAV) encoder for m4a/opus/.stem.mp4 fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Non-harmonic partials: a time shift of even a few samples changes the waveform.
PARTIALS_HZ = (220.0, 277.18, 311.13, 523.25)


def chord(samplerate: int, frames: int, channels: int = 2, amplitude: float = 0.5, fade: bool = True) -> np.ndarray:
    """A float32 `(channels, frames)` chord of a few sines, optionally Hann-faded in and out
    (so resampling has no hard edges to smear). Channel c is scaled by 1 - 0.2*c to tell channels apart."""
    t = np.arange(frames) / samplerate
    x = sum(np.sin(2 * np.pi * f * t + i) for i, f in enumerate(PARTIALS_HZ)) / len(PARTIALS_HZ)
    if fade:
        n = min(frames // 4, samplerate // 20)
        if n > 1:
            ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))
            x[:n] *= ramp
            x[-n:] *= ramp[::-1]
    out = np.stack([x * (1.0 - 0.2 * c) for c in range(channels)]) * amplitude
    return out.astype(np.float32)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """10 log10(|ref|^2 / |ref - est|^2) over the common length."""
    n = min(reference.shape[-1], estimate.shape[-1])
    r, e = reference[..., :n].astype(np.float64), estimate[..., :n].astype(np.float64)
    return float(10 * np.log10(np.sum(r**2) / max(np.sum((r - e) ** 2), 1e-20)))


def encode_with_pyav(path: Path, streams: list[np.ndarray], samplerate: int, codec: str, container_format: str | None = None) -> Path:
    """Encode one or more float32 `(2, frames)` signals as audio streams of one file (FFmpeg)."""
    import av

    out = av.open(str(path), "w", format=container_format)
    try:
        avs = [out.add_stream(codec, rate=samplerate, layout="stereo") for _ in streams]
        for stream, x in zip(avs, streams):
            ctx = stream.codec_context
            fmt = ctx.format.name if ctx.format is not None else "fltp"
            size = ctx.frame_size or 1024
            pts = 0
            for start in range(0, x.shape[1], size):
                block = np.ascontiguousarray(x[:, start : start + size], dtype=np.float32)
                if fmt.endswith("p"):
                    frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
                else:
                    frame = av.AudioFrame.from_ndarray(block.T.reshape(1, -1), format="flt", layout="stereo")
                frame.sample_rate = samplerate
                frame.pts = pts
                pts += block.shape[1]
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    finally:
        out.close()
    return path
