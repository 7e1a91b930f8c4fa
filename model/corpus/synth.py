"""Render a note Part to audio with libfluidsynth (through ctypes).

Each worker process keeps one synthesizer per soundfont, loaded once (the MuseScore .sf3 takes
seconds to decompress, so re-loading it for every stem as the fluidsynth command line does
would dominate the render time). A part is rendered from a reset synthesizer, events in time
order, straight into float32, so the result does not depend on what was rendered before.
Output arrays are float32 ``(2, frames)``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import numpy as np

from .music import Part
from .soundfonts import CorpusError, SoundFont

logger = logging.getLogger(__name__)

BEND_RANGE_SEMITONES = 2.0  # the General MIDI default pitch-bend sensitivity
BLOCK = 64  # fluidsynth's internal block size; event times are rounded to samples

_LIB = None


def _lib() -> ctypes.CDLL:
    """libfluidsynth with the prototypes we use (CorpusError if it is not installed)."""
    global _LIB
    if _LIB is not None:
        return _LIB
    name = ctypes.util.find_library("fluidsynth") or "libfluidsynth.so.3"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise CorpusError("libfluidsynth was not found: install it (Debian: apt-get install fluidsynth)") from exc
    vp, ci, cd, cc = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_char_p
    protos = {
        "new_fluid_settings": (vp, []),
        "delete_fluid_settings": (None, [vp]),
        "fluid_settings_setnum": (ci, [vp, cc, cd]),
        "fluid_settings_setint": (ci, [vp, cc, ci]),
        "new_fluid_synth": (vp, [vp]),
        "delete_fluid_synth": (None, [vp]),
        "fluid_synth_sfload": (ci, [vp, cc, ci]),
        "fluid_synth_program_select": (ci, [vp, ci, ci, ci, ci]),
        "fluid_synth_noteon": (ci, [vp, ci, ci, ci]),
        "fluid_synth_noteoff": (ci, [vp, ci, ci]),
        "fluid_synth_pitch_bend": (ci, [vp, ci, ci]),
        "fluid_synth_cc": (ci, [vp, ci, ci, ci]),
        "fluid_synth_system_reset": (ci, [vp]),
        "fluid_synth_all_sounds_off": (ci, [vp, ci]),
        "fluid_synth_write_float": (ci, [vp, ci, vp, ci, ci, vp, ci, ci]),
        "fluid_set_log_function": (vp, [ci, vp, vp]),
    }
    for fn, (res, args) in protos.items():
        f = getattr(lib, fn)
        f.restype = res
        f.argtypes = args
    for level in (2, 3, 4):  # FLUID_WARN, INFO, DBG: absent presets are handled here, not printed
        lib.fluid_set_log_function(level, None, None)
    _LIB = lib
    return lib


def check_fluidsynth() -> None:
    """CorpusError (saying how to install it) unless libfluidsynth can be loaded."""
    _lib()


class _Synth:
    def __init__(self, sf: SoundFont, samplerate: int, effects: bool = False):
        lib = _lib()
        self.lib = lib
        self.settings = lib.new_fluid_settings()
        lib.fluid_settings_setnum(self.settings, b"synth.sample-rate", float(samplerate))
        lib.fluid_settings_setnum(self.settings, b"synth.gain", 0.5)
        # fluidsynth's own reverb and chorus (at its default settings, each preset's sends): off
        # unless asked for, because pedalboard does the rooms; the fluidsynth command line that
        # rendered the CORPUS_NOTES corpus had them on, as it does by default
        lib.fluid_settings_setint(self.settings, b"synth.reverb.active", int(effects))
        lib.fluid_settings_setint(self.settings, b"synth.chorus.active", int(effects))
        lib.fluid_settings_setint(self.settings, b"synth.polyphony", 512)
        lib.fluid_settings_setint(self.settings, b"synth.cpu-cores", 1)
        self.synth = lib.new_fluid_synth(self.settings)
        if not self.synth:
            raise CorpusError("fluidsynth could not create a synthesizer")
        self.sfid = lib.fluid_synth_sfload(self.synth, str(sf.path).encode(), 1)
        if self.sfid < 0:
            raise CorpusError(f"fluidsynth could not load the soundfont {sf.path}")

    def close(self) -> None:
        self.lib.delete_fluid_synth(self.synth)
        self.lib.delete_fluid_settings(self.settings)
        self.synth = self.settings = None

    def write(self, out: np.ndarray, start: int, stop: int) -> None:
        """Render frames [start, stop) into ``out`` (2, N) float32 (C-contiguous rows)."""
        n = stop - start
        pos = start
        while n > 0:
            k = min(n, 8192)
            left = out[0, pos:].ctypes.data
            right = out[1, pos:].ctypes.data
            self.lib.fluid_synth_write_float(self.synth, k, left, 0, 1, right, 0, 1)
            pos += k
            n -= k


_SYNTHS: dict[tuple[str, int], _Synth] = {}


def _synth(sf: SoundFont, samplerate: int) -> _Synth:
    key = (str(sf.path), samplerate)
    if key not in _SYNTHS:
        _SYNTHS[key] = _Synth(sf, samplerate)
    return _SYNTHS[key]


def render_part(part: Part, soundfont: SoundFont, samplerate: int, frames: int,
                effects: bool = False) -> tuple[np.ndarray, int]:
    """Render ``part`` with ``soundfont``: float32 (2, frames) and the GM program actually used.

    ``effects``: fluidsynth's built-in reverb and chorus on, as the fluidsynth command line has them.
    A system reset clears neither the chorus's LFO phase nor all of the reverb's state, so such a
    part gets a synthesizer of its own (loading a soundfont takes ~0.15 s) and its bytes still
    depend only on the song's seed.

    Drums play on MIDI channel 10 from bank 128 (a kit program missing from the soundfont falls
    back to kit 0); a "drumkit" soundfont plays its single kit from bank 0, preset 0 on channel 1.
    """
    if not effects:
        return _render(_synth(soundfont, samplerate), part, soundfont, samplerate, frames)
    s = _Synth(soundfont, samplerate, effects=True)
    try:
        return _render(s, part, soundfont, samplerate, frames)
    finally:
        s.close()


def _render(s: _Synth, part: Part, soundfont: SoundFont, samplerate: int, frames: int) -> tuple[np.ndarray, int]:
    lib = s.lib
    lib.fluid_synth_system_reset(s.synth)
    drumkit = soundfont.kind == "drumkit"
    chan = 9 if part.is_drum and not drumkit else 0
    bank = 128 if part.is_drum and not drumkit else 0
    program = 0 if drumkit else part.program
    if lib.fluid_synth_program_select(s.synth, chan, s.sfid, bank, program) != 0:
        fallback = 0 if part.is_drum else (program // 8) * 8
        if lib.fluid_synth_program_select(s.synth, chan, s.sfid, bank, fallback) != 0:
            raise CorpusError(f"{soundfont.name} has no preset {bank}:{program} nor {bank}:{fallback}")
        program = fallback
    # events: (sample, order, kind, a, b); note-offs before note-ons at the same sample
    ev: list[tuple[int, int, str, int, int]] = []
    for n in part.notes:
        a = int(round(n.start * samplerate))
        b = max(a + 1, int(round(n.end * samplerate)))
        if a >= frames:
            continue
        ev.append((a, 2, "on", int(n.pitch), int(n.velocity)))
        ev.append((b, 0, "off", int(n.pitch), 0))
    for t, semis in part.bends:
        val = int(np.clip(round(8192 + semis / BEND_RANGE_SEMITONES * 8191), 0, 16383))
        ev.append((int(round(max(0.0, t) * samplerate)), 1, "bend", val, 0))
    for t, num, val in part.ccs:
        ev.append((int(round(max(0.0, t) * samplerate)), 1, "cc", int(num), int(val)))
    ev.sort(key=lambda e: (e[0], e[1], e[3]))
    # fluidsynth caches per-sample analysis (voice-off optimisation) the first time a sample is
    # played through, and that changes the next renders slightly. Rendering twice and keeping the
    # second makes every part sound as if all its samples were already analysed, whatever this
    # process rendered before, so a song's bytes depend only on its seed.
    _play(s, ev, chan, frames)
    lib.fluid_synth_system_reset(s.synth)
    lib.fluid_synth_program_select(s.synth, chan, s.sfid, bank, program)
    out = _play(s, ev, chan, frames)
    return out, program


def _play(s: _Synth, ev: list[tuple[int, int, str, int, int]], chan: int, frames: int) -> np.ndarray:
    """Play time-ordered events on ``chan``; returns float32 (2, frames)."""
    lib = s.lib
    out = np.zeros((2, frames), dtype=np.float32)
    pos = 0
    for t, _, kind, a, b in ev:
        t = min(t, frames)
        if t > pos:
            s.write(out, pos, t)
            pos = t
        if kind == "on":
            lib.fluid_synth_noteon(s.synth, chan, a, b)
        elif kind == "off":
            lib.fluid_synth_noteoff(s.synth, chan, a)
        elif kind == "bend":
            lib.fluid_synth_pitch_bend(s.synth, chan, a)
        else:
            lib.fluid_synth_cc(s.synth, chan, a, b)
    if pos < frames:
        s.write(out, pos, frames)
    lib.fluid_synth_all_sounds_off(s.synth, -1)
    # silence until voices have died, ending on a block boundary: fluidsynth applies events at its
    # 64-frame block starts, so every part must begin at the same block phase to render identically
    tail = 4096 + (-frames) % BLOCK
    scratch = np.zeros((2, tail), dtype=np.float32)
    s.write(scratch, 0, tail)
    return out
