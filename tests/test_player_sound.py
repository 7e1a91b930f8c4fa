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
