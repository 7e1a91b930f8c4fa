"""View ▸ Spectrograms in the real window: every lane's image appears over the song's length on one
level scale, the waveforms come back when it is switched off, the choice is remembered, and an
image never outlives the audio it was made from."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui_fixtures import make_song

pytestmark = pytest.mark.gui


def _separated(qtbot, window, path):
    with qtbot.waitSignal(window.session.track_completed, timeout=60_000):
        window.open_paths([path])
    qtbot.waitUntil(lambda: not window.player._pending, timeout=10_000)


def _all_spectrograms(window) -> bool:
    view = window.player.waveform
    return all(view.shows_spectrogram(name) for name in view.lane_names)


def test_spectrograms_replace_waveforms_in_every_lane_and_back(qtbot, make_window, stemdeck_home,
                                                               tmp_path):
    window = make_window()
    _separated(qtbot, window, make_song(tmp_path / "a.wav", seconds=3.0))
    view = window.player.waveform
    qtbot.waitUntil(lambda: "residual" in view.lane_names, timeout=10_000)
    window.spectrogram_action.trigger()
    qtbot.waitUntil(lambda: _all_spectrograms(window), timeout=30_000)
    assert set(view.lane_names) == {"original", "drums", "bass", "other", "vocals", "residual"}
    for name in view.lane_names:
        lane = view._lanes[name]
        rect = lane.image.mapRectToParent(lane.image.boundingRect())
        assert rect.left() == pytest.approx(0.0)
        assert rect.right() == pytest.approx(3.0, abs=0.05)   # the song's length in seconds
        assert not lane.curve.isVisible()
    # one level scale: the original (everything) is at least as bright as any stem
    assert all(view._lanes[n].image.image.max() <= view._lanes["original"].image.image.max()
               for n in view.lane_names)
    assert window.settings.get("spectrograms") is True

    window.spectrogram_action.trigger()
    assert all(view._lanes[n].curve.isVisible() and not view.shows_spectrogram(n)
               for n in view.lane_names)
    assert window.settings.get("spectrograms") is False


def test_the_choice_is_remembered_and_a_new_song_gets_its_own_images(qtbot, make_window,
                                                                     stemdeck_home, tmp_path):
    window = make_window(spectrograms=True)
    assert window.spectrogram_action.isChecked()
    _separated(qtbot, window, make_song(tmp_path / "one.wav", seconds=2.0))
    qtbot.waitUntil(lambda: _all_spectrograms(window), timeout=30_000)
    view = window.player.waveform
    first = view._lanes["original"].image.image.copy()

    _separated(qtbot, window, make_song(tmp_path / "two.wav", seconds=4.0))
    qtbot.waitUntil(lambda: _all_spectrograms(window), timeout=30_000)
    rect = view._lanes["original"].image.mapRectToParent(view._lanes["original"].image.boundingRect())
    assert rect.right() == pytest.approx(4.0, abs=0.05)           # the new song, not the old one
    assert view._lanes["original"].image.image.shape[1] > first.shape[1]


def test_new_audio_in_a_lane_retires_its_image(qtbot, make_window, stemdeck_home, tmp_path):
    """A region separated again (e.g. another quality) must not sit under an old spectrogram:
    the lane shows its waveform until a new image is made from the new audio."""
    window = make_window(spectrograms=True)
    _separated(qtbot, window, make_song(tmp_path / "a.wav", seconds=2.0))
    qtbot.waitUntil(lambda: _all_spectrograms(window), timeout=30_000)
    view = window.player.waveform
    view.update_lane_region("vocals", 0, np.zeros((2, 1000), np.float32))
    assert not view.shows_spectrogram("vocals") and view._lanes["vocals"].curve.isVisible()
    assert view.shows_spectrogram("drums")
    window.player.update_spectrograms()                           # made again, from the new audio
    qtbot.waitUntil(lambda: view.shows_spectrogram("vocals"), timeout=30_000)


def test_each_lane_image_is_computed_once_per_separation(qtbot, make_window, stemdeck_home,
                                                         tmp_path, monkeypatch):
    """The end of a separation asks for spectrograms several times (last regions applied, track
    completed, residual lane added); a lane already being computed is not computed again. The
    computation is slowed down as for a long song, so the requests overlap it."""
    import time

    import app.audio.spectrogram as spectrogram

    compute = spectrogram.lane_spectrograms
    monkeypatch.setattr(spectrogram, "lane_spectrograms",
                        lambda *args, **kw: (time.sleep(0.5), compute(*args, **kw))[1])
    window = make_window(spectrograms=True)
    player = window.player
    delivered: list[str] = []
    ready = player._spectrograms_ready

    def record(track, revisions, images):
        delivered.extend(images)
        ready(track, revisions, images)

    player._spectrograms_ready = record
    _separated(qtbot, window, make_song(tmp_path / "a.wav", seconds=3.0))
    qtbot.waitUntil(lambda: "residual" in player.waveform.lane_names and _all_spectrograms(window),
                    timeout=30_000)
    qtbot.wait(1500)                                  # any duplicate job would have ended by now
    assert sorted(delivered) == sorted(player.waveform.lane_names)


def test_lanes_say_computing_then_name_frequencies_on_a_db_colour_scale(qtbot, make_window,
                                                                        stemdeck_home, tmp_path,
                                                                        monkeypatch):
    import time

    import app.audio.spectrogram as spectrogram
    from app.palette import heatmap_lut

    compute = spectrogram.lane_spectrograms
    monkeypatch.setattr(spectrogram, "lane_spectrograms",        # as long as a real song takes
                        lambda *args, **kw: (time.sleep(0.5), compute(*args, **kw))[1])
    window = make_window()
    _separated(qtbot, window, make_song(tmp_path / "a.wav", seconds=3.0))
    view, scale = window.player.waveform, window.player.level_scale
    qtbot.waitUntil(lambda: "residual" in view.lane_names, timeout=10_000)
    assert not scale.isVisible()
    window.spectrogram_action.trigger()
    # while the images are computed, every lane says so (and names no frequency yet)
    assert all(view.spectrogram_status(n) == "computing spectrogram…" for n in view.lane_names)
    assert view.frequency_labels("vocals") == []
    qtbot.waitUntil(lambda: _all_spectrograms(window), timeout=30_000)
    assert all(view.spectrogram_status(n) == "" for n in view.lane_names)

    # a log-frequency axis in Hz: 1 kHz is named beside the image row holding 1 kHz
    labels = dict((text, y) for y, text in view.frequency_labels("vocals"))
    assert {"100 Hz", "1 kHz", "10 kHz"} <= set(labels)
    edges = spectrogram.band_edges(44100)
    row = int(np.searchsorted(edges, 1000.0)) - 1                 # edges[row] <= 1 kHz < edges[row+1]
    row_y = -1.0 + 2.0 * (row + 0.5) / spectrogram.ROWS           # the image spans y -1..1
    assert labels["1 kHz"] == pytest.approx(row_y, abs=2.0 / spectrogram.ROWS)
    assert labels["100 Hz"] < labels["1 kHz"] < labels["10 kHz"]  # low at the bottom
    assert labels["1 kHz"] - labels["100 Hz"] == pytest.approx(labels["10 kHz"] - labels["1 kHz"],
                                                               rel=1e-6)   # log spacing

    # the colour scale in dB: −80 dB (darkest) to 0 dB (brightest), drawn with the lanes' colours
    assert scale.isVisible() and scale.width() >= scale.minimumSizeHint().width()
    assert scale.labels()[0] == f"−{spectrogram.RANGE_DB:.0f} dB" and scale.labels()[-1] == "0 dB"
    image = scale.grab().toImage()
    margin = scale.fontMetrics().horizontalAdvance(scale.labels()[0]) // 2 + 1
    lut = heatmap_lut()
    for x, want in ((margin + 1, lut[0]), (scale.width() - margin - 2, lut[-1])):
        got = image.pixelColor(int(x * image.devicePixelRatio()), 2)
        assert abs(got.red() - int(want[0])) + abs(got.green() - int(want[1])) \
            + abs(got.blue() - int(want[2])) < 40

    window.spectrogram_action.trigger()                            # back to waveforms
    assert not scale.isVisible() and view.frequency_labels("vocals") == []


def test_a_stem_being_separated_says_its_spectrogram_comes_once_separated(qtbot, make_window,
                                                                         stemdeck_home, tmp_path):
    window = make_window(spectrograms=True)
    with qtbot.waitSignal(window.session.region_ready, timeout=60_000):
        window.open_paths([make_song(tmp_path / "long.wav", seconds=30.0)])
    window.player.flush_regions()
    view = window.player.waveform
    if window.session.track.complete:
        pytest.skip("the separation finished before it could be looked at")
    assert view.spectrogram_status("drums") == "spectrogram once separated"
    window.session.cancel()
