"""Build a corpus: render songs (in parallel, resumable) and write the manifest.

Each song is rendered into ``<out>/<split>/.tmp-<song>`` and renamed into place only when all five
WAV files and ``song.json`` are written, so a song folder either is complete or does not exist.
Stems are stored as 16-bit PCM WAV (half the disk of float32: ~10.6 MB per stereo minute per file).
The mixture is written as the exact integer sum of the four stored int16 stems, so
``mixture == drums + bass + other + vocals`` holds bit-exactly on the stored samples (after
reading as float, within float32 rounding, < 1e-6).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import GENERATOR_VERSION
from .music import Song, arrange
from .production import active_rms, apply_chain, bus_compressor_gain, chain_for, draw_bus_compressor, pan, simple_eq
from .profiles import profile
from .soundfonts import CorpusError, SoundFont, find_soundfonts, require_soundfonts
from .synth import check_fluidsynth

logger = logging.getLogger(__name__)

SOURCES = ("drums", "bass", "other", "vocals")
FILES = ("mixture",) + SOURCES
SAMPLERATE = 44100


@dataclass(frozen=True)
class BuildOptions:
    out: Path
    songs: int
    seed: int
    jobs: int = 1
    resume: bool = False
    min_seconds: float = 15.0
    max_seconds: float = 30.0
    soundfonts: str = "all"  # "all" or "small"
    valid_every: int = 20  # song index % valid_every == valid_every - 2 -> valid, == -1 -> test
    vocals_source: str | None = None  # real-singing WAV for WORLD; None -> default, "" -> none
    real_audio: bool = True  # mix real recorded guitars (Frets on Fire packs) into some songs' "other"
    profile: str = "full"  # see profiles.py: "full" or "simple" (the CORPUS_NOTES baseline recipe)
    bus_compressor: float = 0.0  # share of songs whose whole mix goes through one bus compressor/limiter
    synth_effects: bool | None = None  # fluidsynth's built-in reverb and chorus; None: the profile's choice
    other_melodies: bool | None = None  # phrased melodies in "other" (synth leads, mallets); None: the profile's

    @property
    def melodies(self) -> bool:
        """Whether "other" layers may play phrased melodies (this build's or its profile's choice)."""
        return profile(self.profile).other_melodies if self.other_melodies is None else self.other_melodies

    @property
    def effects(self) -> bool:
        """Whether soundfont parts get fluidsynth's reverb and chorus (this build's or its profile's choice)."""
        return profile(self.profile).synth_effects if self.synth_effects is None else self.synth_effects


def split_of(index: int, every: int) -> str:
    """Deterministic split by song index: 1 in ``every`` songs valid, 1 in ``every`` test."""
    if every < 3:
        return "train"
    r = index % every
    return "valid" if r == every - 2 else ("test" if r == every - 1 else "train")


def song_name(seed: int, index: int) -> str:
    return f"synth{seed}_{index:05d}"


def song_complete(folder: Path) -> bool:
    return folder.is_dir() and all((folder / f"{f}.wav").is_file() for f in FILES) and (folder / "song.json").is_file()


# ---------------------------------------------------------------------------------------------
# one song
# ---------------------------------------------------------------------------------------------

def _pick_sf(rng: np.random.Generator, sfs: list[SoundFont], kind: str = "gm") -> SoundFont:
    cands = [s for s in sfs if s.kind == kind]
    w = np.asarray([s.weight for s in cands], dtype=float)
    return cands[int(rng.choice(len(cands), p=w / w.sum()))]


