"""Per-layer production with pedalboard: EQ, compression, saturation/distortion, modulation,
delay, reverb and panning, drawn at random per song so mixes vary like records do.

Signals are float32 ``(2, frames)``.
"""

from __future__ import annotations

import logging
import math

import numpy as np

logger = logging.getLogger(__name__)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def chain_for(role: str, genre: str, rng: np.random.Generator) -> list[tuple[str, dict]]:
    """The effect chain for a layer as (plugin name, parameters) pairs (stored in the manifest)."""
    fx: list[tuple[str, dict]] = []
    heavy = genre in ("rock", "metal")

    def eq(hp_lo: float, hp_hi: float) -> None:
        fx.append(("HighpassFilter", {"cutoff_frequency_hz": _u(rng, hp_lo, hp_hi)}))
        if rng.random() < 0.6:
            fx.append(("PeakFilter", {"cutoff_frequency_hz": float(np.exp(_u(rng, math.log(200), math.log(6000)))),
                                      "gain_db": _u(rng, -5, 5), "q": _u(rng, 0.5, 2.0)}))
        if rng.random() < 0.4:
            fx.append(("HighShelfFilter", {"cutoff_frequency_hz": _u(rng, 3000, 9000), "gain_db": _u(rng, -6, 4)}))

    def comp(th_lo: float, th_hi: float, r_lo: float, r_hi: float) -> None:
        fx.append(("Compressor", {"threshold_db": _u(rng, th_lo, th_hi), "ratio": _u(rng, r_lo, r_hi),
                                  "attack_ms": _u(rng, 2, 30), "release_ms": _u(rng, 60, 250)}))

    def verb(size_lo: float, size_hi: float, wet_lo: float, wet_hi: float) -> None:
        fx.append(("Reverb", {"room_size": _u(rng, size_lo, size_hi), "damping": _u(rng, 0.2, 0.8),
                              "wet_level": _u(rng, wet_lo, wet_hi), "dry_level": 1.0, "width": _u(rng, 0.6, 1.0)}))

    if role == "drums":
        eq(25, 45)
        fx.append(("LowShelfFilter", {"cutoff_frequency_hz": _u(rng, 70, 150), "gain_db": _u(rng, 0, 6)}))
        comp(-22, -10, 2, 6)
        if heavy and rng.random() < 0.4:
            fx.append(("Distortion", {"drive_db": _u(rng, 2, 8)}))
        if rng.random() < 0.7:
            verb(0.15, 0.5, 0.03, 0.15)
    elif role == "bass":
        eq(25, 45)
        comp(-24, -12, 3, 8)
        if (heavy and rng.random() < 0.5) or rng.random() < 0.15:
            fx.append(("Distortion", {"drive_db": _u(rng, 4, 16)}))
        if rng.random() < 0.4:
            fx.append(("LowpassFilter", {"cutoff_frequency_hz": _u(rng, 1500, 6000)}))
    elif role in ("dist_guitar", "lead_guitar"):
        eq(70, 140)
        fx.append(("Distortion", {"drive_db": _u(rng, 14, 34) if role == "dist_guitar" or rng.random() < 0.7 else _u(rng, 4, 10)}))
        fx.append(("LowpassFilter", {"cutoff_frequency_hz": _u(rng, 3500, 7500)}))  # cabinet
        fx.append(("PeakFilter", {"cutoff_frequency_hz": _u(rng, 500, 2500), "gain_db": _u(rng, -6, 4), "q": _u(rng, 0.7, 1.5)}))
        comp(-20, -10, 2, 4)
        if role == "lead_guitar" and rng.random() < 0.7:
            fx.append(("Delay", {"delay_seconds": _u(rng, 0.18, 0.45), "feedback": _u(rng, 0.15, 0.4), "mix": _u(rng, 0.1, 0.3)}))
        verb(0.2, 0.6, 0.04, 0.2)
    elif role == "clean_guitar":
        eq(80, 160)
        comp(-22, -12, 2, 5)
        if rng.random() < 0.35:
            fx.append(("Chorus", {"rate_hz": _u(rng, 0.3, 1.5), "depth": _u(rng, 0.1, 0.4), "mix": _u(rng, 0.2, 0.5)}))
        if rng.random() < 0.25:
            fx.append(("Distortion", {"drive_db": _u(rng, 3, 9)}))
        if rng.random() < 0.3:
            fx.append(("Delay", {"delay_seconds": _u(rng, 0.12, 0.4), "feedback": _u(rng, 0.1, 0.35), "mix": _u(rng, 0.1, 0.25)}))
        verb(0.2, 0.7, 0.05, 0.25)
    elif role in ("piano", "organ", "mallets", "brass"):
        eq(40, 120)
        comp(-20, -10, 1.5, 4)
        if role == "organ" and rng.random() < 0.5:
            fx.append(("Distortion", {"drive_db": _u(rng, 3, 10)}))
            fx.append(("Chorus", {"rate_hz": _u(rng, 0.8, 6), "depth": _u(rng, 0.1, 0.3), "mix": _u(rng, 0.2, 0.5)}))
        verb(0.3, 0.8, 0.06, 0.3)
    elif role in ("pad", "strings"):
        eq(60, 200)
        if rng.random() < 0.4:
            fx.append(("Chorus", {"rate_hz": _u(rng, 0.2, 1.0), "depth": _u(rng, 0.2, 0.5), "mix": _u(rng, 0.2, 0.5)}))
        if rng.random() < 0.2:
            fx.append(("Phaser", {"rate_hz": _u(rng, 0.1, 0.8), "depth": _u(rng, 0.3, 0.8), "mix": _u(rng, 0.2, 0.5)}))
        verb(0.5, 0.95, 0.15, 0.4)
    elif role in ("synth_lead", "arp"):
        eq(80, 200)
        if rng.random() < 0.4:
            fx.append(("LadderFilter", {"cutoff_hz": _u(rng, 800, 6000), "resonance": _u(rng, 0.1, 0.6), "drive": _u(rng, 1, 3)}))
        if rng.random() < 0.3:
            fx.append(("Distortion", {"drive_db": _u(rng, 3, 12)}))
        if rng.random() < 0.6:
            fx.append(("Delay", {"delay_seconds": _u(rng, 0.1, 0.45), "feedback": _u(rng, 0.2, 0.5), "mix": _u(rng, 0.1, 0.35)}))
        verb(0.3, 0.9, 0.08, 0.3)
    elif role == "real_guitar":
        eq(60, 120)
        comp(-20, -10, 1.5, 3)
        if rng.random() < 0.3:
            fx.append(("Delay", {"delay_seconds": _u(rng, 0.2, 0.45), "feedback": _u(rng, 0.1, 0.3), "mix": _u(rng, 0.1, 0.25)}))
        verb(0.2, 0.6, 0.03, 0.15)
    elif role == "lead_voice":
        fx.append(("HighpassFilter", {"cutoff_frequency_hz": _u(rng, 70, 150)}))
        fx.append(("PeakFilter", {"cutoff_frequency_hz": _u(rng, 200, 500), "gain_db": _u(rng, -5, 1), "q": _u(rng, 0.7, 1.5)}))
        fx.append(("PeakFilter", {"cutoff_frequency_hz": _u(rng, 2500, 5500), "gain_db": _u(rng, 0, 5), "q": _u(rng, 0.7, 1.5)}))
        comp(-26, -14, 3, 7)
        if rng.random() < 0.06:
            fx.append(("Distortion", {"drive_db": _u(rng, 4, 12)}))
        if rng.random() < 0.4:
            fx.append(("Delay", {"delay_seconds": _u(rng, 0.08, 0.4), "feedback": _u(rng, 0.05, 0.35), "mix": _u(rng, 0.05, 0.2)}))
        verb(0.3, 0.85, 0.08, 0.3)
    elif role == "backing_voice":
        fx.append(("HighpassFilter", {"cutoff_frequency_hz": _u(rng, 120, 250)}))
        comp(-24, -14, 2, 5)
        if rng.random() < 0.4:
            fx.append(("Chorus", {"rate_hz": _u(rng, 0.3, 1.2), "depth": _u(rng, 0.1, 0.3), "mix": _u(rng, 0.2, 0.4)}))
        verb(0.5, 0.9, 0.15, 0.4)
    else:
        verb(0.3, 0.7, 0.05, 0.2)
    return fx


