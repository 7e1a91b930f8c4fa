"""Frame time of zooming and scrolling a 60-minute track in the waveform view (target < 30 ms).

Offscreen Qt. Five lanes (original + 4 stems) share one envelope pyramid built from a synthetic
hour of audio (built chunk-wise, no hour-long sample array is kept). A frame = change the visible
range (envelope slice + setData), then let the event loop repaint what became dirty. Baseline
measured in the same run: a full repaint with nothing changed.

    python benchmarks/bench_waveform.py [--minutes 60] [--width 1600]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402

from app.audio.envelope import EnvelopePyramid  # noqa: E402
from app.widgets.waveform_view import WaveformView  # noqa: E402

SR = 44100
LANES = ("original", "drums", "bass", "other", "vocals")


def _hour_pyramid(frames: int) -> EnvelopePyramid:
    pyr = EnvelopePyramid(frames)
    chunk = 1 << 22
    rng = np.random.default_rng(0)
    for start in range(0, frames, chunk):
        n = min(chunk, frames - start)
        t = (start + np.arange(n, dtype=np.float64)) / SR
        loud = 0.3 + 0.3 * np.sin(2 * np.pi * t / 37.0) ** 2  # slow dynamics to see
        block = (loud * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
        block += 0.05 * rng.standard_normal(n).astype(np.float32)
        pyr.update(start, block, _defer_upper=True)
    pyr._rebuild_upper(0, len(pyr.mins[0]))
    return pyr


class _PaintCounter(QtCore.QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if event.type() == QtCore.QEvent.Type.Paint:
            self.paints += 1
        return False


def _frame(view: WaveformView, change) -> float:
    """One frame as Qt does it: the change, then the event loop repaints what became dirty."""
    app = QtWidgets.QApplication.instance()
    t = time.perf_counter()
    change()
    app.processEvents()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=700)
    args = ap.parse_args(argv)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    frames = int(args.minutes * 60 * SR)
    t = time.perf_counter()
    pyr = _hour_pyramid(frames)
    build = time.perf_counter() - t
    view = WaveformView()
    view.resize(args.width, args.height)
    view.show()
    view.set_track(SR, frames)
    for name in LANES:
        view.add_lane(name, envelope=pyr)
    app.processEvents()
    counter = _PaintCounter()
    view._graphics.viewport().installEventFilter(counter)
    full = view._graphics.viewport().update
    baseline = [_frame(view, full) for _ in range(20)]  # a full repaint, nothing changed
    zoom_in = []
    for _ in range(40):  # whole hour -> ~1 s around the middle
        zoom_in.append(_frame(view, lambda: view.zoom(0.78, frames / 2 / SR)))
    zoom_out = [_frame(view, lambda: view.zoom(1 / 0.78, frames / 2 / SR)) for _ in range(40)]
    view.set_visible_range(frames // 3, frames // 3 + 30 * SR)  # 30 s window
    scroll = [_frame(view, lambda: view.scroll_by(0.05)) for _ in range(100)]
    view.set_visible_range(0, frames)
    playhead = [_frame(view, lambda k=k: view.set_playhead(k * SR)) for k in range(60)]

    def show(name: str, xs: list[float]) -> None:
        a = 1000 * np.array(xs)
        print(f"  {name:30s} median {np.median(a):6.2f} ms   max {a.max():6.2f} ms   "
              f"x{np.median(a) / (1000 * np.median(baseline)):5.1f} baseline")

    print(f"Waveform view: {args.minutes:g}-minute track, {len(LANES)} lanes, "
          f"{args.width}x{args.height} offscreen (pyramid built in {build:.1f} s, "
          f"{sum(m.nbytes * 2 for m in pyr.mins) / 2**20:.1f} MiB per lane)")
    show("full repaint, no change (baseline)", baseline)
    show("zoom in (wheel step)", zoom_in)
    show("zoom out (wheel step)", zoom_out)
    show("scroll 30 s window by 5 %", scroll)
    show("playhead move (whole view)", playhead)
    print(f"  ({counter.paints} viewport paints for {20 + 80 + 100 + 60} frames)")
    worst = 1000 * max(max(zoom_in), max(zoom_out), max(scroll))
    print(f"worst zoom/scroll frame: {worst:.2f} ms (target < 30 ms)")
    view.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