def render_song(index: int, opts: BuildOptions, sfs: list[SoundFont], voice_caches: list[Path],
                real_tracks: list | None = None) -> dict:
    """Render song ``index`` into its split folder; returns its manifest entry."""
    from .synth import render_part

    ss = np.random.SeedSequence([opts.seed, index])
    rng = np.random.default_rng(ss)
    name = song_name(opts.seed, index)
    split = split_of(index, opts.valid_every)
    duration = round(float(rng.uniform(opts.min_seconds, opts.max_seconds)), 2)
    frames = int(round(duration * SAMPLERATE))
    prof = profile(opts.profile)
    song: Song = arrange(rng, duration, bool(voice_caches), prof, opts.melodies)
    # one real singer per song for every WORLD part (the first source, the shared singing, weighs most)
    singer = 0
    if voice_caches:
        w = np.asarray([3.0] + [1.0] * (len(voice_caches) - 1))
        singer = int(rng.choice(len(voice_caches), p=w / w.sum()))

    # soundfonts: one per stem, "other" layers each draw their own
    drum_sf = _pick_sf(rng, sfs)
    if any(s.kind == "drumkit" for s in sfs) and song.genre in ("rock", "pop", "funk", "metal", "ballad") \
            and rng.random() < 0.4:
        drum_sf = _pick_sf(rng, sfs, "drumkit")
    stem_sf = {"drums": drum_sf, "bass": _pick_sf(rng, sfs), "vocals": _pick_sf(rng, sfs)}
    kit = None
    if drum_sf.kind == "gm":
        from .music import GM_KITS
        kits = {"electronic": ("electronic", "808", "standard"), "jazz": ("jazz", "brush", "standard"),
                "metal": ("power", "standard", "room"), "rock": ("standard", "room", "power"),
                "ballad": ("standard", "room", "brush"), "funk": ("standard", "room", "jazz"),
                "pop": ("standard", "room", "electronic", "808")}[song.genre]
        kit = kits[int(rng.integers(len(kits)))]
        song.parts[0].program = GM_KITS[kit]

    layer_db = {"drums": 0.0, "bass": _u(rng, -5, 0), "other": _u(rng, -4, 2), "vocals": _u(rng, -2, 3)}
    peak = _u(rng, 0.35, 0.95)
    stems = {s: np.zeros((2, frames), dtype=np.float32) for s in SOURCES}
    parts_meta = []
    for part in song.parts:
        sf_used = stem_sf.get(part.stem) if part.stem != "other" else _pick_sf(rng, sfs)
        chain = chain_for(part.role, song.genre, rng) if prof.production == "full" else simple_eq(rng)
        position = {"drums": _u(rng, -0.1, 0.1), "bass": _u(rng, -0.05, 0.05), "lead_voice": _u(rng, -0.05, 0.05),
                    "backing_voice": _u(rng, -0.6, 0.6)}.get(part.role if part.stem == "vocals" else part.stem,
                                                             _u(rng, -0.8, 0.8))
        gain_db = _u(rng, -4, 2)
        part_rng = np.random.default_rng(rng.integers(2 ** 63))
        if not part.notes:
            continue
        program = None
        extra = dict(part.extra)
        position = extra.pop("pan", position)
        gain_db += extra.pop("gain_offset_db", 0.0)
        if part.engine == "world":
            from . import voice
            cache = voice_caches[singer]
            mono = voice.sing(voice.load(cache), part.notes, duration, SAMPLERATE, part_rng, **extra)
            audio = np.stack([mono, mono])
            sf_name = f"{cache.stem.removeprefix('world_')} (WORLD re-pitched)"
        elif part.engine == "formant":
            from . import voice
            mono = voice.formant_sing(part.notes, duration, SAMPLERATE, part_rng, **extra)
            audio = np.stack([mono, mono])
            sf_name = "formant synthesis (WORLD)"
        else:
            audio, program = render_part(part, sf_used, SAMPLERATE, frames, effects=opts.effects)
            sf_name = sf_used.name
        if not np.all(np.isfinite(audio)):  # seen for ~2-3 % of songs: say which part, not "would clip"
            raise CorpusError(f"{name}: part {part.name!r} ({part.engine}) rendered non-finite samples")
        audio = apply_chain(audio, SAMPLERATE, chain)[:, :frames]
        if audio.shape[1] < frames:
            audio = np.pad(audio, ((0, 0), (0, frames - audio.shape[1])))
        audio = pan(audio, position)
        rms = active_rms(audio, SAMPLERATE)
        if rms <= 0:
            continue
        audio *= 10 ** (gain_db / 20) * 0.1 / rms
        stems[part.stem] += audio
        parts_meta.append({"name": part.name, "stem": part.stem, "role": part.role, "engine": part.engine,
                           "program": program, "is_drum": part.is_drum, "soundfont": sf_name,
                           "notes": len(part.notes), "pan": round(position, 3), "gain_db": round(gain_db, 2),
                           "effects": [n for n, _ in chain]})

    # a real recorded guitar in "other" for some songs (drawn even when none is installed, so the
    # rest of the song does not depend on what is installed)
    use_real = rng.random() < {"rock": 0.35, "metal": 0.5, "pop": 0.15, "funk": 0.1, "ballad": 0.1,
                               "jazz": 0.05, "electronic": 0.05}[song.genre]
    real_seed = int(rng.integers(2 ** 63))
    if use_real and real_tracks:
        from .realaudio import read_excerpt

        rrng = np.random.default_rng(real_seed)
        track = real_tracks[int(rrng.integers(len(real_tracks)))]
        audio, start_s = read_excerpt(track, frames, SAMPLERATE, rrng)
        chain = chain_for("real_guitar", song.genre, rrng)
        audio = apply_chain(audio, SAMPLERATE, chain)[:, :frames]
        if audio.shape[1] < frames:
            audio = np.pad(audio, ((0, 0), (0, frames - audio.shape[1])))
        position = _u(rrng, -0.7, 0.7)
        gain_db = _u(rrng, -3, 3)
        audio = pan(audio, position)
        rms = active_rms(audio, SAMPLERATE)
        if rms > 0:
            stems["other"] += audio * (10 ** (gain_db / 20) * 0.1 / rms)
            parts_meta.append({"name": "other_real_guitar", "stem": "other", "role": "real_guitar", "engine": "recording",
                               "program": None, "is_drum": False, "soundfont": f"{track.name} @ {start_s:.1f} s",
                               "notes": 0, "pan": round(position, 3), "gain_db": round(gain_db, 2),
                               "effects": [n for n, _ in chain]})

    # stem balance, then the mix peak
    for s in SOURCES:
        r = active_rms(stems[s], SAMPLERATE)
        if r > 0:
            stems[s] *= 10 ** (layer_db[s] / 20) * 0.1 / r
    mix = sum(stems.values())
    # mix-bus compression: one gain envelope for every stem, so the mixture is still their sum. Its
    # own random stream, so a corpus without it has the same audio as one rendered before it existed.
    bus = None
    bus_rng = np.random.default_rng([opts.seed, index, 0xB05])
    if opts.bus_compressor > 0 and bus_rng.random() < opts.bus_compressor:
        bus = draw_bus_compressor(bus_rng)
        gain = bus_compressor_gain(mix, SAMPLERATE, **bus)
        for s in SOURCES:
            stems[s] *= gain
        mix = sum(stems.values())
        bus = {k: round(v, 3) for k, v in bus.items()}
    m = float(np.abs(mix).max())
    scale = peak / m if m > 0 else 1.0
    ints = {s: np.round(np.clip(stems[s] * scale, -1, 1) * 32767).astype(np.int32) for s in SOURCES}
    total = sum(ints.values())
    if np.abs(total).max() > 32767:  # cannot happen with peak <= 0.95, kept as a guard
        raise CorpusError(f"{name}: mixture would clip")
    ints["mixture"] = total

    entry = {
        "name": name, "index": index, "seed": opts.seed, "split": split, "duration_seconds": duration,
        "samplerate": SAMPLERATE, "genre": song.genre, "bpm": round(song.bpm, 2), "meter": song.meter,
        "key": song.key, "mode": song.mode, "swing": round(song.swing, 3), "drum_kit": kit,
        "stem_level_db": {k: round(v, 2) for k, v in layer_db.items()}, "mix_peak": round(peak, 3),
        "bus_compressor": bus, "synth_effects": opts.effects, "other_melodies": opts.melodies,
        "silent_stems": [s for s in SOURCES if not np.any(ints[s])],
        "parts": parts_meta,
    }
    _write_song(opts.out / split / name, ints, entry)
    return entry


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _write_song(final: Path, ints: dict[str, np.ndarray], entry: dict) -> None:
    import soundfile as sf

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for f in FILES:
        sf.write(str(tmp / f"{f}.wav"), ints[f].T.astype(np.int16), SAMPLERATE, subtype="PCM_16")
    (tmp / "song.json").write_text(json.dumps(entry, indent=1, sort_keys=True))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


