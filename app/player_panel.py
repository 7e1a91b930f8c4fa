"""The player area of the window: transport, per-lane controls beside waveform lanes, audio output.

Glue between a `Track` (model-rate arrays filled progressively) and the `player` branch's parts:
`Player` (sounddevice stream owning a `StemMixer`: one cursor, pure numpy), `WaveformView`,
`StemLaneControls` and `TransportBar`, polled by `PlaybackPoller` (a QTimer; the GUI never waits
on audio). Frame numbers this panel exchanges with the window are *track* frames (model rate);
the mixer's output-rate frames are converted here.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QMimeData, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from model.resources import resource_path

from .audio.mixer import ORIGINAL, StemMixer
from .audio.player import Player
from .jobs import JobRunner
from .palette import stem_color
from .track import Track
from .audio.envelope import EnvelopePyramid
from .widgets.level_scale import LevelScale
from .widgets.stem_lane import StemLaneControls, bind_to_mixer
from .widgets.transport import PlaybackPoller, TransportBar
from .widgets.waveform_view import SPECTROGRAM, WAVEFORM, WaveformView

logger = logging.getLogger(__name__)

CONTROLS_WIDTH = 210
REGION_FLUSH_MS = 120     # separated regions are applied to lanes at most this often ...
REGION_SLICE_SECONDS = 1.0  # ... in slices of this length ...
REGION_BUDGET_MS = 8.0    # ... for at most this long per event-loop turn (keeps the GUI fluid)
RESIDUAL = "residual"
AXIS_HEIGHT = 26          # the waveform's shared time axis under the last lane


class PlayerPanel(QWidget):
    """See module doc. `seeked(track_frame)` when the user moves the playhead;
    `selection_changed((start, end) | None)` when the A–B region changes."""

    seeked = Signal(int)
    selection_changed = Signal(object)
    lanes_ready = Signal()   # lanes converted in a worker have been swapped into the mixer

    def __init__(self, enable_audio: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("playerPanel")
        self.track: Track | None = None
        self.runner: JobRunner | None = None   # set by the window: lane conversion in a worker
        self._lanes_generation = 0
        #: spectrograms being computed: (track, lane) -> the lane revision they are made from
        self._spectrograms_requested: dict[tuple[int, str], int] = {}
        self.drag_paths: Callable[[str], list[str]] | None = None
        self.enable_audio = enable_audio
        self.audio = Player(44100)       # opened in open_audio(); without it the mixer still works
        self._selection: tuple[int, int] | None = None
        self.lanes: dict[str, StemLaneControls] = {}
        self.lanes_extra: list[QWidget] = []      # view-only rows (the residual)

        self.transport = TransportBar()
        self._theme_transport_icons()
        self.transport.playPauseClicked.connect(self.toggle_play)
        self.transport.stopClicked.connect(self.stop)
        self.transport.loopToggled.connect(self._loop_toggled)
        self.waveform = WaveformView()
        self.waveform.seekRequested.connect(self.seek_frame)
        self.waveform.loopChanged.connect(self._loop_changed)
        self.waveform.loopCleared.connect(self._loop_cleared)
        self.controls_box = QWidget()
        self.controls_box.setObjectName("laneControls")
        self.controls_box.setFixedWidth(CONTROLS_WIDTH)
        self.controls = QVBoxLayout(self.controls_box)
        self.controls.setContentsMargins(0, 0, 0, AXIS_HEIGHT)
        self.controls.setSpacing(2)
        lanes = QHBoxLayout()
        lanes.setContentsMargins(0, 0, 0, 0)
        lanes.setSpacing(4)
        lanes.addWidget(self.controls_box)
        lanes.addWidget(self.waveform, 1)
        self.level_scale = LevelScale()   # the spectrograms' colours in dB
        self.level_scale.hide()
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.transport, 1)
        top.addWidget(self.level_scale, 0, Qt.AlignmentFlag.AlignVCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.addLayout(top)
        layout.addLayout(lanes, 1)
        self._pending: list[tuple[int, int]] = []
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.timeout.connect(self._flush_some)
        self.poller = PlaybackPoller(self.audio, self.transport, self.waveform, self.lanes,
                                     parent=self)
        self.poller.start()

    def _theme_transport_icons(self) -> None:
        """Light icons for the dark theme (the style's standard ones are dark grey)."""
        from PySide6.QtGui import QIcon

        icons = resource_path("icons")
        play, pause = QIcon(str(icons / "play.svg")), QIcon(str(icons / "pause.svg"))
        if hasattr(self.transport, "_play_icon") and hasattr(self.transport, "_pause_icon"):
            self.transport._play_icon, self.transport._pause_icon = play, pause
            self.transport.play_button.setIcon(play)
        self.transport.stop_button.setIcon(QIcon(str(icons / "stop.svg")))

    @property
    def mixer(self) -> StemMixer:
        return self.audio.mixer

    # -- audio output ---------------------------------------------------------------------------
    def open_audio(self) -> None:
        """Open the sound output (called once the window is up)."""
        if not self.enable_audio:
            self.transport.set_available(False, "playback is off")
            return
        opened = self.audio.open()
        fallback = ""
        if not opened and self.audio.device is not None:
            # the chosen device is unplugged or gone: the default output rather than silence
            missing, reason = self.audio.device, self.audio.unavailable_reason
            self.audio.device = None
            opened = self.audio.open()
            if opened:
                logger.warning("output device %r unavailable (%s); using the default output", missing, reason)
                fallback = f"Output device '{missing}' is not available; playing through the default output"
        if opened:
            if self.track is not None:   # the device rate may differ: reload the lanes
                self.set_track(self.track)
            self.transport.set_available(True)
            if fallback:  # short in the transport row, the whole sentence in its tooltip
                self.transport.set_note("Default output", fallback)
        else:
            # the transport says so; the reason is in its tooltip (the top row stays narrow)
            self.transport.set_available(False, self.audio.unavailable_reason)
            logger.info("playback unavailable: %s", self.audio.unavailable_reason)

    def set_output_device(self, name: str) -> None:
        """Play through the output device called `name` ("" = the system default) from now on."""
        device = name or None
        if device == self.audio.device and self.audio.available:
            return
        self.mixer.pause()
        self.audio.close()
        self.audio.device = device
        self.open_audio()

    def close_audio(self) -> None:
        self.poller.stop()
        self.mixer.pause()
        self.audio.close()

    # -- track ----------------------------------------------------------------------------------
    def set_track(self, track: Track) -> None:
        """Show and play `track` (lanes for the original and each stem). The same song again (its
        settings changed) keeps the view: zoom, playhead, loop, lane controls and playback."""
        previous = self.track
        same_song = (previous is not None and previous.path == track.path
                     and previous.frames == track.frames and previous.samplerate == track.samplerate)
        view = self._view_state() if same_song else None
        self.track = track
        self._pending = []
        self._load_lanes(track)
        self._selection = None
        self.transport.loop_button.setChecked(False)
        envelopes = track.envelopes or {}
        self.waveform.set_track(track.samplerate, track.frames)
        self.waveform.add_lane(ORIGINAL, envelope=envelopes.get(ORIGINAL)
                               or EnvelopePyramid.from_samples(track.mixture))
        for i, name in enumerate(track.sources):
            env = envelopes.get(name)
            if env is None:
                env = (EnvelopePyramid.from_samples(track.stems[i]) if track.has_stems else
                       EnvelopePyramid(track.frames, raw=track.stems[i]))
            self.waveform.add_lane(name, envelope=env)
        self._build_lane_controls(track)
        self.transport.set_duration(track.duration_seconds)
        if view is not None:
            self._restore_view_state(view)
        else:
            self.selection_changed.emit(None)
        self.update_spectrograms()

    def _view_state(self) -> dict:
        """What the user set up on the displayed song (see `set_track`)."""
        return {"range": self.waveform.visible_range(), "playhead": self.position_frame(),
                "playing": self.mixer.is_playing, "selection": self._selection,
                "loop": self.transport.loop_button.isChecked(),
                "lanes": {name: (lane.mute_button.isChecked(), lane.solo_button.isChecked(),
                                 lane.gain_db) for name, lane in self.lanes.items()}}

    def _restore_view_state(self, view: dict) -> None:
        for name, (muted, soloed, gain_db) in view["lanes"].items():
            if name in self.lanes:
                self.set_mute(name, muted)
                self.set_solo(name, soloed)
                self.set_gain_db(name, gain_db)
        self.waveform.set_visible_range(*view["range"])
        if view["selection"] is not None:
            self.waveform.set_loop(*view["selection"])
            self._selection = view["selection"]
            self.transport.loop_button.setChecked(view["loop"])
            self._apply_loop(view["loop"])
        self.selection_changed.emit(self._selection)
        self.mixer.seek(self.mixer.source_to_output_frames(view["playhead"]))
        self.waveform.set_playhead(view["playhead"])
        if view["playing"]:
            self.audio.play()

    def _load_lanes(self, track: Track) -> None:
        """Mixer lanes for `track`. At the device's rate they borrow the track's arrays (no copy
        of the song; regions land in the lanes as the track receives them). At another rate the
        song (and complete stems) are resampled in a worker when `runner` is set, and swapped in
        when ready (the original lane is silent for that moment); partly separated stems are
        converted here, as regions that arrive meanwhile must not be lost."""
        mixer = self.mixer
        self._lanes_generation += 1
        convert = mixer.samplerate != track.samplerate or mixer.channels != track.channels
        in_worker = convert and self.runner is not None
        mixer.load_track(track.samplerate, track.frames, list(track.sources),
                         original=None if in_worker else track.mixture,
                         stem_buffers=list(track.stems), share=True, original_later=in_worker)
        later = [ORIGINAL] if in_worker else []
        for i, name in enumerate(track.sources):
            if track.complete and in_worker:
                later.append(name)
            elif track.has_stems:  # from the cache, partly separated, or held
                mixer.set_lane(name, track.stems[i])
        if later:
            self._prepare_lanes_in_worker(track, later)

    def _prepare_lanes_in_worker(self, track: Track, names: list[str]) -> None:
        from .audio.lanes import prepare_lane
        from .jobs import FunctionJob

        mixer, generation = self.mixer, self._lanes_generation
        rate, channels, frames = mixer.samplerate, mixer.channels, mixer.duration_frames
        sources = {ORIGINAL: track.mixture, **track.stems_dict()}

        def prepare(cancel) -> dict:
            return {name: prepare_lane(sources[name], track.samplerate, rate, channels, frames)
                    for name in names if not cancel.is_set()}

        job = FunctionJob("preparing playback lanes", prepare)
        job.signals.finished.connect(
            lambda lanes, g=generation, r=rate: self._lanes_prepared(g, r, lanes))
        self.runner.start(job)

    def _lanes_prepared(self, generation: int, rate: int, lanes: dict) -> None:
        if generation != self._lanes_generation or rate != self.mixer.samplerate:
            return  # another track (or device rate) since
        for name, samples in lanes.items():
            self.mixer.set_lane_prepared(name, samples)
        self.lanes_ready.emit()

    def _build_lane_controls(self, track: Track) -> None:
        for lane in [*self.lanes.values(), *self.lanes_extra]:
            self.controls.removeWidget(lane)
            lane.deleteLater()
        self.lanes.clear()
        self.lanes_extra.clear()
        for name in (ORIGINAL, *track.sources):
            lane = StemLaneControls(name, stem_color(name))
            bind_to_mixer(lane, self.mixer)
            lane.set_drag_provider(self._drag_provider)
            lane.soloToggled.connect(lambda *_: self._show_solo())
            self.controls.addWidget(lane, 1)
            self.lanes[name] = lane
        self._fit_rows()

    def _show_solo(self) -> None:
        """While stems are soloed, they are highlighted and every other lane (the original and
        the residual too: neither is heard) is dimmed, controls and waveform."""
        soloed = {name for name, lane in self.lanes.items()
                  if name != ORIGINAL and lane.solo_button.isChecked()}
        for name, lane in self.lanes.items():
            lane.set_solo_state("" if not soloed else "soloed" if name in soloed else "dimmed")
        for name in self.waveform.lane_names:
            self.waveform.set_lane_dimmed(name, bool(soloed) and name not in soloed)

    def _fit_rows(self) -> None:
        """Waveform rows at least as tall as the lane controls beside them, so they line up."""
        widgets = [*self.lanes.values(), *self.lanes_extra]
        if widgets:
            row = max(w.minimumSizeHint().height() for w in widgets) + self.controls.spacing()
            self.waveform.setMinimumHeight(len(widgets) * row + AXIS_HEIGHT)

    def add_residual_lane(self, track: Track, envelope: EnvelopePyramid) -> None:
        """Show mixture − sum of stems (what no stem caught) as a view-only lane."""
        if track is not self.track or RESIDUAL in self.waveform.lane_names:
            return
        self.waveform.add_lane(RESIDUAL, envelope=envelope)
        self._show_solo()
        label = QLabel("Residual")
        label.setObjectName("residualLabel")
        label.setToolTip("Mixture minus the sum of the stems: bleed, reverb tails and what the "
                         "model missed. View only; export it with Export ▸ Residual.")
        label.setStyleSheet(f"color: {stem_color(RESIDUAL)}; font-weight: bold; padding: 4px;")
        label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.controls.addWidget(label, 1)
        self.lanes_extra.append(label)
        self._fit_rows()
        self.update_spectrograms()

    # -- spectrograms ------------------------------------------------------------------------
    def show_spectrograms(self, on: bool) -> None:
        """Spectrograms instead of waveforms in every lane (computed in a worker when needed)."""
        self.waveform.set_display_mode(SPECTROGRAM if on else WAVEFORM)
        self.level_scale.setVisible(on)
        self.update_spectrograms()

    def update_spectrograms(self) -> None:
        """In spectrogram mode, compute the images the lanes lack: the original's at once, the
        stems' and the residual's once the separation is complete and its last regions are drawn
        (a stem being separated shows its waveform filling in). All share the original's
        reference level."""
        track, view = self.track, self.waveform
        if track is None or self.runner is None or view.display_mode != SPECTROGRAM:
            return
        stems_final = track.complete and not self._pending  # last regions drawn: no new revision
        wanted = {name: view.lane_revision(name) for name in view.lane_names
                  if not view.has_spectrogram(name) and (name == ORIGINAL or stems_final)
                  and self._spectrograms_requested.get((id(track), name)) != view.lane_revision(name)}
        self._spectrograms_requested.update({(id(track), name): rev for name, rev in wanted.items()})
        self._show_spectrogram_status()
        if not wanted:
            return  # (several events ask at the end of a separation: one job per lane revision)
        from .jobs import FunctionJob
        from .audio.spectrogram import lane_spectrograms, mono_of, residual_of

        signals = {ORIGINAL: mono_of(track.mixture), RESIDUAL: residual_of(track.mixture, track.stems),
                   **{name: mono_of(stem) for name, stem in zip(track.sources, track.stems)}}

        def compute(cancel) -> dict:
            lanes = {name: signals[name] for name in {*wanted, ORIGINAL}}
            images = lane_spectrograms(lanes, track.frames, track.samplerate, reference_lane=ORIGINAL)
            return {name: images[name] for name in wanted}

        job = FunctionJob("spectrograms", compute)
        job.signals.finished.connect(lambda images: self._spectrograms_ready(track, wanted, images))
        job.signals.done.connect(lambda: self._spectrogram_job_ended(track, wanted))
        self.runner.start(job)

    def _show_spectrogram_status(self) -> None:
        """Each lane without its spectrogram says why: being computed, or waiting for the
        separation (a stem being separated shows its waveform filling in)."""
        track, view = self.track, self.waveform
        if track is None:
            return
        for name in view.lane_names:
            if (id(track), name) in self._spectrograms_requested:
                text = "computing spectrogram…"
            elif name != ORIGINAL and not track.complete:
                text = "spectrogram once separated"
            else:
                text = ""
            view.set_spectrogram_status(name, text)

    def _spectrogram_job_ended(self, track: Track, revisions: dict[str, int]) -> None:
        for name, revision in revisions.items():
            if self._spectrograms_requested.get((id(track), name)) == revision:
                del self._spectrograms_requested[(id(track), name)]
        if track is self.track:
            self._show_spectrogram_status()

    def _spectrograms_ready(self, track: Track, revisions: dict[str, int], images: dict) -> None:
        if track is not self.track:
            return  # another song since
        for name, image in images.items():
            if name in self.waveform.lane_names and self.waveform.lane_revision(name) == revisions[name]:
                self.waveform.set_spectrogram(name, image)

    def _drag_provider(self, name: str) -> list[Path] | None:
        if self.drag_paths is None or self.track is None:
            return None
        if name != ORIGINAL and not self.track.has_stems:
            return None  # nothing separated yet
        return [Path(p) for p in self.drag_paths(name)]

    def region_ready(self, start: int, end: int) -> None:
        """Frames [start, end) of every stem were separated. Updates are coalesced for a moment
        (a fast GPU delivers many small regions) and applied together."""
        if self.track is None:
            return
        if self._pending and self._pending[-1][1] == start:
            self._pending[-1] = (self._pending[-1][0], end)
        else:
            self._pending.append((start, end))
        if not self._flush_timer.isActive():
            self._flush_timer.start(REGION_FLUSH_MS)

    def flush_regions(self, budget_ms: float | None = None) -> None:
        """Apply separated regions received so far to the mixer lanes and waveforms, in slices,
        for at most `budget_ms` (None: all of them now); the rest follows on the next turns."""
        t0 = time.perf_counter()
        slice_frames = int(REGION_SLICE_SECONDS * (self.track.samplerate if self.track else 44100))
        while self._pending:
            start, end = self._pending[0]
            stop = min(end, start + slice_frames)
            if stop < end:
                self._pending[0] = (stop, end)
            else:
                self._pending.pop(0)
            self._apply_region(start, stop)
            if budget_ms is not None and (time.perf_counter() - t0) * 1000 > budget_ms:
                break
        if self._pending:
            self._flush_timer.start(0)
        else:
            self.update_spectrograms()  # the stems are drawn as they now are (complete or not)

    def _flush_some(self) -> None:
        self.flush_regions(REGION_BUDGET_MS)

    def _apply_region(self, start: int, end: int) -> None:
        track = self.track
        if track is None:
            return
        for i, name in enumerate(track.sources):
            # in place; a region past the lane's frontier (separation restarted ahead of the
            # playhead) makes the lane playable throughout, silence where nothing is separated
            self.mixer.write_region(name, start, track.stems[i, :, start:end])
            self.waveform.update_lane_region(name, start, track.stems[i, :, start:end])

    # -- transport ------------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.track is None:
            return
        self.audio.toggle()
        if self.mixer.is_playing:
            self.seeked.emit(self.position_frame())  # separation should run ahead of here

    def stop(self) -> None:
        self.audio.stop()

    def position_frame(self) -> int:
        """Playhead in track frames."""
        return self.mixer.output_to_source_frames(self.mixer.position_frames)

    def seek_frame(self, track_frame: int) -> None:
        """Move the playhead to a track frame (model rate)."""
        self.mixer.seek(self.mixer.source_to_output_frames(track_frame))
        self.waveform.set_playhead(int(track_frame))
        self.seeked.emit(int(track_frame))

    # -- A–B selection / loop -------------------------------------------------------------------
    def selection(self) -> tuple[int, int] | None:
        """The A–B region in track frames, or None."""
        return self._selection

    def set_selection(self, start: int, end: int) -> None:
        """Select (and loop) [start, end) track frames, as a Shift+drag on the waveform does."""
        self.waveform.set_loop(start, end)
        self._loop_changed(start, end)

    def loop_selection(self) -> None:
        """Play the A–B region in a loop from A."""
        if self._selection is None:
            return
        self.transport.loop_button.setChecked(True)
        self.seek_frame(self._selection[0])
        self.audio.play()

    def _loop_changed(self, start: int, end: int) -> None:
        self._selection = (int(start), int(end))
        if self.transport.loop_button.isChecked():
            self._apply_loop(True)
        else:
            self.transport.loop_button.setChecked(True)   # selecting a region loops it
        self.selection_changed.emit(self._selection)

    def _loop_cleared(self) -> None:
        self._selection = None
        self.transport.loop_button.setChecked(False)
        self.selection_changed.emit(None)

    def _loop_toggled(self, on: bool) -> None:
        self._apply_loop(on)

    def _apply_loop(self, on: bool) -> None:
        if not self.mixer.duration_frames:
            return
        if on and self._selection is not None:
            conv = self.mixer.source_to_output_frames
            try:
                self.mixer.set_loop(conv(self._selection[0]), conv(self._selection[1]))
            except ValueError:  # too short to loop
                self.mixer.clear_loop()
        else:
            self.mixer.clear_loop()

    # -- lane controls (as the user clicks them; used by tests and shortcuts too) ---------------
    def set_mute(self, name: str, muted: bool) -> None:
        self.lanes[name].mute_button.setChecked(muted)

    def set_solo(self, name: str, soloed: bool) -> None:
        self.lanes[name].solo_button.setChecked(soloed)

    def set_gain_db(self, name: str, gain_db: float) -> None:
        self.lanes[name].set_gain_db(gain_db)

    def set_listen_original(self, listen: bool) -> None:
        self.lanes[ORIGINAL].solo_button.setChecked(listen)

    def mix_gains(self) -> dict[str, float]:
        """Linear gain per lane as heard now ("mixture" for the original lane)."""
        gains = self.mixer.target_gains()
        return {("mixture" if k == ORIGINAL else k): v for k, v in gains.items()}

    def drag_mime(self, name: str) -> QMimeData | None:
        """What dragging lane `name` out of the window carries (file URLs)."""
        return self.lanes[name].mime_data()

    def prepare_screenshot(self) -> None:
        """Put the playhead somewhere telling and show a loop region (for docs/screenshot.png)."""
        if self.track is None:
            return
        sr = self.track.samplerate
        self.seek_frame(int(self.track.frames * 0.3))
        self.set_selection(int(self.track.frames * 0.55), int(self.track.frames * 0.75))
        self.set_gain_db("drums", -3.0)
        self.set_mute("other", True)
        self.set_solo("vocals", False)
        self.transport.set_position(self.track.frames * 0.3 / sr)
        self.transport.set_available(True)
        QTimer.singleShot(0, self.poller.poll)
