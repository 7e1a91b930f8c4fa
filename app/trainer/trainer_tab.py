"""The Train tab: fine-tune a model on the user's own multitracks without leaving the app.

Flow: pick a dataset folder → the checker's report (dataset_report.py) → choose the base model,
steps, batch, segment, device and output folder → Start. Training runs as a child process
(train_process.py: `python -m model.cli train --progress json`), so Stop always works and the
window never freezes; the live loss curve, validation SDR per stem, steps/s and ETA come from the
child's JSON lines, parsed incrementally in the GUI thread. When the run is done: a before/after
SDR table (the base model's validation at step 0 against the best validation of the fine-tuned
model, same held-out songs, same metric) and "Use this model for separation" (install_model +
set_default_model, in a worker thread because it verifies the weights).

The run belongs to the tab object, not to its visibility: closing (hiding) the tab leaves it
running. Closing the app asks first (`confirm_close`) and then stops it cleanly: SIGTERM makes the
trainer write a checkpoint and exit; choosing the same output folder later resumes it.

Torch is never imported in the GUI thread: installed models and devices are listed by a worker
(`refresh_environment`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QEventLoop, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..jobs import FunctionJob, JobRunner
from ..settings import Settings
from ..time_format import format_eta
from model.config import SOURCES

from .dataset_report import DatasetCheck, DatasetReportView
from .run_view import SCRATCH, RunView, finite
from .train_process import TrainProcess, TrainSettings

logger = logging.getLogger(__name__)

#: the Train tab's width (px) from which its settings and plots sit side by side
SIDE_BY_SIDE_WIDTH = 1000


class _WrappingColumn(QWidget):
    """A column holding wrapped text: its minimum height is what its layout needs at its width.
    (Qt's is the height with unwrapped text, so a splitter squeezed the form below it.)"""

    def minimumSizeHint(self):  # noqa: N802 - Qt API
        hint = super().minimumSizeHint()
        layout = self.layout()
        if layout is not None and layout.hasHeightForWidth() and self.width() > 0:
            hint.setHeight(max(hint.height(), layout.totalHeightForWidth(self.width())))
        return hint

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.updateGeometry()

CHECKPOINT_FILE = "checkpoint.pt"
#: what "Vary speed" asks for (the setting the bundled model was trained with)
VARISPEED_PROBABILITY = 0.5
EVENTS_FILE = "events.jsonl"


def _probe_environment() -> dict:
    """Installed models, the default one, and the compute devices (imports torch: worker only)."""
    from model import model_store
    from model.devices import list_devices

    models = [{"name": m.name, "location": m.location, "description": m.card.description,
               "sources": list(m.card.config.sources)}
              for m in model_store.installed_models()]
    default = model_store.default_model_name()
    devices = [{"id": d.id, "name": d.name} for d in list_devices()]
    return {"models": models, "default": default, "devices": devices}


def _install_and_select(weights_path: str, replace: bool = False) -> dict:
    """Install a trained model into the user folder and make it the default (worker only).

    Returns {"name": installed name}, or {"conflict": name} without touching anything when a
    different model of that name is already installed and `replace` is False (the user is asked).
    """
    from model import model_store
    from model.checkpoint import read_card
    from model.errors import ModelLoadError

    weights = Path(weights_path)
    target = model_store.user_models_dir() / weights.name
    if not replace and target.exists() and target.resolve() != weights.resolve():
        try:
            same = read_card(target).sha256 == read_card(weights).sha256
        except ModelLoadError:
            same = False
        if not same:
            return {"conflict": target.stem, "path": str(target)}
    installed = model_store.install_model(weights, overwrite=replace)
    model_store.set_default_model(installed.name)
    return {"name": installed.name}


class TrainerTab(QWidget):
    """See module doc. Signals: `running_changed(bool)`, `model_selected(name)` after "Use this model",
    `environment_loaded()` once models and devices are listed."""

    running_changed = Signal(bool)
    model_selected = Signal(str)
    environment_loaded = Signal()

    def __init__(self, parent: QWidget | None = None, *, probe_environment: bool = True,
                 stop_grace_seconds: float = 20.0) -> None:
        super().__init__(parent)
        self.setObjectName("trainerTab")
        self.stop_grace_seconds = stop_grace_seconds
        #: extra `stemdeck train` arguments (advanced use and tests, e.g. ["--workers", "0"])
        self.extra_args: list[str] = []
        self.process = TrainProcess(self)
        self.check = DatasetCheck(self)
        self.runner = JobRunner(self, max_threads=1)
        self._state = "idle"              # idle | running | stopping
        self._steps_total = 0
        self.done_event: dict | None = None
        self.last_outcome = ""
        self._build()
        self._connect()
        self._update_controls()
        self._probe_on_show = probe_environment
        self._probing = False

    # -- layout -----------------------------------------------------------------------------
    def _build(self) -> None:
        # dataset
        self.dataset_edit = QLineEdit()
        self.dataset_edit.setObjectName("datasetFolder")
        self.dataset_edit.setPlaceholderText("Folder with one subfolder per song (or MUSDB18-HQ)")
        self.dataset_browse = QPushButton("Choose…")
        self.check_button = QPushButton("Check")
        self.check_button.setToolTip("Check the folder again")
        self.report_view = DatasetReportView()
        row = QHBoxLayout()
        row.addWidget(self.dataset_edit, 1)
        row.addWidget(self.dataset_browse)
        row.addWidget(self.check_button)
        dataset_box = QGroupBox("Dataset")
        box = QVBoxLayout(dataset_box)
        box.addLayout(row)
        box.addWidget(self.report_view, 1)

        # settings
        self.base_combo = QComboBox()
        self.base_combo.setObjectName("baseModel")
        self._fill_models([], None)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 10_000_000)
        self.steps_spin.setValue(1000)
        self.steps_spin.setSingleStep(100)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 1024)
        self.batch_spin.setValue(4)
        self.segment_spin = QDoubleSpinBox()
        self.segment_spin.setRange(0.5, 60.0)
        self.segment_spin.setDecimals(1)
        self.segment_spin.setSuffix(" s")
        self.segment_spin.setValue(4.0)
        self.validate_spin = QSpinBox()
        self.validate_spin.setRange(0, 1_000_000)
        self.validate_spin.setValue(200)
        self.validate_spin.setSpecialValueText("never")
        self.validate_spin.setToolTip("Steps between validations on the held-out songs (the best model is kept)")
        self.varispeed_check = QCheckBox("Vary speed (±8 %) in half the examples")
        self.varispeed_check.setObjectName("varispeed")
        self.varispeed_check.setToolTip(
            "Plays half the training examples up to 8 % faster or slower (pitch and tempo together), "
            "so a dataset with few singers or instruments covers more voices and registers")
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("trainDevice")
        self.device_combo.addItem("Automatic", "auto")
        self.out_edit = QLineEdit()
        self.out_edit.setObjectName("outputFolder")
        self.out_edit.setPlaceholderText("Run folder: checkpoint, log and the trained model")
        self.out_browse = QPushButton("Choose…")
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.out_browse)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("default: the output folder's name")
        form = QFormLayout()
        form.addRow("Base model", self.base_combo)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Batch", self.batch_spin)
        form.addRow("Segment", self.segment_spin)
        form.addRow("Validate every", self.validate_spin)
        form.addRow("Augmentation", self.varispeed_check)
        form.addRow("Device", self.device_combo)
        form.addRow("Output folder", out_row)
        form.addRow("Model name", self.name_edit)
        self.settings_box = QGroupBox("Training")
        self.settings_box.setLayout(form)

        # controls
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("startTraining")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopTraining")
        self.status_label = QLabel("Idle")
        self.status_label.setObjectName("trainStatus")
        self.status_label.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.rate_label = QLabel("— steps/s")
        self.eta_label = QLabel("ETA —")
        controls = QHBoxLayout()
        controls.addWidget(self.start_button)
        controls.addWidget(self.stop_button)
        controls.addWidget(self.progress_bar, 1)
        controls.addWidget(self.rate_label)
        controls.addWidget(self.eta_label)

        left = _WrappingColumn()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(dataset_box, 1)
        left_layout.addWidget(self.settings_box)
        left_layout.addLayout(controls)
        left_layout.addWidget(self.status_label)

        self.run_view = RunView()

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.run_view)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Settings beside the plots when there is room, above them otherwise (the Train dock
        scrolls then): side by side they need about 1000 px."""
        super().resizeEvent(event)
        wide = event.size().width() >= SIDE_BY_SIDE_WIDTH
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != orientation:
            self.splitter.setOrientation(orientation)

    def _connect(self) -> None:
        self.dataset_browse.clicked.connect(self._choose_dataset)
        self.out_browse.clicked.connect(self._choose_out)
        self.check_button.clicked.connect(lambda: self.set_dataset(self.dataset_edit.text()))
        self.dataset_edit.editingFinished.connect(self._dataset_edited)
        self.out_edit.textChanged.connect(lambda _t: self._update_controls())
        self.base_combo.currentIndexChanged.connect(lambda _i: self._base_changed())
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.run_view.use_button.clicked.connect(self.use_trained_model)
        self.check.progress.connect(self._check_progress)
        self.check.finished.connect(self._check_finished)
        self.check.failed.connect(self._check_failed)
        p = self.process
        p.start_event.connect(self._on_start)
        p.step.connect(self._on_step)
        p.validation.connect(self._on_validation)
        p.checkpoint.connect(lambda e: self._append_log(f"checkpoint at step {e.get('step')}"))
        p.stopped.connect(lambda e: self._append_log(
            f"stopped at step {e.get('step')}; choose this output folder again and Start to resume"))
        p.done.connect(self._on_done)
        p.error.connect(self._on_error)
        p.log.connect(self._append_log)
        p.finished.connect(self._on_finished)

    # -- environment ------------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """List models and devices when the tab is shown (again: a model may have been installed)."""
        super().showEvent(event)
        if self._probe_on_show and not self._probing and not self.process.is_running():
            self.refresh_environment()

    def refresh_environment(self) -> None:
        """List installed models and devices in a worker thread (they import torch)."""
        self._probing = True

        def failed(message: str) -> None:
            self._probing = False
            self._append_log(f"could not list models/devices: {message}")

        self._run_call("listing models and devices", _probe_environment, self._environment_ready, failed)

    def _run_call(self, title: str, fn: Callable[[], Any], on_done: Callable[[Any], None],
                  on_fail: Callable[[str], None]) -> None:
        """Run `fn()` in a worker; `on_done(result)` or `on_fail(message)` in the GUI thread."""
        job = FunctionJob(title, lambda _cancel: fn())
        job.signals.finished.connect(on_done)
        job.signals.failed.connect(on_fail)
        self.runner.start(job)

    def _environment_ready(self, env: dict) -> None:
        self._probing = False
        self._fill_models(env.get("models", []), env.get("default"))
        current = self.device_combo.currentData()
        self.device_combo.clear()
        self.device_combo.addItem("Automatic", "auto")
        for dev in env.get("devices", []):
            label = dev["id"] if dev["id"] == "cpu" else f"{dev['id']} — {dev['name']}"
            self.device_combo.addItem(label, dev["id"])
        index = self.device_combo.findData(current)
        self.device_combo.setCurrentIndex(max(0, index))
        self.environment_loaded.emit()

    def _fill_models(self, models: list[dict], default: str | None) -> None:
        # keep the user's choice across refreshes; the first real list preselects the default model
        current = self.base_combo.currentData() if getattr(self, "_models_listed", False) else None
        self._models_listed = bool(models)
        self._model_sources = {m["name"]: tuple(m["sources"]) for m in models if m.get("sources")}
        blocked = self.base_combo.blockSignals(True)       # one "base changed" for the refill
        self.base_combo.clear()
        for m in models:
            label = m["name"] + ("  (default)" if m["name"] == default else "")
            self.base_combo.addItem(label, m["name"])
            self.base_combo.setItemData(self.base_combo.count() - 1, m.get("description", ""),
                                        Qt.ItemDataRole.ToolTipRole)
        self.base_combo.addItem("From scratch (a new network)", SCRATCH)
        index = self.base_combo.findData(current) if current else -1
        if index < 0:                                        # first list, or that model is gone
            index = self.base_combo.findData(default)
        self.base_combo.setCurrentIndex(max(0, index))
        self.base_combo.blockSignals(blocked)
        if not blocked and models:
            self._base_changed()

    def base_sources(self) -> tuple[str, ...]:
        """The stems of the chosen base model (a new network: model.config.SOURCES), which the
        dataset is checked for and the run trains."""
        return self._model_sources.get(self.base_combo.currentData() or "", SOURCES)

    def _base_changed(self) -> None:
        """Another base model with other stems: check the dataset again for those."""
        folder = self.dataset_edit.text().strip()
        if folder and self.check.folder and tuple(self.check.sources) != self.base_sources() \
                and Path(folder).expanduser().is_dir():
            self.set_dataset(folder)

    # -- dataset ----------------------------------------------------------------------------
    def _choose_dataset(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder", self.dataset_edit.text())
        if folder:
            self.set_dataset(folder)

    def _choose_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder for this run", self.out_edit.text())
        if folder:
            self.out_edit.setText(folder)

    def _dataset_edited(self) -> None:
        text = self.dataset_edit.text().strip()
        if text and text != self.check.folder:
            self.set_dataset(text)

    def set_dataset(self, folder: str) -> None:
        """Show `folder` and start checking it (a child process); suggest an output folder."""
        folder = folder.strip()
        self.dataset_edit.setText(folder)
        self.report_view.clear()
        if not folder:
            return
        path = Path(folder).expanduser()
        if not path.is_dir():
            self.report_view.show_message(f"{path}: no such folder")
            self.check.cancel()
            self._update_controls()
            return
        if not self.out_edit.text().strip():
            stamp = time.strftime("%Y%m%d-%H%M")
            self.out_edit.setText(str(Path.home() / "StemDeck" / "training" / f"{path.name}-{stamp}"))
        self.report_view.show_message(f"Checking {path} …")
        self.check.start(str(path), self.base_sources())
        self._update_controls()

    def _check_progress(self, done: int, total: int, song: str) -> None:
        if song:
            self.report_view.show_message(f"Checking {self.check.folder}: song {done + 1} of {total} ({song})")

    def _check_finished(self, report: dict) -> None:
        self.report_view.show_report(report)
        self._update_controls()

    def _check_failed(self, message: str) -> None:
        self.report_view.show_message(message)
        self._update_controls()

    # -- settings ---------------------------------------------------------------------------
    def settings(self, resume: bool = False) -> TrainSettings:
        """The form as `stemdeck train` settings."""
        base = self.base_combo.currentData()
        steps = self.steps_spin.value()
        return TrainSettings(
            data=self.dataset_edit.text().strip(),
            out=self.out_edit.text().strip(),
            base_model=base or None,
            steps=steps,
            batch=self.batch_spin.value(),
            segment_seconds=float(self.segment_spin.value()),
            device=self.device_combo.currentData() or "auto",
            validate_every=self.validate_spin.value(),
            varispeed=VARISPEED_PROBABILITY if self.varispeed_check.isChecked() else None,
            log_every=max(1, min(10, steps // 200)),
            name=self.name_edit.text().strip() or None,
            resume=resume,
            extra_args=list(self.extra_args),
        )

    # -- run control ------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    def is_running(self) -> bool:
        return self.process.is_running()

    def _question(self, title: str, text: str) -> bool:
        """Yes/No question (tests replace this method)."""
        answer = QMessageBox.question(self, title, text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def start(self) -> bool:
        """Start (or resume) a run with the form's settings; False (with a message) when refused."""
        if self.process.is_running():
            return False
        data = self.dataset_edit.text().strip()
        out_text = self.out_edit.text().strip()
        resume = False
        if not out_text:
            self._set_status("Choose an output folder for the run.", error=True)
            return False
        out = Path(out_text).expanduser()
        if (out / CHECKPOINT_FILE).is_file():
            if not self._question("Continue the earlier run?",
                                  f"{out} already holds a training run.\n\nContinue it from its last "
                                  "checkpoint (with its own settings)? Choose No to pick another "
                                  "output folder."):
                self._set_status("Choose another output folder, or continue the run in this one.", error=True)
                return False
            resume = True
        else:
            if not data or not Path(data).expanduser().is_dir():
                self._set_status("Choose a dataset folder first.", error=True)
                return False
            report = self.report_view.report
            if report is not None and (report.get("error") or self.report_view.usable_count() == 0):
                self._set_status("This dataset has no usable songs (see the report).", error=True)
                return False
        self._reset_run_view()
        if resume:
            self.run_view.replay(out / EVENTS_FILE)
        settings = self.settings(resume=resume)
        self.last_outcome = ""
        self.process.start(settings)
        self._state = "running"
        self._set_status(("Resuming" if resume else "Starting") + " the training process…")
        self._update_controls()
        self.running_changed.emit(True)
        return True

    def stop(self) -> None:
        """Ask the run to stop after its current step (checkpoint kept); killed after the grace period."""
        if not self.process.is_running():
            return
        self._state = "stopping"
        self.process.stop(self.stop_grace_seconds)
        self._set_status("Stopping after the current step (saving a checkpoint)…")
        self._update_controls()

    def confirm_close(self) -> bool:
        """For the window's closeEvent: True when it may close (no run, or the run was stopped)."""
        if not self.process.is_running():
            self.shutdown()
            return True
        if not self._question("Stop training?",
                              "A training run is in progress. Stop it now?\n\nA checkpoint is saved: "
                              "choose the same output folder and Start to continue it later."):
            return False
        self.shutdown()
        return True

    def shutdown(self, timeout_seconds: float | None = None) -> None:
        """Stop the run (checkpoint), wait for it, kill it if it does not end; end the checker.

        The wait runs a local event loop that excludes user input: the window keeps painting
        ("Stopping…") instead of freezing, and cannot be clicked into a second close meanwhile.
        """
        self.check.cancel()
        if self.process.is_running():
            grace = self.stop_grace_seconds if timeout_seconds is None else timeout_seconds
            self._state = "stopping"
            self._set_status("Stopping the training run before closing (saving a checkpoint)…")
            self._update_controls()
            self.process.stop(grace)                 # its own timer kills the child after `grace`
            self._wait_for_process(grace + 5.0)
            if self.process.is_running():
                self.process.kill()
                self.process.wait(5.0)
        self.runner.wait(10.0)

    def _wait_for_process(self, timeout_seconds: float) -> None:
        if not self.process.is_running():
            return
        loop = QEventLoop()
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        self.process.finished.connect(loop.quit)
        timer.start(int(timeout_seconds * 1000))
        try:
            if self.process.is_running():
                loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        finally:
            timer.stop()
            self.process.finished.disconnect(loop.quit)

    # -- events -----------------------------------------------------------------------------
    def _reset_run_view(self) -> None:
        self.done_event = None
        self.run_view.reset(scratch=self.base_combo.currentData() == SCRATCH)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.rate_label.setText("— steps/s")
        self.eta_label.setText("ETA —")

    def _on_start(self, event: dict) -> None:
        self._steps_total = int(event.get("steps") or 0)
        self.progress_bar.setRange(0, max(1, self._steps_total))
        self.progress_bar.setValue(int(event.get("step") or 0))
        self.run_view.started(event)
        params = event.get("parameters")
        text = (f"Training on {event.get('device')} ({event.get('precision')}): "
                f"{event.get('train_songs')} songs, {event.get('valid_songs')} held out"
                + (f", {params / 1e6:.2f} M parameters" if isinstance(params, (int, float)) else "")
                + f", from {event.get('base_model')}"
                + (f", resumed at step {event.get('step')}" if event.get("resumed") else ""))
        self._set_status(text)
        self._append_log(text)
        for bad in event.get("unusable_songs") or []:
            self._append_log(f"skipped {bad.get('path')}: {bad.get('reason')}")

    def _on_step(self, event: dict) -> None:
        self.run_view.step(event)
        step = int(event.get("step") or 0)
        steps = int(event.get("steps") or self._steps_total or 1)
        self.progress_bar.setRange(0, max(1, steps))
        self.progress_bar.setValue(step)
        rate = finite(event.get("steps_per_s"))
        self.rate_label.setText(f"{rate:.2f} steps/s" if rate is not None else "— steps/s")
        self.eta_label.setText(f"ETA {format_eta(finite(event.get('eta_seconds')))}")
        if self._state == "running":
            loss = finite(event.get("loss"))
            self._set_status(f"Step {step} of {steps}" + (f", loss {loss:.4f}" if loss is not None else ""))

    def _on_validation(self, event: dict) -> None:
        self._append_log(self.run_view.validation(event))

    def _on_done(self, event: dict) -> None:
        self.done_event = event
        self.run_view.done(event)

    def _on_error(self, message: str) -> None:
        self._append_log(f"error: {message}")

    def _on_finished(self, outcome: str, exit_code: int) -> None:
        self.last_outcome = outcome
        self._state = "idle"
        if outcome == "done":
            elapsed = finite((self.done_event or {}).get("elapsed_seconds"))
            self._set_status("Done" + (f" in {format_eta(elapsed)}" if elapsed is not None else "")
                             + f": {(self.done_event or {}).get('model', '')}")
            self.progress_bar.setValue(self.progress_bar.maximum())
            self.eta_label.setText("ETA —")
        elif outcome == "stopped":
            self._set_status("Stopped. A checkpoint was saved: Start with the same output folder to continue.")
        elif outcome == "killed":
            self._set_status("Stopped (the process had to be killed; progress since the last checkpoint is lost).")
        else:
            self._set_status(f"Training failed: {self.process.error_message or f'exit code {exit_code}'}",
                             error=True)
        self._update_controls()
        self.running_changed.emit(False)

    # -- result -----------------------------------------------------------------------------
    def use_trained_model(self, replace: bool = False) -> None:
        """Install the finished model and make it the default for separation (worker thread).

        A different model installed under the same name is replaced only after a question.
        """
        model = (self.done_event or {}).get("model")
        if not model:
            return
        self.run_view.use_button.setEnabled(False)
        self._set_status(f"Installing {Path(model).stem}…")
        self._run_call("installing the model", lambda: _install_and_select(model, replace),
                       self._model_installed, self._install_failed)

    def _model_installed(self, result: dict) -> None:
        if "conflict" in result:
            name = result["conflict"]
            if self._question("Replace the installed model?",
                              f"A different model named “{name}” is already installed "
                              f"({result.get('path')}).\n\nReplace it with the model of this run?"):
                self.use_trained_model(replace=True)
            else:
                self._set_status(f"Not installed: a different model named “{name}” is installed. "
                                 "Give the run another model name to keep both.", error=True)
                self.run_view.use_button.setEnabled(True)
            return
        name = result["name"]
        self._set_status(f"“{name}” is now the model used for separation.")
        self._append_log(f"installed {name} and made it the default model")
        self.model_selected.emit(name)
        self.refresh_environment()

    def _install_failed(self, message: str) -> None:
        self._set_status(f"Could not use the model: {message}", error=True)
        self.run_view.use_button.setEnabled(True)

    # -- persisted form ---------------------------------------------------------------------
    def save_settings(self, settings: Settings) -> None:
        """Remember the form (the `train_*` prefs) for the next session."""
        settings.set("train_dataset", self.dataset_edit.text().strip())
        settings.set("train_base_model", self.base_combo.currentData() or "")
        settings.set("train_steps", self.steps_spin.value())
        settings.set("train_batch", self.batch_spin.value())
        settings.set("train_segment_seconds", float(self.segment_spin.value()))
        settings.set("train_validate_every", self.validate_spin.value())
        settings.set("train_varispeed", self.varispeed_check.isChecked())
        settings.set("train_device", self.device_combo.currentData() or "auto")

    def restore_settings(self, settings: Settings) -> None:
        """Refill the form from `save_settings` (typed defaults; the dataset is checked again)."""
        self.steps_spin.setValue(settings.get("train_steps"))
        self.batch_spin.setValue(settings.get("train_batch"))
        self.segment_spin.setValue(settings.get("train_segment_seconds"))
        self.validate_spin.setValue(settings.get("train_validate_every"))
        self.varispeed_check.setChecked(settings.get("train_varispeed"))
        device = settings.get("train_device") or "auto"
        if self.device_combo.findData(device) < 0:
            self.device_combo.addItem(device, device)       # confirmed when the device list arrives
        self.device_combo.setCurrentIndex(self.device_combo.findData(device))
        base = settings.get("train_base_model")
        if base and self.base_combo.findData(base) < 0:
            self.base_combo.insertItem(0, base, base)
        if base:
            self.base_combo.setCurrentIndex(self.base_combo.findData(base))
            self._models_listed = True                      # keep this choice when the list arrives
        dataset = settings.get("train_dataset")
        if dataset and Path(dataset).is_dir():
            self.set_dataset(dataset)

    # -- helpers ----------------------------------------------------------------------------
    def _append_log(self, text: str) -> None:
        self.run_view.append_log(text)

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #e57373;" if error else "")

    def _update_controls(self) -> None:
        running = self.process.is_running()
        self.start_button.setEnabled(not running and bool(self.out_edit.text().strip()))
        self.stop_button.setEnabled(running and self._state != "stopping")
        for widget in (self.settings_box, self.dataset_edit, self.dataset_browse, self.check_button):
            widget.setEnabled(not running)

    def loss_points(self) -> tuple[list[float], list[float]]:
        """(steps, losses) plotted so far."""
        return self.run_view.loss_points()

    def sdr_points(self) -> dict[str, tuple[list[float], list[float]]]:
        """stem -> (steps, SDR dB) plotted so far."""
        return self.run_view.sdr_points()
