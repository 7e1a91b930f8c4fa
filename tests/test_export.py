"""Export: formats, exact lengths, levels, names, overwrite protection, atomicity, combined outputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model import export as export_mod
from model.audio_io import SourceInfo, load_audio, resampled_length
from model.errors import AudioWriteError, OutputExistsError
from model.export import (
    CEILING,
    PRESETS,
    ExportFormat,
    OutputSpec,
    OutputSpecError,
    expand_template,
    export_track,
    minus_spec,
    parse_output_spec,
    render_outputs,
    resolve_format,
    write_audio,
)
from model.output_specs import others_spec
from tests.audio_fixtures import chord, snr_db

STEMS = ("drums", "bass", "other", "vocals")


def _source(path="song.wav", rate=44100, frames=44100, subtype="PCM_24", container="wav", codec="pcm") -> SourceInfo:
    return SourceInfo(Path(path), rate, 2, frames, subtype, container, frames / rate, codec)


def _fake_stems(mixture: np.ndarray, gains=(0.4, 0.3, 0.2, 0.1)) -> dict[str, np.ndarray]:
    """Stems that sum to the mixture exactly: scaled copies with distinct gains."""
    return {name: (g * mixture).astype(np.float32) for name, g in zip(STEMS, gains)}


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ------------------------------------------------------------------ formats


@pytest.mark.parametrize(
    "container,depth,rate,subtype,tol",
    [
        ("wav", 16, 44100, "PCM_16", 1.0 / 32767),
        ("wav", 24, 48000, "PCM_24", 1.0 / 2**22),
        ("wav", 32, 96000, "FLOAT", 0.0),
        ("flac", 16, 22050, "PCM_16", 1.0 / 32767),
        ("flac", 24, 44100, "PCM_24", 1.0 / 2**22),
    ],
)
def test_write_audio_round_trip(tmp_path, container, depth, rate, subtype, tol):
    x = chord(rate, rate // 10 + 1)
    path = write_audio(tmp_path / f"out.{container}", x, rate, ExportFormat(container, depth))
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (rate, 2, x.shape[1], subtype)
    y, _ = sf.read(str(path), dtype="float32", always_2d=True)
    assert np.max(np.abs(y.T - x)) <= tol


@pytest.mark.parametrize("rate,kbps", [(44100, 320), (48000, 192), (44100, 128), (22050, 160)])
def test_mp3_has_exact_bitrate_and_exact_length(tmp_path, rate, kbps):
    import av

    x = chord(rate, rate // 2 + 77)
    path = write_audio(tmp_path / "out.mp3", x, rate, ExportFormat("mp3", mp3_bitrate_kbps=kbps))
    with av.open(str(path)) as c:
        assert c.streams.audio[0].codec_context.bit_rate == kbps * 1000
    info = sf.info(str(path))
    assert info.frames == x.shape[1] and info.samplerate == rate  # gapless: no encoder delay/padding
    y, _ = sf.read(str(path), dtype="float32", always_2d=True)
    assert snr_db(x, y.T) > 20  # aligned from sample 0


def test_format_defaults_follow_the_source():
    rf, notes = resolve_format(ExportFormat("wav"), _source(subtype="PCM_16"), 44100)
    assert (rf.bit_depth, rf.subtype, rf.samplerate, notes) == (16, "PCM_16", 44100, [])
    rf, _ = resolve_format(ExportFormat("flac"), _source(rate=96000, subtype="PCM_24"), 44100)
    assert (rf.bit_depth, rf.samplerate) == (24, 96000)
    rf, _ = resolve_format(ExportFormat("wav"), _source(subtype="FLOAT"), 44100)
    assert rf.subtype == "FLOAT"
    rf, notes = resolve_format(ExportFormat("flac"), _source(subtype="FLOAT"), 44100)
    assert rf.bit_depth == 24 and any("FLAC cannot store 32-bit float" in n for n in notes)
    rf, notes = resolve_format(ExportFormat("wav"), _source("a.mp3", subtype=None, container="mp3", codec="mp3"), 44100)
    assert rf.bit_depth == 24 and any("lossy" in n and "24-bit" in n for n in notes)
    rf, notes = resolve_format(ExportFormat("mp3"), _source(rate=96000), 44100)
    assert rf.samplerate == 48000 and rf.mp3_bitrate_kbps == 320 and notes
    rf, notes = resolve_format(ExportFormat("mp3"), _source(rate=22050), 44100)
    assert rf.mp3_bitrate_kbps == 160 and any("160 kbps" in n for n in notes)
    rf, _ = resolve_format(ExportFormat("wav", 16, samplerate=48000), _source(rate=44100), 44100)
    assert (rf.samplerate, rf.bit_depth) == (48000, 16)


@pytest.mark.parametrize("kwargs", [{"container": "ogg"}, {"bit_depth": 20}, {"mp3_bitrate_kbps": 200}, {"samplerate": 100}])
def test_bad_export_format_is_refused(kwargs):
    with pytest.raises(AudioWriteError):
        ExportFormat(**kwargs)


# ------------------------------------------------------------------ exact length from sample 0


@pytest.mark.parametrize(
    "source_rate,model_rate,frames,container",
    [
        (44100, 48000, 44100 // 3 + 1, "wav"),  # 44.1k -> 48k -> 44.1k
        (22050, 44100, 22050 // 3 + 3, "flac"),
        (96000, 44100, 96000 // 4 + 7, "wav"),
        (48000, 44100, 48000 // 3 + 5, "mp3"),
        (44100, 44100, 44100 // 3 + 9, "wav"),
    ],
)
def test_every_exported_file_has_the_source_length_and_is_aligned(tmp_path, source_rate, model_rate, frames, container):
    x = chord(source_rate, frames)
    src_path = tmp_path / "in" / "My Song.wav"
    src_path.parent.mkdir()
    sf.write(str(src_path), x.T, source_rate, subtype="PCM_24")
    loaded = load_audio(src_path, samplerate=model_rate)
    stems = _fake_stems(loaded.samples)
    report = export_track(
        stems, loaded.samples, model_rate, loaded.source, tmp_path / "out", model_name="tiny",
        fmt=ExportFormat(container), outputs=[PRESETS["instrumental"]],
    )
    assert len(report.paths) == 5 and report.common_gain_db == 0.0
    for name, path in report.outputs.items():
        info = sf.info(str(path))
        assert info.samplerate == source_rate
        assert info.frames == frames, name
        y, _ = sf.read(str(path), dtype="float32", always_2d=True)
        gain = {"drums": 0.4, "bass": 0.3, "other": 0.2, "vocals": 0.1, "instrumental": 0.9}[name]
        expected = gain * x
        if container == "mp3":
            assert snr_db(expected, y.T) > 20
        else:  # double resampling of a faded chord: tiny error everywhere, including sample 0
            assert np.max(np.abs(y.T - expected)) < 2e-3, name


def test_export_at_another_rate_has_the_proportional_length(tmp_path):
    src = _source(rate=44100, frames=44101)
    mix = chord(44100, 44101)
    report = export_track(_fake_stems(mix), mix, 44100, src, tmp_path, fmt=ExportFormat("wav", 24, samplerate=48000))
    for path in report.paths:
        assert sf.info(str(path)).frames == resampled_length(44101, 44100, 48000) == 48001


# ------------------------------------------------------------------ levels


def test_clipping_gets_one_common_gain_and_relative_levels_survive(tmp_path):
    mix = chord(44100, 8820, amplitude=0.9)
    stems = _fake_stems(mix, gains=(2.0, 0.5, 0.25, 0.125))  # drums would clip at about +5 dBFS
    peak = float(np.max(np.abs(stems["drums"])))
    report = export_track(stems, mix, 44100, _source(frames=8820), tmp_path, fmt=ExportFormat("wav", 24))
    assert report.common_gain_db == pytest.approx(20 * math.log10(CEILING / peak), abs=1e-6)
    assert any("lowered together" in n for n in report.notices)
    read = {n: sf.read(str(p), dtype="float64", always_2d=True)[0].T for n, p in report.outputs.items()}
    g = 10 ** (report.common_gain_db / 20)
    assert np.max(np.abs(read["drums"])) <= 1.0
    for name in STEMS:  # every stem got the same gain, not just the loud one
        np.testing.assert_allclose(read[name], g * stems[name], atol=2.0 / 2**23)
    ratio = np.max(np.abs(read["drums"])) / np.max(np.abs(read["bass"]))
    assert ratio == pytest.approx(4.0, rel=1e-4)


def test_clipping_protection_off_hard_limits_and_says_so(tmp_path):
    mix = chord(44100, 4410, amplitude=0.9)
    stems = _fake_stems(mix, gains=(2.0, 0.5, 0.25, 0.125))
    report = export_track(stems, mix, 44100, _source(frames=4410), tmp_path, fmt=ExportFormat("wav", 16), avoid_clipping=False)
    assert report.common_gain_db == 0.0 and any("clipped" in n for n in report.notices)
    drums, _ = sf.read(str(report.outputs["drums"]), always_2d=True)
    assert np.max(drums) == pytest.approx(32767 / 32768, abs=1e-6)  # limited, not wrapped around
    bass, _ = sf.read(str(report.outputs["bass"]), always_2d=True)
    np.testing.assert_allclose(bass.T, stems["bass"], atol=1.0 / 32767)


def test_float_export_keeps_peaks_over_full_scale(tmp_path):
    mix = chord(44100, 4410, amplitude=0.9)
    stems = _fake_stems(mix, gains=(2.0, 0.5, 0.25, 0.125))
    report = export_track(stems, mix, 44100, _source(frames=4410, subtype="FLOAT"), tmp_path)
    assert report.format.subtype == "FLOAT" and report.common_gain_db == 0.0
    drums, _ = sf.read(str(report.outputs["drums"]), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(drums.T, stems["drums"])


# ------------------------------------------------------------------ names and overwriting


def test_template_subfolders_fields_and_sanitising():
    p = expand_template("{model}/{track}/{track} - {stem}.{ext}", track='AC/DC: "Live"?', stem="vocals", model="umx", ext="flac")
    assert p == Path("umx") / "AC_DC_ _Live__" / 'AC_DC_ _Live__ - vocals.flac'
    assert expand_template("{stem}", track="t", stem="bass", model="m", ext="wav") == Path("bass.wav")
    assert expand_template("{track}/{stem}.{ext}", track="CON", stem="drums", model="m", ext="wav").parts[0] == "_CON"
    for bad in ("{track}/{bpm}.{ext}", "../{stem}.{ext}", "/abs/{stem}.{ext}", "{stem!r}.{ext}", "{stem"):
        with pytest.raises(AudioWriteError):
            expand_template(bad, track="t", stem="s", model="m", ext="wav")


def test_template_without_stem_is_refused_before_writing(tmp_path):
    mix = chord(44100, 441)
    with pytest.raises(AudioWriteError, match="same file"):
        export_track(_fake_stems(mix), mix, 44100, _source(frames=441), tmp_path, template="{track}.{ext}")
    assert _listing(tmp_path) == []


def test_existing_file_is_never_overwritten_without_permission(tmp_path):
    mix = chord(44100, 441)
    out = tmp_path / "out"
    victim = out / "song" / "bass.wav"
    victim.parent.mkdir(parents=True)
    victim.write_bytes(b"my own precious take")
    before = _listing(out)
    with pytest.raises(OutputExistsError) as err:
        export_track(_fake_stems(mix), mix, 44100, _source(frames=441), out)
    assert str(victim) in str(err.value)
    assert victim.read_bytes() == b"my own precious take"
    assert _listing(out) == before  # not even the other stems were written
    report = export_track(_fake_stems(mix), mix, 44100, _source(frames=441), out, overwrite=True)
    assert sf.info(str(victim)).frames == 441 and len(report.paths) == 4


def test_write_audio_refuses_existing_file(tmp_path):
    target = tmp_path / "x.wav"
    target.write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="x.wav"):
        write_audio(target, chord(44100, 100), 44100, ExportFormat("wav", 16))
    assert target.read_bytes() == b"keep"


def test_failed_batch_leaves_no_temp_files_and_no_partial_output(tmp_path, monkeypatch):
    real = export_mod._write_file
    calls = []

    def flaky(path, samples, rf, gain, on_frames=None):
        calls.append(path)
        if len(calls) == 3:  # the third stem: half a file, then the disk "fills up"
            Path(path).write_bytes(b"RIFF half")
            raise OSError(28, "No space left on device")
        real(path, samples, rf, gain, on_frames)

    monkeypatch.setattr(export_mod, "_write_file", flaky)
    mix = chord(44100, 441)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(AudioWriteError, match="No space left on device") as err:
        export_track(_fake_stems(mix), mix, 44100, _source(frames=441), out)
    assert "nothing was written" in str(err.value)
    assert all(p.name.startswith(".") and p.name.endswith(".part") for p in calls)  # temp in the same folder
    assert all(p.parent == out / "song" for p in calls)
    assert _listing(out) == []  # no temp, no finished stem, and the new track folder is gone


def test_failed_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.wav"
    target.write_bytes(b"old")

    def boom(path, samples, rf, gain, on_frames=None):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(export_mod, "_write_file", boom)
    with pytest.raises(AudioWriteError, match="encoder crashed"):
        write_audio(target, chord(44100, 100), 44100, ExportFormat("wav"), overwrite=True)
    assert target.read_bytes() == b"old"
    assert _listing(tmp_path) == ["keep.wav"]


# ------------------------------------------------------------------ combined outputs


def test_relpath_keeps_folders_and_parent_names_the_folder():
    assert expand_template("{relpath}/{stem}.{ext}", track="mixture", stem="bass", model="m", ext="wav",
                           relpath="Song A/mixture") == Path("Song A/mixture/bass.wav")
    # no climbing out of the output folder, each part sanitised
    assert expand_template("{relpath}/{stem}", track="x", stem="bass", model="m", ext="wav",
                           relpath="../a:b/x") == Path("a_b/x/bass.wav")
    # without a batch, {relpath} is the track (a '/' in it is no folder)
    assert expand_template("{relpath}/{stem}", track="AC/DC", stem="bass", model="m", ext="wav") == Path("AC_DC/bass.wav")
    assert expand_template("{parent}-{track}/{stem}", track="mixture", stem="bass", model="m", ext="wav",
                           parent="Song A") == Path("Song A-mixture/bass.wav")
    with pytest.raises(AudioWriteError, match=r"\{relpath\}"):
        expand_template("{nope}", track="x", stem="y", model="m", ext="wav")


def test_files_of_a_track_are_encoded_at_once(tmp_path, monkeypatch):
    """Two writers meet at a barrier: it only opens if both files are being written together."""
    import threading

    real = export_mod._write_file
    barrier = threading.Barrier(2, timeout=10)

    def meet_then_write(path, samples, rf, gain, on_frames=None):
        barrier.wait()
        real(path, samples, rf, gain, on_frames)

    monkeypatch.setattr(export_mod, "_write_file", meet_then_write)
    mix = chord(44100, 4410)
    report = export_track(_fake_stems(mix), mix, 44100, _source(frames=4410), tmp_path,
                          selected=["drums", "bass"], workers=2)
    assert [sf.info(p).frames for p in report.paths] == [4410, 4410]


def test_parallel_export_is_byte_identical_and_reports_progress(tmp_path):
    import threading

    mix = chord(44100, 300_000)
    stems = _fake_stems(mix)
    fractions, threads = [], set()

    def progress(fraction):
        fractions.append(fraction)
        threads.add(threading.get_ident())

    fmt = ExportFormat("mp3")
    serial = export_track(stems, mix, 44100, _source(frames=300_000), tmp_path / "serial", fmt=fmt, workers=1)
    parallel = export_track(stems, mix, 44100, _source(frames=300_000), tmp_path / "parallel", fmt=fmt,
                            workers=4, progress=progress)
    for a, b in zip(serial.paths, parallel.paths):
        assert a.read_bytes() == b.read_bytes()
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert threads == {threading.get_ident()}  # called on the caller's thread only


def test_parse_output_spec_forms_and_errors():
    assert parse_output_spec("instrumental") == PRESETS["instrumental"]
    assert parse_output_spec("minus_drums") == minus_spec("drums") == PRESETS["drumless"].__class__(
        "minus_drums", (("mixture", 1.0), ("drums", -1.0))
    )
    assert parse_output_spec("no_vocals").terms == (("drums", 1.0), ("bass", 1.0), ("other", 1.0))
    spec = parse_output_spec("karaoke = mixture - 0.8*vocals + residual")
    assert spec.name == "karaoke" and spec.terms == (("mixture", 1.0), ("vocals", -0.8), ("residual", 1.0))
    assert parse_output_spec(spec.to_text()) == spec
    for bad, words in [
        ("x=drums+guitar", "unknown stem 'guitar'"),
        ("minus_piano", "unknown stem 'piano'"),
        ("x=drums bass", "missing '+' or '-'"),
        ("x=drums+*bass", "cannot read"),
        ("x=", "nothing after"),
        ("karaoke", "not a preset"),
        ("", "empty"),
    ]:
        with pytest.raises(OutputSpecError, match=words.replace("*", r"\*").replace("+", r"\+")):
            parse_output_spec(bad)


def test_combined_output_maths():
    rng = np.random.default_rng(3)
    stems = {n: rng.standard_normal((2, 1000)).astype(np.float32) * 0.1 for n in STEMS}
    mixture = sum(stems.values()) + 0.01 * rng.standard_normal((2, 1000)).astype(np.float32)  # model misses a bit
    specs = [PRESETS[k] for k in ("instrumental", "acappella", "drumless", "bassless", "residual")] + [others_spec("vocals")]
    out = render_outputs(stems, mixture, specs)
    np.testing.assert_allclose(out["instrumental"] + out["acappella"], mixture, atol=1e-6)  # mix-minus nulls
    np.testing.assert_allclose(out["drumless"], mixture - stems["drums"], atol=1e-6)
    np.testing.assert_allclose(out["bassless"], mixture - stems["bass"], atol=1e-6)
    np.testing.assert_allclose(out["no_vocals"], stems["drums"] + stems["bass"] + stems["other"], atol=1e-6)
    np.testing.assert_allclose(sum(stems.values()) + out["residual"], mixture, atol=1e-6)
    # instrumental = sum of the other stems exactly when the stems add up to the mixture
    exact_mix = sum(stems.values())
    exact = render_outputs(stems, exact_mix, [PRESETS["instrumental"], others_spec("vocals")])
    np.testing.assert_allclose(exact["instrumental"], exact["no_vocals"], atol=1e-6)
    with pytest.raises(OutputSpecError, match="same|both called"):
        render_outputs(stems, mixture, [PRESETS["acappella"], PRESETS["acappella"]])
    with pytest.raises(OutputSpecError, match="piano"):
        render_outputs(stems, mixture, [OutputSpec("p", (("piano", 1.0),))])


def test_exported_stems_plus_residual_give_back_the_mixture(tmp_path):
    rng = np.random.default_rng(4)
    mix = chord(44100, 4410, amplitude=0.6)
    stems = _fake_stems(mix, gains=(0.3, 0.2, 0.2, 0.1))  # 0.2 of the mix left over
    stems["other"] += 0.01 * rng.standard_normal(mix.shape).astype(np.float32)
    report = export_track(
        stems, mix, 44100, _source(frames=4410, subtype="FLOAT"), tmp_path,
        outputs=[PRESETS["residual"], PRESETS["instrumental"]], selected=["drums", "bass", "other", "vocals"],
    )
    read = {n: sf.read(str(p), dtype="float32", always_2d=True)[0].T for n, p in report.outputs.items()}
    np.testing.assert_allclose(sum(read[n] for n in STEMS) + read["residual"], mix, atol=1e-5)
    np.testing.assert_allclose(read["instrumental"] + read["vocals"], mix, atol=1e-6)


def test_selected_stems_and_outputs_only(tmp_path):
    mix = chord(44100, 441)
    report = export_track(
        _fake_stems(mix), mix, 44100, _source(frames=441), tmp_path, track="t", model_name="m",
        selected=["vocals"], outputs=[parse_output_spec("instrumental")], template="{track}_{stem}_{model}",
    )
    assert sorted(p.name for p in report.paths) == ["t_instrumental_m.wav", "t_vocals_m.wav"]
    with pytest.raises(OutputSpecError, match="guitar"):
        export_track(_fake_stems(mix), mix, 44100, _source(frames=441), tmp_path, selected=["guitar"])
    with pytest.raises(AudioWriteError, match="nothing to export"):
        export_track(_fake_stems(mix), mix, 44100, _source(frames=441), tmp_path, selected=[])
