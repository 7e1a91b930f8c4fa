"""Reading audio files into float32 arrays at the model's rate, and resampling.

Backends:
- soundfile (libsndfile 1.2, bundled in the wheel) for wav/aiff/flac/ogg/mp3 and friends;
- PyAV (FFmpeg) for m4a/aac/mp4/opus/video containers and NI `.stem.mp4` files (first audio
  stream = the mixture).
A file whose extension names one backend but which that backend cannot open is tried with the
other one before giving up (Demucs-GUI does the same: soundfile first, FFmpeg fallback).

Memory: a file is decoded block by block (soundfile blocks / FFmpeg frames) through channel
conversion and a streaming soxr resampler straight into one preallocated `(channels, frames)`
float32 array, so decoding needs about 1x the decoded size (2x transiently only when a
container's declared length was wrong and the array must be trimmed or grown).

Every failure a user can cause (missing file, folder, no permission, corrupt or truncated data,
no audio, NaN/Inf samples, absurd sample rate) raises `AudioReadError` whose message names the
file and says why in plain words.
"""

from __future__ import annotations

import logging
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioReadError

logger = logging.getLogger(__name__)

#: Sample rates outside this range are refused as corrupt/absurd headers (Hz).
MIN_SAMPLERATE = 1000
MAX_SAMPLERATE = 768_000
#: Frames decoded per block (soundfile) / gathered from FFmpeg frames before processing.
BLOCK_FRAMES = 65_536
#: soxr quality used for every resampling ("HQ": 20-bit precision, linear phase).
RESAMPLE_QUALITY = "HQ"

#: Extensions read with soundfile first (libsndfile detects the real format from the header).
SOUNDFILE_EXTENSIONS = frozenset(
    {"wav", "wave", "bwf", "aif", "aiff", "aifc", "flac", "ogg", "oga", "mp3", "w64", "rf64", "caf", "au", "snd"}
)
#: Extensions read with PyAV (FFmpeg) first.
PYAV_EXTENSIONS = frozenset(
    {"m4a", "aac", "mp4", "m4b", "opus", "mov", "mkv", "mka", "webm", "wma", "wv", "ape", "ac3", "eac3", "alac", "mp2"}
)
#: Every extension StemDeck opens (lower case, no dot): the one list behind the CLI's folder
#: search, the app's drop/open and file dialogs, and the dataset scanner (`is_supported`).
SUPPORTED_EXTENSIONS = tuple(sorted(SOUNDFILE_EXTENSIONS | PYAV_EXTENSIONS))

_LOSSY_SF_SUBTYPES = frozenset({"VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"})
_LOSSLESS_AV_CODECS = frozenset({"flac", "alac", "wavpack", "ape", "tta", "truehd", "mlp", "shorten", "als"})
_SF_CONTAINER_NAMES = {"wavex": "wav", "aiff": "aiff", "ogg": "ogg", "mp3": "mp3", "flac": "flac", "wav": "wav"}


@dataclass(frozen=True)
class SourceInfo:
    """The audio file as it is on disk (before any conversion).

    `frames` counts samples per channel at `samplerate`. After `load_audio` it is the number of
    frames actually decoded; from `audio_info` on an FFmpeg container it is the header's estimate
    (0 if the header does not say). `subtype` is the sample format ("PCM_16", "PCM_24",
    "PCM_32", "FLOAT", "DOUBLE", ...) or None for lossy codecs. `container` is a short lower-case
    name ("wav", "flac", "mp3", "ogg", "aiff", "m4a", "mp4", "opus", ...). `codec` names the codec
    where known ("pcm", "flac", "mp3", "aac", "opus", "vorbis", ...).
    """

    path: Path
    samplerate: int
    channels: int
    frames: int
    subtype: str | None
    container: str
    duration_seconds: float
    codec: str | None = None

    @property
    def lossy(self) -> bool:
        """True when the source was lossy-coded (no meaningful bit depth)."""
        return self.subtype is None

    @property
    def bit_depth(self) -> int | None:
        """Bit depth a lossless export should use to keep the source's precision.

        16 or 24 for integer sources up to that many bits, 32 for float and 32-bit integer
        sources (exported as 32-bit float), None for lossy sources.
        """
        return bit_depth_of_subtype(self.subtype)


@dataclass
class LoadedAudio:
    """Decoded audio: `samples` is float32 `(channels, frames)` at `samplerate` Hz."""

    samples: np.ndarray
    samplerate: int
    source: SourceInfo
    notices: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.samplerate


