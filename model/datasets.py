"""Multitrack datasets: find songs in a folder, read excerpts from disk, stream them to training.

Layouts (`discover_dataset(root, layout="auto")`):

* ``musdb18hq`` — `root/{train,valid,test}/<song>/{mixture,drums,bass,other,vocals}.wav`
  (also what `stemdeck-corpus` writes). Validation = `root/valid/` when it exists, else the 14
  tracks of musdb's `valid` split when they are in `train/`, else a held-out fraction of `train/`.
* ``musdb18`` — `root/{train,test}/<song>.stem.mp4`, five audio streams in the order mixture,
  drums, bass, other, vocals (decoded with PyAV).
* ``folders`` — "one folder per song, one file per stem" with arbitrary file names, mapped to
  stems by `StemMapping` (vocals/vox/voice* → vocals, drum*/kick*/snare* → drums, bass* →
  bass, mix/mixture → the mixture, everything else → other; configurable). Several files
  mapped to one stem are summed. Held-out fraction for validation, all songs for evaluation.

Missing stems: a song that lacks a stem (an instrumental without vocals, a multitrack
without bass) is used with that stem as a SILENT target. Training mixtures are always the
sum of the (augmented) stems, never the mixture file, so a stem missing from the folder is
also absent from the training input: silence is the truth for that example, not a guess,
and no loss mask is needed. (A loss mask would only be right if the mixture file were used
as the input, and that file may hold mastering the stems do not, like Falcon 69's.)

Streaming: `ExcerptDataset` reads only the excerpt it needs (`soundfile` start/frames seeks;
PyAV seeks for .stem.mp4), resamples with soxr when a file's rate differs from the model's,
and augments in the DataLoader's worker processes. Example `i` is a pure function of
(seed, i): the training loop asks for examples by a global counter, so a resumed run gets
the same next batch regardless of worker count (see model/training/sampler.py).
"""

from __future__ import annotations

import fnmatch
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio_io import is_supported, reads_with_pyav
from .augment import AugmentConfig, augment_stems, remix_song_indices
from .config import SOURCES
from .errors import DatasetError

logger = logging.getLogger(__name__)


#: musdb's `split="valid"` tracks (taken from the train folder).
MUSDB_VALID_TRACKS: frozenset[str] = frozenset({
    "ANiMAL - Rockshow",
    "Actions - One Minute Smile",
    "Alexander Ross - Goodbye Bolero",
    "Clara Berry And Wooldog - Waltz For My Victims",
    "Fergessen - Nos Palpitants",
    "James May - On The Line",
    "Johnny Lokke - Promises & Lies",
    "Leaf - Summerghost",
    "Meaxic - Take A Step",
    "Patrick Talbot - A Reason To Leave",
    "Skelpolu - Human Mistakes",
    "Traffic Experiment - Sirens",
    "Triviul - Angelsaint",
    "Young Griffo - Pennies",
})

MUSDB_STREAM_ORDER = ("mixture", "drums", "bass", "other", "vocals")


# --------------------------------------------------------------------------- name mapping


_DEFAULT_PATTERNS: dict[str, tuple[str, ...]] = {
    "mixture": ("mixture", "mix", "mixdown", "master", "full mix", "full_mix", "fullmix", "song"),
    "vocals": ("vocals*", "vocal*", "vox*", "voice*", "*vocal*", "*vox", "*vox[-_ ]*", "lead voc*",
               "singer*", "bv*", "backing*voc*", "choir*", "acapella*", "acappella*"),
    "drums": ("drum*", "*drum*", "kick*", "snare*", "hat*", "hihat*", "hi-hat*", "hh*", "tom*",
              "overhead*", "oh", "oh[-_ ]*", "cymbal*", "ride*", "crash*", "perc*", "*percussion*"),
    "bass": ("bass", "bass[-_ 0-9]*", "*[-_ ]bass", "*[-_ ]bass[-_ 0-9]*", "bassline*",
             "synthbass*", "subbass*", "bassgtr*", "bassguitar*"),
}


