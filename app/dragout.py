"""Files for dragging a stem out of the window (into a DAW or file manager).

A drag needs a real file at once, so the stem is written as a 24-bit WAV at the track's rate
into `<StemDeck home>/dragout/<song hash>/` (atomically; reused while the stem is unchanged).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile as sf

from model.atomic_file import atomic_write

from .cache import stemdeck_home
from .track import Track

logger = logging.getLogger(__name__)


def stem_file(track: Track, stem: str, root: Path | None = None) -> Path:
    """Path of a WAV holding `stem` ("original" = the mixture) of `track`, written if needed."""
    if stem in ("original", "mixture"):
        samples = track.mixture
    else:
        samples = track.stems[track.sources.index(stem)]
    folder = (root or stemdeck_home() / "dragout") / (track.content_hash[:16] or track.name)
    folder.mkdir(parents=True, exist_ok=True)
    # the coverage makes the name change when more of the song is separated
    covered = (f"{track.covered_frames}+{track.held_coverage}"
               if stem not in ("original", "mixture") else track.frames)
    target = folder / f"{track.name} - {stem}.wav"
    marker = folder / f".{stem}.covered"
    if target.is_file() and marker.is_file() and marker.read_text() == f"{covered}:{track.quality_id}":
        return target
    with atomic_write(target, "wb") as handle:
        sf.write(handle, np.ascontiguousarray(samples.T), track.samplerate, subtype="PCM_24",
                 format="WAV")
    marker.write_text(f"{covered}:{track.quality_id}")
    logger.info("drag-out file %s", target)
    return target
