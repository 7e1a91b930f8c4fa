"""The synthetic corpus generator: layout, exact mixture sums, manifest, determinism, resume.

Builds use the small TimGM6mb soundfont (Debian's timgm6mb-soundfont, or the copy inside the
pretty_midi wheel), 1.5-2 s songs, and a synthetic "singer" WAV for the WORLD voice path so no
shared data is needed. They skip, saying why, when libfluidsynth / pedalboard / a small soundfont are absent.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

FILES = ("mixture", "drums", "bass", "other", "vocals")


def _requirements() -> str | None:
    import ctypes.util

    if ctypes.util.find_library("fluidsynth") is None:
        return "libfluidsynth is not installed (apt-get install fluidsynth)"
    for mod in ("pedalboard",):
        try:
            __import__(mod)
        except ImportError:
            return f"python package {mod} is not installed"
    from model.corpus.soundfonts import find_soundfonts

    if not find_soundfonts("small"):
        return "no small General MIDI soundfont (TimGM6mb) found"
    return None


needs_renderer = pytest.mark.skipif(_requirements() is not None, reason=str(_requirements()))


@pytest.fixture(scope="module")
def singer_wav(tmp_path_factory) -> Path | None:
    """A 3 s synthetic sung line (harmonic tone with glides, gaps and noise onsets) for WORLD."""
    try:
        import pyworld  # noqa: F401
    except ImportError:
        return None
    sr = 16000
    t = np.arange(int(3.0 * sr)) / sr
    f0 = 220 * 2 ** (np.floor(t / 0.5) * 2 / 12) * 2 ** (0.3 / 12 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    gate = ((t % 0.5) > 0.08).astype(float)
    rng = np.random.default_rng(0)
    x = 0.3 * x * gate + 0.02 * rng.standard_normal(len(t)) * (1 - gate)
    path = tmp_path_factory.mktemp("singer") / "singer.wav"
    sf.write(str(path), x.astype(np.float32), sr, subtype="PCM_16")
    return path


def _opts(out: Path, singer: Path | None, songs: int = 3, resume: bool = False):
    from model.corpus.build import BuildOptions

    return BuildOptions(out=out, songs=songs, seed=7, jobs=1, resume=resume, min_seconds=1.5, max_seconds=2.0,
                        soundfonts="small", valid_every=3, vocals_source=str(singer) if singer else "")


@pytest.fixture(scope="module")
def built(tmp_path_factory, singer_wav):
    from model.corpus.build import build

    out = tmp_path_factory.mktemp("corpus") / "c"
    manifest = build(_opts(out, singer_wav), progress=lambda m: None)
    return out, manifest


@needs_renderer
def test_layout_and_wav_format(built):
    out, manifest = built
    # valid_every=3: song 0 -> train, 1 -> valid, 2 -> test
    for split, idx in (("train", 0), ("valid", 1), ("test", 2)):
        folder = out / split / f"synth7_{idx:05d}"
        assert folder.is_dir(), f"missing {folder}"
        for f in FILES:
            info = sf.info(str(folder / f"{f}.wav"))
            assert info.samplerate == 44100 and info.channels == 2 and info.subtype == "PCM_16"
            entry = json.loads((folder / "song.json").read_text())
            assert info.frames == round(entry["duration_seconds"] * 44100)
            assert 1.5 <= entry["duration_seconds"] <= 2.0
    assert not list(out.glob("*/.tmp-*")), "temporary song folders were left behind"


@needs_renderer
def test_mixture_is_exact_sum_and_not_silent(built):
    out, _ = built
    for folder in sorted(out.glob("*/synth7_*")):
        ints = {f: sf.read(str(folder / f"{f}.wav"), dtype="int16")[0].astype(np.int32) for f in FILES}
        total = ints["drums"] + ints["bass"] + ints["other"] + ints["vocals"]
        assert np.array_equal(ints["mixture"], total), f"{folder.name}: mixture != sum of stems"
        floats = {f: sf.read(str(folder / f"{f}.wav"), dtype="float32")[0] for f in FILES}
        err = np.abs(floats["mixture"] - sum(floats[s] for s in FILES[1:])).max()
        assert err < 1e-4
        assert np.abs(floats["mixture"]).max() > 0.3, "mixture should be normalised to a usable level"
        for stem in ("drums", "bass", "other"):
            assert np.sqrt(np.mean(floats[stem] ** 2)) > 1e-3, f"{folder.name}: {stem} is silent"


@needs_renderer
def test_manifest_complete(built, singer_wav):
    out, manifest = built
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["songs_complete"] == 3 and manifest["seed"] == 7
    assert {k: v["songs"] for k, v in manifest["splits"].items()} == {"train": 1, "valid": 1, "test": 1}
    assert manifest["soundfonts"] and all(s["licence"] for s in manifest["soundfonts"])
    if singer_wav is not None:
        assert [v["name"] for v in manifest["voice_sources"]] == ["singer.wav"]
    for song in manifest["songs"]:
        for key in ("name", "seed", "split", "duration_seconds", "genre", "bpm", "meter", "parts"):
            assert key in song
        stems = {p["stem"] for p in song["parts"]}
        assert {"drums", "bass", "other"} <= stems
        assert all(p["soundfont"] for p in song["parts"])


@needs_renderer
def test_same_seed_same_bytes_with_parallel_workers(built, singer_wav, tmp_path):
    from model.corpus.build import build

    out, _ = built
    out2 = tmp_path / "again"
    opts = _opts(out2, singer_wav, songs=2)
    build(type(opts)(**{**opts.__dict__, "jobs": 2}), progress=lambda m: None)  # worker processes too
    for folder in sorted(out2.glob("*/synth7_*")):
        twin = out / folder.parent.name / folder.name
        for f in FILES:
            assert (folder / f"{f}.wav").read_bytes() == (twin / f"{f}.wav").read_bytes(), f"{folder.name}/{f} differs"


@needs_renderer
def test_resume_skips_complete_and_redoes_damaged(built, singer_wav, tmp_path):
    from model.corpus.build import build
    from model.errors import OutputExistsError

    src, _ = built
    out = tmp_path / "resume"
    shutil.copytree(src, out)
    keep = out / "train" / "synth7_00000" / "drums.wav"
    os.utime(keep, (1_000_000, 1_000_000))
    damaged = out / "valid" / "synth7_00001"
    (damaged / "vocals.wav").unlink()  # half-written song
    (out / "test" / ".tmp-synth7_00002").mkdir()  # leftover of an interrupted render
    with pytest.raises(OutputExistsError, match="--resume"):
        build(_opts(out, singer_wav), progress=lambda m: None)
    messages: list[str] = []
    manifest = build(_opts(out, singer_wav, resume=True), progress=messages.append)
    assert "2 songs already complete, 1 to render" in messages[0]
    assert keep.stat().st_mtime == 1_000_000, "a complete song was rendered again"
    for f in FILES:  # redone song equals the original bytes
        assert (damaged / f"{f}.wav").read_bytes() == (src / "valid" / "synth7_00001" / f"{f}.wav").read_bytes()
    assert not (out / "test" / ".tmp-synth7_00002").exists()
    assert manifest["songs_complete"] == 3


def test_arrangements_vary_and_stay_in_range():
    from model.corpus.music import GENRES, arrange

    genres, meters, modes, roles = set(), set(), set(), set()
    for seed in range(60):
        song = arrange(np.random.default_rng(seed), 12.0, world_available=True)
        genres.add(song.genre)
        meters.add(song.meter)
        modes.add(song.mode)
        assert 40 <= song.bpm <= 180
        for part in song.parts:
            roles.add(part.role)
            for n in part.notes:
                assert 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127 and n.end > n.start >= 0
        assert [p.stem for p in song.parts][:2] == ["drums", "bass"]
    assert genres == set(GENRES)
    assert meters == {"4/4", "3/4", "6/8", "12/8"}
    assert modes == {"major", "minor"}
    assert {"dist_guitar", "clean_guitar", "piano", "pad", "lead_voice"} <= roles


def test_no_other_melodies_turns_leads_into_arpeggios(tmp_path):
    """--no-other-melodies: synth leads and mallets in "other" play arpeggios (one note length per
    part, on the grid), not the phrased melodies the vocals sing; with melodies on they do."""
    from model.corpus.__main__ import build_parser
    from model.corpus.build import BuildOptions
    from model.corpus.music import arrange
    from model.corpus.profiles import profile

    def lead_parts(melodies):
        parts = []
        for seed in range(80):
            song = arrange(np.random.default_rng(seed), 12.0, False, profile("simple"), other_melodies=melodies)
            parts += [(song, p) for p in song.parts if p.role in ("synth_lead", "mallets") and p.notes]
        return parts

    def note_lengths(part):
        return {round(n.end - n.start, 4) for n in part.notes}

    arps, melodic = lead_parts(False), lead_parts(True)
    assert len(arps) >= 5 and len(melodic) >= 5
    for song, part in arps:
        (length,) = note_lengths(part)
        assert any(abs(length - k * 0.8 * song.step_seconds) < 1e-3 for k in (1, 2)), part.name
    assert any(len(note_lengths(part)) > 1 for _, part in melodic), "melodies should vary their note lengths"
    args = build_parser().parse_args(["build", "--out", str(tmp_path), "--songs", "1", "--no-other-melodies"])
    assert args.other_melodies is False
    assert BuildOptions(out=tmp_path, songs=1, seed=0, profile="simple", other_melodies=False).melodies is False
    assert BuildOptions(out=tmp_path, songs=1, seed=0, profile="simple").melodies is True


def test_sung_line_follows_the_melody(singer_wav, tmp_path):
    """WORLD resynthesis puts the singer's voice on the requested notes (f0 within a semitone)."""
    if singer_wav is None:
        pytest.skip("pyworld is not installed")
    import pyworld as pw

    from model.corpus import voice
    from model.corpus.music import Note

    cache = voice.analyse(singer_wav, tmp_path / "w.npz")
    vm = voice.load(cache)
    notes = [Note(60, 0.2, 0.7, 90), Note(64, 0.8, 1.3, 90), Note(67, 1.4, 1.9, 90)]
    y = voice.sing(vm, notes, 2.2, 16000, np.random.default_rng(0), vibrato_semitones=0.0,
                   scoop_semitones=0.0, keep_source_jitter=0.0, breaths=False)
    assert y.shape == (int(2.2 * 16000),) and y.dtype == np.float32
    f0, t = pw.dio(y.astype(np.float64), 16000, frame_period=5.0)
    for n in notes:
        sel = (t > n.start + 0.1) & (t < n.end - 0.05) & (f0 > 0)
        assert sel.sum() > 10, f"note {n.pitch} was not sung"
        semis = 12 * np.log2(np.median(f0[sel]) / 440) + 69
        assert abs(semis - n.pitch) < 1.0
    assert np.abs(y[int(2.0 * 16000):]).max() < 1e-3, "the rest after the last note should be silent"