# ---------------------------------------------------------------------------------------------
# the whole corpus
# ---------------------------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(opts: BuildOptions, sfs: list[SoundFont], voice_caches: list[Path], real_tracks: list) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER.update(opts=opts, sfs=sfs, voice_caches=voice_caches, real_tracks=real_tracks)


def _work(index: int) -> tuple[int, dict | None, str | None, float]:
    t = time.perf_counter()
    try:
        entry = render_song(index, _WORKER["opts"], _WORKER["sfs"], _WORKER["voice_caches"], _WORKER["real_tracks"])
        return index, entry, None, time.perf_counter() - t
    except Exception as exc:  # one broken song must not stop the corpus
        logger.exception("song %d failed", index)
        return index, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t


def _profile_soundfonts(opts: BuildOptions, sfs: list[SoundFont]) -> list[SoundFont]:
    """The soundfonts the profile plays (``--soundfonts small``, the tests' fast set, overrides it)."""
    wanted = profile(opts.profile).soundfonts
    if wanted is None or opts.soundfonts == "small":
        return sfs
    chosen = [s for s in sfs if s.name in wanted]
    if not chosen:
        raise CorpusError(f"the {opts.profile!r} profile plays {', '.join(wanted)}, which was not found "
                          "(install fluid-soundfont-gm)")
    return chosen


