"""Playback through a real sound server: what the null sink heard must be the mix the user set.

The ``sound`` tests start a private PulseAudio daemon (tests/sound_server.py) and skip with the
reason when it cannot start (packages missing, no permission...).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from app.audio.mixer import ORIGINAL
from app.audio.player import Player
from tests.sound_server import (PulseNullSink, SoundServerUnavailable, find_lag,
                                reinitialise_portaudio)

SR = 44100
STEMS = ("drums", "bass", "other", "vocals")


def _stems(frames: int) -> dict[str, np.ndarray]:
    """Four independent stems (channels, frames): a tone each plus its own noise."""
    rng = np.random.default_rng(7)
    t = np.arange(frames) / SR
    out = {}
    for k, name in enumerate(STEMS):
        tone = 0.12 * np.sin(2 * np.pi * (97 * (k + 2)) * t + k)
        noise = 0.05 * rng.standard_normal((2, frames))
        out[name] = (tone[None, :] + noise).astype(np.float32)
    return out


@pytest.fixture
def pulse():
    # a short folder: the unix socket path must stay under ~100 characters
    folder = Path(tempfile.mkdtemp(prefix="sdpa-"))
    server = PulseNullSink(folder, samplerate=SR)
    try:
        server.start()
    except (SoundServerUnavailable, OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"no PulseAudio null sink for the sound test: {exc}")
    old = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = server.server
    reinitialise_portaudio()
    try:
        yield server
    finally:
        server.stop()
        if old is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = old
        reinitialise_portaudio()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.sound
def test_heard_mix_has_vocals_muted_and_drums_at_minus_6_db(pulse):
    frames = int(1.5 * SR)
    stems = _stems(frames)
    player = Player(SR, device="pulse", blocksize=1024, latency=0.2)
    if not player.open():
        pytest.skip(f"PortAudio cannot reach the PulseAudio server: {player.unavailable_reason}")
    try:
        mixer = player.mixer
        assert mixer.samplerate == SR
        mixer.load_track(SR, frames, STEMS, original=sum(stems.values()))
        for name, samples in stems.items():
            mixer.set_lane(name, samples)
        mixer.set_mute("vocals", True)
        mixer.set_gain_db("drums", -6.0)
        pulse.start_recording()
        time.sleep(0.5)  # the stream already runs (silence) so nothing of the song is cut off
        player.play()
        deadline = time.monotonic() + 15
        while mixer.is_playing and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not mixer.is_playing, "playback did not reach the end in real time"
        assert mixer.position_frames == frames
        time.sleep(0.6)  # let the device buffer drain into the sink
        heard_all = pulse.stop_recording()
    finally:
        player.close()
    assert player.underruns == 0, f"{player.underruns} underruns"

    g = 10 ** (-6 / 20)
    expected = g * stems["drums"] + stems["bass"] + stems["other"]
    lag = find_lag(heard_all, expected)
    heard = heard_all[:, lag:lag + frames]
    assert heard.shape[1] == frames, "the end of the song was not heard"
    # what was heard, decomposed onto the four stems (past the start fade-in): drums at -6 dB,
    # bass and other at 0 dB, vocals absent
    skip = mixer.ramp_frames + 16
    design = np.stack([stems[n][:, skip:].ravel() for n in STEMS], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, heard[:, skip:].ravel().astype(np.float64), rcond=None)
    assert coef == pytest.approx([g, 1.0, 1.0, 0.0], abs=0.01), coef
    err = heard[:, skip:] - expected[:, skip:]
    assert np.sqrt(np.mean(err ** 2)) < 1e-3 * np.sqrt(np.mean(expected ** 2)) + 1e-4
    # and the silence before play really was silence
    assert np.abs(heard_all[:, : max(0, lag - 10)]).max(initial=0.0) < 1e-6


@pytest.mark.sound
def test_switching_to_the_original_is_heard_within_a_block(pulse):
    frames = int(1.2 * SR)
    stems = _stems(frames)
    original = (0.2 * np.sin(2 * np.pi * 1000 * np.arange(frames) / SR))[None, :].repeat(2, 0)
    player = Player(SR, device="pulse", blocksize=1024, latency=0.2)
    if not player.open():
        pytest.skip(f"PortAudio cannot reach the PulseAudio server: {player.unavailable_reason}")
    try:
        mixer = player.mixer
        mixer.load_track(SR, frames, STEMS, original=original.astype(np.float32))
        for name, samples in stems.items():
            mixer.set_lane(name, samples)
        mixer.set_listen_original(True)
        pulse.start_recording()
        time.sleep(0.3)
        player.play()
        while mixer.is_playing:
            time.sleep(0.05)
        time.sleep(0.5)
        heard_all = pulse.stop_recording()
    finally:
        player.close()
    lag = find_lag(heard_all, original)
    heard = heard_all[:, lag + 500:lag + frames]
    assert np.allclose(heard, original[:, 500:], atol=1e-4)
    assert mixer.target_gains()[ORIGINAL] == 1.0


def test_missing_output_device_leaves_the_app_working():
    player = Player(SR, device="no-such-output-device-xyz")
    assert player.open() is False
    assert not player.available
    assert "no-such-output-device-xyz" in player.unavailable_reason or "PortAudio" in player.unavailable_reason
    # the mixer still works without sound
    player.mixer.load_track(SR, 1000, ["drums"])
    player.play()
    assert player.mixer.is_playing
    player.close()  # harmless when nothing was opened


def _band_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of the 25 Hz-band energies (0-2 kHz) of two (C, n) signals' channel sums:
    1 for the same sound, whatever gaps or offsets lie between them."""
    def bands(x: np.ndarray) -> np.ndarray:
        mono = x.sum(axis=0).astype(np.float64)
        power = np.abs(np.fft.rfft(mono)) ** 2
        freqs = np.fft.rfftfreq(mono.size, 1 / SR)
        edges = np.arange(0, 2000 + 25, 25)
        e = np.array([power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])
        return e / np.linalg.norm(e)
    return float(bands(a) @ bands(b))


