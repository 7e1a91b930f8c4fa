"""What the Train tab shows of one run: the loss curve, validation SDR per stem, the before/after
table with "Use this model", and the log.

It is fed the trainer's JSON events (`stemdeck train --progress json`, parsed by train_process.py)
and holds the plotted points; it neither starts nor stops runs (trainer_tab.py does). A resumed run
gets its curves back from its events.jsonl (`replay`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

import pyqtgraph as pg  # noqa: E402  (after PySide6: pyqtgraph picks the binding already loaded)

from ..palette import stem_color
from ..widgets.sizing import READABLE_PLOT_HEIGHT, fit_columns

SCRATCH = "scratch"
#: events replayed from a resumed run's events.jsonl (the newest ones)
MAX_REPLAYED_EVENTS = 20000
#: weight of the past in the smoothed loss curve (an exponential moving average over the logged
#: points, debiased at the start as TensorBoard does): ~10 points' memory
LOSS_SMOOTHING = 0.9


def finite(value: Any) -> float | None:
    """`value` as a float, or None when it is missing, not a number, NaN or infinite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def sdr_comparison(before: dict | None, after: dict | None,
                   sources: tuple[str, ...] = ()) -> list[tuple[str, float | None, float | None, float | None]]:
    """Rows (stem, base dB, fine-tuned dB, change dB) for each stem and a final "mean" row.

    Stems come in `sources` order (the model's), then any others in the order the dicts name them.
    `before`/`after` map stem -> SDR in dB (None/NaN = not measurable, e.g. a silent stem).
    The mean is over the stems measured in both, so the two means compare like with like.
    """
    before, after = before or {}, after or {}
    stems = [s for s in sources if s in before or s in after]
    stems += [s for s in dict.fromkeys(list(before) + list(after)) if s not in stems]
    rows = []
    pairs = []
    for stem in stems:
        b, a = finite(before.get(stem)), finite(after.get(stem))
        rows.append((stem, b, a, None if a is None or b is None else a - b))
        if a is not None and b is not None:
            pairs.append((b, a))
    if pairs:
        mb = sum(p[0] for p in pairs) / len(pairs)
        ma = sum(p[1] for p in pairs) / len(pairs)
        rows.append(("mean", mb, ma, ma - mb))
    elif stems:
        measured = [v for v in (finite(after.get(s)) for s in stems) if v is not None]
        rows.append(("mean", None, sum(measured) / len(measured) if measured else None, None))
    return rows