def simple_eq(rng: np.random.Generator, p: float = 0.5) -> list[tuple[str, dict]]:
    """The ``simple`` profile's production: with probability ``p`` one random EQ (a low cut, then a
    peak or a high shelf), else nothing (CORPUS_NOTES: "random EQ on some stems")."""
    if rng.random() >= p:
        return []
    fx: list[tuple[str, dict]] = [("HighpassFilter", {"cutoff_frequency_hz": _u(rng, 20, 120)})]
    if rng.random() < 0.5:
        fx.append(("PeakFilter", {"cutoff_frequency_hz": float(np.exp(_u(rng, math.log(150), math.log(8000)))),
                                  "gain_db": _u(rng, -6, 6), "q": _u(rng, 0.5, 2.0)}))
    else:
        fx.append(("HighShelfFilter", {"cutoff_frequency_hz": _u(rng, 2500, 9000), "gain_db": _u(rng, -6, 4)}))
    return fx


def apply_chain(audio: np.ndarray, samplerate: int, chain: list[tuple[str, dict]]) -> np.ndarray:
    """Run ``audio`` (2, frames) through the pedalboard plugins named in ``chain``."""
    import pedalboard

    if not chain:
        return audio
    board = pedalboard.Pedalboard([getattr(pedalboard, name)(**params) for name, params in chain])
    out = board(np.ascontiguousarray(audio, dtype=np.float32), samplerate)
    return np.asarray(out, dtype=np.float32)


