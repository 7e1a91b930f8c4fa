"""What the user set on the mixer, the immutable snapshot the audio thread reads, and gain maths.

`MixParams` holds per-lane dB gain / mute / solo, the A/B source, the master gain and the loop;
`MixSnapshot` pairs it with a loaded track and precomputes each lane's linear target gain (the
GUI thread builds one per change and swaps it in by reference). `mix_offline` is the reference
sum that tests and "export what I hear" compare the real-time mixer against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Protocol

import numpy as np

MIN_GAIN_DB = -96.0  # at or below this a lane is silent


def db_to_gain(gain_db: float) -> float:
    """Linear amplitude for ``gain_db`` (0.0 at or below MIN_GAIN_DB)."""
    return 0.0 if gain_db <= MIN_GAIN_DB else float(10.0 ** (gain_db / 20.0))


def gain_to_db(gain: float) -> float:
    """dBFS of a linear amplitude (MIN_GAIN_DB for silence)."""
    return MIN_GAIN_DB if gain <= 10.0 ** (MIN_GAIN_DB / 20.0) else 20.0 * math.log10(gain)


class LaneLayout(Protocol):
    """The lanes of a loaded track as a snapshot sees them (the mixer's track state is one):
    lane names in order, and which of them is the original mixture."""

    names: tuple[str, ...]
    is_original: tuple[bool, ...]


@dataclass(frozen=True)
class MixParams:
    """What the user set: per-lane dB gain / mute / solo, A/B source, master gain, loop."""

    gains_db: tuple[float, ...]
    muted: tuple[bool, ...]
    soloed: tuple[bool, ...]
    listen_original: bool = False
    master_gain_db: float = 0.0
    loop: tuple[int, int] | None = None  # output frames [start, end)


class MixSnapshot:
    """Immutable snapshot: a track, the params and the linear target gain of every lane."""

    def __init__(self, track: LaneLayout | None, params: MixParams) -> None:
        self.track = track
        self.params = params
        self.master = db_to_gain(params.master_gain_db)
        self.loop = params.loop
        if track is None:
            self.target = np.zeros(0)
            return
        any_solo = any(s for s, o in zip(params.soloed, track.is_original) if not o)
        target = np.zeros(len(track.names), dtype=np.float64)
        for i, is_orig in enumerate(track.is_original):
            if params.muted[i]:
                continue
            if is_orig:
                audible = params.listen_original
            else:
                audible = not params.listen_original and (params.soloed[i] or not any_solo)
            if audible:
                target[i] = db_to_gain(params.gains_db[i])
        target.flags.writeable = False
        self.target = target


def default_params(n: int) -> MixParams:
    return MixParams(gains_db=(0.0,) * n, muted=(False,) * n, soloed=(False,) * n)


def mix_offline(stems: Mapping[str, np.ndarray], gains: Mapping[str, float]) -> np.ndarray:
    """Reference mix for tests and "export what I hear": sum of ``stems[name] (C, N) * gains[name]``."""
    total = None
    for name, g in gains.items():
        if g == 0.0 or name not in stems:
            continue
        part = np.asarray(stems[name], dtype=np.float64) * g
        total = part if total is None else total + part
    if total is None:
        first = next(iter(stems.values()))
        return np.zeros_like(first, dtype=np.float32)
    return total.astype(np.float32)