@dataclass(frozen=True)
class StemMapping:
    """Maps a file's name (without extension, case-insensitive) to a stem, or to "mixture".

    `patterns` are checked in order mixture, then the sources in `sources` order except
    `fallback`; the first glob that matches wins; names matching nothing go to `fallback`
    ("other"; None = ignore such files). `extra` patterns given by the user are tried before
    the defaults of their stem.
    """

    sources: tuple[str, ...] = SOURCES
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fallback: str | None = "other"

    @classmethod
    def parse(cls, specs: list[str] | None, sources: tuple[str, ...] = SOURCES) -> "StemMapping":
        """From CLI strings like "vocals=lead*,choir*" or "other=" (no fallback)."""
        extra: dict[str, list[str]] = {}
        fallback: str | None = "other" if "other" in sources else None
        for spec in specs or []:
            if "=" not in spec:
                raise DatasetError(f"bad stem mapping {spec!r}: expected STEM=PATTERN[,PATTERN...]")
            stem, _, pats = spec.partition("=")
            stem = stem.strip().lower()
            if stem not in sources and stem not in ("mixture", "ignore"):
                raise DatasetError(f"bad stem mapping {spec!r}: {stem!r} is not one of "
                                   f"{', '.join(sources)}, mixture, ignore")
            patterns = [p.strip().lower() for p in pats.split(",") if p.strip()]
            if stem == "ignore":
                extra.setdefault("ignore", []).extend(patterns)
            elif patterns:
                extra.setdefault(stem, []).extend(patterns)
            elif stem == fallback:
                fallback = None
        return cls(sources=tuple(sources), extra=tuple((k, tuple(v)) for k, v in extra.items()),
                   fallback=fallback)

    def stem_for(self, filename: str) -> str | None:
        name = Path(filename).name.lower()
        for suffix in (".stem.mp4",):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        name = Path(name).stem if is_supported(name) else name
        extra = dict(self.extra)
        for pat in extra.get("ignore", ()):
            if fnmatch.fnmatchcase(name, pat):
                return None
        order = ["mixture"] + [s for s in self.sources if s != self.fallback]
        for stem in order:  # user patterns first, for every stem
            if any(fnmatch.fnmatchcase(name, p) for p in extra.get(stem, ())):
                return stem
        if self.fallback and any(fnmatch.fnmatchcase(name, p) for p in extra.get(self.fallback, ())):
            return self.fallback
        for stem in order:
            if any(fnmatch.fnmatchcase(name, p) for p in _DEFAULT_PATTERNS.get(stem, ())):
                return stem
        if name in self.sources:
            return name
        return self.fallback


# --------------------------------------------------------------------------- songs


@dataclass(frozen=True)
class AudioRef:
    """One audio signal on disk: a file, or stream `stream` of a multi-stream container."""

    path: Path
    stream: int | None = None
    samplerate: int = 0
    channels: int = 0
    frames: int = 0

    def label(self) -> str:
        return f"{self.path}" + (f" (stream {self.stream})" if self.stream is not None else "")


@dataclass
class Song:
    """A multitrack song: per stem the files that sum to it (empty list = missing stem)."""

    name: str
    path: Path
    stems: dict[str, list[AudioRef]]
    mixture: AudioRef | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def refs(self) -> list[AudioRef]:
        out = [r for refs in self.stems.values() for r in refs]
        return out + ([self.mixture] if self.mixture is not None else [])

    @property
    def samplerate(self) -> int:
        rates = [r.samplerate for refs in self.stems.values() for r in refs]
        return max(rates) if rates else 0

    @property
    def frames(self) -> int:
        """Usable length in frames at `samplerate` (the shortest stem file)."""
        lengths = [int(r.frames * self.samplerate / r.samplerate)
                   for refs in self.stems.values() for r in refs if r.samplerate]
        return min(lengths) if lengths else 0

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0

    @property
    def missing(self) -> list[str]:
        return [s for s, refs in self.stems.items() if not refs]


