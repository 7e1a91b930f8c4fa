"""Export dialog: stems and combined outputs, format, bit depth, folder and file-name template.

Combined outputs are the core's presets (Instrumental, A cappella, Drumless, Bassless) plus
"What I hear": the current mute/solo/gain state of the player as one mix. The export itself runs
in a worker through `model.export.export_track` (atomic writes, common gain against clipping,
never overwriting without permission); its notices are shown when it finishes.

The choices are remembered (`app.export_choices`) and can be saved as named presets. Given
`songs` (the queue's *Export…*), the dialog exports several separated songs at once, each loaded
from the cache by `load_track`; a song that cannot be exported costs one line in the report.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QInputDialog, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from model.export_formats import BIT_DEPTHS, FORMATS, MP3_BITRATES, ExportFormat, bit_depth_label

from ..export_choices import ExportChoices, all_presets, remember, remembered, save_user_preset
from ..jobs import FunctionJob, JobRunner
from ..settings import Settings
from ..track import Track

logger = logging.getLogger(__name__)

PRESET_LABELS = {"instrumental": "Instrumental (no vocals)", "acappella": "A cappella (vocals only)",
                 "drumless": "Drumless", "bassless": "Bassless",
                 "residual": "Residual (what no stem caught)"}
WHAT_I_HEAR = "what_i_hear"
CUSTOM = "Custom"


@dataclass
class BatchReport:
    """What an export of several songs wrote; `failures` are 'song: reason' lines."""

    paths: list[Path] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    common_gain_db: float = 0.0


def what_i_hear_spec(gains: dict[str, float]) -> Any:
    """An OutputSpec mixing the audible lanes with their linear gains.

    `gains`: stem name (or "mixture" for the original lane) -> linear gain, already 0 for muted
    or un-soloed lanes.
    """
    from model.export import OutputSpec

    terms = tuple((name, float(g)) for name, g in gains.items() if g != 0.0)
    return OutputSpec(WHAT_I_HEAR, terms)


def export_songs(songs: list[Path], load_track: Callable[[Path], Track], out_dir: Path,
                 options: dict[str, Any], cancel: threading.Event,
                 progress: Callable[[float], None]) -> BatchReport:
    """Worker side of exporting several songs: each song's outputs all or nothing, the batch
    going on past a song that fails. `{relpath}` is measured from the songs' common folder, and
    two songs that would write one file are refused before anything is written."""
    from model.errors import StemDeckError
    from model.export import batch_root, check_unique_outputs, expand_template, relpath_of, track_name

    root = batch_root(songs)
    names = list(options["selected"]) + [spec.name for spec in options["outputs"]]
    ext = options["fmt"].container
    check_unique_outputs(
        (song, [out_dir / expand_template(options["template"], track=track_name(song), stem=n, model="model",
                                          ext=ext, parent=song.parent.name, relpath=relpath_of(song, root))
                for n in names])
        for song in songs)
    from model.export import export_track

    report = BatchReport()
    for i, song in enumerate(songs):
        if cancel.is_set():
            report.failures.append(f"{song.name}: cancelled")
            continue
        try:
            track = load_track(song)
            done = export_track(track.stems_dict(), track.mixture, track.samplerate, track.source, out_dir,
                                track=track.name, model_name=track.model_name or "model",
                                relpath=relpath_of(song, root),
                                progress=lambda f, i=i: progress((i + f) / len(songs)), **options)
        except (StemDeckError, OSError, ValueError) as exc:
            report.failures.append(f"{song.name}: {exc}")
            continue
        report.paths.extend(done.paths)
        report.notices.extend(f"{track.name}: {n}" for n in done.notices)
    progress(1.0)
    return report


class ExportDialog(QDialog):
    """See module doc. `exported(report)` after a successful export; `export_failed(message)`."""

    exported = Signal(object)
    export_failed = Signal(str)

    def __init__(self, track: Track | None, settings: Settings, runner: JobRunner,
                 mix_gains: dict[str, float] | None = None, parent: QWidget | None = None, *,
                 songs: list[Path] | None = None, load_track: Callable[[Path], Track] | None = None,
                 sources: tuple[str, ...] | None = None) -> None:
        super().__init__(parent)
        self.songs = list(songs) if songs else None
        if self.songs is None and track is None:
            raise ValueError("ExportDialog needs a track or songs")
        if self.songs is not None and load_track is None:
            raise ValueError("exporting songs needs load_track")
        self.setWindowTitle(f"Export — {len(self.songs)} songs" if self.songs else f"Export — {track.name}")
        self.setObjectName("exportDialog")
        self.track, self.settings, self.runner = track, settings, runner
        self.load_track = load_track
        self.mix_gains = (mix_gains or {}) if self.songs is None else {}
        self.job: FunctionJob | None = None
        self.report: Any = None
        from model.config import SOURCES
        from model.export import PRESETS

        sources = tuple(track.sources) if track is not None else tuple(sources or SOURCES)
        self.preset = QComboBox()
        self.preset.setObjectName("exportPreset")
        self.save_preset_button = QPushButton("Save as preset…")
        self.save_preset_button.clicked.connect(self._save_preset)
        self._fill_presets()
        self.preset.activated.connect(lambda _i: self._apply_preset(self.preset.currentText()))
        preset_row = QHBoxLayout()
        preset_row.addWidget(QLabel("Preset"))
        preset_row.addWidget(self.preset, 1)
        preset_row.addWidget(self.save_preset_button)

        stems_box = QGroupBox("Stems")
        stems_layout = QGridLayout(stems_box)
        self.stem_checks: dict[str, QCheckBox] = {}
        for i, name in enumerate(sources):
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
        if self.songs is not None:
            hear.setToolTip("Only for the song on screen (its mute/solo/gain)")
        elif not hear.isEnabled():
            hear.setToolTip("Nothing is audible right now (everything muted)")
        self.output_checks[WHAT_I_HEAR] = hear
        combos_layout.addWidget(hear, 3, 0, 1, 2)

        self.mp3_kbps = QComboBox()
        for kbps in reversed(MP3_BITRATES):
            self.mp3_kbps.addItem(f"{kbps} kbps", kbps)
        self.container = QComboBox()
        for spec in FORMATS.values():
            self.container.addItem(spec.label, spec.name)
        self.bit_depth = QComboBox()
        self.bit_depth.addItem("Like the source", 0)
        for depth in BIT_DEPTHS:
            self.bit_depth.addItem(bit_depth_label(depth), depth)
        self.container.currentIndexChanged.connect(self._format_changed)
        first = track.path if track is not None else self.songs[0]
        self.folder = QLineEdit(settings.get("export_folder") or str(first.parent / "stems"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.template = QLineEdit(settings.get("export_template"))
        self.template.setToolTip("Fields: {track} {stem} {model} {ext} {parent} (the song's folder) "
                                 "{relpath} (the song's path below the songs' common folder)")
        self.overwrite = QCheckBox("Replace existing files")

        form = QFormLayout()
        form.addRow("Format", self.container)
        form.addRow("Bit depth", self.bit_depth)
        form.addRow("MP3 bitrate", self.mp3_kbps)
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
        layout.addLayout(preset_row)
        layout.addWidget(stems_box)
        layout.addWidget(combos_box)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.apply_choices(remembered(settings))
        for widget in (*self.stem_checks.values(), *self.output_checks.values()):
            widget.toggled.connect(self._choices_edited)
        for combo in (self.container, self.bit_depth, self.mp3_kbps):
            combo.currentIndexChanged.connect(self._choices_edited)
        if self.songs is not None:
            self.status.setText(f"{len(self.songs)} songs; each is exported from its separation in the cache.")
        elif not track.complete:
            self.status.setText("The separation is not complete: unseparated parts will be silent.")

    def _format_changed(self, *_args) -> None:
        lossy = FORMATS[self.container.currentData()].lossy
        self.bit_depth.setEnabled(not lossy)
        self.mp3_kbps.setEnabled(lossy)

    # -- choices and presets ------------------------------------------------------------------
    def choices(self) -> ExportChoices:
        """The dialog's current choices (stems None when every stem is ticked)."""
        stems = tuple(n for n, box in self.stem_checks.items() if box.isChecked())
        return ExportChoices(
            stems=None if len(stems) == len(self.stem_checks) else stems,
            outputs=tuple(k for k, box in self.output_checks.items() if box.isChecked()),
            container=self.container.currentData(), bit_depth=int(self.bit_depth.currentData() or 0),
            mp3_kbps=int(self.mp3_kbps.currentData()))

    def apply_choices(self, choices: ExportChoices) -> None:
        """Show `choices` (unknown stems/outputs/values are ignored; the rest applies)."""
        for name, box in self.stem_checks.items():
            box.setChecked(choices.stems is None or name in choices.stems)
        for key, box in self.output_checks.items():
            box.setChecked(key in choices.outputs and box.isEnabled())
        for combo, value in ((self.container, choices.container), (self.bit_depth, choices.bit_depth),
                             (self.mp3_kbps, choices.mp3_kbps)):
            index = combo.findData(value)
            if index >= 0:
                combo.setCurrentIndex(index)
        self._format_changed()
        self._select_matching_preset()

    def _fill_presets(self) -> None:
        self.preset.blockSignals(True)
        self.preset.clear()
        self.preset.addItem(CUSTOM)
        for name in all_presets(self.settings):
            self.preset.addItem(name)
        self.preset.blockSignals(False)

    def _apply_preset(self, name: str) -> None:
        choices = all_presets(self.settings).get(name)
        if choices is not None:
            self.apply_choices(choices)

    def _select_matching_preset(self) -> None:
        """Show the preset's name while the choices are exactly a preset's, else "Custom"."""
        current = self.choices()
        name = next((n for n, c in all_presets(self.settings).items() if c == current), CUSTOM)
        self.preset.setCurrentIndex(max(0, self.preset.findText(name)))

    def _choices_edited(self, *_args) -> None:
        self._select_matching_preset()

    def _save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, "Save export preset", "Preset name:")
        if ok and name.strip():
            self.save_preset(name.strip())

    def save_preset(self, name: str) -> None:
        """Store the current choices as the user preset `name` and show it selected."""
        save_user_preset(self.settings, name, self.choices())
        self._fill_presets()
        self._select_matching_preset()

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
        """Capture the choices, remember them, and export in a worker."""
        if self.job is not None:
            return
        selected = [name for name, box in self.stem_checks.items() if box.isChecked()]
        outputs = self.selected_outputs()
        if not selected and not outputs:
            self.status.setText("Choose at least one stem or combined output.")
            return
        choices = self.choices()
        depth = None if FORMATS[choices.container].lossy else (choices.bit_depth or None)
        fmt = ExportFormat(container=choices.container, bit_depth=depth, mp3_bitrate_kbps=choices.mp3_kbps)
        out_dir = Path(self.folder.text()).expanduser()
        template = self.template.text().strip() or "{track}/{stem}.{ext}"
        remember(self.settings, choices)
        self.settings.set("export_folder", str(out_dir))
        self.settings.set("export_template", template)
        overwrite = self.overwrite.isChecked()
        options = dict(fmt=fmt, template=template, selected=selected, outputs=outputs, overwrite=overwrite,
                       avoid_clipping=True)
        job: FunctionJob
        if self.songs is None:
            track = self.track
            stems = {k: v.copy() for k, v in track.stems_dict().items()}
            mixture = track.mixture.copy()

            def export(cancel: threading.Event) -> Any:
                from model.export import export_track

                return export_track(stems, mixture, track.samplerate, track.source, out_dir,
                                    track=track.name, model_name=track.model_name or "model",
                                    progress=job.signals.progress.emit, **options)
            title = track.name
        else:
            songs, load_track = list(self.songs), self.load_track

            def export(cancel: threading.Event) -> Any:
                return export_songs(songs, load_track, out_dir, options, cancel, job.signals.progress.emit)
            title = f"{len(songs)} songs"

        job = self.job = FunctionJob(f"exporting {title}", export)
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
        failures = getattr(report, "failures", []) or []
        if failures:
            lines.append(f"Not exported ({len(failures)}):")
            lines.extend(failures)
        self.status.setText("\n".join(lines))
        logger.info("export: %s", "; ".join(lines))
        self.exported.emit(report)

    def _failed(self, message: str) -> None:
        self.job = None
        self.progress.hide()
        self.export_button.setEnabled(True)
        self.status.setText(f"<span style='color:#ff6b6b'>Export failed: {message}</span>")
        self.export_failed.emit(message)
