"""Squeeze-excitation activations of the loaded song(s).

Three plots, following the paper (MODEL_SPEC "SE1d", Fig. 4.3/4.4):
- heatmap layer × channel: each SE block's per-channel weight `s` (0–1), averaged over the song
  (layers have different widths; missing channels are left blank);
- the chosen layer over time: channel × segment, where the engine reports one row per segment;
- comparison: the difference of the mean activations of two songs at the chosen layer, per
  channel (Fig. 4.4) — shallow layers look alike across songs, deeper layers diverge.

Songs enter the comparison list as they are separated or loaded from the cache in this session.
"""

from __future__ import annotations

import logging
import re

import numpy as np
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget)

import pyqtgraph as pg  # after PySide6

from app.palette import heatmap_lut
from app.widgets.sizing import READABLE_PLOT_HEIGHT

logger = logging.getLogger(__name__)


def layer_order(names: list[str]) -> list[str]:
    """Encoder layers 1..D then decoder layers D..1 (the signal's path through the U-Net)."""
    def key(name: str) -> tuple[int, int]:
        m = re.match(r"(encoder|decoder)\.(\d+)", name)
        if not m:
            return (2, 0)
        depth = int(m.group(2))
        return (0, depth) if m.group(1) == "encoder" else (1, -depth)
    return sorted(names, key=key)


