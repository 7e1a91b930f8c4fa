"""Lane controls and transport offscreen: what the user clicks is what the mixer renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore

from app.audio.mix_params import mix_offline
from app.audio.mixer import ORIGINAL
from app.audio.player import Player
from app.widgets.stem_lane import StemLaneControls, bind_to_mixer
from app.widgets.transport import PlaybackPoller, TransportBar
from app.widgets.waveform_view import WaveformView

pytestmark = pytest.mark.gui

SR = 44100
STEMS = ("drums", "bass", "other", "vocals")


def _stems(frames: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {n: (0.1 * rng.standard_normal((2, frames))).astype(np.float32) for n in STEMS}


@pytest.fixture
def rig(qtbot):
    """A player that never opened a device (tests render by hand) with bound lane controls."""
    frames = SR
    stems = _stems(frames)
    player = Player(SR)
    mixer = player.mixer
    mixer.load_track(SR, frames, STEMS, original=sum(stems.values()))
    for n, s in stems.items():
        mixer.set_lane(n, s)
    lanes = {}
    for name in (ORIGINAL, *STEMS):
        c = StemLaneControls(name)
        qtbot.addWidget(c)
        bind_to_mixer(c, mixer)
        lanes[name] = c
    return player, stems, lanes


def _render(mixer, frames, block=512):
    out = np.zeros((block, 2), np.float32)
    parts = []
    for _ in range(frames // block):
        mixer.render(out, block)
        parts.append(out.copy())
    return np.concatenate(parts).T


def test_clicking_mute_solo_and_typing_gain_changes_what_is_rendered(rig, qtbot):
    player, stems, lanes = rig
    mixer = player.mixer
    mixer.play()
    _render(mixer, 512)
    qtbot.mouseClick(lanes["vocals"].mute_button, QtCore.Qt.MouseButton.LeftButton)
    lanes["drums"].gain_spin.setValue(-6.0)
    assert lanes["drums"].gain_slider.value() == -60  # slider follows the spin box
    _render(mixer, 512)
    got = _render(mixer, 1024)
    g = 10 ** (-6 / 20)
    expected = mix_offline(stems, {"drums": g, "bass": 1, "other": 1})[:, 1024:2048]
    assert np.allclose(got, expected, atol=1e-6)
    qtbot.mouseClick(lanes["bass"].solo_button, QtCore.Qt.MouseButton.LeftButton)
    _render(mixer, 512)
    assert np.allclose(_render(mixer, 512), stems["bass"][:, 2560:3072], atol=1e-6)
    qtbot.mouseClick(lanes[ORIGINAL].solo_button, QtCore.Qt.MouseButton.LeftButton)  # A/B
    assert lanes[ORIGINAL].solo_button.text() == "A/B"
    _render(mixer, 512)
    original = sum(stems.values())
    assert np.allclose(_render(mixer, 512), original[:, 3584:4096], atol=1e-5)


def test_drag_out_offers_the_stem_file_as_a_url(rig, tmp_path):
    _, _, lanes = rig
    wav = tmp_path / "song" / "drums.wav"
    wav.parent.mkdir()
    wav.write_bytes(b"RIFF")
    asked = []

    def provider(name: str) -> list[Path] | None:
        asked.append(name)
        return [wav] if name == "drums" else None

    lanes["drums"].set_drag_provider(provider)
    mime = lanes["drums"].mime_data()
    assert mime is not None and mime.hasUrls()
    assert [u.toLocalFile() for u in mime.urls()] == [str(wav.resolve())]
    lanes["bass"].set_drag_provider(provider)
    assert lanes["bass"].mime_data() is None  # nothing to drag yet
    assert asked == ["drums", "bass"]
    lanes["other"].set_drag_provider(lambda n: (_ for _ in ()).throw(OSError("disk full")))
    assert lanes["other"].mime_data() is None  # a failing export does not raise into Qt


def test_poller_feeds_position_playhead_and_meters(rig, qtbot):
    player, _, lanes = rig
    transport = TransportBar()
    waveform = WaveformView()
    qtbot.addWidget(transport)
    qtbot.addWidget(waveform)
    waveform.set_track(SR, SR)
    waveform.add_lane("drums")
    poller = PlaybackPoller(player, transport, waveform, lanes)
    player.mixer.play()
    _render(player.mixer, 22050 - 22050 % 512)  # ~0.5 s
    poller.poll()
    pos = player.mixer.position_frames
    assert transport.position_text() == f"00:00.{round(pos / SR * 1000):03d} / 00:01.000"
    assert waveform._lanes["drums"].playhead.value() == pytest.approx(pos / SR, abs=1 / SR)
    assert lanes["drums"].meter.peak_db > -30
    assert lanes[ORIGINAL].meter.peak_db == -60.0  # not listened to
    assert transport.play_button.isEnabled()
    transport.set_available(False, "no output device")
    assert not transport.play_button.isEnabled()
    assert "no output device" in transport.play_button.toolTip()


def test_meter_shows_clipping():
    from app.widgets.stem_lane import LevelMeter

    m = LevelMeter()
    m.set_levels(0.5, 0.2)
    assert m.peak_db == pytest.approx(-6.02, abs=0.01) and not m.clipped
    m.set_levels(1.2, 0.5)
    assert m.clipped


def test_a_soloed_lane_stands_out_and_the_others_dim(qtbot, make_window, stemdeck_home, song):
    from tests.test_gui_window import open_and_separate

    window = make_window()
    open_and_separate(qtbot, window, song)
    qtbot.waitUntil(lambda: "residual" in window.player.waveform.lane_names, timeout=10_000)
    player, view = window.player, window.player.waveform
    assert not any(view.lane_dimmed(n) for n in view.lane_names)
    player.set_solo("bass", True)
    assert player.lanes["bass"].solo_state == "soloed"
    assert all(player.lanes[n].solo_state == "dimmed" for n in ("original", "drums", "other", "vocals"))
    assert not player.lanes["drums"].label.isEnabled()            # drawn grey
    assert [n for n in view.lane_names if not view.lane_dimmed(n)] == ["bass"]   # residual too
    player.set_solo("vocals", True)                                # two soloed: both stand out
    assert {n for n in view.lane_names if not view.lane_dimmed(n)} == {"bass", "vocals"}
    player.set_solo("bass", False)
    player.set_solo("vocals", False)
    assert not any(view.lane_dimmed(n) for n in view.lane_names)
    assert all(lane.solo_state == "" and lane.label.isEnabled() for lane in player.lanes.values())