class RunView(QSplitter):
    """Curves, results and log of the current run (see module doc)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self._loss_x: list[float] = []
        self._loss_y: list[float] = []
        self._loss_smooth: list[float] = []
        self._ema = (0.0, 0.0)  # (running average, weight of what it has seen)
        self._sdr: dict[str, tuple[list[float], list[float]]] = {}
        #: stem -> SDR (dB) of the base model (step-0 validation) and of the best fine-tuned step
        self.before_sdr: dict | None = None
        self.after_sdr: dict | None = None
        self.base_name: str | None = None
        self.sources: tuple[str, ...] = ()     # the run's stems, in the model's order
        self.scratch = False
        self._build()

    def _build(self) -> None:
        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setObjectName("lossPlot")
        self.loss_plot.setTitle("Training loss (L1)")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.setLogMode(y=True)
        self.loss_plot.showGrid(x=True, y=True, alpha=0.3)
        # per-batch losses scatter widely: faint raw points under a smoothed line
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen(200, 200, 200, 70, width=1))
        self.loss_smooth_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#f0f0f0", width=2))
        self.sdr_plot = pg.PlotWidget()
        self.sdr_plot.setObjectName("sdrPlot")
        self.sdr_plot.setTitle("Validation SDR per stem (dB)")
        self.sdr_plot.setLabel("bottom", "step")
        self.sdr_plot.showGrid(x=True, y=True, alpha=0.3)
        self.sdr_plot.addLegend(offset=(-10, 10))
        self.sdr_curves: dict[str, Any] = {}   # one per stem of the run, made as they appear

        self.results_label = QLabel("The before/after comparison appears when a run is done.")
        self.results_label.setWordWrap(True)
        self.results_table = QTableWidget(0, 4)
        self.results_table.setObjectName("sdrResults")
        self.results_table.setHorizontalHeaderLabels(["Stem", "Base model", "Fine-tuned", "Change"])
        self.results_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_table.verticalHeader().setVisible(False)
        header = self.results_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        fit_columns(self.results_table)   # "Base model", "Fine-tuned" whole, never "ase mod"
        self.results_table.setMinimumHeight(6 * self.results_table.verticalHeader().defaultSectionSize() + 8)
        self.use_button = QPushButton("Use this model for separation")
        self.use_button.setObjectName("useTrainedModel")
        self.use_button.setEnabled(False)
        results_box = QGroupBox("Result (SDR on the held-out songs)")
        rbox = QVBoxLayout(results_box)
        rbox.addWidget(self.results_label)
        rbox.addWidget(self.results_table, 1)
        rbox.addWidget(self.use_button)

        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("trainLog")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)

        for plot in (self.loss_plot, self.sdr_plot):
            plot.setMinimumHeight(READABLE_PLOT_HEIGHT)
        for widget in (self.loss_plot, self.sdr_plot, results_box, self.log_view):
            self.addWidget(widget)
        self.setSizes([260, 260, 280, 140])

    def _sdr_curve(self, stem: str) -> Any:
        color = stem_color(stem)
        return self.sdr_plot.plot([], [], name=stem, pen=pg.mkPen(color, width=2),
                                  symbol="o", symbolSize=6, symbolBrush=color)

    # -- feeding ------------------------------------------------------------------------------
    def reset(self, scratch: bool) -> None:
        """Empty curves and results for a new run (`scratch`: no base model to compare with)."""
        self._loss_x, self._loss_y, self._loss_smooth = [], [], []
        self._ema = (0.0, 0.0)
        self._sdr = {}
        self.before_sdr = self.after_sdr = None
        self.base_name = None
        self.sources = ()
        self.scratch = scratch
        for curve in self.sdr_curves.values():     # the next run may have other stems
            self.sdr_plot.removeItem(curve)
        self.sdr_curves = {}
        self._redraw()
        self.results_table.setRowCount(0)
        self.results_label.setText("The before/after comparison appears when the run is done.")
        self.use_button.setEnabled(False)

    def replay(self, path: Path) -> None:
        """Restore the curves of a run being resumed from its events.jsonl (small, read once)."""
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-MAX_REPLAYED_EVENTS:]
        except OSError:
            return
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            kind = event.get("event")
            if kind == "start":
                self.started(event)
            elif kind == "step":
                self._add_loss(event)
            elif kind == "validation":
                self._add_validation(event)
        self._redraw()

    def started(self, event: dict) -> None:
        """A "start" event: the first (not a resumed) one names the base model."""
        if not event.get("resumed"):
            self.base_name = event.get("base_model")
            self.scratch = event.get("base_model") == SCRATCH
        self.sources = tuple(event.get("sources") or self.sources)
        for stem in self.sources:
            if stem not in self.sdr_curves:
                self.sdr_curves[stem] = self._sdr_curve(stem)

    def step(self, event: dict) -> None:
        """A "step" event: one more loss point."""
        self._add_loss(event)
        self._draw_loss()

    def validation(self, event: dict) -> str:
        """A "validation" event: SDR points; returns the log line describing it."""
        self._add_validation(event)
        self._redraw()
        sdr = event.get("sdr") or {}
        parts = "  ".join(f"{k} {v:.2f}" if finite(v) is not None else f"{k} —" for k, v in sdr.items())
        label = "base model" if self._is_base_validation(event) else f"step {event.get('step')}"
        return f"validation ({label}): {parts} dB" + ("  ★ best" if event.get("best") else "")

    def done(self, event: dict) -> None:
        """The "done" event: fill the before/after table; "Use this model" when there is one."""
        self.after_sdr = event.get("best_sdr") or None
        rows = sdr_comparison(self.before_sdr, self.after_sdr, self.sources)
        self.results_table.setRowCount(len(rows))
        for r, (stem, before, after, change) in enumerate(rows):
            cells = [stem] + [("—" if v is None else f"{v:+.2f} dB" if i == 2 else f"{v:.2f} dB")
                              for i, v in enumerate((before, after, change))]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 3 and change is not None:
                    item.setForeground(QBrush(QColor("#4caf50" if change >= 0 else "#e57373")))
                self.results_table.setItem(r, c, item)
        model = event.get("model", "")
        if not self.after_sdr:
            note = "No validation was run (validate every = never, or no held-out songs): no SDR to compare."
        elif self.scratch:
            note = "Trained from scratch: there is no base model to compare with."
        elif self.before_sdr is None:
            note = "The base model's score is not known for this run (it was resumed or has no step-0 validation)."
        else:
            note = (f"Framewise SDR (median over 1 s windows and songs) on the held-out songs: "
                    f"base model {self.base_name} vs the fine-tuned model's best validation "
                    f"(step {event.get('best_step')}).")
        self.results_label.setText(note + (f"\nModel: {model}" if model else ""))
        self.use_button.setEnabled(bool(model))

    def append_log(self, text: str) -> None:
        self.log_view.appendPlainText(text)

    # -- points -------------------------------------------------------------------------------
    def loss_points(self) -> tuple[list[float], list[float]]:
        """(steps, losses) plotted so far."""
        return list(self._loss_x), list(self._loss_y)

    def smoothed_loss_points(self) -> tuple[list[float], list[float]]:
        """(steps, smoothed losses) of the bright line."""
        return list(self._loss_x), list(self._loss_smooth)

    def sdr_points(self) -> dict[str, tuple[list[float], list[float]]]:
        """stem -> (steps, SDR dB) plotted so far."""
        return {k: (list(v[0]), list(v[1])) for k, v in self._sdr.items()}

    def _is_base_validation(self, event: dict) -> bool:
        return int(event.get("step", -1)) == 0 and not self.scratch

    def _add_loss(self, event: dict) -> None:
        loss = finite(event.get("loss"))
        if loss is not None and loss > 0:
            self._loss_x.append(float(event.get("step", len(self._loss_x))))
            self._loss_y.append(loss)
            average, seen = self._ema
            average = LOSS_SMOOTHING * average + (1.0 - LOSS_SMOOTHING) * loss
            seen = LOSS_SMOOTHING * seen + (1.0 - LOSS_SMOOTHING)
            self._ema = (average, seen)
            self._loss_smooth.append(average / seen)

    def _add_validation(self, event: dict) -> None:
        step = float(event.get("step", 0))
        sdr = event.get("sdr") or {}
        if self._is_base_validation(event):
            self.before_sdr = dict(sdr)
        for stem, value in sdr.items():
            value = finite(value)
            if value is None:
                continue
            xs, ys = self._sdr.setdefault(stem, ([], []))
            xs.append(step)
            ys.append(value)

    def _draw_loss(self) -> None:
        self.loss_curve.setData(self._loss_x, self._loss_y)
        self.loss_smooth_curve.setData(self._loss_x, self._loss_smooth)

    def _redraw(self) -> None:
        self._draw_loss()
        for stem in self._sdr:
            if stem not in self.sdr_curves:
                self.sdr_curves[stem] = self._sdr_curve(stem)
        for stem, curve in self.sdr_curves.items():
            curve.setData(*self._sdr.get(stem, ([], [])))
