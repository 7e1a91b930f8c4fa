"""Loading audio: every format, rate and channel layout a user drops in, and every bad file."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model import audio_io
from model.audio_io import (
    AudioReadError,
    audio_info,
    downmix_matrix,
    load_audio,
    resample,
    resampled_length,
)

from tests.audio_fixtures import chord, encode_with_pyav, snr_db


def _write(path: Path, x: np.ndarray, samplerate: int, subtype: str | None = None, fmt: str | None = None) -> Path:
    sf.write(str(path), x.T, samplerate, subtype=subtype, format=fmt)
    return path


# ------------------------------------------------------------------ round trips via soundfile

LOSSLESS = [
    ("wav", "PCM_16", 44100, 2.0 / 32768),
    ("wav", "PCM_24", 48000, 2.0 / 2**23),
    ("wav", "FLOAT", 96000, 1e-7),
    ("flac", "PCM_16", 22050, 2.0 / 32768),
    ("flac", "PCM_24", 44100, 2.0 / 2**23),
    ("aiff", "PCM_24", 32000, 2.0 / 2**23),
]


@pytest.mark.parametrize("ext,subtype,rate,tol", LOSSLESS)
def test_lossless_round_trip_keeps_content_rate_length_and_subtype(tmp_path, ext, subtype, rate, tol):
    frames = rate // 10 + 3  # odd length
    x = chord(rate, frames)
    path = _write(tmp_path / f"tone.{ext}", x, rate, subtype)
    loaded = load_audio(path, samplerate=None)
    assert loaded.samplerate == rate
    assert loaded.samples.shape == (2, frames)
    assert loaded.samples.dtype == np.float32
    assert np.max(np.abs(loaded.samples - x)) <= tol
    src = loaded.source
    assert (src.samplerate, src.channels, src.frames, src.subtype) == (rate, 2, frames, subtype)
    assert src.container == ext
    assert src.duration_seconds == pytest.approx(frames / rate)
    assert not loaded.notices


@pytest.mark.parametrize("ext,subtype", [("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")])
def test_lossy_soundfile_formats_load_aligned_and_report_no_bit_depth(tmp_path, ext, subtype):
    rate, frames = 44100, 44100 // 2 + 11
    x = chord(rate, frames)
    path = _write(tmp_path / f"tone.{ext}", x, rate, subtype)
    loaded = load_audio(path, samplerate=44100)
    assert loaded.samples.shape == (2, frames)  # libsndfile reads MP3/Vorbis gapless
    assert snr_db(x, loaded.samples) > 20  # aligned from sample 0, not just "some audio"
    assert loaded.source.subtype is None and loaded.source.lossy
    assert loaded.source.bit_depth is None


def test_resampling_on_load_gives_the_requested_rate_and_aligned_content(tmp_path):
    frames = 48000 // 5 + 7
    path = _write(tmp_path / "a48.wav", chord(48000, frames), 48000, "FLOAT")
    loaded = load_audio(path, samplerate=44100)
    expected = chord(44100, resampled_length(frames, 48000, 44100))
    assert loaded.samplerate == 44100
    assert loaded.samples.shape == expected.shape
    assert loaded.source.samplerate == 48000 and loaded.source.frames == frames
    # same chord sampled at 44.1 kHz (fade lengths differ by < 1 ms, so compare the steady part)
    mid = slice(44100 // 20, -44100 // 20)
    assert snr_db(expected[:, mid], loaded.samples[:, mid]) > 60


def test_long_file_is_decoded_in_blocks_across_block_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_io, "BLOCK_FRAMES", 1000)  # many blocks in a tiny file
    x = chord(22050, 12_345)
    path = _write(tmp_path / "blocks.wav", x, 22050, "FLOAT")
    whole = resample(x, 22050, 44100)
    loaded = load_audio(path, samplerate=44100)
    assert loaded.samples.shape == whole.shape
    assert np.max(np.abs(loaded.samples - whole)) < 1e-5  # streaming == one-shot resampling


def test_decoding_needs_about_one_output_array_of_memory(tmp_path):
    rate, seconds = 44100, 6
    path = _write(tmp_path / "long.wav", chord(rate, rate * seconds), rate, "PCM_16")
    decoded_bytes = 2 * resampled_length(rate * seconds, rate, 48000) * 4
    tracemalloc.start()
    try:
        loaded = load_audio(path, samplerate=48000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded.samples.nbytes == decoded_bytes
    assert peak < 2.0 * decoded_bytes, f"peak {peak / 1e6:.1f} MB for {decoded_bytes / 1e6:.1f} MB decoded"


# ------------------------------------------------------------------ channels


def test_mono_is_duplicated_to_stereo(tmp_path):
    x = chord(44100, 4410, channels=1)
    loaded = load_audio(_write(tmp_path / "mono.wav", x, 44100, "FLOAT"))
    assert loaded.samples.shape == (2, 4410)
    np.testing.assert_array_equal(loaded.samples[0], x[0])
    np.testing.assert_array_equal(loaded.samples[1], x[0])
    assert loaded.source.channels == 1


def test_six_channels_are_downmixed_with_a_notice(tmp_path):
    rate, frames = 48000, 4800
    x = np.zeros((6, frames), dtype=np.float32)
    sig = chord(rate, frames, channels=1)[0]
    x[0] = sig  # front left only
    x[3] = 0.9  # LFE: dropped
    loaded = load_audio(_write(tmp_path / "surround.wav", x, rate, "FLOAT"))
    assert loaded.samples.shape == (2, frames)
    assert loaded.source.channels == 6
    assert any("6 channels" in n and "downmixed to stereo" in n for n in loaded.notices)
    gain = downmix_matrix(6, 2)[0, 0]
    np.testing.assert_allclose(loaded.samples[0], gain * sig, atol=1e-6)
    np.testing.assert_allclose(loaded.samples[1], 0.0, atol=1e-6)
    # rows sum to one: a full-scale 6-channel file cannot clip when downmixed
    np.testing.assert_allclose(downmix_matrix(6, 2).sum(axis=1), 1.0, rtol=1e-6)


def test_stereo_can_be_loaded_as_mono(tmp_path):
    x = chord(44100, 1000)
    loaded = load_audio(_write(tmp_path / "st.wav", x, 44100, "FLOAT"), channels=1)
    np.testing.assert_allclose(loaded.samples[0], x.mean(axis=0), atol=1e-6)


# ------------------------------------------------------------------ FFmpeg containers


@pytest.mark.parametrize(
    "name,codec,container,rate",
    [("tone.m4a", "aac", "mp4", 44100), ("tone.opus", "libopus", "ogg", 48000), ("tone.mp4", "aac", "mp4", 48000)],
)
def test_ffmpeg_formats_made_in_test_load_aligned(tmp_path, name, codec, container, rate):
    frames = rate // 2 + 333
    x = chord(rate, frames, amplitude=0.4)
    path = encode_with_pyav(tmp_path / name, [x], rate, codec, container)
    info = audio_info(path)
    assert info.samplerate == rate and info.channels == 2 and info.subtype is None
    loaded = load_audio(path, samplerate=44100)
    assert loaded.samplerate == 44100
    assert loaded.source.samplerate == rate
    # encoder priming is removed and padding is trimmed to the container's length (within 1 codec frame)
    assert abs(loaded.source.frames - frames) < 1024
    expected = resample(x, rate, 44100)
    assert snr_db(expected, loaded.samples) > 15  # would be ~0 dB if shifted by a few samples


def test_ni_stem_file_loads_the_mixture_stream(tmp_path):
    rate, frames = 44100, 22050
    mixture = chord(rate, frames, amplitude=0.4)
    drums = np.zeros_like(mixture)
    drums[:, ::2205] = 0.5  # clicks: nothing like the mixture
    path = encode_with_pyav(tmp_path / "song.stem.mp4", [mixture, drums], rate, "aac", "mp4")
    loaded = load_audio(path, samplerate=44100)
    assert snr_db(mixture, loaded.samples) > 15
    assert any("stem file" in n and "2 audio streams" in n for n in loaded.notices)
    assert loaded.source.container == "stem.mp4"


# ------------------------------------------------------------------ bad input


def _garbage(path: Path, size: int = 4096) -> Path:
    path.write_bytes(np.random.default_rng(7).bytes(size))
    return path


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, words the message must contain)."""
    good = _write(tmp_path / "good.wav", chord(44100, 4410), 44100, "PCM_16")
    truncated_header = tmp_path / "cut.wav"
    truncated_header.write_bytes(good.read_bytes()[:30])
    empty_audio = _write(tmp_path / "silence0.wav", np.zeros((2, 0), np.float32), 44100, "PCM_16")
    empty_bytes = tmp_path / "zero.flac"
    empty_bytes.write_bytes(b"")
    nan = chord(44100, 4410)
    nan[1, 3000] = np.nan
    inf = chord(44100, 4410)
    inf[0, 10] = np.inf
    folder = tmp_path / "a folder.wav"
    folder.mkdir()
    return {
        "missing": (tmp_path / "nope.wav", "does not exist"),
        "folder": (folder, "folder"),
        "garbage wav": (_garbage(tmp_path / "junk.wav"), "not a readable audio file"),
        "garbage mp3": (_garbage(tmp_path / "junk.mp3"), "not a readable audio file"),
        "garbage m4a": (_garbage(tmp_path / "junk.m4a"), "not a readable audio file"),
        "truncated header": (truncated_header, "not a readable audio file"),
        "zero frames": (empty_audio, "no audio"),
        "zero bytes": (empty_bytes, "empty"),
        "nan": (_write(tmp_path / "nan.wav", nan, 44100, "FLOAT"), "NaN"),
        "inf": (_write(tmp_path / "inf.wav", inf, 44100, "FLOAT"), "infinity"),
        "rate too low": (_write(tmp_path / "slow.wav", chord(500, 500), 500, "PCM_16"), "500 Hz"),
        "rate too high": (_write(tmp_path / "fast.wav", chord(1_000_000, 1000), 1_000_000, "PCM_16"), "1000000 Hz"),
    }