@pytest.mark.sound
@pytest.mark.gui
def test_sound_goes_to_the_output_device_chosen_in_preferences(pulse, qtbot, tmp_path, monkeypatch, empty_home):
    """Two null sinks; the default one (stemdeck_null) must stay silent once the other is chosen."""
    from app.audio.player import output_device_names
    from app.main_window import MainWindow
    from app.settings import Settings
    from tests.sound_server import SINK

    pulse.add_null_sink("stemdeck_other")
    # one ALSA device per sink, as a user's ~/.asoundrc names them; PortAudio lists them
    alsa_home = tmp_path / "alsa-home"
    alsa_home.mkdir()
    (alsa_home / ".asoundrc").write_text(
        f"pcm.stemdeck_main {{ type pulse; device {SINK} }}\n"
        "pcm.stemdeck_other { type pulse; device stemdeck_other }\n")
    monkeypatch.setenv("HOME", str(alsa_home))
    reinitialise_portaudio()
    if "stemdeck_other" not in output_device_names():
        pytest.skip(f"PortAudio does not list the ALSA pulse devices: {output_device_names()}")

    def make_window() -> MainWindow:
        window = MainWindow(Settings(tmp_path / "settings.ini"), enable_audio=True)
        window.confirm_close = False
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.player.audio.available or bool(window.player.transport.status_label.text()), timeout=10_000)
        if not window.player.audio.available:
            pytest.skip(f"PortAudio cannot reach the PulseAudio server: {window.player.audio.unavailable_reason}")
        return window

    window = make_window()
    dialog = window.make_preferences_dialog()
    index = dialog.output.findData("stemdeck_other")
    assert index > 0, [dialog.output.itemText(i) for i in range(dialog.output.count())]
    dialog.output.setCurrentIndex(index)
    dialog.accept()
    assert window.player.audio.device_name == "stemdeck_other"

    frames = int(1.0 * SR)
    stems = _stems(frames)
    mixer = window.player.audio.mixer
    assert mixer.samplerate == SR
    mixer.load_track(SR, frames, STEMS, original=sum(stems.values()))
    for name, samples in stems.items():
        mixer.set_lane(name, samples)
    for sink in (SINK, "stemdeck_other"):
        pulse.start_recording(sink)
    time.sleep(0.4)
    window.player.audio.play()
    qtbot.waitUntil(lambda: not mixer.is_playing, timeout=60_000)
    time.sleep(0.5)
    chosen = pulse.stop_recording("stemdeck_other")
    default = pulse.stop_recording(SINK)
    # routing, not timing, is tested here (a starved CPU may cause underruns, i.e. gaps): the
    # chosen sink heard the song (its spectrum; on a starved CPU xruns can drop a third of it),
    # the default heard nothing
    expected = sum(stems.values())
    loud = np.sqrt(np.mean(chosen ** 2, axis=0)) > 1e-3
    assert loud.sum() > 0.25 * frames, "the chosen sink did not hear the song"
    assert _band_similarity(chosen[:, loud], expected) > 0.95
    assert np.abs(default).max(initial=0.0) < 1e-6, "the default sink heard the song too"
    window.close()

    # remembered: the next start plays through the same device
    again = make_window()
    assert again.player.audio.device_name == "stemdeck_other"
    again.close()


def test_preferences_keep_an_output_device_that_is_not_connected(qtbot, tmp_path):
    """An interface unplugged today stays chosen (and says so) rather than being forgotten."""
    from app.cache import ResultCache
    from app.dialogs.preferences_dialog import PreferencesDialog
    from app.settings import Settings

    settings = Settings(tmp_path / "settings.ini")
    settings.set("output_device", "USB Interface xyz")
    dialog = PreferencesDialog(settings, ResultCache(tmp_path / "cache"))
    qtbot.addWidget(dialog)
    assert dialog.output.currentText() == "USB Interface xyz (not available)"
    assert dialog.output.itemData(0) == ""  # the system default is always offered
    dialog.accept()
    assert settings.get("output_device") == "USB Interface xyz"
