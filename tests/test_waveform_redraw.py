"""Progressive lane updates are drawn coalesced (at most REDRAW_HZ a second), never lost."""

from __future__ import annotations

import numpy as np
import pytest

from app.widgets.waveform_view import REDRAW_HZ, WaveformView

pytestmark = pytest.mark.gui

SR = 44100


@pytest.fixture
def view(qtbot):
    w = WaveformView()
    qtbot.addWidget(w)
    w.resize(1000, 400)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_many_regions_make_one_redraw_that_shows_them_all(view, qtbot):
    frames = 20 * SR
    view.set_track(SR, frames)
    view.add_lane("drums")
    qtbot.wait(200)                                # let the layout settle (resizes redraw too)
    lane = view._lanes["drums"]
    calls = []
    original_set_data = lane.curve.setData
    lane.curve.setData = lambda *a, **k: (calls.append(1), original_set_data(*a, **k))
    x = np.full((2, frames), 0.5, np.float32)
    for start in range(0, 10 * SR, SR // 4):      # 40 quarter-second regions in a burst
        view.update_lane_region("drums", start, x[:, start:start + SR // 4])
    assert calls == []                             # nothing drawn inside the burst ...
    assert lane.pending.rect().left() == pytest.approx(0.0)
    qtbot.waitUntil(lambda: len(calls) > 0, timeout=int(4000 / REDRAW_HZ) + 500)
    assert len(calls) == 1                         # ... then once, with everything in it
    xs, ys = lane.curve.getData()
    assert xs[np.abs(ys) > 0.4].max() == pytest.approx(10.0, abs=0.2)
    assert xs[np.abs(ys) > 0.4].min() < 0.1
    assert lane.pending.rect().left() == pytest.approx(10.0, abs=1e-3)   # shading moved
    assert lane.pending.isVisible()


def test_regions_outside_the_view_only_move_the_shading(view, qtbot):
    frames = 20 * SR
    view.set_track(SR, frames)
    view.add_lane("bass")
    view.set_visible_range(15 * SR, 20 * SR)
    x = np.full((2, 5 * SR), 0.5, np.float32)
    view.update_lane_region("bass", 0, x)
    view.flush_redraw()
    xs, ys = view.lane_points("bass")
    assert np.abs(ys).max() == 0.0                 # 0:00-0:05 is off screen
    assert view._lanes["bass"].pending.rect().left() == pytest.approx(5.0, abs=1e-3)
    view.set_visible_range(0, 10 * SR)             # scrolling there draws it
    xs, ys = view.lane_points("bass")
    assert xs[np.abs(ys) > 0.4].max() == pytest.approx(5.0, abs=0.1)