def mean_activations(se: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per layer, the channel weights averaged over segments: name -> (channels,)."""
    return {k: np.asarray(v, np.float32).reshape(-1, np.asarray(v).shape[-1]).mean(axis=0)
            for k, v in se.items()}


def heatmap(se: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """(layers, max_channels) matrix of mean activations, NaN where a layer has fewer channels."""
    names = layer_order(list(se))
    means = mean_activations(se)
    width = max((means[n].shape[0] for n in names), default=0)
    grid = np.full((len(names), width), np.nan, np.float32)
    for row, name in enumerate(names):
        grid[row, : means[name].shape[0]] = means[name]
    return grid, names


def activation_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray], layer: str) -> np.ndarray:
    """Mean activation of song A minus song B at `layer`, per channel (Fig. 4.4)."""
    ma, mb = mean_activations({layer: a[layer]})[layer], mean_activations({layer: b[layer]})[layer]
    n = min(ma.shape[0], mb.shape[0])
    return ma[:n] - mb[:n]


class SEView(QWidget):
    """See module doc. `show_song(name, se)` sets the current song; `add_song` only lists it."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("seView")
        self.songs: dict[str, dict[str, np.ndarray]] = {}
        self.times: dict[str, np.ndarray | None] = {}
        self.durations: dict[str, float | None] = {}
        self.current: str | None = None

        self.layer_box = QComboBox()
        self.compare_box = QComboBox()
        self.layer_box.currentIndexChanged.connect(self._refresh_layer)
        self.compare_box.currentIndexChanged.connect(self._refresh_layer)
        self.info = QLabel("Separate a song to see its squeeze-excitation activations.")
        self.info.setObjectName("hint")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Layer"))
        controls.addWidget(self.layer_box)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Compare with"))
        controls.addWidget(self.compare_box, 1)
        controls.addStretch(1)

        self.map_plot = pg.PlotWidget(title="Mean SE weight per layer")
        self.map_img = pg.ImageItem(axisOrder="row-major")
        self.map_img.setLookupTable(heatmap_lut())
        self.map_plot.addItem(self.map_img)
        self.map_plot.setLabel("bottom", "channel")
        self.map_plot.getViewBox().invertY(True)
        self._layer_names: list[str] = []
        self.map_plot.getViewBox().sigResized.connect(lambda *_: self._label_layers())
        self.time_plot = pg.PlotWidget(title="Chosen layer over time")
        self.time_img = pg.ImageItem(axisOrder="row-major")
        self.time_img.setLookupTable(heatmap_lut())
        self.time_plot.addItem(self.time_img)
        self.time_plot.setLabel("bottom", "time", units="s")
        self.time_plot.setLabel("left", "channel")
        self.diff_plot = pg.PlotWidget(title="Difference of mean activations (A − B)")
        self.diff_plot.setLabel("bottom", "channel")
        self.diff_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush="#4fc3f7")
        self.diff_plot.addItem(self.diff_bars)
        for plot in (self.map_plot, self.time_plot, self.diff_plot):
            plot.setMenuEnabled(False)
            plot.setMinimumHeight(READABLE_PLOT_HEIGHT)   # a strip overlaps its axis labels
            plot.setMinimumWidth(240)

        grid = QGridLayout()
        grid.addWidget(self.map_plot, 0, 0)
        grid.addWidget(self.time_plot, 0, 1)
        grid.addWidget(self.diff_plot, 0, 2)
        for col in range(3):
            grid.setColumnStretch(col, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addLayout(controls)
        layout.addWidget(self.info)
        layout.addLayout(grid, 1)

    def add_song(self, name: str, se: dict[str, np.ndarray] | None,
                 times: np.ndarray | None = None, duration_seconds: float | None = None) -> None:
        """List a song: `se` layer -> (segments, channels) weights, `times` (segments,) the
        segment centres in seconds, `duration_seconds` the song's length."""
        if not se:
            return
        self.songs[name] = se
        self.times[name] = times
        self.durations[name] = duration_seconds
        if self.compare_box.count() == 0:
            self.compare_box.addItem("— separate a second song to compare —", "")
        if self.compare_box.findData(name) < 0:
            self.compare_box.addItem(name, name)
            if self.current is not None and name != self.current:
                self.compare_box.setCurrentIndex(self.compare_box.findData(name))

    def show_song(self, name: str, se: dict[str, np.ndarray] | None,
                  times: np.ndarray | None = None, duration_seconds: float | None = None) -> None:
        if not se:
            self.current = None
            self.info.setText("This model/result has no SE activations to show.")
            self.map_img.clear()
            self.time_img.clear()
            return
        self.add_song(name, se, times, duration_seconds)
        self.current = name
        if self.compare_box.currentData() in ("", name):  # compare with some other song
            other = next((n for n in self.songs if n != name), None)
            if other is not None:
                self.compare_box.blockSignals(True)
                self.compare_box.setCurrentIndex(self.compare_box.findData(other))
                self.compare_box.blockSignals(False)
        grid, names = heatmap(se)
        self.map_img.setImage(np.nan_to_num(grid, nan=0.0), levels=(0.0, 1.0))
        self._layer_names = names
        self._label_layers()
        layer = self.layer_box.currentText()
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItems(names)
        self.layer_box.setCurrentIndex(max(0, names.index(layer) if layer in names else len(names) // 2))
        self.layer_box.blockSignals(False)
        self.info.setText(f"{name}: {len(names)} SE layers; weights 0 (channel suppressed) "
                          "to 1 (kept). Pick another separated song to compare.")
        self._refresh_layer()

    def show_no_se_layers(self, model_name: str) -> None:
        """The current song was separated by a model without SE blocks (e.g. an imported Demucs
        model): say so and show nothing, rather than another song's or model's activations."""
        self.current = None
        self.info.setText(f"{model_name} has no SE layers (a network without squeeze-excitation, "
                          "e.g. an imported Demucs model): there are no SE activations to show.")
        self.map_img.clear()
        self.time_img.clear()
        self.diff_bars.setOpts(x=[], height=[], width=0.8)

    def _label_layers(self) -> None:
        """Name the heat map's rows, every k-th one when the plot is too short for all (names
        drawn over each other are unreadable); every row still has a tick."""
        names = self._layer_names
        if not names:
            return
        line = self.map_plot.fontMetrics().height() + 2
        height = max(1.0, self.map_plot.getViewBox().height())
        step = max(1, int(np.ceil(len(names) * line / height)))
        named = [(i + 0.5, n) for i, n in enumerate(names) if i % step == 0]
        others = [(i + 0.5, "") for i, n in enumerate(names) if i % step]
        self.map_plot.getAxis("left").setTicks([named, others])

    def layer_labels(self) -> list[str]:
        """The row names the heat map shows now (for tests)."""
        ticks = self.map_plot.getAxis("left")._tickLevels or [[]]
        return [name for _pos, name in ticks[0]]

    def _time_extent(self, segments: int, times: np.ndarray | None,
                     duration: float | None) -> tuple[float, float]:
        """(x, width) in seconds of the channel × segment image; the x label says the unit."""
        self.time_plot.setLabel("bottom", "time", units="s")
        if times is not None and len(times) == segments and segments > 1:
            # one column per segment, centred on its time: spans first - step/2 .. last + step/2
            # (the engine pulls the last segment back to the track end, so steps are not all equal)
            span = float(times[-1] - times[0])
            step = span / (segments - 1) if span > 0 else 1.0
            return float(times[0]) - step / 2, span + step
        if duration:  # a song shorter than one segment: one column for all of it
            return 0.0, float(duration)
        self.time_plot.setLabel("bottom", "segment", units=None)
        return 0.0, float(segments)

    def _refresh_layer(self, *_args) -> None:
        if self.current is None:
            return
        layer = self.layer_box.currentText()
        se = self.songs[self.current]
        if layer not in se:
            return
        acts = np.asarray(se[layer], np.float32).reshape(-1, np.asarray(se[layer]).shape[-1])
        times = self.times.get(self.current)
        if times is not None and len(times) == acts.shape[0]:
            order = np.argsort(times, kind="stable")   # shifted passes interleave in time
            acts, times = acts[order], np.asarray(times)[order]
        self.time_img.setImage(acts.T, levels=(0.0, 1.0))
        x, width = self._time_extent(acts.shape[0], times, self.durations.get(self.current))
        self.time_img.setRect(x, 0.0, width, float(acts.shape[1]))
        other = self.compare_box.currentData()
        if not other or other == self.current:  # pick any other song when there is one
            other = next((n for n in self.songs if n != self.current), "")
        if other and other in self.songs and layer in self.songs[other]:
            diff = activation_difference(se, self.songs[other], layer)
            brushes = ["#4fc3f7" if d >= 0 else "#ff8a65" for d in diff]
            self.diff_bars.setOpts(x=np.arange(len(diff)), height=diff, width=0.8, brushes=brushes)
            self.diff_plot.setTitle(f"{self.current} − {other} at {layer}")
        else:
            self.diff_bars.setOpts(x=[], height=[], width=0.8)
            self.diff_plot.setTitle("Difference of mean activations (needs a second song)")