def bit_depth_of_subtype(subtype: str | None) -> int | None:
    """Map a libsndfile-style subtype to the export bit depth that keeps its precision."""
    if subtype is None:
        return None
    s = subtype.upper()
    if s in ("FLOAT", "DOUBLE") or s.endswith("_32") or s == "PCM_32":
        return 32
    if s.endswith("_24") or s.endswith("_20"):
        return 24
    if s.endswith("_16") or s.endswith("_8") or s in ("PCM_S8", "PCM_U8", "ULAW", "ALAW"):
        return 16
    return 24  # ADPCM, DWVW and other oddities: 24-bit keeps everything they hold


# --------------------------------------------------------------------------------------------
# resampling


def resampled_length(frames: int, from_rate: int, to_rate: int) -> int:
    """Frames that `frames` samples at `from_rate` become at `to_rate` (soxr's rounding)."""
    if from_rate == to_rate:
        return int(frames)
    return int(math.floor(frames * to_rate / from_rate + 0.5))


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample `(channels, frames)` float audio from `from_rate` to `to_rate` Hz with soxr.

    Returns a new float32 `(channels, resampled_length(frames, from_rate, to_rate))` array,
    time-aligned from sample 0 (soxr compensates its filter delay). Channels are processed one at
    a time, so peak memory is input + output + one channel. Equal rates return a float32 copy.
    """
    if samples.ndim != 2:
        raise ValueError(f"resample expects (channels, frames), got shape {samples.shape}")
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    if from_rate == to_rate:
        return np.array(samples, dtype=np.float32, copy=True)
    channels, frames = samples.shape
    want = resampled_length(frames, from_rate, to_rate)
    out = np.zeros((channels, want), dtype=np.float32)
    for ch in range(channels):
        y = soxr.resample(np.ascontiguousarray(samples[ch], dtype=np.float32), from_rate, to_rate, RESAMPLE_QUALITY)
        n = min(want, y.shape[0])
        out[ch, :n] = y[:n]
    return out


# --------------------------------------------------------------------------------------------
# path checks and info


class _BackendCannotOpen(Exception):
    """The backend does not understand the file (another backend may)."""


def _fail(path: Path, reason: str) -> AudioReadError:
    return AudioReadError(f"cannot read '{path}': {reason}")


def _check_path(path: str | os.PathLike) -> Path:
    """Refuse anything that is not an existing, readable, non-empty regular file."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise _fail(p, "the file does not exist") from None
    except PermissionError:
        raise _fail(p, "permission denied (the folder cannot be read)") from None
    except OSError as exc:
        raise _fail(p, f"the file cannot be accessed ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(p, "this is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise _fail(p, "this is not a regular file (device, pipe or socket)")
    if st.st_size == 0:
        raise _fail(p, "the file is empty (0 bytes)")
    try:
        _probe_readable(p)
    except PermissionError:
        raise _fail(p, "permission denied (you are not allowed to read this file)") from None
    except OSError as exc:
        raise _fail(p, f"the file cannot be opened ({exc.strerror or exc})") from None
    return p


def _probe_readable(p: Path) -> None:
    """Open the file and read a few bytes (raises PermissionError/OSError)."""
    with open(p, "rb") as fh:
        fh.read(16)


def _ext(p: Path) -> str:
    name = p.name.lower()
    if name.endswith(".stem.mp4"):
        return "stem.mp4"
    return p.suffix.lower().lstrip(".")


def is_supported(path: str | os.PathLike) -> bool:
    """Whether `path`'s extension is one StemDeck opens (`SUPPORTED_EXTENSIONS`, `.stem.mp4`)."""
    ext = _ext(Path(path))
    return ext == "stem.mp4" or ext in SOUNDFILE_EXTENSIONS or ext in PYAV_EXTENSIONS


def reads_with_pyav(path: str | os.PathLike) -> bool:
    """Whether `path` is decoded with PyAV (FFmpeg) first, by its extension."""
    ext = _ext(Path(path))
    return ext == "stem.mp4" or ext in PYAV_EXTENSIONS


def _backend_order(p: Path) -> tuple[str, str]:
    if reads_with_pyav(p):
        return ("pyav", "soundfile")
    return ("soundfile", "pyav")


def _check_rate_channels(p: Path, samplerate: int, channels: int) -> None:
    if not (MIN_SAMPLERATE <= samplerate <= MAX_SAMPLERATE):
        raise _fail(
            p,
            f"its sample rate of {samplerate} Hz is not usable "
            f"(StemDeck accepts {MIN_SAMPLERATE}-{MAX_SAMPLERATE} Hz; the header may be corrupt)",
        )
    if channels < 1:
        raise _fail(p, f"it declares {channels} audio channels")


def _sf_info(p: Path) -> SourceInfo:
    try:
        info = sf.info(str(p))
    except Exception as exc:  # libsndfile raises LibsndfileError/RuntimeError/TypeError on junk
        raise _BackendCannotOpen(_clean_sf_message(exc)) from exc
    fmt = (info.format or "").lower()
    container = _SF_CONTAINER_NAMES.get(fmt, fmt or _ext(p))
    subtype = info.subtype or None
    codec = "pcm"
    if subtype in _LOSSY_SF_SUBTYPES:
        codec = {"VORBIS": "vorbis", "OPUS": "opus"}.get(subtype, "mp3" if subtype == "MPEG_LAYER_III" else "mpeg")
        subtype = None
    elif fmt == "flac":
        codec = "flac"
    frames = int(info.frames)
    rate = int(info.samplerate)
    return SourceInfo(
        path=p,
        samplerate=rate,
        channels=int(info.channels),
        frames=frames,
        subtype=subtype,
        container=container,
        duration_seconds=frames / rate if rate > 0 else 0.0,
        codec=codec,
    )


def _clean_sf_message(exc: Exception) -> str:
    msg = str(exc)
    # soundfile's message repeats the path; keep only libsndfile's reason
    if ": " in msg:
        msg = msg.rsplit(": ", 1)[-1]
    msg = msg.strip().rstrip(".")
    return msg or type(exc).__name__


def _av_open(p: Path):
    import av  # imported lazily: FFmpeg libraries are large

    try:
        return av.open(str(p), mode="r", metadata_errors="ignore")
    except Exception as exc:
        raise _BackendCannotOpen(_clean_av_message(exc)) from exc


def _clean_av_message(exc: Exception) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return str(msg).strip().rstrip(".") or type(exc).__name__


def _av_stream_info(p: Path, container) -> tuple[SourceInfo, int]:
    """SourceInfo of the first audio stream, and how many audio streams the file has."""
    audio_streams = list(container.streams.audio)
    if not audio_streams:
        raise _BackendCannotOpen("it contains no audio stream")
    stream = audio_streams[0]
    ctx = stream.codec_context
    rate = int(ctx.sample_rate or stream.sample_rate or 0)
    channels = int(ctx.channels or 0)
    codec = ctx.name
    frames = 0
    if stream.duration is not None and stream.time_base is not None and rate:
        frames = int(round(float(stream.duration * stream.time_base) * rate))
    elif container.duration is not None and rate:
        frames = int(round(container.duration / 1_000_000 * rate))
    frames = max(frames, 0)
    subtype: str | None
    if codec.startswith("pcm_"):
        kind = codec[4:]
        if kind.startswith("f32"):
            subtype = "FLOAT"
        elif kind.startswith("f64"):
            subtype = "DOUBLE"
        else:
            digits = "".join(ch for ch in kind if ch.isdigit())
            subtype = f"PCM_{digits}" if digits else "PCM_16"
        codec = "pcm"
    elif codec in _LOSSLESS_AV_CODECS:
        bits = int(getattr(ctx, "bits_per_raw_sample", 0) or 0) or (ctx.format.bits if ctx.format else 16)
        subtype = f"PCM_{min(max(bits, 8), 32)}"
    else:
        subtype = None
    ext = _ext(p)
    container_name = ext if ext in PYAV_EXTENSIONS | {"stem.mp4"} else container.format.name.split(",")[0]
    info = SourceInfo(
        path=p,
        samplerate=rate,
        channels=channels,
        frames=frames,
        subtype=subtype,
        container=container_name,
        duration_seconds=frames / rate if rate else 0.0,
        codec=codec,
    )
    return info, len(audio_streams)


def _av_info(p: Path) -> SourceInfo:
    container = _av_open(p)
    try:
        info, _ = _av_stream_info(p, container)
        return info
    finally:
        container.close()


def audio_info(path: str | os.PathLike) -> SourceInfo:
    """Describe an audio file from its header only (cheap: nothing is decoded).

    Raises AudioReadError naming the file and the reason when it is missing, unreadable, not
    audio, empty, or declares an absurd sample rate.
    """
    p = _check_path(path)
    first, second = _backend_order(p)
    reasons = []
    for backend in (first, second):
        try:
            info = _sf_info(p) if backend == "soundfile" else _av_info(p)
        except _BackendCannotOpen as exc:
            reasons.append(str(exc))
            continue
        _check_rate_channels(p, info.samplerate, info.channels)
        if backend == "soundfile" and info.frames == 0:
            raise _fail(p, "it contains no audio (0 frames)")
        return info
    raise _fail(p, _unreadable_reason(reasons))


def _unreadable_reason(reasons: list[str]) -> str:
    detail = reasons[0] if reasons else "unknown error"
    return f"not a readable audio file - the format is not recognised or the data is corrupt ({detail})"


# --------------------------------------------------------------------------------------------
# channel conversion

_SQRT_HALF = 0.7071067811865476


def downmix_matrix(in_channels: int, out_channels: int) -> np.ndarray:
    """`(out_channels, in_channels)` float32 matrix used to convert channel counts.

    Mono -> stereo duplicates; stereo -> mono averages. More than two channels -> stereo uses the
    ITU-R BS.775 coefficients for the usual WAV/FFmpeg channel orders (3: L R C, 4: L R Ls Rs,
    5: L R C Ls Rs, 6: L R C LFE Ls Rs, 8: L R C LFE Lb Rb Ls Rs; LFE dropped), otherwise even
    channels to the left and odd ones to the right; each row is scaled to sum to 1 so the downmix
    never exceeds the loudest input.
    """
    if in_channels == out_channels:
        return np.eye(in_channels, dtype=np.float32)
    if out_channels == 1:
        return np.full((1, in_channels), 1.0 / in_channels, dtype=np.float32)
    if out_channels != 2:
        raise ValueError(f"can only convert to 1 or 2 channels, not {out_channels}")
    if in_channels == 1:
        return np.ones((2, 1), dtype=np.float32)
    c, s = _SQRT_HALF, _SQRT_HALF
    layouts = {
        3: [[1, 0, c], [0, 1, c]],
        4: [[1, 0, s, 0], [0, 1, 0, s]],
        5: [[1, 0, c, s, 0], [0, 1, c, 0, s]],
        6: [[1, 0, c, 0, s, 0], [0, 1, c, 0, 0, s]],
        8: [[1, 0, c, 0, s, 0, s, 0], [0, 1, c, 0, 0, s, 0, s]],
    }
    if in_channels in layouts:
        m = np.array(layouts[in_channels], dtype=np.float64)
    else:
        m = np.zeros((2, in_channels))
        m[0, 0::2] = 1.0
        m[1, 1::2] = 1.0
    m /= m.sum(axis=1, keepdims=True)
    return m.astype(np.float32)


# --------------------------------------------------------------------------------------------
# decoding pipeline


class _Sink:
    """Preallocated `(channels, capacity)` float32 buffer filled block by block."""

    def __init__(self, channels: int, capacity: int) -> None:
        self.buf = np.empty((channels, max(int(capacity), 1)), dtype=np.float32)
        self.filled = 0

    def append(self, block: np.ndarray) -> None:
        """Append a `(frames, channels)` block."""
        n = block.shape[0]
        if n == 0:
            return
        need = self.filled + n
        if need > self.buf.shape[1]:
            grown = np.empty((self.buf.shape[0], max(need, int(self.buf.shape[1] * 1.5))), dtype=np.float32)
            grown[:, : self.filled] = self.buf[:, : self.filled]
            self.buf = grown
        self.buf[:, self.filled : need] = block.T
        self.filled = need

    def result(self) -> np.ndarray:
        if self.filled == self.buf.shape[1]:
            return self.buf
        out = np.empty((self.buf.shape[0], self.filled), dtype=np.float32)
        out[:] = self.buf[:, : self.filled]
        self.buf = out
        return out


class _Pipeline:
    """finite check -> channel matrix -> streaming resampler -> sink."""

    def __init__(self, p: Path, in_rate: int, in_channels: int, out_rate: int, out_channels: int, expected_in: int):
        self.path = p
        self.in_rate = in_rate
        self.matrix = None if in_channels == out_channels else downmix_matrix(in_channels, out_channels)
        self.stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, out_channels, dtype="float32", quality=RESAMPLE_QUALITY)
        )
        self.frames_in = 0
        self.sink = _Sink(out_channels, resampled_length(expected_in, in_rate, out_rate) if expected_in else out_rate)

    def push(self, block: np.ndarray) -> None:
        """`block` is `(frames, in_channels)` float32 at the file's rate."""
        if block.shape[0] == 0:
            return
        if not np.isfinite(block).all():
            bad = int(np.argmax(~np.isfinite(block).all(axis=1)))
            when = (self.frames_in + bad) / self.in_rate
            raise _fail(self.path, f"it contains invalid sample values (NaN or infinity) at {when:.3f} s")
        self.frames_in += block.shape[0]
        if self.matrix is not None:
            block = block @ self.matrix.T
        if self.stream is not None:
            block = self.stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32), last=False)
        self.sink.append(block)

    def finish(self) -> np.ndarray:
        if self.stream is not None:
            tail = self.stream.resample_chunk(np.zeros((0, self.sink.buf.shape[0]), dtype=np.float32), last=True)
            self.sink.append(tail)
        return self.sink.result()