@dataclass
class DatasetIndex:
    """What `discover_dataset` found: songs per split and the songs it could not use."""

    root: Path
    layout: str
    sources: tuple[str, ...]
    train: list[Song]
    valid: list[Song]
    test: list[Song]
    unusable: list[tuple[str, str]]  # (song path, reason)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        hours = sum(s.duration_seconds for s in self.train) / 3600
        return {
            "root": str(self.root),
            "layout": self.layout,
            "train_songs": len(self.train),
            "valid_songs": len(self.valid),
            "test_songs": len(self.test),
            "train_hours": round(hours, 3),
            "unusable_songs": len(self.unusable),
        }


def probe_audio(path: Path, stream: int | None = None) -> AudioRef:
    """Header facts of one audio file/stream (cheap). Raises DatasetError naming the file."""
    path = Path(path)
    if reads_with_pyav(path) or stream is not None:
        try:
            import av

            with av.open(str(path)) as container:
                streams = container.streams.audio
                if not streams:
                    raise DatasetError(f"{path}: no audio stream")
                st = streams[stream or 0]
                rate = int(st.codec_context.sample_rate or st.rate)
                channels = int(st.codec_context.channels)
                if st.duration is not None and st.time_base is not None:
                    seconds = float(st.duration * st.time_base)
                elif container.duration is not None:
                    seconds = container.duration / 1_000_000
                else:
                    seconds = 0.0
            return AudioRef(path, stream, rate, channels, int(round(seconds * rate)))
        except DatasetError:
            raise
        except IndexError:
            raise DatasetError(f"{path}: has no audio stream {stream}") from None
        except Exception as exc:  # PyAV raises many types for corrupt files
            raise DatasetError(f"{path}: cannot read ({exc})") from exc
    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    return AudioRef(path, None, int(info.samplerate), int(info.channels), int(info.frames))


def _song_from_folder(folder: Path, mapping: StemMapping) -> Song:
    stems: dict[str, list[AudioRef]] = {s: [] for s in mapping.sources}
    mixture: AudioRef | None = None
    notes: list[str] = []
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_supported(p))
    if not files:
        raise DatasetError(f"{folder}: no audio files")
    for f in files:
        stem = mapping.stem_for(f.name)
        if stem is None:
            notes.append(f"ignored {f.name}")
            continue
        ref = probe_audio(f)
        if ref.frames <= 0:
            raise DatasetError(f"{f}: empty audio file")
        if stem == "mixture":
            if mixture is not None:
                notes.append(f"two mixture files; using {mixture.path.name}, ignoring {f.name}")
                continue
            mixture = ref
        else:
            stems[stem].append(ref)
    song = Song(folder.name, folder, stems, mixture, notes)
    if not any(stems.values()):
        raise DatasetError(f"{folder}: no stem files (only a mixture?)")
    rates = {r.samplerate for r in song.refs}
    if len(rates) > 1:
        notes.append(f"files have different sample rates {sorted(rates)}; resampled when read")
    lengths = [r.frames / r.samplerate for r in song.refs]
    if max(lengths) - min(lengths) > 0.05:
        notes.append(f"files differ in length ({min(lengths):.2f}–{max(lengths):.2f} s); "
                     "the shortest stem sets the song length")
    return song


def _song_from_stem_mp4(path: Path, sources: tuple[str, ...]) -> Song:
    name = path.name[: -len(".stem.mp4")] if path.name.lower().endswith(".stem.mp4") else path.stem
    try:
        import av

        with av.open(str(path)) as container:
            n_streams = len(container.streams.audio)
    except Exception as exc:
        raise DatasetError(f"{path}: cannot open ({exc})") from exc
    if n_streams < 2:
        raise DatasetError(f"{path}: a .stem.mp4 needs a mixture stream plus stem streams, found {n_streams}")
    stems: dict[str, list[AudioRef]] = {s: [] for s in sources}
    mixture = probe_audio(path, 0)
    for idx, stem in enumerate(MUSDB_STREAM_ORDER[1:], start=1):
        if stem in stems and idx < n_streams:
            stems[stem].append(probe_audio(path, idx))
    return Song(name, path, stems, mixture)


