"""StemDeck's main window: menus, toolbar, player panel, queue, SE view, log; drag-and-drop.

The window owns its helpers (no globals): `Settings`, a `JobRunner`, the `SeparationSession`
(queue, jobs, cache) and the `PlayerPanel` (mixer, audio output, lanes, transport). Errors from
jobs appear in a non-modal banner above the player, never as tracebacks. Closing cancels jobs,
stops audio and waits for the workers.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QHBoxLayout, QLabel, QMainWindow,
                               QMessageBox,
                               QProgressBar, QPushButton, QToolBar, QVBoxLayout, QWidget)

from model.resources import resource_path

from .dialogs.about_dialog import AboutDialog
from .dialogs.export_dialog import ExportDialog
from .gc_pauses import freeze_startup_objects
from .jobs import FunctionJob, JobRunner
from .player_panel import PlayerPanel
from .queue_panel import QUEUE_MIN_WIDTH, QueuePanel
from .session import SeparationSession
from .settings import QUALITY_PRESETS, Settings
from .time_format import format_eta
from .track import Track
from .trainer import TrainerTab
from .widgets.device_picker import DevicePicker
from .widgets.log_view import LogView, QtLogHandler
from .widgets.model_picker import ModelPicker
from .widgets.se_view import SEView
from .widgets.sizing import scrollable

logger = logging.getLogger(__name__)

ICONS = resource_path("icons")


def open_filter() -> str:
    """The Open dialog's filter: every extension the engine opens (`model.audio_io`)."""
    from model.audio_io import SUPPORTED_EXTENSIONS

    return "Audio (" + " ".join(f"*.{ext}" for ext in SUPPORTED_EXTENSIONS) + ");;All files (*)"


def icon(name: str) -> QIcon:
    return QIcon(str(ICONS / f"{name}.svg"))