def _read_soundfile(p: Path, info: SourceInfo, pipe: _Pipeline, notices: list[str]) -> None:
    try:
        f = sf.SoundFile(str(p))
    except Exception as exc:
        raise _BackendCannotOpen(_clean_sf_message(exc)) from exc
    with f:
        buf = np.empty((BLOCK_FRAMES, info.channels), dtype=np.float32)
        while True:
            try:
                block = f.read(BLOCK_FRAMES, dtype="float32", always_2d=True, out=buf)
            except Exception as exc:
                if pipe.frames_in == 0:
                    raise _fail(p, f"the audio data is corrupt ({_clean_sf_message(exc)})") from exc
                notices.append(
                    f"'{p.name}': reading stopped at {pipe.frames_in / info.samplerate:.2f} s because the rest "
                    f"of the file is damaged ({_clean_sf_message(exc)})"
                )
                break
            if block.shape[0] == 0:
                break
            pipe.push(block)
            if block.shape[0] < BLOCK_FRAMES:
                break


def _frame_to_float(frame) -> np.ndarray:
    """An FFmpeg AudioFrame as `(frames, channels)` float32."""
    fmt = frame.format
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not fmt.is_planar:
        arr = arr.reshape(-1, channels)
    else:
        arr = arr.T
    name = fmt.name.rstrip("p")
    if name in ("flt", "dbl"):
        return np.asarray(arr, dtype=np.float32)
    if name == "u8":
        return (arr.astype(np.float32) - 128.0) / 128.0
    scale = {"s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}.get(name)
    if scale is None:
        raise ValueError(f"unsupported sample format {fmt.name}")
    return (arr.astype(np.float64) / scale).astype(np.float32) if name == "s64" else arr.astype(np.float32) / np.float32(scale)


def _read_pyav(p: Path, pipe_factory, notices: list[str]) -> SourceInfo:
    import av

    container = _av_open(p)
    try:
        info, n_audio = _av_stream_info(p, container)
        _check_rate_channels(p, info.samplerate, info.channels)
        if n_audio > 1:
            what = "an NI stem file" if _ext(p) == "stem.mp4" else "a file with several audio streams"
            notices.append(f"'{p.name}' is {what} ({n_audio} audio streams); using the first one (the mixture)")
        stream = container.streams.audio[0]
        pipe: _Pipeline = pipe_factory(info)
        limit = info.frames if info.frames > 0 else None
        pending: list[np.ndarray] = []
        pending_frames = 0
        taken = 0
        damaged = 0

        def flush() -> None:
            nonlocal pending, pending_frames
            if pending:
                block = pending[0] if len(pending) == 1 else np.concatenate(pending, axis=0)
                pipe.push(block)
                pending, pending_frames = [], 0

        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                damaged += 1
                logger.debug("skipping damaged packet in %s: %s", p, exc)
                if damaged > 1000 and taken == 0:
                    raise _fail(p, f"the audio data is corrupt ({_clean_av_message(exc)})") from exc
                continue
            for frame in frames:
                block = _frame_to_float(frame)
                if block.shape[1] != info.channels:
                    raise _fail(p, "the number of channels changes inside the file")
                if limit is not None and taken + block.shape[0] > limit:
                    block = block[: max(limit - taken, 0)]  # encoder padding past the declared length
                taken += block.shape[0]
                pending.append(block)
                pending_frames += block.shape[0]
                if pending_frames >= BLOCK_FRAMES:
                    flush()
        flush()
        if damaged:
            notices.append(f"'{p.name}': {damaged} damaged packet(s) were skipped while decoding")
        return info
    finally:
        container.close()


def load_audio(path: str | os.PathLike, samplerate: int | None = None, channels: int = 2) -> LoadedAudio:
    """Decode an audio file to float32 `(channels, frames)` at `samplerate` Hz.

    `samplerate=None` keeps the file's rate. Mono is duplicated to stereo; more than two
    channels are downmixed (see `downmix_matrix`) with a notice. `channels` may be 1 or 2.
    The returned `source.frames` is the number of frames actually decoded at the file's rate.
    Raises AudioReadError naming the file and the reason for every kind of bad input.
    """
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    if samplerate is not None and not (MIN_SAMPLERATE <= int(samplerate) <= MAX_SAMPLERATE):
        raise ValueError(f"requested sample rate {samplerate} Hz is out of range")
    p = _check_path(path)
    notices: list[str] = []
    first, second = _backend_order(p)
    reasons: list[str] = []
    for backend in (first, second):
        notices.clear()
        try:
            if backend == "soundfile":
                info = _sf_info(p)
                _check_rate_channels(p, info.samplerate, info.channels)
                if info.frames == 0:
                    raise _fail(p, "it contains no audio (0 frames)")
                out_rate = int(samplerate or info.samplerate)
                pipe = _Pipeline(p, info.samplerate, info.channels, out_rate, channels, info.frames)
                _read_soundfile(p, info, pipe, notices)
                if 0 < pipe.frames_in < info.frames:
                    notices.append(
                        f"'{p.name}' is shorter than its header says ({pipe.frames_in} of {info.frames} frames; "
                        "the file may be truncated)"
                    )
            else:
                holder: dict[str, _Pipeline] = {}

                def factory(i: SourceInfo) -> _Pipeline:
                    holder["pipe"] = _Pipeline(p, i.samplerate, i.channels, int(samplerate or i.samplerate), channels, i.frames)
                    return holder["pipe"]

                info = _read_pyav(p, factory, notices)
                pipe = holder["pipe"]
        except _BackendCannotOpen as exc:
            reasons.append(str(exc))
            continue
        except (MemoryError, AudioReadError):
            raise
        except Exception as exc:  # anything else a decoder throws on damaged data
            raise _fail(p, f"the audio data could not be decoded ({type(exc).__name__}: {exc})") from exc
        if pipe.frames_in == 0:
            raise _fail(p, "it contains no audio (0 frames)")
        samples = pipe.finish()
        out_rate = int(samplerate or info.samplerate)
        info = SourceInfo(
            path=p,
            samplerate=info.samplerate,
            channels=info.channels,
            frames=pipe.frames_in,
            subtype=info.subtype,
            container=info.container,
            duration_seconds=pipe.frames_in / info.samplerate,
            codec=info.codec,
        )
        want = resampled_length(info.frames, info.samplerate, out_rate)
        if samples.shape[1] != want:  # soxr's stream can be off by a frame at the very end
            fixed = np.zeros((samples.shape[0], want), dtype=np.float32)
            n = min(want, samples.shape[1])
            fixed[:, :n] = samples[:, :n]
            samples = fixed
        if info.channels > 2 and channels == 2:
            notices.append(f"'{p.name}' has {info.channels} channels; it was downmixed to stereo")
        elif info.channels > 1 and channels == 1:
            notices.append(f"'{p.name}' was mixed down to mono")
        elif info.channels == 1 and channels == 2:
            logger.info("%s is mono; duplicated to both stereo channels", p)
        if out_rate != info.samplerate:
            logger.info("%s resampled %d -> %d Hz", p, info.samplerate, out_rate)
        for n in notices:
            logger.warning("%s", n)
        return LoadedAudio(samples=samples, samplerate=out_rate, source=info, notices=list(notices))
    raise _fail(p, _unreadable_reason(reasons))


def iter_supported(folder: str | os.PathLike) -> Iterator[Path]:
    """Audio files (by extension) under `folder`, recursively, sorted by path."""
    root = Path(folder)
    for p in sorted(root.rglob("*")):
        if p.is_file() and is_supported(p):
            yield p