def _scan_split(folder: Path, mapping: StemMapping, unusable: list[tuple[str, str]]) -> tuple[list[Song], str]:
    songs: list[Song] = []
    kinds = set()
    for entry in sorted(folder.iterdir()):
        try:
            if entry.is_dir():
                if entry.name.startswith("."):
                    continue
                songs.append(_song_from_folder(entry, mapping))
                kinds.add("folders")
            elif entry.name.lower().endswith(".stem.mp4"):
                songs.append(_song_from_stem_mp4(entry, mapping.sources))
                kinds.add("musdb18")
        except DatasetError as exc:
            unusable.append((str(entry), str(exc)))
        except OSError as exc:
            unusable.append((str(entry), f"cannot read ({exc})"))
    return songs, ("musdb18" if kinds == {"musdb18"} else "folders")


def _held_out(songs: list[Song], fraction: float, seed: int) -> tuple[list[Song], list[Song]]:
    if len(songs) < 2 or fraction <= 0:
        return songs, []
    n_valid = max(1, int(round(len(songs) * fraction)))
    n_valid = min(n_valid, len(songs) - 1)
    order = np.random.default_rng(seed).permutation(len(songs))
    valid_idx = set(order[:n_valid].tolist())
    train = [s for i, s in enumerate(songs) if i not in valid_idx]
    valid = [s for i, s in enumerate(songs) if i in valid_idx]
    return train, valid


def discover_dataset(
    root: Path | str,
    mapping: StemMapping | None = None,
    valid_fraction: float = 0.1,
    seed: int = 0,
) -> DatasetIndex:
    """Find the songs under `root` (layout detected) and split them into train/valid/test.

    Never raises for a bad song (it goes to `unusable` with the reason); raises DatasetError
    only when `root` itself is not a folder or holds no usable song at all.
    """
    root = Path(root).expanduser()
    mapping = mapping or StemMapping()
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    unusable: list[tuple[str, str]] = []
    notes: list[str] = []
    splits = {name: root / name for name in ("train", "valid", "test") if (root / name).is_dir()}
    if splits:
        found: dict[str, list[Song]] = {}
        kinds = set()
        for name, folder in splits.items():
            found[name], kind = _scan_split(folder, mapping, unusable)
            if found[name]:
                kinds.add(kind)
        layout = "musdb18" if kinds == {"musdb18"} else "musdb18hq"
        train, valid, test = found.get("train", []), found.get("valid", []), found.get("test", [])
        if not valid and train:
            named = [s for s in train if s.name in MUSDB_VALID_TRACKS]
            if named:
                valid = named
                train = [s for s in train if s.name not in MUSDB_VALID_TRACKS]
                notes.append(f"validation = {len(valid)} of musdb's named validation tracks")
            else:
                train, valid = _held_out(train, valid_fraction, seed)
                notes.append(f"validation = {len(valid)} held-out train songs ({valid_fraction:.0%})")
    else:
        songs, layout = _scan_split(root, mapping, unusable)
        if not songs and not unusable:
            # maybe root itself is one song folder
            try:
                songs = [_song_from_folder(root, mapping)]
            except DatasetError as exc:
                unusable.append((str(root), str(exc)))
        train, valid = _held_out(songs, valid_fraction, seed)
        test = songs
        notes.append(f"no train/test folders: {len(train)} songs train, {len(valid)} held out for "
                     "validation; evaluation uses every song")
    index = DatasetIndex(root, layout, tuple(mapping.sources), train, valid, test, unusable, notes)
    if not (train or valid or test):
        reasons = "; ".join(f"{Path(p).name}: {r}" for p, r in unusable[:5])
        raise DatasetError(f"{root}: no usable song found" + (f" ({reasons})" if reasons else ""))
    return index


# --------------------------------------------------------------------------- reading


def _fit_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """(c, n) -> (channels, n) with the audio branch's downmix rules (mono duplicated, surround
    folded down to stereo)."""
    if x.shape[0] == channels:
        return x
    from .audio_io import downmix_matrix

    return (downmix_matrix(x.shape[0], channels) @ x).astype(np.float32)


