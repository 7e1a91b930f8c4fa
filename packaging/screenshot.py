"""Render the main window offscreen with a separated song loaded and save docs/screenshot.png.

    python packaging/screenshot.py [--song FILE] [--model NAME_OR_PATH] [--out docs/screenshot.png]
                                   [--size 1280x800] [--docks queue,se,log,train] [--spectrograms]

Without --song a 20-second test song is generated (drums, bass, chords, a sung-like melody).
Without --model the installed default model is used; if none is installed a tiny *untrained*
model is made in a temporary StemDeck home, and the window title says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402


def demo_song(path: Path, seconds: float = 20.0, samplerate: int = 44100, seed: int = 7,
              tempo: float = 112.0) -> Path:
    """A short synthetic arrangement so each lane has a recognisable shape."""
    rng = np.random.default_rng(seed)
    n = int(seconds * samplerate)
    t = np.arange(n) / samplerate
    beat = 60 / tempo
    drums = np.zeros(n)
    for k, start in enumerate(np.arange(0, seconds, beat / 2)):
        i = int(start * samplerate)
        length = min(n - i, int(0.25 * samplerate))
        env = np.exp(-np.arange(length) / (0.03 * samplerate))
        hit = (np.sin(2 * np.pi * 60 * np.arange(length) / samplerate) if k % 2 == 0
               else rng.standard_normal(length) * 0.5)
        drums[i:i + length] += 0.8 * env * hit
    roots = [55.0, 43.65, 49.0, 41.2]
    bar = 4 * beat
    root = np.array([roots[int(x // bar) % 4] for x in t])
    bass = 0.35 * np.sin(2 * np.pi * np.cumsum(root) / samplerate) * (0.6 + 0.4 * (t % beat < beat / 2))
    chords = 0.08 * sum(np.sin(2 * np.pi * np.cumsum(root * 4 * r) / samplerate) for r in (1, 1.26, 1.5))
    melody_notes = 220 * 2 ** (np.array([0, 3, 5, 7, 5, 3, 0, -2]) / 12)
    f = np.array([melody_notes[int(x // beat) % 8] for x in t])
    vib = 1 + 0.01 * np.sin(2 * np.pi * 5 * t)
    phrase = ((t // (2 * bar)) % 2 == 1) & (t > 4)
    vocals = 0.25 * np.sin(2 * np.pi * np.cumsum(f * vib) / samplerate) * phrase
    mix = drums + bass + chords + vocals
    stereo = np.stack([mix + 0.02 * chords, mix - 0.02 * chords], axis=1)
    stereo /= max(1.0, np.abs(stereo).max() / 0.9)
    sf.write(path, stereo.astype(np.float32), samplerate, subtype="PCM_16")
    return path


def ensure_model(tmp: Path, requested: str | None) -> tuple[str | None, bool]:
    """(model spec, untrained?) — makes a tiny untrained model when nothing is installed."""
    from model.errors import ModelLoadError
    from model.model_store import resolve_model

    if requested:
        return requested, False
    try:
        resolve_model(None)
        return None, False
    except ModelLoadError:
        pass
    sys.path.insert(0, str(ROOT / "tests"))
    from gui_fixtures import install_untrained_tiny_model

    os.environ["STEMDECK_HOME"] = str(tmp / "home")
    install_untrained_tiny_model("demo-untrained", "untrained, for screenshots")
    return None, True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--song", type=Path)
    parser.add_argument("--compare", type=Path, help="a second song separated first, for the SE comparison")
    parser.add_argument("--model")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--size", default="1400x1000")
    parser.add_argument("--docks", default="se",
                        help="docks to open, comma-separated: queue, se, log, train")
    parser.add_argument("--spectrograms", action="store_true", help="lanes show spectrograms")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="stemdeck-shot-"))
    os.environ.setdefault("STEMDECK_HOME", str(tmp / "home"))
    spec, untrained = ensure_model(tmp, args.model)
    song = args.song or demo_song(tmp / "Demo Song.wav")

    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from app.main import load_stylesheet
    from app.main_window import MainWindow
    from app.settings import Settings

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(load_stylesheet())
    settings = Settings(tmp / "settings.ini")
    if spec:
        settings.set("model", spec)
    window = MainWindow(settings, enable_audio=False)
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()
    loop = QEventLoop()
    window.session.track_completed.connect(lambda _t: QTimer.singleShot(300, loop.quit))
    window.session.error.connect(lambda title, msg: (print(f"{title}: {msg}"), loop.quit()))
    # a second song first, so the SE comparison (Fig. 4.4) has a partner
    other = args.compare or (demo_song(tmp / "Other Song.wav", seconds=12.0, seed=11, tempo=92.0)
                             if args.song is None else None)
    if other is not None:
        window.open_paths([other])
        QTimer.singleShot(600_000, loop.quit)
        loop.exec()
        loop = QEventLoop()
        window.session.track_completed.connect(lambda _t: QTimer.singleShot(300, loop.quit))
    window.open_paths([song])
    QTimer.singleShot(600_000, loop.quit)
    loop.exec()
    docks = {"queue": window.queue_dock, "se": window.se_dock, "log": window.log_dock,
             "train": window.trainer_dock}
    wanted = {name.strip() for name in args.docks.split(",") if name.strip()}
    for name, dock in docks.items():
        dock.setVisible(name in wanted)
    if "se" in wanted:
        window.se_dock.raise_()
        window.resizeDocks([window.se_dock], [int(height * 0.3)], Qt.Orientation.Vertical)
    window.player.flush_regions()
    for _ in range(500):  # the residual lane is computed in a worker
        if "residual" in window.player.waveform.lane_names:
            break
        app.processEvents()
        time.sleep(0.01)
    if args.spectrograms:
        window.spectrogram_action.trigger()
        view = window.player.waveform
        for _ in range(3000):  # computed in a worker
            if all(view.shows_spectrogram(n) for n in view.lane_names):
                break
            app.processEvents()
            time.sleep(0.01)
    window.player.prepare_screenshot()
    if untrained:
        window.setWindowTitle(window.windowTitle() + "  [untrained demo model]")
    for _ in range(5):
        app.processEvents()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    print(f"saved {args.out} ({'untrained demo model' if untrained else 'installed model'})")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
