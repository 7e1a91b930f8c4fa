"""WaveformView: the original and every stem as lanes on one shared time axis (pyqtgraph).

- Each lane draws only the visible range from an ``EnvelopePyramid`` (level chosen by frames per
  pixel), so a 60-minute track zooms and scrolls smoothly.
- A playhead line on every lane; click or drag to seek (``seekRequested(frame)``); wheel zooms
  around the mouse, Shift+wheel / horizontal wheel scrolls, middle-drag pans.
- Shift+drag selects an A-B loop (``loopChanged(start, end)``), its edges can be dragged, a
  right-click clears it (``loopCleared``).
- Lanes being separated fill in region by region (``update_lane_region``): the envelope takes the
  region at once, the redraw (visible range only) and the "not separated yet" shading follow at most
  ``REDRAW_HZ`` times a second, whatever the rate regions arrive at.
- The playhead and the shading are plain C++ graphics items (no Python ``paint``), so a repaint
  while a separation streams in costs little on the GUI thread.
- Display mode "spectrogram" shows a lane's spectrogram image (``set_spectrogram``, computed in a
  worker, see spectrogram.py) instead of its waveform; a lane without one (yet), or whose audio
  changed since, shows its waveform and a line saying why (``set_spectrogram_status``, e.g.
  "computing spectrogram…"). Spectrogram lanes get a log-frequency axis in Hz on the left.
Frames are track frames at ``samplerate``; the x axis is in seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PySide6 import QtCore, QtWidgets  # PySide6 before pyqtgraph

import pyqtgraph as pg  # noqa: E402

from app.palette import heatmap_lut, stem_color

#: What the mouse does on the lanes, for the Help ▸ Keyboard shortcuts sheet: (gesture, effect).
MOUSE_GESTURES: tuple[tuple[str, str], ...] = (
    ("Click or drag", "Seek"),
    ("Wheel", "Zoom around the mouse"),
    ("Shift+wheel, horizontal wheel or middle-drag", "Scroll"),
    ("Shift+drag", "Select an A–B loop (drag its edges to adjust)"),
    ("Right-click", "Clear the A–B loop"),
)
from app.audio.envelope import EnvelopePyramid
from app.audio.spectrogram import Spectrogram, frequency_ticks

logger = logging.getLogger(__name__)

REDRAW_HZ = 25  # progressive updates are drawn at most this often
WAVEFORM, SPECTROGRAM = "waveform", "spectrogram"
DIMMED_OPACITY = 0.3      # a lane not heard because another one is soloed
FREQUENCY_AXIS_WIDTH = 52  # px, the same in every lane so their time axes line up


def format_seconds(seconds: float) -> str:
    """``mm:ss.mmm`` (minutes may exceed 59)."""
    ms = int(round(max(0.0, seconds) * 1000))
    return f"{ms // 60000:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


class _TimeAxis(pg.AxisItem):
    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        if spacing >= 1:
            return [f"{int(v) // 60}:{int(v) % 60:02d}" for v in values]
        return [format_seconds(v)[:-1] if spacing >= 0.01 else format_seconds(v) for v in values]


class _LaneViewBox(pg.ViewBox):
    """Mouse: left click/drag seeks, Shift+drag makes a loop, wheel zooms, middle-drag pans."""

    def __init__(self, view: "WaveformView") -> None:
        super().__init__(enableMenu=False, defaultPadding=0.0)
        self._view = view
        self.setMouseEnabled(x=True, y=False)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            self._view._seek_to_x(self.mapSceneToView(ev.scenePos()).x())
        elif ev.button() == QtCore.Qt.MouseButton.RightButton:
            ev.accept()
            self._view.clear_loop(emit=True)
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        x = self.mapSceneToView(ev.scenePos()).x()
        if ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier:
            x0 = self.mapSceneToView(ev.buttonDownScenePos()).x()
            self._view._drag_loop(x0, x, finished=ev.isFinish())
        else:
            self._view._seek_to_x(x)

    def wheelEvent(self, ev, axis=None) -> None:  # noqa: N802
        delta = ev.delta()
        horizontal = ev.orientation() == QtCore.Qt.Orientation.Horizontal
        ev.accept()
        if horizontal or ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier:
            self._view.scroll_by(-delta / 120 * 0.1)
        else:
            self._view.zoom(0.8 ** (delta / 120), self.mapSceneToView(ev.scenePos()).x())


class _Playhead(QtWidgets.QGraphicsLineItem):
    """A vertical line across the lane at x seconds (painted by Qt, cosmetic 1 px pen)."""

    def __init__(self, x: float, color: str) -> None:
        super().__init__(0.0, -2.0, 0.0, 2.0)
        pen = pg.mkPen(color, width=1)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setPos(x)

    def setPos(self, x: float) -> None:  # noqa: N802 - Qt naming
        if x != self.pos().x():
            super().setPos(float(x), 0.0)

    def value(self) -> float:
        return float(self.pos().x())


class _Shade(QtWidgets.QGraphicsRectItem):
    """Translucent band over [x0, x1) seconds, the lane's full height (painted by Qt)."""

    def __init__(self, brush) -> None:
        super().__init__(0.0, -2.0, 0.0, 4.0)
        self.setBrush(brush)
        self.setPen(pg.mkPen(None))

    def set_span(self, x0: float, x1: float) -> None:
        rect = QtCore.QRectF(x0, -2.0, max(0.0, x1 - x0), 4.0)
        if rect != self.rect():
            self.setRect(rect)


