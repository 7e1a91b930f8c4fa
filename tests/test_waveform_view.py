"""Waveform lanes offscreen: envelope levels, seek by click, loop by Shift+drag, progressive fill."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from app.audio.envelope import RAW, EnvelopePyramid
from app.widgets.waveform_view import WaveformView, format_seconds

pytestmark = pytest.mark.gui

SR = 44100
STEMS = ("drums", "bass", "other", "vocals")


def _signal(frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    env = np.linspace(0.1, 0.9, frames, dtype=np.float32)
    return (rng.uniform(-1, 1, (2, frames)).astype(np.float32) * env)


@pytest.fixture
def view(qtbot):
    w = WaveformView()
    qtbot.addWidget(w)
    w.resize(1000, 500)
    w.show()
    qtbot.waitExposed(w)
    return w


def _send(widget, kind, pos, button, buttons, modifiers=QtCore.Qt.KeyboardModifier.NoModifier):
    posf = QtCore.QPointF(pos)
    event = QtGui.QMouseEvent(kind, posf, widget.mapToGlobal(posf), button, buttons, modifiers)
    QtCore.QCoreApplication.sendEvent(widget, event)


def _viewport_point(view: WaveformView, frame: int) -> QtCore.QPoint:
    return view._graphics.mapFromScene(view.frame_to_scene(frame))


def test_envelope_matches_the_signal_at_every_level():
    x = _signal(200_003)
    pyr = EnvelopePyramid.from_samples(x)
    mono_lo, mono_hi = x.min(axis=0), x.max(axis=0)
    for k, bucket in enumerate(pyr.buckets):
        idx = np.arange(0, x.shape[1], bucket)
        assert np.allclose(pyr.mins[k], np.minimum.reduceat(mono_lo, idx), atol=2e-3)
        assert np.allclose(pyr.maxs[k], np.maximum.reduceat(mono_hi, idx), atol=2e-3)
    # level choice by frames per pixel: raw when zoomed in, coarser buckets further out
    assert pyr.choose_level(10) == RAW
    assert pyr.buckets[pyr.choose_level(100)] == 64
    assert pyr.buckets[pyr.choose_level(2000)] == 1024
    assert pyr.choose_level(1e9) == len(pyr.buckets) - 1
    xs, ys, level = pyr.segment(0, x.shape[1], 1000)
    assert len(ys) <= 4 * 1000 and level >= 0  # a few points per pixel, whatever the length
    assert ys.max() == pytest.approx(np.abs(x).max(), abs=2e-3)


def test_progressive_updates_equal_a_full_build():
    x = _signal(123_457, seed=3)
    full = EnvelopePyramid.from_samples(x)
    part = EnvelopePyramid(x.shape[1])
    for start in range(0, x.shape[1], 10_001):
        part.update(start, x[:, start:start + 10_001])
    assert part.filled_frames == x.shape[1]
    for k in range(len(full.mins)):
        assert np.array_equal(full.mins[k], part.mins[k])
        assert np.array_equal(full.maxs[k], part.maxs[k])


def test_lanes_share_one_time_axis_and_draw_only_the_visible_range(view):
    frames = 10 * SR
    view.set_track(SR, frames)
    view.add_lane("original", _signal(frames))
    for i, name in enumerate(STEMS):
        view.add_lane(name, _signal(frames, seed=i + 1))
    assert view.lane_names == ("original", *STEMS)
    whole_level = view.lane_level("drums")
    assert whole_level >= 1  # 10 s across ~1000 px: coarse buckets
    view.set_visible_range(2 * SR, 2 * SR + 500)  # zoom to 500 frames: the samples themselves
    assert view.lane_level("drums") == RAW
    assert view.lane_level("vocals") == RAW  # linked: every lane follows
    x, _ = view.lane_points("bass")
    assert x.min() >= 2.0 - 1 / SR and x.max() <= (2 * SR + 501) / SR
    view.zoom(1000.0)  # zoom out past the whole track: clamps to the track
    x0, x1 = view.visible_range()
    assert x0 == 0 and abs(x1 - frames) <= 1
    assert view.lane_level("other") == whole_level


def test_click_seeks_to_the_frame_under_the_mouse(view, qtbot):
    frames = 8 * SR
    view.set_track(SR, frames)
    view.add_lane("original", _signal(frames))
    view.add_lane("vocals", _signal(frames, 2))
    target = 3 * SR
    pos = _viewport_point(view, target)
    with qtbot.waitSignal(view.seekRequested, timeout=2000) as blocker:
        qtbot.mouseClick(view._graphics.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)
    got = blocker.args[0]
    px = frames / view._graphics.viewport().width()
    assert abs(got - target) <= 2 * px  # within a couple of pixels
    assert view._lanes["vocals"].playhead.value() == pytest.approx(got / SR)


def test_shift_drag_selects_a_loop_on_all_lanes(view, qtbot):
    frames = 8 * SR
    view.set_track(SR, frames)
    view.add_lane("original", _signal(frames))
    view.add_lane("drums", _signal(frames, 1))
    vp = view._graphics.viewport()
    p0, p1 = _viewport_point(view, 2 * SR), _viewport_point(view, 5 * SR)
    shift = QtCore.Qt.KeyboardModifier.ShiftModifier
    left = QtCore.Qt.MouseButton.LeftButton
    none = QtCore.Qt.MouseButton.NoButton
    seen: list[tuple[int, int]] = []
    view.loopChanged.connect(lambda a, b: seen.append((a, b)))
    _send(vp, QtCore.QEvent.Type.MouseButtonPress, p0, left, left, shift)
    for k in range(1, 11):
        p = p0 + (p1 - p0) * (k / 10)
        _send(vp, QtCore.QEvent.Type.MouseMove, p, none, left, shift)
    _send(vp, QtCore.QEvent.Type.MouseButtonRelease, p1, left, none, shift)
    qtbot.waitUntil(lambda: bool(seen), timeout=2000)
    a, b = seen[-1]
    px = frames / vp.width()
    assert abs(a - 2 * SR) <= 3 * px and abs(b - 5 * SR) <= 3 * px
    assert view._lanes["drums"].region.isVisible()
    ra, rb = view._lanes["drums"].region.getRegion()
    assert (ra, rb) == pytest.approx((a / SR, b / SR), abs=1 / SR)
    with qtbot.waitSignal(view.loopCleared, timeout=2000):
        qtbot.mouseClick(vp, QtCore.Qt.MouseButton.RightButton, pos=p0)
    assert view.loop() is None


def test_lane_fills_in_as_regions_arrive(view):
    frames = 6 * SR
    view.set_track(SR, frames)
    view.add_lane("drums")  # empty: nothing separated yet
    _, y = view.lane_points("drums")
    assert np.abs(y).max(initial=0.0) == 0.0
    assert view._lanes["drums"].pending.isVisible()
    x = _signal(frames, 4)
    view.update_lane_region("drums", 0, x[:, : 2 * SR])
    xs, y = view.lane_points("drums")
    loud = xs[np.abs(y) > 0.05]
    assert loud.max() <= 2.0 + 0.01  # drawn up to the separated frontier, silent after it
    view.update_lane_region("drums", 2 * SR, x[:, 2 * SR:])
    xs, y = view.lane_points("drums")
    assert xs[np.abs(y) > 0.05].max() > 5.9
    assert not view._lanes["drums"].pending.isVisible()


def test_time_format():
    assert format_seconds(0) == "00:00.000"
    assert format_seconds(61.2345) == "01:01.234" or format_seconds(61.2345) == "01:01.235"
    assert format_seconds(3600.5) == "60:00.500"
