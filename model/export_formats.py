"""Export file formats: the one table of what StemDeck writes (`FORMATS`), and how a requested
format becomes a concrete one for a given source.

Light on purpose (standard library only): the CLI's argument parser and the app's Export dialog
read `FORMATS` without loading numpy or soundfile; `model.export` does the writing and
re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .errors import AudioWriteError

if TYPE_CHECKING:
    from .audio_io import SourceInfo

BIT_DEPTHS = (16, 24, 32)
#: Bitrates offered for MP3 (kbps); the encoder gives exactly these in CBR mode.
MP3_BITRATES = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
MP3_SAMPLERATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_WAV_LIMIT_BYTES = 0xFFFF_0000  # beyond this RIFF sizes overflow: write RF64 instead


@dataclass(frozen=True)
class ExportFormat:
    """What to write. `container` is a `FORMATS` name; `bit_depth`/`samplerate` None = like the
    source (32 = 32-bit float; lossless formats only); `mp3_bitrate_kbps` for lossy formats."""

    container: str = "wav"
    bit_depth: int | None = None
    samplerate: int | None = None
    mp3_bitrate_kbps: int = 320

    def __post_init__(self) -> None:
        object.__setattr__(self, "container", str(self.container).lower().lstrip("."))
        if self.container not in FORMATS:
            raise AudioWriteError(f"unknown export format '{self.container}' (choose {', '.join(FORMATS)})")
        if self.bit_depth is not None and self.bit_depth not in BIT_DEPTHS:
            raise AudioWriteError(f"bit depth must be 16, 24 or 32 (float), not {self.bit_depth}")
        if self.samplerate is not None and not (8000 <= int(self.samplerate) <= 384_000):
            raise AudioWriteError(f"export sample rate {self.samplerate} Hz is out of range (8000-384000)")
        if self.mp3_bitrate_kbps not in MP3_BITRATES:
            raise AudioWriteError(
                f"MP3 bitrate {self.mp3_bitrate_kbps} kbps is not offered (choose {', '.join(map(str, MP3_BITRATES))})"
            )


@dataclass(frozen=True)
class ResolvedFormat:
    """A concrete file format: everything needed to open the soundfile writer."""

    container: str
    ext: str
    samplerate: int
    bit_depth: int | None  # None for MP3
    subtype: str
    mp3_bitrate_kbps: int | None = None

    @property
    def is_float(self) -> bool:
        return self.subtype == "FLOAT"

    def describe(self) -> str:
        label = FORMATS[self.container].label
        if self.bit_depth is None:
            return f"{label} {self.mp3_bitrate_kbps} kbps, {self.samplerate} Hz"
        return f"{label} {bit_depth_label(self.bit_depth)}, {self.samplerate} Hz"


def _mp3_max_kbps(rate: int) -> int:
    return 320 if rate >= 32000 else (160 if rate >= 16000 else 64)


def _mp3_compression_level(rate: int, kbps: int) -> float:
    """libsndfile maps compression level 0..1 linearly onto the CBR bitrate range of the rate."""
    hi, lo = (320, 32) if rate >= 32000 else ((160, 8) if rate >= 16000 else (64, 8))
    return min(max((hi - kbps) / (hi - lo), 0.0), 0.999)


def _wav_writer(rf: ResolvedFormat, data_bytes: int) -> tuple[str, dict]:
    return ("RF64" if data_bytes > _WAV_LIMIT_BYTES else "WAV"), {}


def _flac_writer(rf: ResolvedFormat, data_bytes: int) -> tuple[str, dict]:
    return "FLAC", {}


def _mp3_writer(rf: ResolvedFormat, data_bytes: int) -> tuple[str, dict]:
    return "MP3", {"compression_level": _mp3_compression_level(rf.samplerate, rf.mp3_bitrate_kbps or 320),
                   "bitrate_mode": "CONSTANT"}


@dataclass(frozen=True)
class FileFormat:
    """One export format: what it can store and how soundfile writes it.

    `name` is the `--format` value, the dialog's choice and the file extension (`{ext}`).
    Lossless formats store one of `bit_depths` (32 = 32-bit float) at up to `max_samplerate` Hz;
    lossy ones (`subtype` set) store a bitrate (kbps, one of `bitrates`, at most
    `max_kbps(rate)`) at one of `samplerates`. `writer(resolved, data_bytes)` gives soundfile's
    (format, extra keyword arguments) for one file of `data_bytes` bytes of samples.
    """

    name: str
    label: str
    writer: Callable[[ResolvedFormat, int], tuple[str, dict]]
    bit_depths: tuple[int, ...] = ()
    max_samplerate: int = 384_000
    subtype: str | None = None
    bitrates: tuple[int, ...] = ()
    samplerates: tuple[int, ...] = ()
    max_kbps: Callable[[int], int] | None = None

    @property
    def lossy(self) -> bool:
        return self.subtype is not None


#: Every export format, by name, in the order they are offered (CLI `--format`, Export dialog).
#: Adding one is an entry here plus its writer.
FORMATS: dict[str, FileFormat] = {f.name: f for f in (
    FileFormat("wav", "WAV", _wav_writer, bit_depths=(16, 24, 32)),
    FileFormat("flac", "FLAC", _flac_writer, bit_depths=(16, 24), max_samplerate=655_350),
    FileFormat("mp3", "MP3", _mp3_writer, subtype="MPEG_LAYER_III", bitrates=MP3_BITRATES,
               samplerates=MP3_SAMPLERATES, max_kbps=_mp3_max_kbps),
)}
CONTAINERS = tuple(FORMATS)


def bit_depth_label(depth: int) -> str:
    """'16-bit', '24-bit' or '32-bit float'."""
    return "32-bit float" if depth == 32 else f"{depth}-bit"


def resolve_format(fmt: ExportFormat, source: SourceInfo | None, samplerate: int) -> tuple[ResolvedFormat, list[str]]:
    """Turn `fmt` (+ the source it defaults to) into a concrete format and notices for the user.

    `samplerate` is used when neither `fmt` nor `source` gives one.
    """
    notices: list[str] = []
    spec = FORMATS[fmt.container]
    rate = int(fmt.samplerate or (source.samplerate if source else samplerate))
    if spec.lossy:
        kbps = fmt.mp3_bitrate_kbps
        if spec.samplerates and rate not in spec.samplerates:
            new = _lossy_rate_for(rate, spec.samplerates)
            notices.append(f"{spec.label} cannot store {rate} Hz; the {spec.label} files are written at {new} Hz")
            rate = new
        top = spec.max_kbps(rate) if spec.max_kbps is not None else max(spec.bitrates)
        if kbps > top:
            notices.append(f"{spec.label} at {rate} Hz allows at most {top} kbps; using {top} kbps instead of {kbps}")
            kbps = top
        return ResolvedFormat(spec.name, spec.name, rate, None, spec.subtype, kbps), notices
    depth = fmt.bit_depth
    if depth is None:
        depth = source.bit_depth if source is not None else 24
        if depth is None:
            assert source is not None
            depth = 24
            notices.append(
                f"the source is lossy ({source.codec or source.container}); {spec.label} files are written as 24-bit"
            )
    if depth not in spec.bit_depths:
        fallback = max(d for d in spec.bit_depths if d <= depth) if min(spec.bit_depths) <= depth else min(spec.bit_depths)
        notices.append(f"{spec.label} cannot store {bit_depth_label(depth)}; the {spec.label} files are "
                       f"written as {bit_depth_label(fallback)}")
        depth = fallback
    if rate > spec.max_samplerate:
        raise AudioWriteError(f"{spec.label} cannot store {rate} Hz; choose WAV or a lower sample rate")
    subtype = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}[depth]
    return ResolvedFormat(spec.name, spec.name, rate, depth, subtype), notices


def _lossy_rate_for(rate: int, samplerates: tuple[int, ...]) -> int:
    """The rate a lossy format writes instead of `rate` (MP3: 44.1/48 kHz families above 48 kHz)."""
    if rate > max(samplerates):
        return 44100 if rate % 11025 == 0 else 48000
    return next(r for r in samplerates if r >= rate) if rate > min(samplerates) else min(samplerates)