def _voice_sources(opts: BuildOptions) -> list[Path]:
    from . import voice

    if opts.vocals_source == "" or not profile(opts.profile).real_voices:
        return []
    if opts.vocals_source:
        srcs = [Path(p) for p in opts.vocals_source.split(os.pathsep) if p]
        missing = [str(p) for p in srcs if not p.exists()]
        if missing:
            raise CorpusError(f"voice source not found: {', '.join(missing)}")
    else:
        srcs = voice.default_sources()
    if not srcs:
        logger.warning("no real voice recording found: vocals use soundfont voices only")
        return []
    if not voice.world_available():
        logger.warning("pyworld is not installed: vocals use soundfont voices only")
        return []
    return srcs


def _prepare_voices(opts: BuildOptions, srcs: list[Path]) -> list[Path]:
    """WORLD analyses of the voice sources, cached in OUT/.cache (done once, before the workers start)."""
    from . import voice

    caches = []
    for src in srcs:
        cache = opts.out / ".cache" / f"world_{src.stem}.npz"
        caches.append(voice.analyse(src, cache))
    return caches


def build(opts: BuildOptions, progress=print) -> dict:
    """Render all songs missing from ``opts.out`` and (re)write ``manifest.json``; returns the manifest."""
    if opts.songs < 1:
        raise CorpusError("--songs must be at least 1")
    if not (0.5 <= opts.min_seconds <= opts.max_seconds):
        raise CorpusError(f"song length range {opts.min_seconds}..{opts.max_seconds} s is invalid (min 0.5 s)")
    check_fluidsynth()
    sfs = _profile_soundfonts(opts, require_soundfonts(opts.soundfonts))
    out = opts.out
    names = {i: (split_of(i, opts.valid_every), song_name(opts.seed, i)) for i in range(opts.songs)}
    if out.exists() and not opts.resume:
        existing = [p for sp in ("train", "valid", "test") for p in (out / sp).glob("*") if p.is_dir()]
        if existing or (out / "manifest.json").exists():
            from ..errors import OutputExistsError
            raise OutputExistsError(f"{out} already holds a corpus: pass --resume to continue it, or choose an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    # leftovers of an interrupted run
    for sp in ("train", "valid", "test"):
        for tmp in (out / sp).glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)
    todo = []
    for i, (sp, nm) in names.items():
        folder = out / sp / nm
        if song_complete(folder):
            continue
        if folder.exists():  # damaged: redo it
            shutil.rmtree(folder)
        todo.append(i)
    voice_srcs = _voice_sources(opts)
    voice_caches = _prepare_voices(opts, voice_srcs)
    real_tracks = _real_tracks(opts)
    progress(f"corpus {out}: {opts.songs - len(todo)} songs already complete, {len(todo)} to render "
             f"with {opts.jobs} job(s); soundfonts: {', '.join(s.name for s in sfs)}")
    write_manifest(opts, sfs, voice_srcs, real_tracks)  # the build's options on disk from the start (`manifest`)
    failures: dict[int, str] = {}
    t0 = time.perf_counter()
    done = 0
    if todo:
        if opts.jobs <= 1:
            _init_worker(opts, sfs, voice_caches, real_tracks)
            results = map(_work, todo)
            pool = None
        else:
            ctx = mp.get_context("spawn")
            pool = ctx.Pool(opts.jobs, initializer=_init_worker, initargs=(opts, sfs, voice_caches, real_tracks))
            results = pool.imap_unordered(_work, todo)
        try:
            for index, entry, err, secs in results:
                done += 1
                if err:
                    failures[index] = err
                    progress(f"[{done}/{len(todo)}] {names[index][1]} FAILED: {err}")
                else:
                    progress(f"[{done}/{len(todo)}] {entry['split']}/{entry['name']} {entry['genre']} "
                             f"{entry['meter']} {entry['bpm']:.0f} BPM {entry['duration_seconds']:.1f} s in {secs:.1f} s")
                if done % 25 == 0:  # a current manifest while a long build runs
                    write_manifest(opts, sfs, voice_srcs, real_tracks)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    elapsed = time.perf_counter() - t0
    manifest = write_manifest(opts, sfs, voice_srcs, real_tracks)
    if todo:
        progress(f"rendered {done - len(failures)} songs in {elapsed / 60:.1f} min "
                 f"({(done - len(failures)) / max(elapsed, 1e-9) * 60:.2f} songs/min with {opts.jobs} job(s))")
    for sp, info in manifest["splits"].items():
        progress(f"  {sp}: {info['songs']} songs, {info['hours']:.3f} h")
    if failures:
        raise CorpusError(f"{len(failures)} song(s) failed (rerun with --resume to retry): "
                          + "; ".join(f"{names[i][1]}: {e}" for i, e in sorted(failures.items())[:5]))
    return manifest


