"""Render a note Part to audio with the FluidSynth command line.

Output arrays are float32 ``(2, frames)`` at the requested samplerate.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .music import Part
from .soundfonts import CorpusError, SoundFont, fluidsynth_path

logger = logging.getLogger(__name__)

BEND_RANGE_SEMITONES = 2.0


def write_midi(part: Part, path: Path, drumkit_sf: bool = False) -> None:
    """Write one Part as a single-track MIDI file (channel 10 for GM drums)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    is_drum = part.is_drum and not drumkit_sf  # a drum-kit soundfont holds its kit at bank 0 preset 0
    inst = pretty_midi.Instrument(program=0 if drumkit_sf else part.program, is_drum=is_drum, name=part.name)
    for n in part.notes:
        if n.end > n.start:
            inst.notes.append(pretty_midi.Note(velocity=int(n.velocity), pitch=int(n.pitch), start=float(n.start),
                                               end=float(n.end)))
    for t, semis in part.bends:
        val = int(np.clip(round(semis / BEND_RANGE_SEMITONES * 8191), -8192, 8191))
        inst.pitch_bends.append(pretty_midi.PitchBend(val, float(max(0.0, t))))
    for t, num, val in part.ccs:
        inst.control_changes.append(pretty_midi.ControlChange(int(num), int(val), float(max(0.0, t))))
    pm.instruments.append(inst)
    pm.write(str(path))


def render_part(part: Part, soundfont: SoundFont, samplerate: int, frames: int, workdir: Path,
                reverb: bool = False, chorus: bool = False) -> np.ndarray:
    """Render ``part`` with ``soundfont``; returns float32 (2, frames), zero-padded or cut."""
    exe = fluidsynth_path()
    mid = workdir / f"{part.name}.mid"
    wav = workdir / f"{part.name}.wav"
    write_midi(part, mid, drumkit_sf=soundfont.kind == "drumkit")
    cmd = [exe, "-ni", "-q", "-F", str(wav), "-r", str(samplerate), "-g", "0.5", "-O", "float", "-T", "wav",
           "-R", "1" if reverb else "0", "-C", "1" if chorus else "0",
           "-o", "synth.dynamic-sample-loading=1", "-o", "synth.cpu-cores=1",
           str(soundfont.path), str(mid)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as exc:
        raise CorpusError(f"fluidsynth timed out rendering {part.name} with {soundfont.path}") from exc
    if proc.returncode != 0 or not wav.is_file():
        raise CorpusError(f"fluidsynth failed rendering {part.name} with {soundfont.path}: {proc.stderr.strip()[:300]}")
    data, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    if sr != samplerate:
        raise CorpusError(f"fluidsynth wrote {sr} Hz instead of {samplerate} Hz")
    out = np.zeros((2, frames), dtype=np.float32)
    data = data.T[:2]
    if data.shape[0] == 1:
        data = np.repeat(data, 2, axis=0)
    m = min(frames, data.shape[1])
    out[:, :m] = data[:, :m]
    wav.unlink(missing_ok=True)
    mid.unlink(missing_ok=True)
    return out
