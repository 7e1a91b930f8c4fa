"""Corpus profiles: which generator choices a corpus draws from.

``full`` is the generator as described in ``model/corpus/README.md`` (7 genres, 4 meters, distorted
and real recorded guitars, WORLD-re-pitched real singing, formant voices, full per-layer production).

``simple`` follows the first corpus of ``shared/CORPUS_NOTES.md``, which trained the one-hour
baseline that the bundled model is measured against: 4/4 only, 70-170 BPM, one General MIDI
soundfont (FluidR3_GM), no distorted or recorded guitars in "other" (1-3 layers of piano, organ,
clean guitar, strings, pads, brass, mallets, synths), vocals sung by GM voice patches only
(choir aahs 52, voice oohs 53, synth voice 54, rarely 85) with pitch-bend vibrato and CC11 swells,
and light production: a random EQ on some layers, per-layer loudness and pan. Its soundfont parts
go through fluidsynth's own reverb and chorus, as the fluidsynth command line of that corpus
rendered them (the third A/B in the README: with them, the models' real-song vocals came out
better on both seeds; ``--no-synth-effects`` renders the dry corpus of the first two A/Bs).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    meters: tuple[str, ...] | None  # None: the genre's own meter weights
    genres: tuple[str, ...] | None  # None: every genre
    bpm_range: tuple[float, float] | None  # clamp of the genre's tempo range
    excluded_roles: tuple[str, ...]  # "other" roles never drawn
    max_other_layers: int
    soundfonts: tuple[str, ...] | None  # soundfont names allowed; None: every one found
    real_voices: bool  # WORLD re-pitched recordings and formant voices
    real_audio: bool  # recorded guitars in "other"
    production: str  # "full" (chain_for) or "eq" (an EQ on some layers only)
    seconds: tuple[float, float]  # default song length range
    synth_effects: bool  # fluidsynth's own reverb and chorus on soundfont parts, unless the build says otherwise
    other_melodies: bool = True  # synth leads and mallets may play phrased melodies in "other" (else: arpeggios)


PROFILES = {
    "full": Profile("full", None, None, None, (), 4, None, True, True, "full", (15.0, 30.0), False),
    "simple": Profile("simple", ("4/4",), ("rock", "pop", "funk", "electronic", "ballad", "jazz"), (70.0, 170.0),
                      ("dist_guitar", "lead_guitar"), 3, ("FluidR3_GM",), False, False, "eq", (12.0, 20.0), True),
}


def profile(name: str) -> Profile:
    from .soundfonts import CorpusError

    try:
        return PROFILES[name]
    except KeyError:
        raise CorpusError(f"unknown corpus profile {name!r} (choose from {', '.join(PROFILES)})") from None