def refresh_manifest(out: Path, progress=print, **given) -> dict:
    """Rewrite ``out/manifest.json`` from the songs complete so far (e.g. while a build runs) and
    report its splits. Build options not ``given`` (BuildOptions field names; None = not given) are
    the ones the corpus was built with, so the refreshed manifest describes the same build."""
    if not out.is_dir():
        raise CorpusError(f"{out} is not a corpus folder")
    settings = {**stored_options(out), **{k: v for k, v in given.items() if v is not None}}
    missing = [k for k in ("songs", "seed") if k not in settings]
    if missing:
        raise CorpusError(f"{out} has no manifest.json to take {' and '.join(missing)} from: give "
                          + " and ".join(f"--{k}" for k in missing))
    opts = BuildOptions(out=out, **settings)
    manifest = write_manifest(opts, _profile_soundfonts(opts, find_soundfonts(opts.soundfonts)), _voice_sources(opts),
                              _real_tracks(opts))
    progress(f"{opts.out}: {manifest['songs_complete']} of {opts.songs} songs complete")
    for sp, info in manifest["splits"].items():
        progress(f"  {sp}: {info['songs']} songs, {info['hours']:.3f} h")
    return manifest


def stored_options(out: Path) -> dict:
    """The BuildOptions fields a corpus was built with: the manifest's ``options`` (or, for a
    manifest from before it had them, its ``command`` read back); fluidsynth's effects as the
    rendered songs say (songs from before that option were dry). {} for a folder with neither."""
    settings: dict = {}
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if "options" in manifest:
            settings = dict(manifest["options"])
        elif manifest.get("command"):
            import shlex

            from .__main__ import build_parser

            args = build_parser().parse_args(shlex.split(manifest["command"])[3:])
            settings = {"songs": args.songs, "seed": args.seed, "soundfonts": args.soundfonts,
                        "valid_every": args.valid_every, "vocals_source": args.vocals_source,
                        "real_audio": not args.no_real_audio, "profile": args.profile,
                        "bus_compressor": args.bus_compressor, "other_melodies": args.other_melodies}
            settings.update({k: v for k, v in (("min_seconds", args.min_seconds), ("max_seconds", args.max_seconds))
                             if v is not None})
    rendered = next(out.glob("*/*/song.json"), None)
    if rendered is not None:
        settings["synth_effects"] = bool(json.loads(rendered.read_text()).get("synth_effects"))
    return settings


