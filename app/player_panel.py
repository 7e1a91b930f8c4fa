"""The player area of the window: waveform lanes, per-stem controls, transport, audio output.

Glue between a `Track` (model-rate arrays filled progressively) and the `player` branch's parts:
`StemMixer` (one cursor, pure numpy), the sounddevice `Player`, `WaveformView`, `StemLane` and
`Transport`. The GUI polls the mixer (position, levels) with a QTimer; it never blocks on audio.
All frame numbers this panel exchanges with the window are *track* frames (model rate); the
mixer's output-rate frames are converted here.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .audio.mixer import ORIGINAL, StemMixer
from .track import Track
from .widgets.envelope import EnvelopePyramid
from .widgets.waveform_view import WaveformView

logger = logging.getLogger(__name__)

POLL_MS = 33


class PlayerPanel(QWidget):
    """See module doc. `seeked(track_frame)` when the user moves the playhead."""

    seeked = Signal(int)
    selection_changed = Signal(object)

    def __init__(self, enable_audio: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("playerPanel")
        self.track: Track | None = None
        self.drag_paths: Callable[[str], list[str]] | None = None
        self.audio = None
        self.mixer = StemMixer(samplerate=44100)
        if enable_audio:
            from .audio.player import Player

            self.audio = Player(44100)
            self.mixer = self.audio.mixer
        self._selection: tuple[int, int] | None = None
        self._last_frame = -1
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.waveform = WaveformView()
        self.waveform.seekRequested.connect(self.seek_frame)
        self.waveform.loopChanged.connect(self._loop_changed)
        self.waveform.loopCleared.connect(self._loop_cleared)
        self.controls = QVBoxLayout()
        self.controls.setContentsMargins(0, 0, 0, 0)
        self.controls.setSpacing(2)
        lanes = QHBoxLayout()
        lanes.setContentsMargins(0, 0, 0, 0)
        lanes.addLayout(self.controls)
        lanes.addWidget(self.waveform, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addWidget(self.status)
        layout.addLayout(lanes, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    # -- track ----------------------------------------------------------------------------------
    def set_track(self, track: Track) -> None:
        self.track = track
        self.mixer.load_track(track.samplerate, track.frames, list(track.sources),
                              original=track.mixture)
        if track.coverage:  # from the cache, or partly separated already
            for i, name in enumerate(track.sources):
                self.mixer.set_lane(name, track.stems[i])
        self._selection = None
        envelopes = getattr(track, "envelopes", {}) or {}
        self.waveform.set_track(track.samplerate, track.frames)
        self.waveform.add_lane(ORIGINAL, envelope=envelopes.get(ORIGINAL)
                               or EnvelopePyramid.from_samples(track.mixture))
        for i, name in enumerate(track.sources):
            env = envelopes.get(name)
            if env is None:
                env = (EnvelopePyramid.from_samples(track.stems[i]) if track.coverage else
                       EnvelopePyramid(track.frames, raw=track.stems[i]))
            self.waveform.add_lane(name, envelope=env)
        self.selection_changed.emit(None)

    def region_ready(self, start: int, end: int) -> None:
        track = self.track
        if track is None:
            return
        out_start = self.mixer.source_to_output_frames(start)
        for i, name in enumerate(track.sources):
            if out_start > self.mixer.valid_frames(name) + 1:
                # Separation restarted ahead of the playhead: the mixer only plays lanes up to a
                # contiguous frontier, so make this lane whole once (zeros where not yet separated);
                # later regions land anywhere and are audible at once.
                self.mixer.set_lane(name, track.stems[i])
            else:
                self.mixer.write_region(name, start, track.stems[i, :, start:end])
            self.waveform.update_lane_region(name, start, track.stems[i, :, start:end])

    def refresh(self) -> None:
        """The track's stems were replaced as a whole: reload every lane."""
        track = self.track
        if track is None:
            return
        for i, name in enumerate(track.sources):
            self.mixer.set_lane(name, track.stems[i])

    # -- controls (what the lane widgets do; also used by tests and the window) ---------------
    def set_mute(self, name: str, muted: bool) -> None:
        self.mixer.set_mute(name, muted)

    def set_solo(self, name: str, soloed: bool) -> None:
        self.mixer.set_solo(name, soloed)

    def set_gain_db(self, name: str, gain_db: float) -> None:
        self.mixer.set_gain_db(name, gain_db)

    def set_listen_original(self, listen: bool) -> None:
        self.mixer.set_listen_original(listen)

    def seek_frame(self, track_frame: int) -> None:
        """Move the playhead to a track frame (model rate)."""
        self.mixer.seek(self.mixer.source_to_output_frames(track_frame))
        self.waveform.set_playhead(int(track_frame))
        self.seeked.emit(int(track_frame))

    def drag_mime(self, stem: str):
        """Mime data for dragging `stem` out of the window: the URL of a WAV file."""
        from PySide6.QtCore import QMimeData, QUrl

        mime = QMimeData()
        paths = self.drag_paths(stem) if self.drag_paths else []
        mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
        return mime

    # -- queries used by the window -----------------------------------------------------------
    def selection(self) -> tuple[int, int] | None:
        """The A–B region in track frames, or None."""
        return self._selection

    def set_selection(self, start: int, end: int) -> None:
        """Select (and loop) [start, end) track frames, as a Shift+drag on the waveform does."""
        self.waveform.set_loop(start, end)
        self._loop_changed(start, end)

    def loop_selection(self) -> None:
        """Play the A–B region in a loop, starting at A."""
        if self._selection is None:
            return
        a, b = self._selection
        self.seek_frame(a)
        self.mixer.play()

    def _loop_changed(self, start: int, end: int) -> None:
        self._selection = (int(start), int(end))
        conv = self.mixer.source_to_output_frames
        try:
            self.mixer.set_loop(conv(start), conv(end))
        except ValueError:  # too short to loop
            pass
        self.selection_changed.emit(self._selection)

    def _loop_cleared(self) -> None:
        self._selection = None
        if self.mixer.duration_frames:
            self.mixer.clear_loop()
        self.selection_changed.emit(None)

    def mix_gains(self) -> dict[str, float]:
        """Linear gain per lane as heard now ("mixture" for the original lane)."""
        gains = self.mixer.target_gains()
        return {("mixture" if k == ORIGINAL else k): v for k, v in gains.items()}

    def prepare_screenshot(self) -> None:
        pass

    def open_audio(self) -> None:
        """Open the sound output (called once the window is up). Before any track is loaded."""
        if self.audio is None:
            self.status.setText("Playback is off.")
            return
        if self.audio.open():
            self.mixer = self.audio.mixer
            if self.track is not None:
                self.set_track(self.track)
            self.status.setText("")
        else:
            self.status.setText(f"Playback unavailable: {self.audio.unavailable_reason}. "
                                "You can still separate, view and export.")

    def position_frame(self) -> int:
        """Playhead in track frames."""
        return self.mixer.output_to_source_frames(self.mixer.position_frames)

    def _poll(self) -> None:
        if self.audio is not None:
            self.audio.poll()
        if self.track is None:
            return
        frame = self.position_frame()
        if frame != self._last_frame:
            self._last_frame = frame
            self.waveform.set_playhead(frame)

    def close_audio(self) -> None:
        self.timer.stop()
        self.mixer.pause()
        if self.audio is not None:
            self.audio.close()