def _read_native(ref: AudioRef, start: int, frames: int) -> np.ndarray:
    """(c, <=frames) float32 at the file's own rate, starting at native frame `start`."""
    if ref.stream is None and not reads_with_pyav(ref.path):
        data, _ = sf.read(str(ref.path), start=start, frames=frames, dtype="float32", always_2d=True)
        return data.T
    import av

    out: list[np.ndarray] = []
    got = 0
    with av.open(str(ref.path)) as container:
        st = container.streams.audio[ref.stream or 0]
        rate = ref.samplerate
        tb = float(st.time_base)
        start_s = start / rate
        # seek a few codec frames early: a decoder (AAC's overlapped transform) needs the
        # previous frames to produce exact samples; the surplus is trimmed by timestamp below
        container.seek(int(max(0.0, start_s - 8192 / rate) / tb), stream=st, backward=True,
                       any_frame=False)
        resampler = av.AudioResampler(format="fltp")
        for packet in container.demux(st):
            for frame in packet.decode():
                t0 = float(frame.pts * tb) if frame.pts is not None else start_s
                for rframe in resampler.resample(frame):
                    arr = rframe.to_ndarray().astype(np.float32)
                    skip = int(round((start_s - t0) * rate))
                    if skip > 0:
                        arr = arr[:, skip:]
                    t0 += rframe.samples / rate
                    if arr.shape[1]:
                        out.append(arr)
                        got += arr.shape[1]
                if got >= frames:
                    break
            if got >= frames:
                break
    if not out:
        return np.zeros((ref.channels or 2, 0), np.float32)
    return np.concatenate(out, axis=1)[:, :frames]


def read_excerpt(ref: AudioRef, start_frame: int, frames: int, samplerate: int, channels: int = 2) -> np.ndarray:
    """(channels, frames) float32 at `samplerate`, from `start_frame` (counted at `samplerate`).

    Only the needed part of the file is read; zero-padded past the end; resampled (soxr)
    when the file's rate differs. Raises DatasetError naming the file on read errors.
    """
    try:
        if ref.samplerate == samplerate:
            x = _read_native(ref, start_frame, frames)
        else:
            import soxr

            ratio = ref.samplerate / samplerate
            pad = 64  # resampler context at both ends
            n_start = max(0, int(math.floor(start_frame * ratio)) - pad)
            lead = int(round((start_frame * ratio - n_start) / ratio))
            n_frames = int(math.ceil(frames * ratio)) + 2 * pad
            native = _read_native(ref, n_start, n_frames)
            if native.shape[1] == 0:
                x = native
            else:
                x = soxr.resample(native.T, ref.samplerate, samplerate, quality="HQ").T
                x = x[:, lead:lead + frames]
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"{ref.label()}: read failed ({exc})") from exc
    x = _fit_channels(np.asarray(x, dtype=np.float32), channels)
    if x.shape[1] < frames:
        x = np.pad(x, ((0, 0), (0, frames - x.shape[1])))
    return np.ascontiguousarray(x)


def read_stem(song: Song, stem: str, start_frame: int, frames: int, samplerate: int, channels: int = 2) -> np.ndarray:
    """Sum of the song's files for `stem`, (channels, frames) float32; zeros if the stem is missing.

    start_frame counts frames at `samplerate`.
    """
    out = np.zeros((channels, frames), np.float32)
    for ref in song.stems.get(stem, []):
        out += read_excerpt(ref, start_frame, frames, samplerate, channels)
    return out


def song_frames_at(song: Song, samplerate: int) -> int:
    return int(song.frames * samplerate / song.samplerate) if song.samplerate else 0


