"""Per-lane controls: name, mute, solo (or A/B for the original), gain in dB, a level meter, and
dragging the lane out of the window as a file (for a DAW or a file manager).

``StemLaneControls`` only emits signals; ``bind_to_mixer`` wires them to a ``StemMixer``, and the
meters are fed by polling (``app.widgets.transport.PlaybackPoller``), never from the audio thread.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from app.audio.mixer import ORIGINAL, StemMixer

logger = logging.getLogger(__name__)

GAIN_MIN_DB = -60.0
GAIN_MAX_DB = 12.0
METER_FLOOR_DB = -60.0
METER_TOP_DB = 6.0

DragProvider = Callable[[str], "list[Path] | None"]


def _to_db(x: float) -> float:
    return METER_FLOOR_DB if x <= 1e-6 else max(METER_FLOOR_DB, 20.0 * math.log10(x))


class LevelMeter(QtWidgets.QWidget):
    """Horizontal peak/RMS meter in dBFS (-60..+6); turns red when a peak reaches 0 dBFS."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.peak_db = METER_FLOOR_DB
        self.rms_db = METER_FLOOR_DB
        self.clipped = False
        self.setMinimumSize(36, 10)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
        self.setToolTip("Level (peak line, RMS bar); click to reset the clip indicator")

    def set_levels(self, peak: float, rms: float) -> None:
        """Linear peak and RMS amplitudes (1.0 = 0 dBFS)."""
        peak_db, rms_db = _to_db(peak), _to_db(rms)
        if peak >= 1.0:
            self.clipped = True
        if (peak_db, rms_db) != (self.peak_db, self.rms_db):
            self.peak_db, self.rms_db = peak_db, rms_db
            self.update()

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        self.clipped = False
        self.update()

    def _x(self, db: float) -> float:
        return (db - METER_FLOOR_DB) / (METER_TOP_DB - METER_FLOOR_DB) * self.width()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802
        p = QtGui.QPainter(self)
        r = self.rect()
        p.fillRect(r, QtGui.QColor("#15171b"))
        zero = self._x(0.0)
        rms_w = self._x(self.rms_db)
        p.fillRect(QtCore.QRectF(0, 0, min(rms_w, zero), r.height()), QtGui.QColor("#3fbf6f"))
        if rms_w > zero:
            p.fillRect(QtCore.QRectF(zero, 0, rms_w - zero, r.height()), QtGui.QColor("#e0a030"))
        peak_x = self._x(self.peak_db)
        p.setPen(QtGui.QPen(QtGui.QColor("#ff4040" if self.clipped else "#e8e8e8"), 2))
        p.drawLine(QtCore.QPointF(peak_x, 0), QtCore.QPointF(peak_x, r.height()))
        p.setPen(QtGui.QPen(QtGui.QColor("#606060"), 1))
        p.drawLine(QtCore.QPointF(zero, 0), QtCore.QPointF(zero, r.height()))
        p.end()


