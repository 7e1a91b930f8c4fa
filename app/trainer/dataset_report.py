"""The dataset checker's report in the trainer tab: a child process runs it, a table shows it.

`DatasetCheck` runs `model.dataset_check.check_dataset(folder)` in a child Python process (it
reads every stem of every song, block by block, and imports torch through model.datasets: far
too much for the GUI thread, and a child can be abandoned at once when the user picks another
folder). The child prints one JSON line per song checked ({"event": "progress", ...}) and one
final {"event": "report", "report": DatasetReport.to_dict()}; `JsonLineParser` reads them
incrementally, exactly as for training.

`DatasetReportView` shows that dict: a summary line (layout, usable songs and minutes, notes)
and one table row per song — split, stems found, duration, sample rate, channels, problems.
Unusable songs are listed with the reason, highlighted, and sorted last.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QProcess, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from model.config import SOURCES

from ..child_python import python_command
from ..widgets.sizing import fit_columns
from .train_process import JsonLineParser, child_environment

logger = logging.getLogger(__name__)

#: the child's program: check one folder, stream progress and the report as JSON lines
CHECK_SCRIPT = r"""
import json, sys
from model.dataset_check import check_dataset
from model.datasets import StemMapping

def progress(done, total, name):
    print(json.dumps({"event": "progress", "done": done, "total": total, "song": name}), flush=True)

try:
    mapping = StemMapping.parse([], tuple(sys.argv[2].split(",")))
    report = check_dataset(sys.argv[1], mapping, progress=progress)
    print(json.dumps({"event": "report", "report": report.to_dict()}, default=str), flush=True)
except Exception as exc:
    print(json.dumps({"event": "error", "message": f"{type(exc).__name__}: {exc}"}), flush=True)
    raise SystemExit(1)