def _real_tracks(opts: BuildOptions) -> list:
    if not opts.real_audio or not profile(opts.profile).real_audio:
        return []
    from .realaudio import find_real_guitars

    return find_real_guitars()


def write_manifest(opts: BuildOptions, sfs: list[SoundFont], voice_srcs: list[Path], real_tracks: list) -> dict:
    """Collect every complete song's song.json into ``manifest.json`` (written atomically)."""
    from . import voice

    songs = []
    for i in range(opts.songs):
        folder = opts.out / split_of(i, opts.valid_every) / song_name(opts.seed, i)
        if song_complete(folder):
            songs.append(json.loads((folder / "song.json").read_text()))
    splits = {}
    for sp in ("train", "valid", "test"):
        sel = [s for s in songs if s["split"] == sp]
        splits[sp] = {"songs": len(sel), "hours": round(sum(s["duration_seconds"] for s in sel) / 3600, 4)}
    manifest = {
        "generator": "stemdeck model.corpus", "generator_version": GENERATOR_VERSION,
        "command": f"python -m model.corpus build --out {opts.out} --songs {opts.songs} --seed {opts.seed} "
                   f"--min-seconds {opts.min_seconds} --max-seconds {opts.max_seconds} --soundfonts {opts.soundfonts}"
                   f" --profile {opts.profile}"
                   + (f" --bus-compressor {opts.bus_compressor}" if opts.bus_compressor else "")
                   + (" --synth-effects" if opts.effects else " --no-synth-effects")
                   + ("" if opts.melodies else " --no-other-melodies"),
        "synth_effects": opts.effects,
        "options": {"songs": opts.songs, "seed": opts.seed, "min_seconds": opts.min_seconds,
                    "max_seconds": opts.max_seconds, "soundfonts": opts.soundfonts, "valid_every": opts.valid_every,
                    "vocals_source": opts.vocals_source, "real_audio": opts.real_audio, "profile": opts.profile,
                    "bus_compressor": opts.bus_compressor, "synth_effects": opts.effects,
                    "other_melodies": opts.melodies},
        "profile": opts.profile,
        "seed": opts.seed, "songs_requested": opts.songs, "songs_complete": len(songs),
        "samplerate": SAMPLERATE, "channels": 2, "format": "WAV PCM_16; mixture = exact integer sum of the stems",
        "layout": "<split>/<song>/{mixture,drums,bass,other,vocals}.wav",
        "splits": splits,
        "soundfonts": [{"name": s.name, "file": s.path.name, "licence": s.licence, "source": s.source} for s in sfs],
        "voice_sources": [{"name": p.name, "files": [f.name for f in voice.source_files(p)],
                           "licence": voice.licence_of(p)} for p in voice_srcs],
        "real_recordings": [{"name": t.name, "file": str(t.path), "licence": t.licence} for t in real_tracks],
        "licences_note": "Rendered audio made with the listed soundfonts and recordings; attribute CC BY / CC BY-SA "
                         "sources when redistributing the corpus or crediting a model trained on it.",
        "songs": songs,
    }
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=opts.out)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, opts.out / "manifest.json")
    return manifest