def test_cli_reports_bad_options_clearly(tmp_path, capsys):
    from model.corpus.__main__ import main

    rc = main(["build", "--out", str(tmp_path / "c"), "--songs", "2", "--min-seconds", "9", "--max-seconds", "3"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "error:" in err and "9.0..3.0" in err
    assert not (tmp_path / "c").exists(), "nothing should be written for a rejected command"


def test_real_guitar_excerpt(tmp_path):
    """A real recording excerpt comes back at the corpus rate and length, the loudest of the tries."""
    from model.corpus.realaudio import RealTrack, read_excerpt

    sr = 22050
    t = np.arange(sr * 6) / sr
    x = np.zeros((len(t), 2), dtype=np.float32)
    x[sr * 4:, :] = 0.5 * np.sin(2 * np.pi * 220 * t[sr * 4:, None])  # only the last 2 s sound
    path = tmp_path / "guitar.ogg"
    sf.write(str(path), x, sr, format="OGG", subtype="VORBIS")
    audio, start = read_excerpt(RealTrack(path, "test/guitar", "test"), 44100, 44100, np.random.default_rng(1), tries=40)
    assert audio.shape == (2, 44100) and audio.dtype == np.float32
    assert start > 2.5, "the loudest excerpt overlaps the sounding part"
    assert np.sqrt(np.mean(audio ** 2)) > 0.05


@needs_renderer
def test_simple_profile_follows_the_corpus_notes_recipe(tmp_path, singer_wav):
    """--profile simple: 4/4, GM voice patches only (even with a singer available), no distorted or
    recorded guitars, EQ-only production, and still an exact mixture sum."""
    import dataclasses

    from model.corpus.build import build
    from model.corpus.music import VOICE_PROGRAMS

    opts = dataclasses.replace(_opts(tmp_path / "c", singer_wav, songs=4), profile="simple")
    manifest = build(opts, progress=lambda m: None)
    assert manifest["profile"] == "simple" and manifest["songs_complete"] == 4
    assert manifest["voice_sources"] == [] and manifest["real_recordings"] == []
    assert manifest["options"]["other_melodies"] is True and "melodies" not in manifest["command"]
    eq_only = {"HighpassFilter", "PeakFilter", "HighShelfFilter"}
    for song in manifest["songs"]:
        assert song["meter"] == "4/4"
        assert 70 <= song["bpm"] <= 170
        for part in song["parts"]:
            assert part["engine"] == "fluidsynth", part
            assert part["role"] not in ("dist_guitar", "lead_guitar", "real_guitar"), part
            assert set(part["effects"]) <= eq_only, part
            if part["stem"] == "vocals":
                assert part["program"] in VOICE_PROGRAMS, part
    for folder in sorted((tmp_path / "c").glob("*/synth7_*")):
        ints = {f: sf.read(str(folder / f"{f}.wav"), dtype="int16")[0].astype(np.int32) for f in FILES}
        assert np.array_equal(ints["mixture"], sum(ints[s] for s in FILES[1:]))


def test_unknown_profile_is_refused():
    from model.corpus.profiles import profile
    from model.corpus.soundfonts import CorpusError

    with pytest.raises(CorpusError, match="unknown corpus profile 'fancy'"):
        profile("fancy")


def test_bus_compressor_gain_follows_its_curve():
    """A quiet passage passes untouched; a loud one settles at the static curve's reduction."""
    from model.corpus.production import bus_compressor_gain

    sr = 44100
    t = np.arange(2 * sr) / sr
    tone = np.sin(2 * np.pi * 220 * t)
    level = np.where(t < 1.0, 0.05, 0.5)  # -26 dBFS, then -6 dBFS (the loudest block, 0 dB relative)
    mix = np.stack([tone * level, tone * level]).astype(np.float32)
    gain = bus_compressor_gain(mix, sr, threshold_db=-10.0, ratio=4.0, attack_ms=5.0, release_ms=100.0)
    assert gain.shape == (2 * sr,) and gain.dtype == np.float32
    assert np.all(gain > 0) and np.all(gain <= 1.0)
    assert np.allclose(gain[: int(0.9 * sr)], 1.0)  # 20 dB under the threshold: no reduction
    settled_db = 20 * np.log10(gain[int(1.5 * sr):])
    assert np.allclose(settled_db, -10.0 * (1 - 1 / 4), atol=0.2)  # 10 dB over at 4:1 -> -7.5 dB
    # attack: a 5 ms attack has done most of its work 25 ms after the jump, not all of it at once
    assert 20 * np.log10(gain[sr + int(0.001 * sr)]) > -7.5 * 0.5
    assert 20 * np.log10(gain[sr + int(0.025 * sr)]) < -7.5 * 0.9


@needs_renderer
def test_bus_compressor_acts_on_every_stem_alike(tmp_path, singer_wav):
    """--bus-compressor 1: each song's stems are the uncompressed stems times one shared envelope,
    the mixture is still their exact sum, and the settings are in the manifest."""
    import dataclasses

    from model.corpus.build import CorpusError, build, refresh_manifest

    plain = build(_opts(tmp_path / "plain", singer_wav, songs=2), progress=lambda m: None)
    opts = dataclasses.replace(_opts(tmp_path / "bus", singer_wav, songs=2), bus_compressor=1.0)
    squashed = build(opts, progress=lambda m: None)
    assert all(s["bus_compressor"] is None for s in plain["songs"])
    # `manifest` rewrites it as built: the share is in the command even when the refresh names no option
    (tmp_path / "bus" / "manifest.json").unlink()  # without a manifest it cannot know the song count
    with pytest.raises(CorpusError, match="--songs and --seed"):
        refresh_manifest(tmp_path / "bus", progress=lambda m: None)
    build(dataclasses.replace(opts, resume=True), progress=lambda m: None)
    again = refresh_manifest(tmp_path / "bus", progress=lambda m: None)
    assert " --bus-compressor 1.0" in again["command"] and again["options"]["bus_compressor"] == 1.0
    assert again["songs_complete"] == 2
    for entry in squashed["songs"]:
        assert set(entry["bus_compressor"]) == {"threshold_db", "ratio", "attack_ms", "release_ms"}
        folder_b = tmp_path / "bus" / entry["split"] / entry["name"]
        folder_p = tmp_path / "plain" / entry["split"] / entry["name"]
        ints = {f: sf.read(str(folder_b / f"{f}.wav"), dtype="int16")[0].astype(np.int32) for f in FILES}
        assert np.array_equal(ints["mixture"], sum(ints[s] for s in FILES[1:]))
        ratios = {}  # stem -> (loud sample mask, compressed / plain there)
        for stem in FILES[1:]:
            b = sf.read(str(folder_b / f"{stem}.wav"), dtype="float32")[0][:, 0]
            p = sf.read(str(folder_p / f"{stem}.wav"), dtype="float32")[0][:, 0]
            loud = np.abs(p) > 0.05 * np.abs(p).max()
            if loud.sum() > 1000:
                ratio = np.full(len(p), np.nan)
                ratio[loud] = b[loud] / p[loud]
                ratios[stem] = ratio
        assert len(ratios) >= 2, entry["name"]
        first, *others = ratios.values()
        assert np.nanpercentile(first, 95) / np.nanpercentile(first, 5) > 1.05, \
            "the bus compressor should change the gain over the song"
        for other in others:  # the same envelope everywhere: two stems' gains agree where both sound
            both = ~np.isnan(first) & ~np.isnan(other)
            assert both.sum() > 100
            assert np.allclose(first[both], other[both], rtol=0.03), entry["name"]


@needs_renderer
def test_synth_effects_change_the_stems_and_stay_deterministic(tmp_path, singer_wav):
    """--synth-effects (fluidsynth's own reverb and chorus, as its command line renders; the simple
    profile's default): the soundfont stems change; the mixture is still the exact sum; the same
    song renders byte for byte alike whatever this process rendered before it; the manifest and
    each song say so."""
    import dataclasses

    from model.corpus.build import BuildOptions, build, refresh_manifest

    # the simple profile renders wet unless told otherwise; the full profile dry
    assert BuildOptions(out=tmp_path, songs=1, seed=0, profile="simple").effects is True
    assert BuildOptions(out=tmp_path, songs=1, seed=0, profile="full").effects is False
    plain = build(dataclasses.replace(_opts(tmp_path / "dry", singer_wav, songs=2), profile="simple",
                                      synth_effects=False), progress=lambda m: None)
    wet_opts = dataclasses.replace(_opts(tmp_path / "wet", singer_wav, songs=2), profile="simple")
    wet = build(wet_opts, progress=lambda m: None)
    assert wet["synth_effects"] is True and plain["synth_effects"] is False
    assert wet["command"].endswith(" --synth-effects") and plain["command"].endswith(" --no-synth-effects")
    assert all(s["synth_effects"] for s in wet["songs"]) and not any(s["synth_effects"] for s in plain["songs"])
    # `manifest` (no effects option given) keeps what the songs were rendered with
    dry_again = refresh_manifest(tmp_path / "dry", progress=lambda m: None)
    assert dry_again["synth_effects"] is False and dry_again["command"].endswith(" --no-synth-effects")
    assert dry_again["command"] == plain["command"] and dry_again["options"] == plain["options"]
    changed = 0
    for entry in wet["songs"]:
        folder_w = tmp_path / "wet" / entry["split"] / entry["name"]
        folder_d = tmp_path / "dry" / entry["split"] / entry["name"]
        ints = {f: sf.read(str(folder_w / f"{f}.wav"), dtype="int16")[0].astype(np.int32) for f in FILES}
        assert np.array_equal(ints["mixture"], sum(ints[s] for s in FILES[1:]))
        for stem in FILES[1:]:
            w = sf.read(str(folder_w / f"{stem}.wav"), dtype="float32")[0]
            d = sf.read(str(folder_d / f"{stem}.wav"), dtype="float32")[0]
            if np.abs(d).max() > 0:
                changed += int(np.sqrt(np.mean((w - d) ** 2)) > 0.05 * np.sqrt(np.mean(d ** 2)))
    assert changed >= 2, "fluidsynth's reverb and chorus should change the soundfont stems"
    # the second song alone, in a fresh folder: the same bytes as when it followed the first song
    second = wet["songs"][1]
    alone = tmp_path / "alone"
    from model.corpus.build import render_song, _profile_soundfonts
    from model.corpus.soundfonts import require_soundfonts

    opts = dataclasses.replace(wet_opts, out=alone)
    render_song(second["index"], opts, _profile_soundfonts(opts, require_soundfonts("small")), [], None)
    for f in FILES:
        a = (alone / second["split"] / second["name"] / f"{f}.wav").read_bytes()
        b = (tmp_path / "wet" / second["split"] / second["name"] / f"{f}.wav").read_bytes()
        assert a == b, f