class MainWindow(QMainWindow):
    """See module doc. `error_shown(title, message)` fires whenever the banner shows an error."""

    error_shown = Signal(str, str)

    def __init__(self, settings: Settings | None = None, cache: Any = None,
                 enable_audio: bool = True) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("StemDeck")
        self.setWindowIcon(icon("stemdeck"))
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        self.settings = settings or Settings()
        self.runner = JobRunner(self)
        self.session = SeparationSession(self.settings, self.runner, cache, self)
        self.log_handler = QtLogHandler()
        logging.getLogger().addHandler(self.log_handler)
        if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
            logging.getLogger().setLevel(logging.INFO)
        self.last_error: tuple[str, str] | None = None
        self._closing = False
        self.confirm_close = True     # ask before quitting while a separation runs

        self.player = PlayerPanel(enable_audio=enable_audio, parent=self)
        self.player.runner = self.runner
        self.queue = QueuePanel()
        self.se_view = SEView()
        self.log_view = LogView()
        self.log_view.attach(self.log_handler)
        self._build_central()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_docks()
        self._connect()
        self._restore_state()
        self._update_actions()
        QTimer.singleShot(0, self._load_devices)
        self.player.audio.device = self.settings.get("output_device") or None
        QTimer.singleShot(0, self.player.open_audio)

    # -- layout -------------------------------------------------------------------------------
    def _build_central(self) -> None:
        central = QWidget()
        central.setObjectName("central")
        self.banner = QLabel()
        self.banner.setObjectName("errorBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner_close = QPushButton("Dismiss")
        self.banner_close.setObjectName("bannerClose")
        self.banner_close.clicked.connect(self.hide_banner)
        self.banner_row = QWidget()
        self.banner_row.setObjectName("bannerRow")
        row = QHBoxLayout(self.banner_row)
        row.setContentsMargins(12, 8, 12, 8)
        row.addWidget(self.banner, 1)
        row.addWidget(self.banner_close)
        self.banner_row.hide()
        self.empty_hint = QLabel("Drop songs or a folder here\nor use File ▸ Open  (Ctrl+O)")
        self.empty_hint.setObjectName("emptyHint")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner_row)
        layout.addWidget(self.empty_hint, 1)
        layout.addWidget(self.player, 1)
        self.player.hide()
        self.setCentralWidget(central)

        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("separationProgress")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(260)
        self.progress_bar.setTextVisible(False)
        self.progress_label = QLabel("")
        self.device_label = QLabel("")
        self.device_label.setObjectName("deviceLabel")
        self.statusBar().addPermanentWidget(self.progress_label)
        self.statusBar().addPermanentWidget(self.progress_bar)
        self.statusBar().addPermanentWidget(self.device_label)
        self.progress_bar.hide()

    def _build_actions(self) -> None:
        def act(text: str, slot, shortcut: Any = None, icon_name: str | None = None,
                tip: str = "") -> QAction:
            action = QAction(text, self)
            if icon_name:
                action.setIcon(icon(icon_name))
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            if tip:
                action.setToolTip(tip)
                action.setStatusTip(tip)
            action.triggered.connect(slot)
            return action

        self.open_action = act("&Open…", self.open_dialog, QKeySequence.StandardKey.Open, "open",
                               "Open songs (several go into the queue)")
        self.open_folder_action = act("Open &folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self.export_action = act("&Export…", self.export_dialog, "Ctrl+E", "export",
                                 "Export stems and combined outputs")
        self.quit_action = act("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.separate_action = act("&Separate", self.session.separate_current, "Ctrl+R", "separate",
                                   "Separate the whole song with the chosen quality and device")
        self.selection_action = act("Separate se&lection", self.separate_selection, "Ctrl+Shift+R",
                                    "selection", "Separate only the A–B region to audition it")
        self.cancel_action = act("&Cancel", self.session.cancel, "Esc", "cancel",
                                 "Stop the running separation (nothing is written)")
        self.install_action = act("&Install or import a model…", self.install_model_dialog)
        self.about_action = act("&About StemDeck", self.about_dialog)
        self.getting_started_action = act("&Getting started", self.getting_started_dialog,
                                          QKeySequence.StandardKey.HelpContents)
        self.shortcuts_action = act("&Keyboard shortcuts", self.shortcuts_dialog, "Ctrl+/")
        self.prefs_action = act("&Preferences…", self.preferences_dialog, QKeySequence.StandardKey.Preferences)
        self.reset_layout_action = act("&Reset layout", self.reset_layout)
        self.play_action = act("Play / pause", self.player.toggle_play, Qt.Key.Key_Space)
        self.spectrogram_action = act("&Spectrograms", self._spectrograms_toggled, "Ctrl+Shift+F",
                                      tip="Show each lane's spectrogram instead of its waveform "
                                          "(same level scale in every lane: bleed shows as "
                                          "a fainter copy)")
        self.spectrogram_action.setCheckable(True)
        self.addAction(self.play_action)

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.open_action)
        menu.addAction(self.open_folder_action)
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        menu.addSeparator()
        menu.addAction(self.export_action)
        menu.addSeparator()
        menu.addAction(self.prefs_action)
        menu.addAction(self.quit_action)
        menu = self.menuBar().addMenu("&Separation")
        for action in (self.separate_action, self.selection_action, self.cancel_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.install_action)
        self.view_menu = self.menuBar().addMenu("&View")
        self.view_menu.addAction(self.spectrogram_action)
        self.view_menu.addSeparator()
        menu = self.menuBar().addMenu("&Help")
        menu.addAction(self.getting_started_action)
        menu.addAction(self.shortcuts_action)
        menu.addSeparator()
        menu.addAction(self.about_action)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.open_action, self.separate_action, self.selection_action,
                       self.cancel_action, self.export_action):
            bar.addAction(action)
        bar.addSeparator()
        bar.addWidget(QLabel(" Model "))
        self.model_picker = ModelPicker(self.settings.get("model"))
        bar.addWidget(self.model_picker)
        bar.addWidget(QLabel("  Quality "))
        self.quality_box = QComboBox()
        self.quality_box.setObjectName("qualityBox")
        for preset in QUALITY_PRESETS.values():
            self.quality_box.addItem(preset.name.capitalize(), preset.name)
            self.quality_box.setItemData(self.quality_box.count() - 1, preset.label,
                                         Qt.ItemDataRole.ToolTipRole)
        self.quality_box.setToolTip("Fast: 1 pass, 10 % overlap · Balanced: 1 pass, 25 % · "
                                    "Best: 4 shifted passes, 50 % (about 8× slower)")
        self.quality_box.setCurrentIndex(max(0, self.quality_box.findData(self.settings.get("quality"))))
        bar.addWidget(self.quality_box)
        bar.addWidget(QLabel("  Device "))
        self.device_picker = DevicePicker(self.settings.get("device"))
        bar.addWidget(self.device_picker)
        self.addToolBar(bar)
        self.toolbar = bar

    def _build_docks(self) -> None:
        def dock(title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea,
                 scroll: bool = False) -> QDockWidget:
            d = QDockWidget(title, self)
            d.setObjectName(name)
            # a big panel scrolls when its dock is small: the window's minimum size stays small
            d.setWidget(scrollable(widget) if scroll else widget)
            self.addDockWidget(area, d)
            self.view_menu.addAction(d.toggleViewAction())
            return d

        self.queue_dock = dock("Queue", "queueDock", self.queue, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.se_dock = dock("SE activations", "seDock", self.se_view, Qt.DockWidgetArea.BottomDockWidgetArea,
                            scroll=True)
        self.log_dock = dock("Log", "logDock", self.log_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.trainer_tab = TrainerTab(self)
        self.trainer_dock = dock("Train", "trainerDock", self.trainer_tab,
                                 Qt.DockWidgetArea.RightDockWidgetArea, scroll=True)
        # "Use this model" changes the default model: point the picker back at "Default" to use it
        self.trainer_tab.model_selected.connect(lambda _name: (self.model_picker.setCurrentIndex(0),
                                                               self.load_models()))
        self.trainer_dock.hide()
        self.tabifyDockWidget(self.se_dock, self.log_dock)
        self.se_dock.raise_()
        self.se_dock.hide()
        self.log_dock.hide()
        self.queue_dock.hide()
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.reset_layout_action)
        self._default_state = self.saveState()   # what View ▸ Reset layout goes back to
        for d in (self.queue_dock, self.se_dock, self.log_dock, self.trainer_dock):
            d.visibilityChanged.connect(lambda on, d=d: on and self._size_dock_once(d))
        self._docks_sized: set[str] = set()

    def _connect(self) -> None:
        s = self.session
        s.item_added.connect(self._item_added)
        s.item_changed.connect(self.queue.update_item)
        s.track_opened.connect(self._track_opened)
        s.region_ready.connect(self.player.region_ready)
        s.track_completed.connect(self._track_completed)
        s.progress.connect(self._progress)
        s.busy_changed.connect(lambda _busy: self._update_actions())
        s.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        s.error.connect(self.show_error)
        s.model_missing.connect(self._model_missing)
        self.queue.activated.connect(self.session.display)
        self.queue.cancel_requested.connect(self.session.cancel_item)
        self.queue.export_requested.connect(self.export_songs_dialog)
        self.queue.remove_requested.connect(
            lambda item: self.session.remove_item(item) and self.queue.remove_item(item))
        self.player.seeked.connect(self.session.seek_hint)
        self.player.selection_changed.connect(lambda *_: self._update_actions())
        self.player.drag_paths = self.stem_file_for_drag
        self.quality_box.currentIndexChanged.connect(self._quality_changed)
        self.device_picker.device_changed.connect(lambda dev: self.settings.set("device", dev))
        self.model_picker.model_changed.connect(self._model_changed)

    def _spectrograms_toggled(self, on: bool) -> None:
        self.settings.set("spectrograms", bool(on))
        self.player.show_spectrograms(bool(on))

    def _quality_changed(self, _index: int) -> None:
        self.settings.set("quality", self.quality_box.currentData())
        self.session.reload_current()

    def _model_changed(self, name: str) -> None:
        self.settings.set("model", name)
        self.session.reload_current()

    # -- opening ------------------------------------------------------------------------------
    def open_paths(self, paths: list[str | Path]) -> None:
        if paths:
            self.hide_banner()
            self.session.open_paths(list(paths))

    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open songs", self.settings.get("open_folder"),
                                                open_filter())
        if files:
            self.settings.set("open_folder", str(Path(files[0]).parent))
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of songs",
                                                  self.settings.get("open_folder"))
        if folder:
            self.settings.set("open_folder", folder)
            self.open_paths([folder])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_paths([p]))
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.settings.clear_recent_files)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # -- session callbacks --------------------------------------------------------------------
    def _item_added(self, item: Any) -> None:
        self.queue.add_item(item)
        if self.queue.count() > 1:
            self.queue_dock.show()

    def _track_opened(self, track: Track) -> None:
        self.empty_hint.hide()
        self.player.show()
        self.player.set_track(track)
        self.setWindowTitle(f"{track.name} — StemDeck")
        self._show_device(track)
        self._show_se(track)
        self._update_actions()

    def _show_se(self, track: Track) -> None:
        if track.se_activations:
            self.se_view.show_song(track.name, track.se_activations, track.se_times_seconds,
                                   track.duration_seconds)
            return
        card = getattr(self.session.model, "card", None)
        if card is not None and card.config.attention == "none":
            self.se_view.show_no_se_layers(getattr(self.session.model, "name", "This model"))

    def _track_completed(self, track: Track) -> None:
        if track.complete:
            self._show_residual(track)
        self.player.update_spectrograms()
        self._show_device(track)
        self._show_se(track)
        self._update_actions()

    def _show_residual(self, track: Track) -> None:
        """Compute mixture − sum of stems and its waveform in a worker, then show it."""
        def residual(cancel: threading.Event) -> Any:
            from .audio.envelope import EnvelopePyramid

            return EnvelopePyramid.from_samples(track.mixture - track.stems.sum(axis=0))

        job = FunctionJob("residual waveform", residual)
        job.signals.finished.connect(lambda env: self.player.add_residual_lane(track, env))
        self.runner.start(job)

    def _show_device(self, track: Track) -> None:
        parts = [track.model_name] if track.model_name else []
        if track.device_text:
            parts.append(f"ran on {track.device_text}" + (" (cached)" if track.from_cache else ""))
        self.device_label.setText("  ·  ".join(parts))

    def _progress(self, fraction: float, eta_seconds: float, text: str) -> None:
        busy = self.session.busy
        self.progress_bar.setVisible(busy)
        self.progress_bar.setValue(int(fraction * 1000))
        eta = f"{format_eta(eta_seconds)} left" if busy and eta_seconds >= 0 else ""
        self.progress_label.setText(f"{text}  {fraction * 100:.0f} %  {eta}".strip()
                                    if busy else text)

    def _model_missing(self, message: str) -> None:
        logger.info("no model: %s", message)
        self.show_error(
            "No separation model is installed — you can still play the original",
            "To separate songs, install a model with Separation ▸ Install or import a model… (a "
            ".safetensors file with its .json card beside it, or an official Demucs .th file), "
            "or train one with "
            "<code>stemdeck train</code>.", level="info")

    def show_error(self, title: str, message: str, level: str = "error") -> None:
        """Non-modal error banner (the app keeps working)."""
        self.last_error = (title, message)
        self.banner.setText(f"<b>{title}</b><br>{message}".replace("\n", "<br>"))
        self.banner_row.setProperty("level", level)
        self.banner_row.style().unpolish(self.banner_row)
        self.banner_row.style().polish(self.banner_row)
        self.banner_row.show()
        logger.log(logging.ERROR if level == "error" else logging.INFO, "%s: %s", title, message)
        self.error_shown.emit(title, message)

    def hide_banner(self) -> None:
        self.banner_row.hide()

    def _update_actions(self) -> None:
        has_track = self.session.track is not None
        busy = self.session.busy
        self.separate_action.setEnabled(has_track and not busy)
        self.selection_action.setEnabled(has_track and self.player.selection() is not None)
        self.cancel_action.setEnabled(busy)
        self.export_action.setEnabled(has_track and self.session.track.has_stems)
        if not busy:
            self.progress_bar.hide()

    # -- actions ------------------------------------------------------------------------------
    def separate_selection(self) -> None:
        region = self.player.selection()
        if region is None:
            self.statusBar().showMessage("Select an A–B region on the waveform first", 5000)
            return
        self.session.separate_selection(*region)
        self.player.loop_selection()

    def export_dialog(self) -> ExportDialog | None:
        track = self.session.track
        if track is None:
            return None
        dialog = ExportDialog(track, self.settings, self.runner, self.player.mix_gains(), self)
        dialog.setModal(False)
        dialog.show()
        self.export_dialog_widget = dialog
        return dialog

    def export_songs_dialog(self, items: list) -> ExportDialog | None:
        """Export several queued songs at once, each from its separation in the cache."""
        from .song_io import load_separated

        paths = [item.path for item in items]
        if not paths:
            return None
        spec = self.settings.get("model") or None
        quality, cache = self.session.quality_settings(), self.session.cache
        track = self.session.track
        dialog = ExportDialog(None, self.settings, self.runner, parent=self, songs=paths,
                              load_track=lambda path: load_separated(path, spec, quality, cache),
                              sources=tuple(track.sources) if track is not None else None)
        dialog.setModal(False)
        dialog.show()
        self.export_dialog_widget = dialog
        return dialog

    def stem_file_for_drag(self, stem: str) -> list[str]:
        """Write one stem to a WAV in the StemDeck home (for drag-out to a DAW); return its path."""
        from .dragout import stem_file

        track = self.session.track
        if track is None:
            return []
        return [str(stem_file(track, stem))]

    def install_model_dialog(self) -> None:
        """Install a StemDeck model (.safetensors) or import an official Demucs waveform checkpoint
        (.th, converted by model.demucs_import; the file is read without running its code)."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Install or import a model", "",
            "Models (*.safetensors *.th);;StemDeck models (*.safetensors);;Demucs checkpoints (*.th)")
        if not path:
            return
        self.install_model_file(Path(path))

    def install_model_file(self, path: Path) -> None:
        def install(cancel: threading.Event) -> Any:
            if path.suffix.lower() == ".th":
                from model.demucs_import import import_demucs

                return import_demucs(path)
            from model.model_store import install_model

            return install_model(path)

        job = FunctionJob("installing model", install)
        job.signals.finished.connect(
            lambda m: (self.hide_banner(), self.load_models(),
                       self.statusBar().showMessage(f"Installed model {m.name}", 8000)))
        job.signals.failed.connect(lambda msg: self.show_error("Could not install the model", msg))
        self.runner.start(job)

    def preferences_dialog(self) -> None:
        self.make_preferences_dialog().exec()

    def make_preferences_dialog(self):
        """The Preferences dialog, applying what it changed when accepted (the output device now)."""
        from .dialogs.preferences_dialog import PreferencesDialog

        dialog = PreferencesDialog(self.settings, self.session.cache, self)
        dialog.accepted.connect(lambda: self.player.set_output_device(self.settings.get("output_device")))
        return dialog

    def shortcuts_dialog(self):
        from .dialogs.help_dialogs import ShortcutsDialog

        dialog = ShortcutsDialog(self)
        dialog.show()
        return dialog

    def getting_started_dialog(self):
        from .dialogs.help_dialogs import GettingStartedDialog, keys_of

        keys = {name: keys_of(getattr(self, f"{name}_action"))
                for name in ("play", "export", "separate", "selection", "cancel", "open")}
        dialog = GettingStartedDialog(self, keys)
        dialog.show()
        return dialog

    def about_dialog(self) -> None:
        AboutDialog(self.session.last_device_text, self).exec()

    def _load_devices(self) -> None:
        freeze_startup_objects()   # the window is up (and again once torch is imported, below)

        def devices(cancel: threading.Event) -> list[Any]:
            from model.devices import list_devices

            return list_devices()

        job = FunctionJob("listing devices", devices)
        job.signals.finished.connect(self.device_picker.set_devices)
        job.signals.done.connect(freeze_startup_objects)
        self.runner.start(job)
        self.load_models()

    def load_models(self) -> None:
        """Fill the model picker (in a worker: the model store imports torch)."""
        def models(cancel: threading.Event) -> tuple[list[Any], str | None]:
            from model.model_store import default_model_name, installed_models

            return installed_models(), default_model_name()

        job = FunctionJob("listing models", models)
        job.signals.finished.connect(lambda res: self.model_picker.set_models(*res))
        self.runner.start(job)

    # -- state --------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geometry = self.settings.window_state("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state("state")
        if state is not None:
            self.restoreState(state)
            # docks open in the stored layout keep their stored sizes
            self._docks_sized = {d.objectName() for d in (self.queue_dock, self.se_dock,
                                                          self.log_dock, self.trainer_dock)
                                 if not d.isHidden()}
        if self.settings.get("spectrograms"):
            self.spectrogram_action.setChecked(True)
            self.player.show_spectrograms(True)
        self.trainer_tab.restore_settings(self.settings)

    def save_state(self) -> None:
        self.settings.set_window_state("geometry", self.saveGeometry())
        self.settings.set_window_state("state", self.saveState())
        self.trainer_tab.save_settings(self.settings)
        self.settings.sync()

    def reset_layout(self) -> None:
        """Docks back where and how big they first were: the stored layout is forgotten."""
        self.settings.reset_window_state()
        self.restoreState(self._default_state)
        for d in (self.se_dock, self.log_dock, self.trainer_dock):
            d.setFloating(False)
            d.hide()
        self.se_dock.raise_()
        self._docks_sized.clear()
        self.queue_dock.setVisible(self.queue.count() > 1)

    def _size_dock_once(self, dock: QDockWidget) -> None:
        """Give a dock shown for the first time (since start or Reset layout) its default size:
        Qt would give it its content's size hint (a 60 px queue, a 700 px Train panel)."""
        if dock.isFloating() or dock.objectName() in self._docks_sized:
            return
        self._docks_sized.add(dock.objectName())
        width, height = self.width(), self.height()
        if dock is self.queue_dock:
            self.resizeDocks([dock], [max(QUEUE_MIN_WIDTH, width // 5)], Qt.Orientation.Horizontal)
        elif dock is self.trainer_dock:
            self.resizeDocks([dock], [int(width * 0.4)], Qt.Orientation.Horizontal)
        else:
            self.resizeDocks([dock], [int(height * 0.35)], Qt.Orientation.Vertical)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if not self._closing and self.confirm_close and not self.trainer_tab.confirm_close():
            event.ignore()
            return
        if not self._closing and self.confirm_close and self.session.busy:
            answer = QMessageBox.question(
                self, "Quit StemDeck?", "A separation is still running. Quit and stop it? "
                "(Nothing half-done is kept.)")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        if not self._closing:
            self._closing = True
            self.save_state()
            self.session.shutdown()
            self.trainer_tab.shutdown()
            self.player.close_audio()
            if not self.runner.wait(10.0):
                logger.warning("some background jobs did not stop in time")
            logging.getLogger().removeHandler(self.log_handler)
        super().closeEvent(event)
