"""Export dialog: stems and combined outputs, format, bit depth, folder and file-name template.

Combined outputs are the core's presets (Instrumental, A cappella, Drumless, Bassless) plus
"What I hear": the current mute/solo/gain state of the player as one mix. The export itself runs
in a worker through `model.export.export_track` (atomic writes, common gain against clipping,
never overwriting without permission); its notices are shown when it finishes.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget)

from ..jobs import FunctionJob, JobRunner
from ..settings import Settings
from ..track import Track

logger = logging.getLogger(__name__)

PRESET_LABELS = {"instrumental": "Instrumental (no vocals)", "acappella": "A cappella (vocals only)",
                 "drumless": "Drumless", "bassless": "Bassless",
                 "residual": "Residual (what no stem caught)"}
BIT_DEPTHS = [("Like the source", 0), ("16-bit", 16), ("24-bit", 24), ("32-bit float", 32)]
WHAT_I_HEAR = "what_i_hear"


def what_i_hear_spec(gains: dict[str, float]) -> Any:
    """An OutputSpec mixing the audible lanes with their linear gains.

    `gains`: stem name (or "mixture" for the original lane) -> linear gain, already 0 for muted
    or un-soloed lanes.
    """
    from model.export import OutputSpec

    terms = tuple((name, float(g)) for name, g in gains.items() if g != 0.0)
    return OutputSpec(WHAT_I_HEAR, terms)


class ExportDialog(QDialog):
    """See module doc. `exported(report)` after a successful export; `export_failed(message)`."""

    exported = Signal(object)
    export_failed = Signal(str)

    def __init__(self, track: Track, settings: Settings, runner: JobRunner,
                 mix_gains: dict[str, float] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export — {track.name}")
        self.setObjectName("exportDialog")
        self.track, self.settings, self.runner = track, settings, runner
        self.mix_gains = mix_gains or {}
        self.job: FunctionJob | None = None
        self.report: Any = None
        from model.export import PRESETS

        stems_box = QGroupBox("Stems")
        stems_layout = QGridLayout(stems_box)
        self.stem_checks: dict[str, QCheckBox] = {}
        for i, name in enumerate(track.sources):
            box = QCheckBox(name.capitalize())
            box.setChecked(True)
            self.stem_checks[name] = box
            stems_layout.addWidget(box, i // 2, i % 2)

        combos_box = QGroupBox("Combined outputs")
        combos_layout = QGridLayout(combos_box)
        self.output_checks: dict[str, QCheckBox] = {}
        self.presets = dict(PRESETS)
        for i, key in enumerate(k for k in PRESET_LABELS if k in self.presets):
            box = QCheckBox(PRESET_LABELS[key])
            self.output_checks[key] = box
            combos_layout.addWidget(box, i // 2, i % 2)
        hear = QCheckBox("What I hear (current mute/solo/gain)")
        hear.setEnabled(any(self.mix_gains.values()))
        if not hear.isEnabled():
            hear.setToolTip("Nothing is audible right now (everything muted)")
        self.output_checks[WHAT_I_HEAR] = hear
        combos_layout.addWidget(hear, 3, 0, 1, 2)

        self.container = QComboBox()
        for label, value in (("WAV", "wav"), ("FLAC", "flac"), ("MP3 320 kbps", "mp3")):
            self.container.addItem(label, value)
        self.container.setCurrentIndex(max(0, self.container.findData(settings.get("export_container"))))
        self.bit_depth = QComboBox()
        for label, value in BIT_DEPTHS:
            self.bit_depth.addItem(label, value)
        self.bit_depth.setCurrentIndex(max(0, self.bit_depth.findData(settings.get("export_bit_depth"))))
        self.container.currentIndexChanged.connect(self._format_changed)
        self.folder = QLineEdit(settings.get("export_folder") or str(track.path.parent / "stems"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.template = QLineEdit(settings.get("export_template"))
        self.template.setToolTip("Fields: {track} {stem} {model} {ext}")
        self.overwrite = QCheckBox("Replace existing files")

        form = QFormLayout()
        form.addRow("Format", self.container)
        form.addRow("Bit depth", self.bit_depth)
        form.addRow("Folder", folder_row)
        form.addRow("File names", self.template)
        form.addRow("", self.overwrite)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("Writing files… %p%")
        self.progress.hide()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button = self.buttons.addButton("Open folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.setEnabled(False)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.clicked.connect(self.start_export)
        self.open_button.clicked.connect(self._open_folder)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(stems_box)
        layout.addWidget(combos_box)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self._format_changed()
        if not track.complete:
            self.status.setText("The separation is not complete: unseparated parts will be silent.")

    def _format_changed(self, *_args) -> None:
        self.bit_depth.setEnabled(self.container.currentData() != "mp3")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(self.folder.text()))

    def selected_outputs(self) -> list[Any]:
        outputs = [self.presets[k] for k, box in self.output_checks.items()
                   if box.isChecked() and k in self.presets]
        if self.output_checks[WHAT_I_HEAR].isChecked() and any(self.mix_gains.values()):
            outputs.append(what_i_hear_spec(self.mix_gains))
        return outputs

    def start_export(self) -> None:
        """Capture the choices and export in a worker."""
        from model.export import ExportFormat

        if self.job is not None:
            return
        selected = [name for name, box in self.stem_checks.items() if box.isChecked()]
        outputs = self.selected_outputs()
        if not selected and not outputs:
            self.status.setText("Choose at least one stem or combined output.")
            return
        container = self.container.currentData()
        depth = self.bit_depth.currentData() or None
        if container == "mp3":
            depth = None
        fmt = ExportFormat(container=container, bit_depth=depth)
        out_dir = Path(self.folder.text()).expanduser()
        template = self.template.text().strip() or "{track}/{stem}.{ext}"
        for key, value in (("export_container", container), ("export_bit_depth", depth or 0),
                           ("export_folder", str(out_dir)), ("export_template", template)):
            self.settings.set(key, value)
        track = self.track
        stems = {k: v.copy() for k, v in track.stems_dict().items()}
        mixture = track.mixture.copy()
        overwrite = self.overwrite.isChecked()
        job: FunctionJob

        def export(cancel: threading.Event) -> Any:
            from model.export import export_track

            return export_track(stems, mixture, track.samplerate, track.source, out_dir,
                                track=track.name, model_name=track.model_name or "model", fmt=fmt,
                                template=template, selected=selected, outputs=outputs,
                                overwrite=overwrite, avoid_clipping=True,
                                progress=job.signals.progress.emit)

        job = self.job = FunctionJob(f"exporting {track.name}", export)
        job.signals.progress.connect(self._progress)
        job.signals.finished.connect(self._done)
        job.signals.failed.connect(self._failed)
        self.export_button.setEnabled(False)
        self.status.setText("Exporting…")
        self.progress.setValue(0)
        self.progress.show()
        self.runner.start(job)

    def _progress(self, fraction: float) -> None:
        """Share of the frames written so far, all files together (0..1)."""
        self.progress.setValue(round(1000 * float(fraction)))

    def _done(self, report: Any) -> None:
        self.job = None
        self.progress.hide()
        self.report = report
        self.export_button.setEnabled(True)
        self.open_button.setEnabled(True)
        lines = [f"Wrote {len(report.paths)} file(s) to {self.folder.text()}."]
        gain = getattr(report, "common_gain_db", 0.0) or 0.0
        if gain:
            lines.append(f"All outputs were lowered by {abs(gain):.1f} dB together to avoid "
                         "clipping (relative levels are kept).")
        lines.extend(getattr(report, "notices", []) or [])
        self.status.setText("\n".join(lines))
        logger.info("export: %s", "; ".join(lines))
        self.exported.emit(report)

    def _failed(self, message: str) -> None:
        self.job = None
        self.progress.hide()
        self.export_button.setEnabled(True)
        self.status.setText(f"<span style='color:#ff6b6b'>Export failed: {message}</span>")
        self.export_failed.emit(message)