"""

COLUMNS = ("Song", "Split", "Stems found", "Duration", "Rate", "Ch", "Problems")
UNUSABLE_BRUSH = QBrush(QColor(160, 40, 40, 90))
WARNING_BRUSH = QBrush(QColor(200, 150, 0, 60))


class DatasetCheck(QObject):
    """Check one dataset folder in a child process (GUI thread object; nothing here blocks).

    Signals: `progress(done, total, song_name)`, `finished(report: dict)` (DatasetReport.to_dict();
    its "error" key is set when the folder as a whole is unusable), `failed(message)`.
    """

    progress = Signal(int, int, str)
    finished = Signal(dict)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._parser = JsonLineParser()
        self._report: dict | None = None
        self._error = ""
        self._log: list[str] = []
        self.folder = ""
        self.sources: tuple[str, ...] = SOURCES

    def is_running(self) -> bool:
        return self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning

    def start(self, folder: str, sources: tuple[str, ...] = SOURCES) -> None:
        """Check `folder` for the stems `sources` (the model's, in order); a check already
        running is abandoned (its child killed)."""
        self.cancel()
        self.folder = folder
        self.sources = tuple(sources)
        self._parser = JsonLineParser()
        self._report, self._error, self._log = None, "", []
        process = QProcess(self)
        process.setProcessEnvironment(child_environment())
        process.readyReadStandardOutput.connect(self._read)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._process_error)
        self._process = process
        process.start(*python_command(["-c", CHECK_SCRIPT, folder, ",".join(self.sources)]))

    def cancel(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            for signal in (process.readyReadStandardOutput, process.readyReadStandardError,
                           process.finished, process.errorOccurred):
                signal.disconnect()
            if process.state() != QProcess.ProcessState.NotRunning:
                process.kill()
                process.waitForFinished(2000)
            process.deleteLater()

    def _read(self) -> None:
        if self._process is None:
            return
        for kind, payload in self._parser.feed(bytes(self._process.readAllStandardOutput())):
            self._handle(kind, payload)

    def _read_stderr(self) -> None:
        if self._process is not None:
            text = bytes(self._process.readAllStandardError()).decode("utf-8", errors="replace")
            self._log = (self._log + text.splitlines())[-20:]

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "log":
            self._log = (self._log + [payload])[-20:]
        elif payload["event"] == "progress":
            self.progress.emit(int(payload.get("done", 0)), int(payload.get("total", 0)),
                               str(payload.get("song", "")))
        elif payload["event"] == "report" and isinstance(payload.get("report"), dict):
            self._report = payload["report"]
        elif payload["event"] == "error":
            self._error = str(payload.get("message", ""))

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            message = f"could not start the dataset checker: {self._process.errorString()}"
            self._process.deleteLater()
            self._process = None
            self.failed.emit(message)

    def _finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        self._read()
        for kind, payload in self._parser.flush():
            self._handle(kind, payload)
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()
        if self._report is not None:
            self.finished.emit(self._report)
        else:
            detail = self._error or "\n".join(self._log[-5:]) or f"exit code {exit_code}"
            self.failed.emit(f"checking {self.folder} failed: {detail}")


def _format_duration(seconds: float | None) -> str:
    if not seconds:
        return "—"
    minutes, secs = divmod(float(seconds), 60.0)
    return f"{int(minutes)}:{secs:04.1f}" if minutes else f"{secs:.1f} s"


def song_problems(song: dict) -> list[str]:
    """Reasons (unusable) first, then warnings, as the user reads them."""
    return [f"unusable: {r}" for r in song.get("reasons") or []] + list(song.get("warnings") or [])


def summarize_report(report: dict) -> str:
    """One or two lines: layout, usable songs and minutes, unusable count, notes or the error."""
    if report.get("error"):
        return f"This folder cannot be used for training: {report['error']}"
    songs = report.get("songs") or []
    usable = [s for s in songs if s.get("usable")]
    minutes = sum(float(s.get("duration_seconds") or 0.0) for s in usable) / 60.0
    splits: dict[str, int] = {}
    for s in usable:
        splits[s.get("split", "?")] = splits.get(s.get("split", "?"), 0) + 1
    split_text = ", ".join(f"{n} {k}" for k, n in sorted(splits.items()))
    text = (f"{report.get('layout') or 'dataset'}: {len(usable)} usable songs ({minutes:.1f} min"
            + (f"; {split_text}" if split_text else "") + ")")
    unusable = len(songs) - len(usable)
    if unusable:
        text += f", {unusable} unusable (listed below with the reason)"
    notes = report.get("notes") or []
    if notes:
        text += "\n" + "\n".join(str(n) for n in notes)
    return text


class DatasetReportView(QWidget):
    """Summary line + per-song table of a dataset report dict (see DatasetCheck)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("Choose a dataset folder to see what it holds.")
        self.summary.setObjectName("datasetSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("datasetTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        fit_columns(self.table)   # every title whole (the Train dock scrolls when narrower)
        self.table.setMinimumHeight(5 * self.table.verticalHeader().defaultSectionSize())
        # one line per song: a long problem text is elided (it is in full in the tooltip); wrapped
        # into the narrow last column it made a warned song's row a screen tall
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        self.report: dict | None = None

    def show_message(self, text: str) -> None:
        self.summary.setText(text)

    def clear(self) -> None:
        self.report = None
        self.table.setRowCount(0)

    def show_report(self, report: dict) -> None:
        self.report = report
        self.summary.setText(summarize_report(report))
        order = tuple(report.get("sources") or SOURCES)      # the model's stems, in its order
        songs = sorted(report.get("songs") or [],
                       key=lambda s: (not s.get("usable"), str(s.get("split")), str(s.get("name"))))
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(songs))
        for row, song in enumerate(songs):
            stems = song.get("stems") or {}
            found = [s for s in order if s in stems] + [s for s in stems if s not in order]
            channels = max((int(st.get("channels") or 0) for st in stems.values()), default=0)
            problems = song_problems(song)
            cells = (
                str(song.get("name", "?")),
                str(song.get("split", "?")),
                ", ".join(found) if found else "—",
                _format_duration(song.get("duration_seconds")),
                f"{int(song['samplerate'])} Hz" if song.get("samplerate") else "—",
                str(channels) if channels else "—",
                "; ".join(problems) if problems else "ok",
            )
            tooltip = "\n".join([str(song.get("path", ""))] + [
                f"{stem}: {', '.join(st.get('files') or [])}" for stem, st in stems.items()] + problems)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tooltip)
                if not song.get("usable"):
                    item.setBackground(UNUSABLE_BRUSH)
                elif problems:
                    item.setBackground(WARNING_BRUSH)
                self.table.setItem(row, col, item)

    def usable_count(self) -> int:
        return sum(1 for s in (self.report or {}).get("songs") or [] if s.get("usable"))
