"""`stemdeck --self-test`: check that every native piece of an installation loads and works.

Meant for a frozen build (a missing library shows up here, not when a producer first presses
Play) and just as valid from source. Each check prints one line, `ok   NAME: detail` or
`FAIL NAME: reason`; then `SELFTEST OK` (exit 0) or `SELFTEST FAILED: names` (exit 1). All checks
run even after one fails, so one run lists every problem.

The checks never touch the user's data: StemDeck's home and Qt's settings point into a temporary
folder that is removed at the end. The window check uses the display when there is one (under
Xvfb: the xcb platform plugin) and Qt's offscreen platform otherwise.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

#: test tone (Hz) and rate used by the audio checks
TONE_HZ = 440.0
RATE = 44_100


def _tone(seconds: float, amplitude: float = 0.3):
    """A stereo sine, float32 `(2, frames)`."""
    import numpy as np

    t = np.arange(int(RATE * seconds)) / RATE
    mono = (amplitude * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    return np.stack([mono, mono])


def check_network(_tmp: Path) -> str:
    """One forward and backward pass of a tiny Unet-SE-BiSRU on 1 s of noise."""
    import torch

    from model.config import tiny_config
    from model.network import UnetSEBiSRU

    torch.manual_seed(0)
    net = UnetSEBiSRU(tiny_config())
    mix = torch.randn(1, 2, int(net.config.samplerate * net.config.segment_seconds))
    out = net(mix)
    if tuple(out.shape) != (1, len(net.config.sources), 2, mix.shape[-1]):
        raise RuntimeError(f"output shape {tuple(out.shape)} for input {tuple(mix.shape)}")
    out.abs().mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    if any(g is None or not torch.isfinite(g).all() for g in grads):
        raise RuntimeError("a gradient is missing or not finite")
    return f"torch {torch.__version__}, {sum(p.numel() for p in net.parameters())} parameters, {len(grads)} gradients"


def check_soundfile(tmp: Path) -> str:
    """Write and read back a tone as 24-bit WAV and FLAC (libsndfile)."""
    import numpy as np
    import soundfile as sf

    tone = _tone(0.25)
    for name in ("tone.wav", "tone.flac"):
        path = tmp / name
        sf.write(path, tone.T, RATE, subtype="PCM_24")
        back, rate = sf.read(path, dtype="float32", always_2d=True)
        if rate != RATE or back.shape != tone.T.shape or np.abs(back - tone.T).max() > 1e-5:
            raise RuntimeError(f"{name} came back as {back.shape} at {rate} Hz or with other samples")
    return f"libsndfile {sf.__libsndfile_version__}, WAV and FLAC round trip"


def check_pyav(tmp: Path) -> str:
    """Encode 1 s of tone as AAC in M4A with PyAV, then decode it through StemDeck's reader."""
    import av
    import numpy as np

    from model.audio_io import load_audio

    path = tmp / "tone.m4a"
    tone = _tone(1.0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=RATE)
        stream.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="stereo")
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    audio = load_audio(path)
    rms = float(np.sqrt(np.mean(audio.samples ** 2)))
    if audio.source.codec != "aac" or audio.frames < tone.shape[1] or not 0.15 < rms < 0.3:
        raise RuntimeError(f"decoded {audio.frames} frames of {audio.source.codec} at RMS {rms:.3f}")
    return f"PyAV {av.__version__} (libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}), M4A/AAC decoded"


def check_portaudio(_tmp: Path) -> str:
    """PortAudio loads; its version and the number of devices (none is fine: no sound card)."""
    import sounddevice as sd

    version = sd.get_portaudio_version()[1].split(",")[0]
    try:
        devices = f"{len(sd.query_devices())} device(s)"
    except sd.PortAudioError as exc:
        devices = f"devices not listed ({exc})"
    return f"{version}, {devices}, library {sd._libname}"


def check_bundled_model(_tmp: Path) -> str:
    """Every bundled model's weights match the sha256 in its card (and load)."""
    from model.checkpoint import load_model
    from model.model_store import bundled_models_dir

    folder = bundled_models_dir()
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise RuntimeError(f"no bundled model in {folder}")
    names = []
    for path in weights:
        _net, card = load_model(path)   # raises ModelLoadError on a sha256 mismatch
        names.append(f"{card.name} sha256 {card.sha256[:12]}")
    return ", ".join(names)


def check_window(_tmp: Path) -> str:
    """The main window opens, and a pyqtgraph plot draws a curve (checked in its pixels)."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow
    from .settings import Settings

    app = QApplication.instance() or QApplication(["stemdeck"])
    window = MainWindow(Settings(), enable_audio=False)
    window.confirm_close = False
    window.show()
    plot = pg.PlotWidget()
    plot.resize(320, 200)
    plot.setBackground("k")
    plot.plot(_tone(0.01)[0], pen=pg.mkPen("w", width=2))
    plot.show()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        app.processEvents()
    image = plot.grab().toImage()
    bright = sum(1 for y in range(0, image.height(), 2) for x in range(0, image.width(), 2)
                 if image.pixelColor(x, y).lightness() > 128)
    shown = window.isVisible() and window.width() > 0
    plot.close()
    window.close()
    app.processEvents()
    if not shown:
        raise RuntimeError("the main window did not show")
    if bright < 20:
        raise RuntimeError(f"the plot drew nothing ({bright} bright pixels)")
    platform = app.platformName()
    return f"Qt platform '{platform}', window {window.width()}x{window.height()}, plot drew {bright} bright pixels"


CHECKS: list[tuple[str, Callable[[Path], str]]] = [
    ("network", check_network),
    ("soundfile", check_soundfile),
    ("pyav", check_pyav),
    ("portaudio", check_portaudio),
    ("bundled-model", check_bundled_model),
    ("window", check_window),
]


def _isolate(tmp: Path) -> None:
    """Point StemDeck's home and Qt's settings into `tmp`; pick offscreen Qt without a display."""
    os.environ["STEMDECK_HOME"] = str(tmp / "home")
    if not (os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY")
            or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp / "config"))


def run(checks: list[tuple[str, Callable[[Path], str]]] | None = None, out=None) -> int:
    """Run `checks` (default: all), print one line each and the verdict; return the exit status."""
    out = out or sys.stdout
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="stemdeck-selftest-") as folder:
        tmp = Path(folder)
        _isolate(tmp)
        for name, check in checks or CHECKS:
            try:
                detail = check(tmp)
                print(f"ok   {name}: {detail}", file=out, flush=True)
            except Exception as exc:  # one line per failed check, never a traceback
                failed.append(name)
                print(f"FAIL {name}: {type(exc).__name__}: {exc}", file=out, flush=True)
    if failed:
        print(f"SELFTEST FAILED: {', '.join(failed)}", file=out, flush=True)
        return 1
    print("SELFTEST OK", file=out, flush=True)
    return 0