BAD_NAMES = [
    "missing", "folder", "garbage wav", "garbage mp3", "garbage m4a", "truncated header",
    "zero frames", "zero bytes", "nan", "inf", "rate too low", "rate too high",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_input_raises_audio_read_error_naming_file_and_reason(tmp_path, name):
    path, words = _bad_files(tmp_path)[name]
    with pytest.raises(AudioReadError) as err:
        load_audio(path, samplerate=44100)
    message = str(err.value)
    assert path.name in message and words in message
    assert "Traceback" not in message


@pytest.mark.parametrize("name", ["missing", "folder", "garbage wav", "truncated header", "zero frames", "rate too high"])
def test_audio_info_refuses_the_same_bad_files(tmp_path, name):
    path, words = _bad_files(tmp_path)[name]
    with pytest.raises(AudioReadError, match=words):
        audio_info(path)


def test_audio_info_reads_only_the_header(tmp_path):
    x = chord(44100, 4410)
    x[0, -1] = np.nan  # only decoding can find this
    path = _write(tmp_path / "late_nan.wav", x, 44100, "FLOAT")
    info = audio_info(path)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, 4410, "FLOAT")
    with pytest.raises(AudioReadError, match="NaN"):
        load_audio(path)


def test_unreadable_file_is_refused_with_permission_message(tmp_path, monkeypatch):
    path = _write(tmp_path / "locked.wav", chord(44100, 441), 44100, "PCM_16")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads everything: make the probe fail the way the OS would
        def deny(p):
            raise PermissionError(13, "Permission denied", str(p))

        monkeypatch.setattr(audio_io, "_probe_readable", deny)
    try:
        with pytest.raises(AudioReadError, match="permission denied") as err:
            load_audio(path)
        assert "locked.wav" in str(err.value)
    finally:
        path.chmod(0o644)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_named_pipe_is_refused_instead_of_hanging(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioReadError, match="not a regular file"):
        load_audio(fifo)


def test_truncated_data_loads_what_is_there(tmp_path):
    x = chord(44100, 44100)
    good = _write(tmp_path / "full.wav", x, 44100, "PCM_16")
    data = good.read_bytes()
    cut = tmp_path / "half.wav"
    cut.write_bytes(data[: 44 + 4 * 20000])  # header says 44100 frames, 20000 are present
    loaded = load_audio(cut)
    assert loaded.samples.shape == (2, 20000)
    assert loaded.source.frames == 20000
    assert np.max(np.abs(loaded.samples - x[:, :20000])) <= 2.0 / 32768


def test_resample_function_length_and_identity():
    x = chord(44100, 10_001)
    y = resample(x, 44100, 48000)
    assert y.shape == (2, resampled_length(10_001, 44100, 48000)) == (2, 10_885)
    back = resample(y, 48000, 44100)
    assert back.shape[1] in (10_000, 10_001, 10_002)
    assert snr_db(x, back) > 60
    same = resample(x, 44100, 44100)
    np.testing.assert_array_equal(same, x)
    assert same is not x