@dataclass
class _Lane:
    name: str
    plot: pg.PlotItem
    curve: pg.PlotCurveItem
    playhead: _Playhead
    region: pg.LinearRegionItem
    pending: _Shade  # shading over the part not separated yet
    envelope: EnvelopePyramid | None = None
    level: int = 0
    image: pg.ImageItem | None = None  # the spectrogram, once one was set
    image_current: bool = False        # ... and it shows the lane's audio as it is now
    revision: int = 0                  # bumped whenever the lane's audio changes
    status: pg.TextItem | None = None  # why a spectrogram lane shows its waveform (or hidden)


class WaveformView(QtWidgets.QWidget):
    """Stacked waveform lanes with a shared x axis; see the module docstring."""

    seekRequested = QtCore.Signal(int)  # track frame
    loopChanged = QtCore.Signal(int, int)  # [start, end) track frames
    loopCleared = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.samplerate = 44100
        self.total_frames = 0
        self.follow_playhead = True
        self._lanes: dict[str, _Lane] = {}
        self._loop: tuple[int, int] | None = None
        self._syncing = False
        self._playhead_frame = 0
        self._mode = WAVEFORM
        self._dirty_curves: set[str] = set()   # lanes with visible regions not drawn yet
        self._dirty_shading: set[str] = set()  # lanes whose separated frontier may have moved
        self._redraw_timer = QtCore.QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(int(1000 / REDRAW_HZ))
        self._redraw_timer.timeout.connect(self.flush_redraw)
        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setBackground("#1e2127")
        self._graphics.ci.layout.setSpacing(2)
        self._graphics.ci.setContentsMargins(0, 0, 0, 0)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._graphics)
        self.setMinimumHeight(120)

    # ------------------------------------------------------------------ building
    def set_track(self, samplerate: int, total_frames: int) -> None:
        """Start over for a track of ``total_frames`` frames at ``samplerate`` Hz (no lanes)."""
        self._graphics.clear()
        self._lanes.clear()
        self._dirty_curves.clear()
        self._dirty_shading.clear()
        self._redraw_timer.stop()
        self._loop = None
        self.samplerate = int(samplerate)
        self.total_frames = int(total_frames)
        self._playhead_frame = 0

    def add_lane(self, name: str, samples: np.ndarray | None = None, *,
                 envelope: EnvelopePyramid | None = None, color: str | None = None) -> None:
        """Add a lane. ``samples (channels, frames)`` draws it at once (kept by reference for deep
        zoom); ``envelope`` is a prebuilt pyramid (built in a worker thread); neither = an empty
        lane that ``update_lane_region`` fills in."""
        if not self.total_frames:
            raise ValueError("set_track() before add_lane()")
        if name in self._lanes:
            raise ValueError(f"lane {name!r} exists")
        if envelope is None:
            envelope = (EnvelopePyramid.from_samples(samples) if samples is not None
                        else EnvelopePyramid(self.total_frames))
        color = color or stem_color(name)
        first = next(iter(self._lanes.values()), None)
        row = len(self._lanes)
        vb = _LaneViewBox(self)
        axis = _TimeAxis(orientation="bottom")
        plot = self._graphics.addPlot(row=row, col=0, viewBox=vb, axisItems={"bottom": axis})
        plot.hideAxis("left")
        plot.hideButtons()
        plot.setMenuEnabled(False)
        vb.setYRange(-1.0, 1.0, padding=0.02)
        vb.disableAutoRange()
        duration = self.total_frames / self.samplerate
        vb.setLimits(xMin=0.0, xMax=duration, minXRange=32 / self.samplerate, yMin=-1.05, yMax=1.05)
        curve = pg.PlotCurveItem(pen=pg.mkPen(color, width=1), skipFiniteCheck=True)
        plot.addItem(curve)
        pending = _Shade(pg.mkBrush(255, 255, 255, 18))
        pending.setZValue(-10)
        plot.addItem(pending, ignoreBounds=True)
        region = pg.LinearRegionItem(values=(0, 0), brush=pg.mkBrush(80, 160, 255, 50),
                                     pen=pg.mkPen("#50a0ff"))
        region.setZValue(5)
        region.setVisible(False)
        plot.addItem(region, ignoreBounds=True)
        region.sigRegionChanged.connect(lambda r, n=name: self._region_moved(n))
        region.sigRegionChangeFinished.connect(lambda r: self._region_finished())
        playhead = _Playhead(self._playhead_frame / self.samplerate, "#ffffff")
        playhead.setZValue(10)
        plot.addItem(playhead, ignoreBounds=True)
        label = pg.TextItem(name, color=color, anchor=(0, 0), fill=pg.mkBrush(30, 33, 39, 190))
        label.setParentItem(vb)
        label.setZValue(100)  # above the waveform, fixed in the lane's corner
        label.setPos(4, 2)
        status = pg.TextItem("", color="#e8e8e8", anchor=(0, 0), fill=pg.mkBrush(30, 33, 39, 190))
        status.setParentItem(vb)
        status.setZValue(100)
        status.setPos(4, 22)
        status.setVisible(False)
        plot.getAxis("left").setWidth(FREQUENCY_AXIS_WIDTH)
        lane = _Lane(name, plot, curve, playhead, region, pending, envelope, status=status)
        self._lanes[name] = lane
        if first is None:
            vb.setXRange(0.0, duration, padding=0.0)
            vb.sigXRangeChanged.connect(lambda *_: self._refresh())
            vb.sigResized.connect(lambda *_: self._refresh())
        else:
            vb.setXLink(first.plot.vb)
            first.plot.hideAxis("bottom")
            for other in list(self._lanes.values())[1:-1]:
                other.plot.hideAxis("bottom")
        for other in list(self._lanes.values())[:-1]:
            other.plot.hideAxis("bottom")
        if self._loop is not None:
            self._show_loop(*self._loop)
        self._update_pending(lane)
        self._refresh([name])
        self._apply_mode(lane)

    def update_lane_region(self, name: str, start_frame: int, block: np.ndarray) -> None:
        """Fold a newly separated region ``block (channels, n)`` at ``start_frame`` into lane
        ``name``; the lane is redrawn (if the region is visible) and its shading moved by the next
        coalesced redraw (within 1/REDRAW_HZ s, or at once by ``flush_redraw``)."""
        lane = self._lane(name)
        lane.envelope.update(start_frame, block)
        self._drop_spectrogram(lane)
        x0, x1 = self.visible_range()
        visible = start_frame < x1 and start_frame + block.shape[-1] > x0
        self._dirty_shading.add(name)
        if visible:
            self._dirty_curves.add(name)
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def flush_redraw(self) -> None:
        """Draw what ``update_lane_region`` has folded in since the last redraw."""
        self._redraw_timer.stop()
        shading, self._dirty_shading = self._dirty_shading, set()
        curves, self._dirty_curves = self._dirty_curves, set()
        for name in shading:
            if name in self._lanes:
                self._update_pending(self._lanes[name])
        curves = [n for n in self._lanes if n in curves]
        if curves:
            self._refresh(curves)

    def set_lane_samples(self, name: str, samples: np.ndarray,
                         envelope: EnvelopePyramid | None = None) -> None:
        """Replace a lane's content with the whole ``samples (channels, frames)``."""
        lane = self._lane(name)
        lane.envelope = envelope or EnvelopePyramid.from_samples(samples)
        self._drop_spectrogram(lane)
        self._dirty_curves.discard(name)
        self._dirty_shading.discard(name)
        self._update_pending(lane)
        self._refresh([name])

    def set_spectrogram(self, name: str, spectrogram: Spectrogram) -> None:
        """Give lane ``name`` its spectrogram image (shown in spectrogram mode), spanning
        ``spectrogram.duration_seconds`` from 0 s over the lane's height (low bands at the bottom)."""
        lane = self._lane(name)
        if lane.image is None:
            lane.image = pg.ImageItem(axisOrder="row-major")
            lane.image.setLookupTable(heatmap_lut())
            lane.image.setZValue(-20)  # under the "not separated yet" shading and the playhead
            lane.plot.addItem(lane.image, ignoreBounds=True)
        lane.image.setImage(spectrogram.image, autoLevels=False, levels=(0, 255))
        lane.image.setRect(0.0, -1.0, spectrogram.duration_seconds, 2.0)
        lane.image_current = True
        self._apply_mode(lane)

    def set_spectrogram_status(self, name: str, text: str) -> None:
        """What lane ``name`` says while it shows no spectrogram in spectrogram mode ("" = nothing)."""
        lane = self._lane(name)
        lane.status.setText(text)
        self._apply_mode(lane)

    def spectrogram_status(self, name: str) -> str:
        """The status line lane ``name`` shows now ("" when none is shown)."""
        lane = self._lane(name)
        return lane.status.textItem.toPlainText() if lane.status.isVisible() else ""

    def frequency_labels(self, name: str) -> list[tuple[float, str]]:
        """(y in lane units, label) of the frequency axis lane ``name`` shows ([] when none)."""
        axis = self._lane(name).plot.getAxis("left")
        if not axis.isVisible() or not axis._tickLevels:
            return []
        return [tick for level in axis._tickLevels for tick in level]

    def set_lane_dimmed(self, name: str, dimmed: bool) -> None:
        """Draw lane ``name`` faint (not heard now: another lane is soloed) or normally."""
        self._lane(name).plot.setOpacity(DIMMED_OPACITY if dimmed else 1.0)

    def lane_dimmed(self, name: str) -> bool:
        return self._lane(name).plot.opacity() < 1.0

    def set_display_mode(self, mode: str) -> None:
        """WAVEFORM or SPECTROGRAM for every lane."""
        if mode not in (WAVEFORM, SPECTROGRAM):
            raise ValueError(f"unknown display mode {mode!r}")
        self._mode = mode
        for lane in self._lanes.values():
            self._apply_mode(lane)

    @property
    def display_mode(self) -> str:
        return self._mode

    def shows_spectrogram(self, name: str) -> bool:
        """Whether lane ``name`` shows a (current) spectrogram now."""
        lane = self._lane(name)
        return lane.image is not None and lane.image.isVisible()

    def lane_revision(self, name: str) -> int:
        """Changes whenever lane ``name``'s audio does: a spectrogram computed from the audio of
        an older revision must not be set."""
        return self._lane(name).revision

    def has_spectrogram(self, name: str) -> bool:
        """Whether lane ``name`` holds a spectrogram of its current audio."""
        lane = self._lane(name)
        return lane.image_current

    # ------------------------------------------------------------------ queries
    @property
    def lane_names(self) -> tuple[str, ...]:
        return tuple(self._lanes)

    def lane_level(self, name: str) -> int:
        """Pyramid level drawn for lane ``name`` at the current zoom (-1 = raw samples)."""
        self.flush_redraw()
        return self._lane(name).level

    def lane_points(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x seconds, y) points lane ``name`` draws (including regions not drawn yet)."""
        self.flush_redraw()
        x, y = self._lane(name).curve.getData()
        return (np.zeros(0), np.zeros(0)) if x is None else (x, y)

    def visible_range(self) -> tuple[int, int]:
        """Visible track frames [start, end)."""
        if not self._lanes:
            return 0, 0
        x0, x1 = next(iter(self._lanes.values())).plot.vb.viewRange()[0]
        return int(max(0.0, x0) * self.samplerate), int(np.ceil(x1 * self.samplerate))

    def loop(self) -> tuple[int, int] | None:
        return self._loop

    def frame_to_scene(self, frame: int) -> QtCore.QPointF:
        """Scene position of ``frame`` in the middle of the first lane (for tests and tooltips)."""
        vb = next(iter(self._lanes.values())).plot.vb
        return vb.mapViewToScene(QtCore.QPointF(frame / self.samplerate, 0.0))

    # ------------------------------------------------------------------ view control
    def set_visible_range(self, start_frame: int, end_frame: int) -> None:
        if self._lanes:
            vb = next(iter(self._lanes.values())).plot.vb
            vb.setXRange(start_frame / self.samplerate, end_frame / self.samplerate, padding=0.0)

    def zoom(self, factor: float, center_seconds: float | None = None) -> None:
        """Scale the visible span by ``factor`` (<1 zooms in) around ``center_seconds``."""
        if not self._lanes:
            return
        vb = next(iter(self._lanes.values())).plot.vb
        x0, x1 = vb.viewRange()[0]
        c = (x0 + x1) / 2 if center_seconds is None else center_seconds
        duration = self.total_frames / self.samplerate
        span = min(duration, max(32 / self.samplerate, (x1 - x0) * factor))
        left = c - (c - x0) * span / (x1 - x0)
        left = min(max(0.0, left), duration - span)
        vb.setXRange(left, left + span, padding=0.0)

    def scroll_by(self, fraction: float) -> None:
        """Scroll by ``fraction`` of the visible span (negative = earlier)."""
        if not self._lanes:
            return
        vb = next(iter(self._lanes.values())).plot.vb
        x0, x1 = vb.viewRange()[0]
        duration = self.total_frames / self.samplerate
        shift = (x1 - x0) * fraction
        left = min(max(0.0, x0 + shift), duration - (x1 - x0))
        vb.setXRange(left, left + (x1 - x0), padding=0.0)

    def set_playhead(self, frame: int) -> None:
        """Move the playhead (from the GUI's position QTimer); pages the view to keep it visible
        while ``follow_playhead`` is on."""
        self._playhead_frame = int(frame)
        x = frame / self.samplerate
        for lane in self._lanes.values():
            lane.playhead.setPos(x)
        if self.follow_playhead and self._lanes:
            x0, x1 = self.visible_range()
            if not (x0 <= frame <= x1) and x1 > x0 and QtWidgets.QApplication.mouseButtons() == \
                    QtCore.Qt.MouseButton.NoButton:
                span = x1 - x0
                left = max(0, min(frame - span // 20, self.total_frames - span))
                self.set_visible_range(left, left + span)

    def set_loop(self, start_frame: int, end_frame: int) -> None:
        """Show an A-B loop region (no signal)."""
        start, end = sorted((int(start_frame), int(end_frame)))
        self._loop = (max(0, start), min(self.total_frames, end))
        self._show_loop(*self._loop)

    def clear_loop(self, emit: bool = False) -> None:
        had = self._loop is not None
        self._loop = None
        for lane in self._lanes.values():
            lane.region.setVisible(False)
        if emit and had:
            self.loopCleared.emit()

    # ------------------------------------------------------------------ internals
    def _lane(self, name: str) -> _Lane:
        if name not in self._lanes:
            raise ValueError(f"no waveform lane named {name!r}")
        return self._lanes[name]

    def _refresh(self, names: list[str] | None = None) -> None:
        if not self._lanes:
            return
        vb = next(iter(self._lanes.values())).plot.vb
        x0, x1 = vb.viewRange()[0]
        pixels = max(50, int(vb.width()))
        f0, f1 = max(0.0, x0) * self.samplerate, x1 * self.samplerate
        for name in names or list(self._lanes):
            lane = self._lanes[name]
            xs, ys, level = lane.envelope.segment(int(f0), int(np.ceil(f1)), pixels)
            lane.level = level
            lane.curve.setData(xs / self.samplerate, ys)

    def _apply_mode(self, lane: _Lane) -> None:
        mode = self._mode == SPECTROGRAM
        spectrogram = mode and lane.image_current
        if lane.image is not None:
            lane.image.setVisible(spectrogram)
        lane.curve.setVisible(not spectrogram)
        lane.status.setVisible(mode and not spectrogram and bool(lane.status.textItem.toPlainText()))
        # every lane gets the axis in spectrogram mode (their time axes stay aligned); only
        # those showing an image name frequencies on it
        axis = lane.plot.getAxis("left")
        if mode:
            ticks = ([[(-1.0 + 2.0 * pos, text) for pos, text in level]
                      for level in frequency_ticks(self.samplerate)] if spectrogram else [[], []])
            axis.setTicks(ticks)
            lane.plot.showAxis("left")
        else:
            lane.plot.hideAxis("left")

    def _drop_spectrogram(self, lane: _Lane) -> None:
        """The lane's audio changed: its image no longer shows it (the waveform does until a new
        one is set)."""
        lane.revision += 1
        if lane.image_current:
            lane.image_current = False
            self._apply_mode(lane)

    def _update_pending(self, lane: _Lane) -> None:
        filled = lane.envelope.filled_frames
        lane.pending.set_span(filled / self.samplerate, self.total_frames / self.samplerate)
        lane.pending.setVisible(filled < self.total_frames)

    def _seek_to_x(self, x_seconds: float) -> None:
        frame = int(round(min(max(0.0, x_seconds), self.total_frames / self.samplerate)
                          * self.samplerate))
        self.set_playhead(frame)
        self.seekRequested.emit(frame)

    def _drag_loop(self, x0: float, x1: float, finished: bool) -> None:
        a, b = sorted((x0, x1))
        a = max(0.0, a)
        b = min(self.total_frames / self.samplerate, b)
        self._loop = (int(round(a * self.samplerate)), int(round(b * self.samplerate)))
        self._show_loop(*self._loop)
        if finished:
            self._region_finished()

    def _show_loop(self, start: int, end: int) -> None:
        self._syncing = True
        try:
            for lane in self._lanes.values():
                lane.region.setRegion((start / self.samplerate, end / self.samplerate))
                lane.region.setVisible(True)
        finally:
            self._syncing = False

    def _region_moved(self, name: str) -> None:
        if self._syncing:
            return
        a, b = self._lanes[name].region.getRegion()
        self._loop = (int(round(a * self.samplerate)), int(round(b * self.samplerate)))
        self._syncing = True
        try:
            for other in self._lanes.values():
                if other.name != name:
                    other.region.setRegion((a, b))
        finally:
            self._syncing = False

    def _region_finished(self) -> None:
        if self._syncing or self._loop is None:
            return
        start, end = self._loop
        if end - start < 32:  # a click-sized loop is no loop
            self.clear_loop(emit=True)
            return
        self.loopChanged.emit(start, end)
