"""One opened song: its source description, the mixture, and stem buffers filled progressively.

All arrays are float32 at `samplerate` (the model's rate): `mixture` (channels, frames),
`stems` (sources, channels, frames). A separation writes finished regions into `stems` and records
them in `coverage` (merged half-open frame intervals), so the GUI can show and play what is ready
while the rest is still being computed, and a new job can resume from the first gap after the
playhead.

When the settings change (quality, model), the stems made with the earlier ones are *held*: they
stay in `stems` (shown and played) with their frames in `held_coverage`, and the new settings'
regions replace them one by one as they arrive (`coverage` only counts those).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.audio.lanes import same_memory
from model.config import SOURCES

logger = logging.getLogger(__name__)


def merge_interval(intervals: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """`intervals` (sorted, disjoint, half-open) with [start, end) added and merged."""
    if end <= start:
        return list(intervals)
    out: list[tuple[int, int]] = []
    placed = False
    for a, b in intervals:
        if b < start:
            out.append((a, b))
        elif end < a:
            if not placed:
                out.append((start, end))
                placed = True
            out.append((a, b))
        else:
            start, end = min(a, start), max(b, end)
    if not placed:
        out.append((start, end))
    return sorted(out)


@dataclass
class Track:
    """A song in the window (see module doc)."""

    path: Path
    mixture: np.ndarray
    samplerate: int
    source: Any = None                      # model.audio_io.SourceInfo of the file as it was
    sources: tuple[str, ...] = SOURCES
    content_hash: str = ""
    notices: list[str] = field(default_factory=list)
    stems: np.ndarray = field(init=False)
    coverage: list[tuple[int, int]] = field(default_factory=list)
    quality_id: str = ""                    # settings the stems were made with (see SeparationSession)
    model_name: str = ""
    device_text: str = ""
    se_activations: dict[str, np.ndarray] | None = None
    se_times_seconds: np.ndarray | None = None
    from_cache: bool = False
    envelopes: dict[str, Any] = field(default_factory=dict)   # lane name -> EnvelopePyramid
    #: frames of `stems` holding a result of earlier settings (shown until replaced)
    held_coverage: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.mixture = np.ascontiguousarray(self.mixture, dtype=np.float32)
        # touch every page now (in the loading worker), not on the GUI thread as regions arrive
        self.stems = np.empty((len(self.sources),) + self.mixture.shape, dtype=np.float32)
        self.stems[...] = 0.0

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def frames(self) -> int:
        return int(self.mixture.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.mixture.shape[0])

    @property
    def duration_seconds(self) -> float:
        return self.frames / float(self.samplerate)

    # -- progressive filling -----------------------------------------------------------------
    def write_region(self, start_frame: int, block: np.ndarray) -> tuple[int, int]:
        """Copy a finished block (S, C, n) into the stems at `start_frame` (nothing to copy when it
        is that part of the stems already: a job wrote it there); returns the frame range."""
        start = max(0, int(start_frame))
        end = min(self.frames, start + int(block.shape[-1]))
        if end <= start:
            return start, start
        target, src = self.stems[:, :, start:end], block[:, :, : end - start]
        if not same_memory(target, src):
            target[...] = src
        self.coverage = merge_interval(self.coverage, start, end)
        return start, end

    def set_stems(self, stems: np.ndarray) -> None:
        """Replace all stems with a complete result (S, C, frames)."""
        if stems.shape != self.stems.shape:
            raise ValueError(f"stems shape {stems.shape} does not match track {self.stems.shape}")
        self.stems[...] = stems
        self.coverage = [(0, self.frames)]
        self.held_coverage = []

    def reset_stems(self) -> None:
        # a new array: a cache writer may still be reading the old one
        self.stems = np.zeros_like(self.stems)
        self.envelopes = {k: v for k, v in self.envelopes.items() if k == "original"}
        self.coverage = []
        self.held_coverage = []
        self.se_activations = None
        self.se_times_seconds = None

    def hold_stems(self, stems: np.ndarray, coverage: list[tuple[int, int]]) -> None:
        """Show and play `stems` (S, C, frames), made with earlier settings over `coverage`, until
        regions of the current settings replace them (copied: the caller's array stays as it is)."""
        if stems.shape != self.stems.shape:
            raise ValueError(f"stems shape {stems.shape} does not match track {self.stems.shape}")
        self.stems[...] = stems
        self.held_coverage = list(coverage)
        self.coverage = []
        self.se_activations = None
        self.se_times_seconds = None

    def hold_current(self) -> None:
        """The settings changed: what is separated becomes held (see module doc), in a new array
        (a cache writer may still be reading the old one)."""
        held = self.coverage
        for a, b in self.held_coverage:
            held = merge_interval(held, a, b)
        self.stems = self.stems.copy()
        self.held_coverage = held
        self.coverage = []
        self.envelopes = {k: v for k, v in self.envelopes.items() if k == "original"}
        self.se_activations = None
        self.se_times_seconds = None

    @property
    def has_stems(self) -> bool:
        """Whether the stems hold anything to show, play or export (this or earlier settings')."""
        return bool(self.coverage or self.held_coverage)

    @property
    def covered_frames(self) -> int:
        return sum(b - a for a, b in self.coverage)

    @property
    def complete(self) -> bool:
        return self.frames > 0 and self.coverage == [(0, self.frames)]

    def is_covered(self, frame: int) -> bool:
        return any(a <= frame < b for a, b in self.coverage)

    def next_gap(self, from_frame: int = 0) -> tuple[int, int] | None:
        """The first unseparated interval at or after `from_frame` (wrapping to the start), or None."""
        gaps: list[tuple[int, int]] = []
        pos = 0
        for a, b in self.coverage:
            if a > pos:
                gaps.append((pos, a))
            pos = max(pos, b)
        if pos < self.frames:
            gaps.append((pos, self.frames))
        if not gaps:
            return None
        for a, b in gaps:
            if b > from_frame:
                return (max(a, from_frame), b)
        return gaps[0]

    def stems_dict(self) -> dict[str, np.ndarray]:
        return {name: self.stems[i] for i, name in enumerate(self.sources)}