def load_song(
    song: Song,
    sources: tuple[str, ...],
    samplerate: int,
    channels: int = 2,
    max_seconds: float | None = None,
    use_mixture_file: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Whole song (or its middle `max_seconds`): (mixture (C, N), stems (S, C, N)) float32.

    The mixture is the song's mixture file when present (and `use_mixture_file`), else the
    sum of its stems.
    """
    total = song_frames_at(song, samplerate)
    frames = total
    start = 0
    if max_seconds is not None and total > int(max_seconds * samplerate):
        frames = int(max_seconds * samplerate)
        start = (total - frames) // 2
    stems = np.stack([read_stem(song, s, start, frames, samplerate, channels) for s in sources])
    if use_mixture_file and song.mixture is not None:
        mixture = read_excerpt(song.mixture, start, frames, samplerate, channels)
    else:
        mixture = stems.sum(axis=0)
    return mixture, stems


# --------------------------------------------------------------------------- streaming


try:  # the training dataset needs torch; discovery and reading above do not
    import torch
    from torch.utils.data import Dataset as _TorchDataset
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]
    _TorchDataset = object  # type: ignore[assignment,misc]


class ExcerptDataset(_TorchDataset):  # type: ignore[misc,valid-type]
    """Random training excerpts, read from disk on demand.

    `dataset[i]` -> (mixture (C, T), stems (S, C, T)) float32 tensors, T = segment_frames at
    `samplerate`. Example i is a pure function of (seed, i): the song(s), offsets and
    augmentation parameters come from `numpy.random.default_rng([seed, i])`. Songs are drawn
    with probability proportional to their length. `len()` is nominal (`length`): the
    training loop's sampler decides which indices are read.
    """

    def __init__(
        self,
        songs: list[Song],
        sources: tuple[str, ...],
        samplerate: int,
        segment_frames: int,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        channels: int = 2,
        train: bool = True,
        length: int = 2**62,
    ) -> None:
        if not songs:
            raise DatasetError("no training songs")
        self.songs = songs
        self.sources = tuple(sources)
        self.samplerate = samplerate
        self.segment_frames = segment_frames
        self.augment = augment or AugmentConfig()
        self.seed = seed
        self.channels = channels
        self.train = train
        self.length = length
        frames = np.array([max(1, song_frames_at(s, samplerate)) for s in songs], dtype=np.float64)
        self.weights = frames / frames.sum()
        self.frames = frames.astype(np.int64)

    def __len__(self) -> int:
        return self.length

    #: consecutive failed reads (per process) after which training stops with the error
    MAX_CONSECUTIVE_FAILURES = 32

    def _read_failed(self, exc: DatasetError) -> None:
        """A file that went bad mid-run becomes silence for this example (logged once per
        file); when reads keep failing (the dataset was moved or deleted) raise instead of
        training on silence."""
        self._failures = getattr(self, "_failures", 0) + 1
        warned = self.__dict__.setdefault("_warned", set())
        key = str(exc).split(":")[0]
        if key not in warned:
            warned.add(key)
            logger.warning("%s (this stem is silent in the examples that use it)", exc)
        if self._failures >= self.MAX_CONSECUTIVE_FAILURES:
            raise DatasetError(f"{self._failures} reads in a row failed, last: {exc}; "
                               "was the dataset moved or deleted?")

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """numpy version of __getitem__: (mixture (C, T), stems (S, C, T))."""
        rng = np.random.default_rng([self.seed, int(index)])
        read_len = (self.augment.read_frames(self.segment_frames, self.samplerate) if self.train
                    else self.segment_frames)
        prob = self.augment.remix_probability if (self.train and self.augment.enabled) else 0.0
        song_idx = remix_song_indices(rng, len(self.sources), self.weights, prob)
        starts: dict[int, int] = {}
        stems = np.zeros((len(self.sources), self.channels, read_len), np.float32)
        for j, (stem, k) in enumerate(zip(self.sources, song_idx)):
            k = int(k)
            if k not in starts:
                starts[k] = int(rng.integers(0, max(1, self.frames[k] - read_len) + 1))
            try:
                stems[j] = read_stem(self.songs[k], stem, starts[k], read_len, self.samplerate, self.channels)
                self._failures = 0
            except DatasetError as exc:
                self._read_failed(exc)
        stems, mixture = augment_stems(stems, self.segment_frames, rng, self.augment, train=self.train)
        return mixture, stems

    def __getitem__(self, index: int):
        mixture, stems = self.example(index)
        return torch.from_numpy(mixture), torch.from_numpy(stems)