class StemLaneControls(QtWidgets.QFrame):
    """Controls for one lane. ``name`` is the lane ("original" gets an A/B button instead of solo)."""

    muteToggled = QtCore.Signal(str, bool)
    soloToggled = QtCore.Signal(str, bool)
    listenToggled = QtCore.Signal(bool)  # original lane: True = listen to the original (A/B)
    gainChanged = QtCore.Signal(str, float)  # dB

    def __init__(self, name: str, color: str = "#c8c8c8",
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._drag_provider: DragProvider | None = None
        self._press_pos: QtCore.QPoint | None = None
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self.label = QtWidgets.QLabel(name.capitalize())
        self.label.setStyleSheet(f"QLabel {{ color: {color}; font-weight: bold; }} "
                                 "QLabel:disabled { color: #59606c; }")   # dimmed by a solo
        self.label.setMinimumWidth(64)
        self.label.setToolTip("Drag this lane out of the window to drop the stem file into a DAW")
        self.mute_button = QtWidgets.QToolButton(text="M", checkable=True)
        self.mute_button.setToolTip(f"Mute {name}")
        self.solo_button = QtWidgets.QToolButton(text="A/B" if name == ORIGINAL else "S",
                                                 checkable=True)
        self.solo_button.setObjectName("soloButton")
        self.solo_button.setToolTip("Listen to the original instead of the stems (A/B)"
                                    if name == ORIGINAL else f"Solo {name}")
        self.gain_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.gain_slider.setRange(int(GAIN_MIN_DB * 10), int(GAIN_MAX_DB * 10))
        self.gain_slider.setValue(0)
        self.gain_slider.setToolTip("Gain (dB); double-click the spin box arrows or type a value")
        self.gain_spin = QtWidgets.QDoubleSpinBox()
        self.gain_spin.setRange(GAIN_MIN_DB, GAIN_MAX_DB)
        self.gain_spin.setDecimals(1)
        self.gain_spin.setSingleStep(0.5)
        self.gain_spin.setSuffix(" dB")
        self.gain_spin.setKeyboardTracking(False)
        self.meter = LevelMeter()
        # two rows (name, meter, M, S / gain): six lanes and the SE dock fit in 800 px
        top = QtWidgets.QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.label)
        top.addWidget(self.meter, 1)
        top.addWidget(self.mute_button)
        top.addWidget(self.solo_button)
        bottom = QtWidgets.QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.gain_slider, 1)
        bottom.addWidget(self.gain_spin)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addLayout(bottom)
        self.mute_button.toggled.connect(lambda on: self.muteToggled.emit(self.name, on))
        if name == ORIGINAL:
            self.solo_button.toggled.connect(self.listenToggled.emit)
        else:
            self.solo_button.toggled.connect(lambda on: self.soloToggled.emit(self.name, on))
        self.gain_slider.valueChanged.connect(lambda v: self.gain_spin.setValue(v / 10.0))
        self.gain_spin.valueChanged.connect(self._gain_from_spin)

    # ------------------------------------------------------------------ state
    def set_solo_state(self, state: str) -> None:
        """How the lane looks while some lane is soloed: "soloed" (highlighted), "dimmed" (not
        heard) or "" (no solo). The style sheet draws it from the ``soloState`` property."""
        if self.property("soloState") != state:
            self.setProperty("soloState", state)
            self.style().unpolish(self)
            self.style().polish(self)
            self.label.setEnabled(state != "dimmed")

    @property
    def solo_state(self) -> str:
        return self.property("soloState") or ""

    @property
    def gain_db(self) -> float:
        return float(self.gain_spin.value())

    def set_gain_db(self, gain_db: float) -> None:
        self.gain_spin.setValue(float(gain_db))

    def set_levels(self, peak: float, rms: float) -> None:
        self.meter.set_levels(peak, rms)

    def _gain_from_spin(self, value: float) -> None:
        blocked = self.gain_slider.blockSignals(True)
        self.gain_slider.setValue(int(round(value * 10)))
        self.gain_slider.blockSignals(blocked)
        self.gainChanged.emit(self.name, float(value))

    # ------------------------------------------------------------------ drag out
    def set_drag_provider(self, provider: DragProvider | None) -> None:
        """``provider(lane_name) -> [paths]`` (the exported/cached stem file) or None when there is
        nothing to drag yet. Called when a drag starts, so it may write the file then."""
        self._drag_provider = provider
        self.setCursor(QtCore.Qt.CursorShape.OpenHandCursor if provider else
                       QtCore.Qt.CursorShape.ArrowCursor)

    def mime_data(self) -> QtCore.QMimeData | None:
        """File URLs for this lane from the provider (None when none)."""
        if self._drag_provider is None:
            return None
        try:
            paths = self._drag_provider(self.name)
        except Exception as exc:  # noqa: BLE001 - a failed export must not break the drag gesture
            logger.error("could not prepare %s for dragging: %s", self.name, exc)
            return None
        if not paths:
            return None
        mime = QtCore.QMimeData()
        mime.setUrls([QtCore.QUrl.fromLocalFile(str(Path(p).resolve())) for p in paths])
        return mime

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if event.button() == QtCore.Qt.MouseButton.LeftButton:
            self._press_pos = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if (self._press_pos is not None and event.buttons() & QtCore.Qt.MouseButton.LeftButton
                and (event.position().toPoint() - self._press_pos).manhattanLength()
                >= QtWidgets.QApplication.startDragDistance()):
            self._press_pos = None
            mime = self.mime_data()
            if mime is not None:
                drag = QtGui.QDrag(self)
                drag.setMimeData(mime)
                drag.exec(QtCore.Qt.DropAction.CopyAction)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        self._press_pos = None
        super().mouseReleaseEvent(event)


def bind_to_mixer(controls: StemLaneControls, mixer: StemMixer) -> None:
    """Route a lane's controls to ``mixer`` (GUI thread; each change is one snapshot swap) and
    apply the controls' current state."""
    controls.muteToggled.connect(mixer.set_mute)
    controls.gainChanged.connect(mixer.set_gain_db)
    if controls.name == ORIGINAL:
        controls.listenToggled.connect(mixer.set_listen_original)
        mixer.set_listen_original(controls.solo_button.isChecked())
    else:
        controls.soloToggled.connect(mixer.set_solo)
        mixer.set_solo(controls.name, controls.solo_button.isChecked())
    mixer.set_mute(controls.name, controls.mute_button.isChecked())
    mixer.set_gain_db(controls.name, controls.gain_db)