def pan(audio: np.ndarray, position: float) -> np.ndarray:
    """Constant-power balance: position -1 (left) .. +1 (right); returns (2, frames)."""
    angle = (position + 1) * math.pi / 4
    gl, gr = math.cos(angle) * math.sqrt(2), math.sin(angle) * math.sqrt(2)
    return np.stack([audio[0] * gl, audio[1] * gr]).astype(np.float32)


def active_rms(audio: np.ndarray, samplerate: int) -> float:
    """RMS over the 50 ms blocks that are within 40 dB of the loudest one (0.0 if silent)."""
    mono = audio.mean(axis=0) if audio.ndim == 2 else audio
    block = max(1, samplerate // 20)
    n = len(mono) // block
    if n == 0:
        return float(np.sqrt(np.mean(mono ** 2))) if len(mono) else 0.0
    e = (mono[: n * block].reshape(n, block) ** 2).mean(axis=1)
    if e.max() <= 1e-14:
        return 0.0
    keep = e >= e.max() * 1e-4
    return float(np.sqrt(e[keep].mean()))


# ---------------------------------------------------------------------------------------------
# mix bus
# ---------------------------------------------------------------------------------------------

BUS_BLOCK = 64  # samples per gain-computer step (1.45 ms at 44.1 kHz)


def draw_bus_compressor(rng: np.random.Generator) -> dict[str, float]:
    """Random mix-bus settings, from gentle glue (2:1, slow) to a brick-wall-like limiter (20:1, fast).

    threshold_db is relative to the mixture's loudest block, so every song is pushed into it.
    """
    limiter = rng.random() < 0.4
    return {
        "threshold_db": _u(rng, -6.0, -1.5) if limiter else _u(rng, -14.0, -4.0),
        "ratio": _u(rng, 10.0, 20.0) if limiter else float(np.exp(_u(rng, math.log(1.5), math.log(6.0)))),
        "attack_ms": _u(rng, 0.3, 2.0) if limiter else _u(rng, 3.0, 30.0),
        "release_ms": _u(rng, 30.0, 150.0) if limiter else _u(rng, 60.0, 400.0),
    }


def bus_compressor_gain(mix: np.ndarray, samplerate: int, threshold_db: float, ratio: float,
                        attack_ms: float, release_ms: float) -> np.ndarray:
    """The gain envelope (frames,) float32 in (0, 1] of a peak compressor keyed by ``mix`` (2, frames).

    Multiplying every stem by this one envelope compresses the mix bus while the mixture stays
    exactly the sum of the stems, as on a record whose bus compressor acted on the whole mix.
    The level is the block peak over both channels; the static curve above the threshold (dB,
    relative to the loudest block) is ``(threshold - level) * (1 - 1/ratio)``; the reduction
    follows with one-pole attack and release ballistics and is interpolated to every sample.
    """
    frames = mix.shape[-1]
    if frames == 0:
        return np.ones(0, dtype=np.float32)
    blocks = -(-frames // BUS_BLOCK)
    padded = np.zeros((mix.shape[0], blocks * BUS_BLOCK), dtype=np.float32)
    padded[:, :frames] = np.abs(mix)
    peak = padded.reshape(mix.shape[0], blocks, BUS_BLOCK).max(axis=(0, 2))
    level_db = 20 * np.log10(np.maximum(peak, 1e-9))
    threshold = float(level_db.max()) + threshold_db
    target = np.minimum(0.0, (threshold - level_db) * (1.0 - 1.0 / ratio))  # dB, <= 0
    step_s = BUS_BLOCK / samplerate
    attack = math.exp(-step_s / max(attack_ms * 1e-3, 1e-6))
    release = math.exp(-step_s / max(release_ms * 1e-3, 1e-6))
    reduction = np.empty(blocks)
    state = 0.0
    for i, t in enumerate(target.tolist()):
        coef = attack if t < state else release
        state = coef * state + (1.0 - coef) * t
        reduction[i] = state
    centres = (np.arange(blocks) + 0.5) * BUS_BLOCK
    gain_db = np.interp(np.arange(frames), centres, reduction)
    return (10.0 ** (gain_db / 20.0)).astype(np.float32)
