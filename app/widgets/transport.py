"""Transport bar (play/pause, stop, loop, position / duration) and the QTimer that polls the player.

The space bar is handled by the main window (gui branch): it calls ``Player.toggle``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from app.widgets.sizing import fit_width
from app.widgets.waveform_view import format_seconds

if TYPE_CHECKING:
    from app.audio.player import Player
    from app.widgets.stem_lane import StemLaneControls
    from app.widgets.waveform_view import WaveformView

logger = logging.getLogger(__name__)


class TransportBar(QtWidgets.QWidget):
    """Play/pause, stop, loop toggle and a ``mm:ss.mmm / mm:ss.mmm`` readout."""

    playPauseClicked = QtCore.Signal()
    stopClicked = QtCore.Signal()
    loopToggled = QtCore.Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        style = self.style()
        self._play_icon = style.standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaPlay)
        self._pause_icon = style.standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaPause)
        self.play_button = QtWidgets.QToolButton()
        self.play_button.setIcon(self._play_icon)
        self.play_button.setToolTip("Play / pause (Space)")
        self.stop_button = QtWidgets.QToolButton()
        self.stop_button.setIcon(style.standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaStop))
        self.stop_button.setToolTip("Stop and return to the start")
        self.loop_button = QtWidgets.QToolButton(text="Loop", checkable=True)
        self.loop_button.setToolTip("Loop the A-B region (Shift+drag on the waveform to select it)")
        self.position_label = QtWidgets.QLabel()
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.position_label.setFont(font)
        self.status_label = QtWidgets.QLabel()
        self.status_label.setStyleSheet("color: #d08040;")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for w in (self.play_button, self.stop_button, self.loop_button):
            layout.addWidget(w)
        layout.addSpacing(12)
        layout.addWidget(self.position_label)
        layout.addStretch(1)
        layout.addWidget(self.status_label)
        self.play_button.clicked.connect(self.playPauseClicked.emit)
        self.stop_button.clicked.connect(self.stopClicked.emit)
        self.loop_button.toggled.connect(self.loopToggled.emit)
        self._position = 0.0
        self._duration = 0.0
        self._playing = False
        self._update_label()

    def set_playing(self, playing: bool) -> None:
        if playing != self._playing:
            self._playing = playing
            self.play_button.setIcon(self._pause_icon if playing else self._play_icon)

    def set_position(self, seconds: float) -> None:
        if abs(seconds - self._position) >= 0.0005:
            self._position = seconds
            self._update_label()

    def set_duration(self, seconds: float) -> None:
        self._duration = seconds
        longest = format_seconds(seconds)
        fit_width(self.position_label, f"{longest} / {longest}")
        self._update_label()

    def set_available(self, available: bool, reason: str = "") -> None:
        """Disable playback (with the reason in words) when there is no sound output."""
        for w in (self.play_button, self.stop_button, self.loop_button):
            w.setEnabled(available)
        self.status_label.setText("" if available else "Playback unavailable")
        self.status_label.setToolTip(f"{reason}. You can still separate, view and export."
                                     if reason else "")
        self.play_button.setToolTip("Play / pause (Space)" if available
                                    else f"Playback unavailable: {reason}")

    def set_note(self, text: str, tooltip: str = "") -> None:
        """A short note in the transport's status label (e.g. the output device fell back)."""
        self.status_label.setText(text)
        self.status_label.setToolTip(tooltip)

    def position_text(self) -> str:
        return self.position_label.text()

    def _update_label(self) -> None:
        self.position_label.setText(f"{format_seconds(self._position)} / "
                                    f"{format_seconds(self._duration)}")


class PlaybackPoller(QtCore.QObject):
    """GUI-thread QTimer (~30 Hz) that reads the player (never the other way round): position to
    the transport bar and waveform playhead, levels to the lane meters, new underruns to the log."""

    def __init__(self, player: "Player", transport: TransportBar | None = None,
                 waveform: "WaveformView | None" = None,
                 lanes: "dict[str, StemLaneControls] | None" = None,
                 interval_ms: int = 33, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self.transport = transport
        self.waveform = waveform
        self.lanes = lanes if lanes is not None else {}
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def poll(self) -> None:
        mixer = self.player.mixer
        self.player.poll()
        seconds = self.player.position_seconds  # latency-compensated: what is heard now
        if self.transport is not None:
            self.transport.set_playing(mixer.is_playing)
            self.transport.set_position(seconds)
            self.transport.set_duration(mixer.duration_frames / mixer.samplerate)
        if self.waveform is not None and self.waveform.total_frames:
            self.waveform.set_playhead(int(round(seconds * self.waveform.samplerate)))
        names, peak, rms = mixer.levels()
        for i, name in enumerate(names):
            lane = self.lanes.get(name)
            if lane is not None:
                lane.set_levels(float(peak[i]), float(rms[i]))
