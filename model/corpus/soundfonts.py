"""Which soundfonts exist on this machine, what they can play, and their licences."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import StemDeckError

logger = logging.getLogger(__name__)


class CorpusError(StemDeckError):
    """The corpus cannot be built (missing tool, soundfont or bad option)."""


@dataclass(frozen=True)
class SoundFont:
    name: str
    path: Path
    licence: str
    source: str  # where it comes from (Debian package or wheel)
    kind: str  # "gm" (full General MIDI with drum kits) or "drumkit" (one kit at bank 0 preset 0)
    weight: float  # how often it is drawn
    size: str  # "small" or "large"


#: file name -> (name, licence, source, kind, weight, size)
KNOWN = {
    "FluidR3_GM.sf2": ("FluidR3_GM", "MIT", "Debian fluid-soundfont-gm", "gm", 4.0, "large"),
    "MuseScore_General_Full.sf3": ("MuseScore_General", "MIT", "Debian musescore-general-soundfont", "gm", 3.0, "large"),
    "MuseScore_General.sf3": ("MuseScore_General", "MIT", "Debian musescore-general-soundfont", "gm", 3.0, "large"),
    "TimGM6mb.sf2": ("TimGM6mb", "GPL-2", "Debian timgm6mb-soundfont / pretty_midi wheel", "gm", 1.5, "small"),
    "Black_Pearl_4_LV2.sf2": ("AVL_Black_Pearl", "CC-BY-SA-3.0 (Glen MacArthur)", "Debian avldrums.lv2-soundfont",
                              "drumkit", 1.0, "large"),
    "Red_Zeppelin_4_LV2.sf2": ("AVL_Red_Zeppelin", "CC-BY-SA-3.0 (Glen MacArthur)", "Debian avldrums.lv2-soundfont",
                               "drumkit", 1.0, "large"),
}

SEARCH_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts", "/usr/lib/lv2/avldrums.lv2")


def _pretty_midi_dir() -> Path | None:
    try:
        import pretty_midi
    except ImportError:
        return None
    return Path(pretty_midi.__file__).parent


def find_soundfonts(which: str = "all") -> list[SoundFont]:
    """Soundfonts found on this machine, one per name (``which``: "all" or "small").

    Extra folders may be listed in the environment variable STEMDECK_SOUNDFONT_DIRS (os.pathsep
    separated).
    """
    dirs = [Path(d) for d in os.environ.get("STEMDECK_SOUNDFONT_DIRS", "").split(os.pathsep) if d]
    dirs += [Path(d) for d in SEARCH_DIRS]
    pm = _pretty_midi_dir()
    if pm is not None:
        dirs.append(pm)
    found: dict[str, SoundFont] = {}
    for d in dirs:
        for fname, (name, lic, src, kind, weight, size) in KNOWN.items():
            p = d / fname
            if name in found or not p.is_file():
                continue
            if which == "small" and size != "small":
                continue
            found[name] = SoundFont(name, p.resolve(), lic, src, kind, weight, size)
    return sorted(found.values(), key=lambda s: s.name)


def require_soundfonts(which: str) -> list[SoundFont]:
    sfs = find_soundfonts(which)
    if not any(s.kind == "gm" for s in sfs):
        raise CorpusError(
            "no General MIDI soundfont was found (looked in " + ", ".join(SEARCH_DIRS)
            + " and the pretty_midi package): install fluid-soundfont-gm, musescore-general-soundfont "
            "or timgm6mb-soundfont")
    return sfs
