"""Generated arrangements: meter, key, chords, and the note parts of every stem.

Everything here is pure Python/numpy and deterministic for a given ``numpy.random.Generator``.
Times are in seconds from the song start; pitches are MIDI note numbers; velocities 1..127.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import logging
import math
from dataclasses import dataclass, field

import numpy as np

if TYPE_CHECKING:
    from .profiles import Profile

logger = logging.getLogger(__name__)

GENRES = ("rock", "pop", "funk", "electronic", "ballad", "jazz", "metal")
GENRE_WEIGHTS = (0.2, 0.2, 0.12, 0.14, 0.12, 0.08, 0.14)

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)

#: progressions as 0-based scale degrees, one chord per entry
PROGRESSIONS = {
    "major": [(0, 4, 5, 3), (0, 3, 4, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 0, 4), (0, 4, 3, 3),
              (3, 0, 4, 5), (0, 2, 3, 4), (1, 4, 0, 0), (0, 5, 1, 4)],
    "minor": [(0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 6, 0), (0, 0, 5, 6),
              (0, 3, 0, 4), (5, 6, 0, 0)],
}


@dataclass
class Note:
    pitch: int
    start: float
    end: float
    velocity: int


@dataclass
class Part:
    """One rendered layer of a stem.

    ``engine`` is "fluidsynth" (``program``/``is_drum``/``bank`` select the sound) or "world"
    (real singing re-pitched along ``notes``). ``bends`` are (time s, semitones) pitch-bend
    points, ``ccs`` are (time s, controller, value). ``role`` names the musical job (e.g.
    "dist_guitar"); the production chain is chosen from it.
    """

    name: str
    stem: str
    role: str
    program: int = 0
    is_drum: bool = False
    engine: str = "fluidsynth"
    notes: list[Note] = field(default_factory=list)
    bends: list[tuple[float, float]] = field(default_factory=list)
    ccs: list[tuple[float, int, int]] = field(default_factory=list)
    soundfont: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Song:
    genre: str
    bpm: float
    meter: str  # "4/4", "3/4", "6/8", "12/8"
    key: int  # pitch class of the tonic
    mode: str
    bars: int
    bar_seconds: float
    step_seconds: float  # one sixteenth
    steps_per_bar: int
    pulse_steps: int  # sixteenths per beat/pulse (4 simple, 6 compound)
    swing: float
    duration_seconds: float
    chords: list[list[tuple[int, list[int]]]]  # per bar: [(start_step, pitch classes)]
    sections: list[int]  # first bar of each section
    parts: list[Part] = field(default_factory=list)

    def time(self, bar: int, step: float) -> float:
        """Seconds at sixteenth ``step`` of ``bar`` (swing applied to off-beat eighths)."""
        s = step
        if self.swing and self.pulse_steps == 4 and int(step) % 4 == 2 and step == int(step):
            s = step + self.swing * 2
        return bar * self.bar_seconds + s * self.step_seconds

    def chord_at(self, bar: int, step: float) -> list[int]:
        current = self.chords[bar][0][1]
        for start, pcs in self.chords[bar]:
            if start <= step:
                current = pcs
        return current

    def scale(self) -> list[int]:
        base = MAJOR if self.mode == "major" else MINOR
        return [(self.key + d) % 12 for d in base]

    def section_of(self, bar: int) -> int:
        idx = 0
        for i, first in enumerate(self.sections):
            if bar >= first:
                idx = i
        return idx


def _choice(rng: np.random.Generator, items, weights=None):
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        return items[int(rng.choice(len(items), p=w / w.sum()))]
    return items[int(rng.integers(len(items)))]


def _pitch_near(pc: int, centre: int) -> int:
    """The MIDI pitch with pitch class ``pc`` closest to ``centre``."""
    p = centre + ((pc - centre) % 12)
    return p - 12 if p - centre > 6 else p


# ---------------------------------------------------------------------------------------------
# song skeleton
# ---------------------------------------------------------------------------------------------

def make_song(rng: np.random.Generator, duration_seconds: float, profile: "Profile | None" = None) -> Song:
    if profile is not None and profile.genres is not None:
        genre = _choice(rng, profile.genres, [GENRE_WEIGHTS[GENRES.index(g)] for g in profile.genres])
    else:
        genre = _choice(rng, GENRES, GENRE_WEIGHTS)
    meter_w = {"rock": (70, 8, 12, 10), "pop": (75, 8, 10, 7), "funk": (95, 0, 3, 2),
               "electronic": (97, 0, 3, 0), "ballad": (45, 20, 20, 15), "jazz": (60, 25, 10, 5),
               "metal": (80, 5, 10, 5)}[genre]
    meter = _choice(rng, ("4/4", "3/4", "6/8", "12/8"), meter_w)
    if profile is not None and profile.meters is not None and meter not in profile.meters:
        meter = profile.meters[0]
    lo, hi = {"rock": (95, 170), "pop": (80, 140), "funk": (85, 125), "electronic": (110, 180),
              "ballad": (60, 90), "jazz": (70, 180), "metal": (100, 180)}[genre]
    if profile is not None and profile.bpm_range is not None:
        lo, hi = max(lo, profile.bpm_range[0]), min(hi, profile.bpm_range[1])
    bpm = float(rng.uniform(lo, hi))
    compound = meter in ("6/8", "12/8")
    if compound:
        bpm = bpm * 2 / 3 if bpm > 110 else bpm * 0.8  # dotted-quarter pulse
    pulse_steps = 6 if compound else 4
    steps_per_bar = {"4/4": 16, "3/4": 12, "6/8": 12, "12/8": 24}[meter]
    step_seconds = 60.0 / bpm / pulse_steps
    bar_seconds = steps_per_bar * step_seconds
    mode = "minor" if rng.random() < {"metal": 0.9, "ballad": 0.45, "rock": 0.45}.get(genre, 0.4) else "major"
    key = int(rng.integers(12))
    swing = 0.0
    if not compound and (genre == "jazz" or (genre in ("funk", "pop", "rock") and rng.random() < 0.15)):
        swing = float(rng.uniform(0.2, 0.33)) if genre == "jazz" else float(rng.uniform(0.05, 0.25))
    bars = max(1, int(math.ceil(duration_seconds / bar_seconds)) + 1)

    prog = list(_choice(rng, PROGRESSIONS[mode]))
    scale = MAJOR if mode == "major" else MINOR
    sevenths = genre == "jazz" or (genre in ("funk", "ballad") and rng.random() < 0.5)
    two_per_bar = steps_per_bar >= 16 and rng.random() < 0.25

    def chord(deg: int) -> list[int]:
        tones = [scale[(deg + k) % 7] for k in ((0, 2, 4, 6) if sevenths else (0, 2, 4))]
        if mode == "minor" and deg == 4 and rng.random() < 0.5:
            tones[1] = (tones[1] + 1) % 12  # harmonic-minor dominant
        if genre == "metal":
            tones = [tones[0], (tones[0] + 7) % 12]  # power chord
        return [(key + t) % 12 for t in tones]

    # a second progression for the "B" sections
    prog_b = list(_choice(rng, PROGRESSIONS[mode]))
    section_bars = 4 if bars >= 8 else 2
    sections = list(range(0, bars, section_bars))
    chords: list[list[tuple[int, list[int]]]] = []
    for bar in range(bars):
        sec = sections.index(max(s for s in sections if s <= bar))
        p = prog if sec % 2 == 0 else prog_b
        i = bar % len(p)
        if two_per_bar:
            chords.append([(0, chord(p[(2 * i) % len(p)])), (steps_per_bar // 2, chord(p[(2 * i + 1) % len(p)]))])
        else:
            chords.append([(0, chord(p[i]))])
    return Song(genre, bpm, meter, key, mode, bars, bar_seconds, step_seconds, steps_per_bar,
                pulse_steps, swing, duration_seconds, chords, sections)


def _human(rng: np.random.Generator, t: float, amount: float = 0.008) -> float:
    return max(0.0, t + float(rng.normal(0, amount)))


def _vel(rng: np.random.Generator, v: float, spread: float = 8) -> int:
    return int(np.clip(round(v + rng.normal(0, spread)), 1, 127))


def _active_sections(rng: np.random.Generator, song: Song, p_on: float, must_have: bool = True) -> set[int]:
    """Sections a layer plays in; only sections starting at least 1 s before the song's end count
    (the last bar exists for tails and may lie past the end)."""
    n = len(song.sections)
    audible = [i for i in range(n) if song.sections[i] * song.bar_seconds < song.duration_seconds - 1.0] or [0]
    draws = [rng.random() < p_on for _ in range(n)]
    on = {i for i in audible if draws[i]}
    if must_have and not on:
        on = {audible[int(rng.integers(len(audible)))]}
    return on


# ---------------------------------------------------------------------------------------------
# drums
# ---------------------------------------------------------------------------------------------

KICK, SNARE, STICK, CLAP, HH, PEDAL, OPEN, CRASH, RIDE, BELL, CHINA = 36, 38, 37, 39, 42, 44, 46, 49, 51, 53, 52
TOMS = (50, 48, 47, 45, 43, 41)
CYMBALS = (HH, PEDAL, OPEN, CRASH, RIDE, BELL, CHINA, 57, 59, 55)
GM_KITS = {"standard": 0, "room": 8, "power": 16, "electronic": 24, "808": 25, "jazz": 32, "brush": 40}


def _groove(rng: np.random.Generator, song: Song) -> dict:
    """Per-bar drum pattern: instrument -> list of (step, velocity)."""
    g = song.genre
    n = song.steps_per_bar
    ps = song.pulse_steps
    pat: dict[str, list[tuple[float, float]]] = {}
    if ps == 6:  # 6/8, 12/8
        pulses = n // 6
        pat["kick"] = [(0, 110)] + ([(12, 100)] if pulses == 4 and rng.random() < 0.7 else [])
        if rng.random() < 0.5:
            pat["kick"].append((n - 2, 85))
        pat["snare"] = [(6, 105)] + ([(18, 105)] if pulses == 4 else [])
        if pulses == 2:
            pat["snare"] = [(6, 105)]
        pat["hat"] = [(s, 90 if s % 6 == 0 else 65) for s in range(0, n, 2)]
        return pat
    if n == 12:  # 3/4
        pat["kick"] = [(0, 110)] + ([(8, 90)] if rng.random() < 0.4 else [])
        pat["snare"] = [(4, 95), (8, 95)] if rng.random() < 0.6 else [(8, 105)]
        pat["hat"] = [(s, 85 if s % 4 == 0 else 60) for s in range(0, n, 2)]
        return pat
    # 4/4
    kick_patterns = [(0, 8), (0, 6, 8), (0, 8, 10), (0, 3, 8), (0, 6, 10), (0, 7, 8, 14), (0, 10),
                     (0, 4, 8, 12), (0, 3, 6, 10, 12)]
    if g == "electronic":
        pat["kick"] = [(s, 115) for s in (0, 4, 8, 12)]
        pat["snare"] = [(4, 105), (12, 105)]
        pat["hat"] = [(s, 90) for s in (2, 6, 10, 14)] if rng.random() < 0.6 else [(s, 70 + 20 * (s % 4 == 2)) for s in range(0, 16, 2)]
        pat["open"] = [(s, 85) for s in (2, 6, 10, 14)] if rng.random() < 0.4 else []
        if rng.random() < 0.5:
            pat["hat"] = [(s, 60 + 25 * (s % 2 == 0)) for s in range(16)]
        return pat
    if g == "metal":
        if rng.random() < 0.5:
            pat["kick"] = [(s, 105) for s in range(0, 16, 1 if rng.random() < 0.5 else 2)]
        else:
            pat["kick"] = [(s, 110) for s in _choice(rng, kick_patterns)]
        pat["snare"] = [(4, 115), (12, 115)] if rng.random() < 0.7 else [(8, 115)]
        pat["hat"] = [(s, 95) for s in range(0, 16, 2)]
        pat["cymbal"] = "ride" if rng.random() < 0.3 else ("china" if rng.random() < 0.2 else "hat")
        return pat
    if g == "jazz":
        pat["ride"] = [(0, 95), (4, 90), (10, 75), (8, 92), (12, 90), (14, 75)]
        pat["pedal"] = [(4, 70), (12, 70)]
        pat["kick"] = [(0, 55), (8, 50)] if rng.random() < 0.6 else []
        pat["snare"] = [(float(rng.choice([2, 6, 10, 14, 7, 11])), 55) for _ in range(2)]
        return pat
    kicks = _choice(rng, kick_patterns)
    if g == "ballad" and rng.random() < 0.6:
        pat["kick"] = [(0, 100)] + ([(10, 85)] if rng.random() < 0.5 else [])
        pat["snare"] = [(8, 100)]  # half time
    else:
        pat["kick"] = [(s, 110 if s in (0, 8) else 95) for s in kicks]
        pat["snare"] = [(4, 110), (12, 110)]
    if g == "funk":
        pat["hat"] = [(s, 85 if s % 4 == 0 else 60) for s in range(16)]
        pat["snare"] += [(s, 40) for s in (2, 7, 10, 15) if rng.random() < 0.6]  # ghosts
        pat["kick"] += [(s, 95) for s in (3, 11, 14) if rng.random() < 0.4]
    else:
        sub = 1 if (g == "pop" and rng.random() < 0.3) else 2
        pat["hat"] = [(s, 85 if s % 4 == 0 else 65) for s in range(0, 16, sub)]
        if rng.random() < 0.3:
            pat["open"] = [(14, 80)]
    if g == "ballad" and rng.random() < 0.5:
        pat["cymbal"] = "ride"
    if g == "rock" and rng.random() < 0.25:
        pat["cymbal"] = "ride"
    if rng.random() < 0.15 and g in ("pop", "ballad"):
        pat["snare_note"] = STICK
    if rng.random() < 0.15 and g in ("pop",):
        pat["snare_note"] = CLAP
    return pat


def drum_part(rng: np.random.Generator, song: Song) -> Part:
    pat = _groove(rng, song)
    n = song.steps_per_bar
    ps = song.pulse_steps
    cymbal = pat.get("cymbal", "hat")
    hat_note = {"hat": HH, "ride": RIDE, "china": CHINA}[cymbal]
    snare_note = pat.get("snare_note", SNARE)
    fill_every = 4 if rng.random() < 0.6 else 8
    # records mix kicks loud and cymbals under them: soundfont kits played flat are too bright
    cym_scale = float(rng.uniform(0.55, 0.9))
    kick_boost = float(rng.uniform(0, 15))
    part = Part("drums", "drums", "drums", is_drum=True)
    active = _active_sections(rng, song, 0.9)
    # the groove varies a little per section
    alt = _groove(rng, song)
    for bar in range(song.bars):
        sec = song.section_of(bar)
        if sec not in active:
            continue
        p = pat if sec % 2 == 0 else alt
        fill = (bar % fill_every == fill_every - 1) or (bar + 1 < song.bars and song.section_of(bar + 1) != sec
                                                         and song.section_of(bar + 1) not in active)
        fill_from = n if not fill else int(n - (n // 2 if rng.random() < 0.5 else n // 4))
        hits: list[tuple[int, float, float]] = []
        for inst, evs in p.items():
            if not isinstance(evs, list):
                continue
            note = {"kick": KICK, "snare": snare_note, "hat": hat_note, "open": OPEN, "ride": RIDE,
                    "pedal": PEDAL}[inst]
            for step, vel in evs:
                if step < fill_from:
                    hits.append((note, step, vel))
        if bar == 0 or song.section_of(bar - 1) != sec or (bar % fill_every == 0 and bar > 0):
            hits.append((_choice(rng, (CRASH, 57)) if song.genre != "jazz" else CRASH, 0, 110))
        if fill:
            toms = list(TOMS)
            step_len = 1 if rng.random() < 0.7 else 2
            for k, s in enumerate(range(fill_from, n, step_len)):
                frac = k / max(1, (n - fill_from) / step_len)
                if rng.random() < 0.5:
                    note = SNARE
                else:
                    note = toms[min(len(toms) - 1, int(frac * len(toms)))]
                hits.append((note, s, 80 + 40 * frac))
            hits.append((KICK, fill_from, 100))
        for note, step, vel in hits:
            t = _human(rng, song.time(bar, step), 0.005)
            if note in CYMBALS:
                vel = vel * cym_scale
            elif note == KICK:
                vel = vel + kick_boost
            part.notes.append(Note(note, t, t + 0.1, _vel(rng, vel, 6)))
    # auxiliary percussion (tambourine, shakers, congas, cowbell) in some songs
    perc_p = {"pop": 0.45, "funk": 0.6, "electronic": 0.4, "rock": 0.2, "ballad": 0.3, "jazz": 0.1, "metal": 0.05}[song.genre]
    if rng.random() < perc_p:
        kind = _choice(rng, ("tambourine", "shaker", "congas", "cowbell", "claps"), (3, 3, 2, 1, 1))
        if kind == "tambourine":
            hits = [(54, s, 85 if s % ps == 0 else 65) for s in range(0, n, 2)] if rng.random() < 0.5 else \
                   [(54, s, 90) for s in range(ps, n, 2 * ps)]
        elif kind == "shaker":
            hits = [(int(_choice(rng, (70, 82))), s, 75 if s % 2 == 0 else 55) for s in range(n)]
        elif kind == "congas":
            hits = [(int(_choice(rng, (62, 63, 64))), s, 80) for s in range(n) if rng.random() < 0.35]
        elif kind == "cowbell":
            hits = [(56, s, 85) for s in range(0, n, ps)]
        else:
            hits = [(39, s, 95) for s in range(ps, n, 2 * ps)]
        perc_active = _active_sections(rng, song, 0.6)
        for bar in range(song.bars):
            if song.section_of(bar) not in perc_active or song.section_of(bar) not in active:
                continue
            for note, step, vel in hits:
                t = _human(rng, song.time(bar, step), 0.006)
                part.notes.append(Note(note, t, t + 0.1, _vel(rng, vel, 8)))
    # final crash
    t = song.time(song.bars - 1, 0) + song.bar_seconds
    if t < song.duration_seconds:
        part.notes.append(Note(CRASH, t, t + 0.1, 110))
    return part


# ---------------------------------------------------------------------------------------------
# bass
# ---------------------------------------------------------------------------------------------

BASS_PROGRAMS = {
    "rock": (33, 34, 34, 33), "pop": (33, 34, 38, 39), "funk": (36, 37, 33, 38), "electronic": (38, 39, 38, 81),
    "ballad": (32, 33, 35), "jazz": (32, 32, 35), "metal": (34, 33, 34),
}


def bass_part(rng: np.random.Generator, song: Song) -> Part:
    prog = _choice(rng, BASS_PROGRAMS[song.genre])
    part = Part("bass", "bass", "bass", program=int(prog))
    n, ps = song.steps_per_bar, song.pulse_steps
    style = _choice(rng, ("whole", "pulse", "eighths", "root5", "synco", "walk", "sixteenths"),
                    {"rock": (1, 3, 5, 2, 2, 0, 0), "pop": (2, 3, 3, 2, 3, 0, 0), "funk": (0, 1, 1, 2, 5, 0, 3),
                     "electronic": (1, 2, 4, 1, 3, 0, 2), "ballad": (5, 3, 1, 2, 1, 0, 0),
                     "jazz": (0, 1, 0, 1, 0, 8, 0), "metal": (0, 1, 4, 0, 1, 0, 4)}[song.genre])
    centre = int(rng.integers(33, 43))
    active = _active_sections(rng, song, 0.85)
    synco = sorted(set([0] + [int(s) for s in rng.choice(np.arange(1, n), size=min(n - 1, 4), replace=False)]))
    legato = rng.uniform(0.6, 0.95)
    for bar in range(song.bars):
        if song.section_of(bar) not in active:
            continue
        if style == "whole":
            steps = [0] if n <= 12 or rng.random() < 0.5 else [0, n // 2]
        elif style == "pulse":
            steps = list(range(0, n, ps))
        elif style == "eighths":
            steps = list(range(0, n, 2))
        elif style == "root5":
            steps = list(range(0, n, ps))
        elif style == "synco":
            steps = synco
        elif style == "sixteenths":
            steps = list(range(0, n, 1))
        else:  # walk
            steps = list(range(0, n, ps))
        for i, s in enumerate(steps):
            pcs = song.chord_at(bar, s)
            root = _pitch_near(pcs[0], centre)
            pitch = root
            if style == "root5" and i % 2 == 1:
                pitch = _pitch_near(pcs[min(2, len(pcs) - 1)] if len(pcs) > 2 else (pcs[0] + 7) % 12, centre)
            elif style == "walk" and i > 0:
                pitch = _pitch_near(pcs[int(rng.integers(len(pcs)))], centre)
                if i == len(steps) - 1:
                    nxt = song.chord_at(min(bar + 1, song.bars - 1), 0)[0]
                    pitch = _pitch_near(nxt, centre) + int(rng.choice([-1, 1]))
            elif style in ("synco", "sixteenths") and rng.random() < 0.2:
                pitch = root + 12 if root + 12 <= 60 else root
            end_step = steps[i + 1] if i + 1 < len(steps) else n
            t0 = _human(rng, song.time(bar, s), 0.006)
            t1 = song.time(bar, s) + (end_step - s) * song.step_seconds * legato
            part.notes.append(Note(int(pitch), t0, max(t0 + 0.05, t1), _vel(rng, 95 if s % ps == 0 else 80)))
    return part


# ---------------------------------------------------------------------------------------------
# other: 1-4 layers
# ---------------------------------------------------------------------------------------------

ROLE_PROGRAMS = {
    "dist_guitar": (29, 30, 30, 29),
    "clean_guitar": (24, 25, 26, 27, 27, 28),
    "piano": (0, 0, 1, 2, 4, 5),
    "organ": (16, 17, 18, 19),
    "pad": (88, 89, 90, 91, 92, 94, 95, 50, 51),
    "strings": (48, 49, 48, 44, 45),
    "brass": (56, 57, 60, 61, 61, 62, 63),
    "synth_lead": (80, 81, 84, 87, 62),
    "arp": (81, 80, 82, 87, 98, 99),
    "mallets": (8, 11, 12, 13, 10),
    "lead_guitar": (29, 30, 27, 26),
}

ROLE_WEIGHTS = {
    #            dist  clean piano organ pad strings brass lead arp mallets lead_gtr
    "rock":       (6,   3,    2,    2,    1,  1,      0.5,  0.3, 0.2, 0.2, 2),
    "pop":        (1.5, 3,    4,    1,    3,  2,      1,    1.5, 2, 1, 0.5),
    "funk":       (0.5, 5,    2,    3,    1,  0.5,    4,    1.5, 0.5, 0.5, 0.5),
    "electronic": (0.5, 0.5,  1.5,  0.5,  5,  1,      0.5,  4,   5, 1, 0.2),
    "ballad":     (0.5, 3,    5,    1,    3,  4,      0.5,  0.5, 0.5, 1, 0.5),
    "jazz":       (0,   3,    6,    2,    0.5, 1,     3,    0.2, 0,   2, 0.5),
    "metal":      (8,   1,    0.5,  0.5,  1,  1.5,    0.2,  0.5, 0.2, 0,  3),
}


def _chord_voicing(pcs: list[int], centre: int, n_notes: int) -> list[int]:
    base = sorted(_pitch_near(pc, centre) for pc in pcs)
    out = list(base)
    k = 0
    while len(out) < n_notes:
        out.append(base[k % len(base)] + 12 * (1 + k // len(base)))
        k += 1
    return sorted(out[:max(n_notes, 2)])


def other_layer(rng: np.random.Generator, song: Song, role: str, idx: int, melodies: bool = True) -> Part:
    """One "other" layer. ``melodies=False``: synth leads and mallets play arpeggios instead of the
    phrased melodies that the vocals also sing (the CORPUS_NOTES corpus had no melody in "other")."""
    prog = int(_choice(rng, ROLE_PROGRAMS[role]))
    part = Part(f"other{idx}_{role}", "other", role, program=prog)
    n, ps = song.steps_per_bar, song.pulse_steps
    active = _active_sections(rng, song, 0.8 if idx == 0 else 0.6)
    if role == "dist_guitar":
        style = _choice(rng, ("chug8", "chug16", "sustain", "riff"), (3, 2, 2, 2))
        centre = int(rng.integers(42, 52))
        riff_steps = sorted(set([0] + [int(s) for s in rng.choice(np.arange(1, n), size=min(n - 1, 5), replace=False)]))
        for bar in range(song.bars):
            if song.section_of(bar) not in active:
                continue
            steps = {"chug8": range(0, n, 2), "chug16": range(0, n, 1), "sustain": [0, n // 2] if n >= 16 else [0],
                     "riff": riff_steps}[style]
            steps = list(steps)
            for i, s in enumerate(steps):
                pcs = song.chord_at(bar, s)
                root = _pitch_near(pcs[0], centre)
                chord = [root, root + 7] + ([root + 12] if rng.random() < 0.6 else [])
                end_step = steps[i + 1] if i + 1 < len(steps) else n
                dur = (end_step - s) * song.step_seconds * (0.5 if style.startswith("chug") else 0.95)
                t0 = _human(rng, song.time(bar, s), 0.005)
                v = _vel(rng, 100 if s % ps == 0 else 88)
                for p in chord:
                    part.notes.append(Note(p, t0, t0 + max(0.05, dur), v))
    elif role in ("clean_guitar", "piano", "organ"):
        style = _choice(rng, ("strum", "comp", "arp", "block"), (3, 3, 2, 1) if role == "clean_guitar" else (1, 3, 2, 2))
        centre = int(rng.integers(55, 67))
        comp_steps = sorted(set([0] + [int(s) for s in rng.choice(np.arange(1, n), size=min(n - 1, 3), replace=False)]))
        arp_rate = _choice(rng, (1, 2, 2, 3)) if ps == 4 else _choice(rng, (1, 2))
        for bar in range(song.bars):
            if song.section_of(bar) not in active:
                continue
            if style == "arp":
                for s in range(0, n, arp_rate):
                    pcs = song.chord_at(bar, s)
                    voic = _chord_voicing(pcs, centre, 4)
                    seq = voic + voic[-2:0:-1]
                    p = seq[(s // arp_rate) % len(seq)]
                    t0 = _human(rng, song.time(bar, s))
                    part.notes.append(Note(p, t0, t0 + arp_rate * song.step_seconds * 1.5, _vel(rng, 80)))
                continue
            steps = {"strum": list(range(0, n, 2)) if rng.random() < 0.5 else list(range(0, n, ps)),
                     "comp": comp_steps, "block": [0] if n < 16 else [0, n // 2]}[style]
            for i, s in enumerate(steps):
                pcs = song.chord_at(bar, s)
                voic = _chord_voicing(pcs, centre, int(rng.integers(3, 6)))
                if role == "piano" and rng.random() < 0.7:
                    voic = [_pitch_near(pcs[0], centre - 19)] + voic
                end_step = steps[i + 1] if i + 1 < len(steps) else n
                dur = (end_step - s) * song.step_seconds * (0.9 if style != "comp" else 0.5)
                t0 = _human(rng, song.time(bar, s))
                down = (s // 2) % 2 == 0
                v = _vel(rng, 85 if s % ps == 0 else 70)
                for k, p in enumerate(voic if down else voic[::-1]):
                    dt = k * (rng.uniform(0.008, 0.025) if style == "strum" else 0.003)
                    part.notes.append(Note(p, t0 + dt, t0 + dt + max(0.08, dur), v))
    elif role in ("pad", "strings"):
        centre = int(rng.integers(52, 64))
        pizz = part.program == 45
        for bar in range(song.bars):
            if song.section_of(bar) not in active:
                continue
            for s, pcs in song.chords[bar]:
                end_step = n
                for s2, _ in song.chords[bar]:
                    if s2 > s:
                        end_step = s2
                        break
                voic = _chord_voicing(pcs, centre, int(rng.integers(3, 5)))
                t0 = song.time(bar, s)
                if pizz:
                    for ss in range(s, end_step, ps):
                        for p in voic:
                            part.notes.append(Note(p, song.time(bar, ss), song.time(bar, ss) + 0.2, _vel(rng, 80)))
                    continue
                t1 = song.time(bar, end_step) + 0.05
                for p in voic:
                    part.notes.append(Note(p, t0, t1, _vel(rng, 75, 5)))
        # swells
        for bar in range(song.bars):
            t = song.time(bar, 0)
            for k in range(8):
                part.ccs.append((t + k * song.bar_seconds / 8, 11, int(70 + 50 * math.sin(math.pi * k / 8))))
    elif role == "brass":
        centre = int(rng.integers(58, 70))
        hits = sorted(set(int(s) for s in rng.choice(np.arange(n), size=min(n, 3), replace=False)))
        for bar in range(song.bars):
            if song.section_of(bar) not in active or rng.random() < 0.3:
                continue
            for s in hits:
                voic = _chord_voicing(song.chord_at(bar, s), centre, 3)
                t0 = _human(rng, song.time(bar, s))
                for p in voic:
                    part.notes.append(Note(p, t0, t0 + song.step_seconds * rng.uniform(1, 3), _vel(rng, 100)))
    elif role in ("synth_lead", "lead_guitar", "mallets", "arp"):
        centre = int(rng.integers(64, 76)) if role != "lead_guitar" else int(rng.integers(60, 72))
        if role == "arp" or (not melodies and role in ("synth_lead", "mallets")):
            rate = 1 if rng.random() < 0.6 else 2
            octs = int(rng.integers(1, 3))
            for bar in range(song.bars):
                if song.section_of(bar) not in active:
                    continue
                for s in range(0, n, rate):
                    voic = _chord_voicing(song.chord_at(bar, s), centre, 3)
                    seq = [p + 12 * o for o in range(octs) for p in voic]
                    p = seq[(s // rate) % len(seq)]
                    t0 = song.time(bar, s)
                    part.notes.append(Note(p, t0, t0 + rate * song.step_seconds * 0.8, _vel(rng, 85, 4)))
        else:
            mel = melody(rng, song, centre, active, density=0.7 if role != "mallets" else 0.9)
            part.notes.extend(mel)
            if role == "lead_guitar":
                _add_vibrato(rng, part, depth=0.3, rate=rng.uniform(5, 7), scoop=0.0)
    return part


# ---------------------------------------------------------------------------------------------
# melody and vocals
# ---------------------------------------------------------------------------------------------

def melody(rng: np.random.Generator, song: Song, centre: int, active: set[int], density: float = 0.8,
           span: int = 9, rest_bar_p: float = 0.35, legato: float = 0.75, end_rests: tuple[float, ...] = (1.0, 2.0, 0.0)
           ) -> list[Note]:
    """A phrased melody: phrases of 1-2 bars with rests, stepwise motion, chord tones on strong beats."""
    n, ps = song.steps_per_bar, song.pulse_steps
    scale = song.scale()
    lo, hi = centre - span, centre + span
    pitches = [p for p in range(lo, hi + 1) if p % 12 in scale]
    notes: list[Note] = []
    cur = _pitch_near(song.chord_at(0, 0)[0], centre)
    # a rhythmic motif reused across phrases (repetition is musical)
    durs_choice = (1, 2, 2, 3, 4, 4, 6, 8) if ps == 4 else (2, 2, 4, 6, 6, 12)
    motif = [int(_choice(rng, durs_choice)) for _ in range(12)]
    bar = 0
    while bar < song.bars:
        if song.section_of(bar) not in active:
            bar += 1
            continue
        phrase_bars = 1 if rng.random() < 0.3 else 2
        start = int(rng.choice([0, ps // 2, ps] if ps == 4 else [0, 3, 6]))
        rest = float(rng.choice(end_rests))
        end = phrase_bars * n - (int(rest * ps) if rest > 0 else n // 2)
        s = start
        k = 0
        while s < end:
            d = motif[k % len(motif)] if rng.random() < 0.75 else int(_choice(rng, durs_choice))
            d = min(d, end - s)
            if d <= 0:
                break
            b = bar + s // n
            if b >= song.bars:
                break
            pos = s % n
            if rng.random() > density and k > 0:
                s += d
                k += 1
                continue
            strong = pos % ps == 0
            if strong:
                target = [p for p in pitches if p % 12 in song.chord_at(b, pos)]
                cand = sorted(target, key=lambda p: abs(p - cur))[:3]
                cur = int(_choice(rng, cand)) if cand else cur
            else:
                i = min(range(len(pitches)), key=lambda j: abs(pitches[j] - cur))
                step = int(_choice(rng, (-2, -1, -1, 0, 1, 1, 2, 3, -3), (1, 4, 4, 2, 4, 4, 1, 0.5, 0.5)))
                cur = pitches[int(np.clip(i + step, 0, len(pitches) - 1))]
            t0 = song.time(b, pos)
            t1 = song.time(b, pos) + d * song.step_seconds * rng.uniform(legato, 0.98)
            notes.append(Note(int(cur), _human(rng, t0, 0.01), t1, _vel(rng, 90, 10)))
            s += d
            k += 1
        bar += phrase_bars + (1 if rng.random() < rest_bar_p else 0)
    return notes


def _add_vibrato(rng: np.random.Generator, part: Part, depth: float, rate: float, scoop: float,
                 bend_range: float = 2.0) -> None:
    """Pitch-bend points (semitones) for vibrato that grows through each note and an onset scoop."""
    pts: list[tuple[float, float]] = []
    for note in part.notes:
        dur = note.end - note.start
        t = note.start
        pts.append((t, -scoop))
        ph = rng.uniform(0, 2 * math.pi)
        while t < note.end:
            rel = t - note.start
            sc = -scoop * max(0.0, 1 - rel / 0.08)
            vib = depth * min(1.0, max(0.0, (rel - 0.15) / 0.3)) * math.sin(2 * math.pi * rate * rel + ph) if dur > 0.25 else 0
            pts.append((t, float(np.clip(sc + vib, -bend_range, bend_range))))
            t += 0.02
    pts.append((part.notes[-1].end + 0.01, 0.0) if part.notes else (0.0, 0.0))
    part.bends = pts


VOICE_PROGRAMS = (52, 53, 54, 85)  # choir aahs, voice oohs, synth voice, lead 6 (voice)


def vocal_parts(rng: np.random.Generator, song: Song, world_available: bool) -> list[Part]:
    """Lead vocal (WORLD-resynthesised real singing or a GM voice patch) plus optional backing."""
    parts: list[Part] = []
    if rng.random() < 0.03:
        return parts  # an instrumental song: silent vocal stem
    register = _choice(rng, ("low", "mid", "high"), (1, 2, 2))
    centre = {"low": int(rng.integers(50, 56)), "mid": int(rng.integers(57, 63)), "high": int(rng.integers(64, 70))}[register]
    active = _active_sections(rng, song, 0.85)
    if len(song.sections) > 2 and rng.random() < 0.25 and len(active) > 1:
        active.discard(0)  # instrumental intro
    mel = melody(rng, song, centre, active, density=0.92, span=7, rest_bar_p=0.12, legato=0.88,
                 end_rests=(0.5, 1.0, 1.0, 2.0))
    if not mel:
        return parts
    # real voices first: GM choir/voice patches are pads more than singing, so they lead only 1 song in 5
    engine = _choice(rng, ("world", "formant", "fluidsynth"), (0.6, 0.2, 0.2)) if world_available else "fluidsynth"
    use_world = engine == "world"
    if engine == "world":
        lead = Part("vocals_lead", "vocals", "lead_voice", engine="world", notes=mel)
        lead.extra = {"formant_shift": float(rng.uniform(0.85, 1.2) if register != "low" else rng.uniform(0.8, 1.05)),
                      "vibrato_hz": float(rng.uniform(4.5, 6.5)), "vibrato_semitones": float(rng.uniform(0.1, 0.6)),
                      "scoop_semitones": float(rng.uniform(0, 1.5)), "keep_source_jitter": float(rng.uniform(0.3, 1.0))}
    elif engine == "formant":
        lead = Part("vocals_lead", "vocals", "lead_voice", engine="formant", notes=mel)
        lead.extra = {"voice_type": {"low": "male", "mid": _choice(rng, ("male", "female")), "high": _choice(rng, ("female", "child"), (4, 1))}[register],
                      "vibrato_hz": float(rng.uniform(4.5, 6.5)), "vibrato_semitones": float(rng.uniform(0.1, 0.6)),
                      "scoop_semitones": float(rng.uniform(0, 1.2)), "breathiness": float(rng.uniform(0.005, 0.1)),
                      "singer_formant_db": float(rng.uniform(0, 10)), "consonants": float(rng.uniform(0.3, 0.9))}
    else:
        lead = Part("vocals_lead", "vocals", "lead_voice", program=int(_choice(rng, VOICE_PROGRAMS, (3, 4, 2, 0.5))), notes=mel)
        _add_vibrato(rng, lead, depth=float(rng.uniform(0.15, 0.5)), rate=float(rng.uniform(4.5, 6.5)),
                     scoop=float(rng.uniform(0, 1.5)))
        # expression swells per note
        for note in mel:
            lead.ccs.append((note.start, 11, int(rng.integers(70, 100))))
            lead.ccs.append((note.start + 0.6 * (note.end - note.start), 11, int(rng.integers(100, 127))))
    parts.append(lead)
    if lead.engine != "fluidsynth" and rng.random() < 0.3:  # double-tracked lead
        dbl = Part("vocals_double", "vocals", "lead_voice", engine=lead.engine, extra=dict(lead.extra))
        offset = float(rng.uniform(0.008, 0.03))
        dbl.notes = [Note(n.pitch, max(0.0, n.start + offset + float(rng.normal(0, 0.006))), n.end + offset, n.velocity)
                     for n in mel]
        dbl.extra["pan"] = float(rng.choice([-1, 1]) * rng.uniform(0.2, 0.5))
        dbl.extra["gain_offset_db"] = float(rng.uniform(-9, -3))
        parts.append(dbl)
    r = rng.random()
    scale = song.scale()
    if r < 0.35:  # harmony a diatonic third (or sixth) away
        interval = int(_choice(rng, (2, -2, 5 - 7)))
        harm = []
        for note in mel:
            if note.pitch % 12 not in scale:
                continue
            i = scale.index(note.pitch % 12)
            j = i + interval
            pc = scale[j % 7]
            p = note.pitch + ((pc - note.pitch % 12) % 12)
            if interval < 0:
                p -= 12
            harm.append(Note(int(p), note.start + 0.01, note.end, max(1, note.velocity - 15)))
        if harm:
            if lead.engine != "fluidsynth" and rng.random() < 0.6:
                hp = Part("vocals_harmony", "vocals", "backing_voice", engine=lead.engine, notes=harm, extra=dict(lead.extra))
                if use_world:
                    hp.extra["formant_shift"] = float(np.clip(lead.extra["formant_shift"] * rng.uniform(0.92, 1.1), 0.8, 1.25))
            else:
                hp = Part("vocals_harmony", "vocals", "backing_voice", program=int(_choice(rng, (52, 53, 54))), notes=harm)
                _add_vibrato(rng, hp, depth=0.2, rate=float(rng.uniform(4.5, 6)), scoop=0.3)
            parts.append(hp)
    elif r < 0.6:  # "oohs"/"aahs" pad in some sections
        bp = Part("vocals_backing", "vocals", "backing_voice", program=int(_choice(rng, (52, 53, 52, 54))))
        bactive = _active_sections(rng, song, 0.5)
        centre_b = centre - int(rng.integers(0, 6))
        for bar in range(song.bars):
            if song.section_of(bar) not in bactive:
                continue
            for s, pcs in song.chords[bar]:
                voic = _chord_voicing(pcs, centre_b, 3)
                t0 = song.time(bar, s)
                t1 = t0 + song.bar_seconds / len(song.chords[bar])
                for p in voic:
                    bp.notes.append(Note(p, t0, t1, _vel(rng, 65, 5)))
        if bp.notes:
            parts.append(bp)
    return parts


def arrange(rng: np.random.Generator, duration_seconds: float, world_available: bool,
            profile: "Profile | None" = None, other_melodies: bool | None = None) -> Song:
    """A whole song: skeleton + drums + bass + 1-4 'other' layers + vocal parts.

    ``profile`` (see ``profiles.py``) narrows the choices; None draws as the full profile does.
    ``other_melodies`` overrides the profile's choice of melodies in "other" (see ``other_layer``).
    """
    if other_melodies is None:
        other_melodies = profile.other_melodies if profile is not None else True
    song = make_song(rng, duration_seconds, profile)
    song.parts.append(drum_part(rng, song))
    song.parts.append(bass_part(rng, song))
    max_layers = profile.max_other_layers if profile is not None else 4
    n_layers = int(_choice(rng, (1, 2, 3, 4)[:max_layers], (1, 3, 3, 2)[:max_layers]))
    roles = list(ROLE_PROGRAMS)
    w = np.asarray(ROLE_WEIGHTS[song.genre], dtype=float)
    if profile is not None:
        for r in profile.excluded_roles:
            w[roles.index(r)] = 0.0
    chosen = []
    for _ in range(n_layers):
        w2 = w.copy()
        for c in chosen:
            w2[roles.index(c)] *= 0.3  # a second guitar is allowed, just less likely
        chosen.append(_choice(rng, roles, w2))
    for i, role in enumerate(chosen):
        layer = other_layer(rng, song, role, i, other_melodies)
        song.parts.append(layer)
        double_p = {"dist_guitar": 0.7 if song.genre in ("rock", "metal") else 0.4, "clean_guitar": 0.25}.get(role, 0.0)
        if layer.notes and rng.random() < double_p:  # the same riff played again, panned opposite
            side = float(rng.choice([-1, 1]))
            layer.extra["pan"] = side * float(rng.uniform(0.6, 1.0))
            dbl = Part(layer.name + "_double", "other", role, program=int(_choice(rng, ROLE_PROGRAMS[role])),
                       extra={"pan": -side * float(rng.uniform(0.6, 1.0))})
            dbl.notes = [Note(n.pitch, max(0.0, n.start + float(rng.normal(0, 0.008))), n.end + float(rng.normal(0, 0.008)),
                              _vel(rng, n.velocity, 5)) for n in layer.notes]
            song.parts.append(dbl)
    song.parts.extend(vocal_parts(rng, song, world_available))
    return song
