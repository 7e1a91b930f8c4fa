"""A private PulseAudio daemon with a null sink, for hearing what the player really plays.

The null sink paces audio in real time (unlike ALSA's null device), its ``.monitor`` source is
recorded with ``parec``, and PortAudio's ALSA backend reaches the daemon through ALSA's pulse plugin
(Debian: ``pulseaudio pulseaudio-utils libasound2-plugins libportaudio2``). Nothing touches the
user's own sound server: the daemon lives in a temp folder, and only this process's ``PULSE_SERVER``
points at it while the fixture is active.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

SINK = "stemdeck_null"


class SoundServerUnavailable(RuntimeError):
    """The daemon (or parec) could not be started here; the message says why."""


class PulseNullSink:
    """``pulseaudio`` running in ``folder`` with one float32 null sink at ``samplerate``.

    Invocation (works as root and as a user)::

        pulseaudio -n --daemonize=no --exit-idle-time=-1 --use-pid-file=false --system=false
                   --disallow-exit=true --realtime=false --high-priority=false
                   --log-target=stderr -F <folder>/default.pa
        default.pa: load-module module-null-sink sink_name=stemdeck_null format=float32le
                    rate=<samplerate> channels=2
                    load-module module-native-protocol-unix socket=<folder>/native auth-anonymous=1
                    set-default-sink stemdeck_null

    with HOME / XDG_RUNTIME_DIR / XDG_CONFIG_HOME pointing into ``folder``; clients use
    ``PULSE_SERVER=unix:<folder>/native``.
    """

    def __init__(self, folder: Path, samplerate: int = 44100, channels: int = 2) -> None:
        self.folder = Path(folder)
        self.samplerate = samplerate
        self.channels = channels
        self.socket = self.folder / "native"
        self.server = f"unix:{self.socket}"
        self._daemon: subprocess.Popen | None = None
        self._recorders: dict[str, subprocess.Popen] = {}
        self.recording_path = self.folder / "monitor.raw"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(HOME=str(self.folder / "home"), XDG_RUNTIME_DIR=str(self.folder / "runtime"),
                   XDG_CONFIG_HOME=str(self.folder / "home" / ".config"), PULSE_SERVER=self.server)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        return env

    def start(self, timeout_seconds: float = 10.0) -> None:
        for tool in ("pulseaudio", "pactl", "parec"):
            if shutil.which(tool) is None:
                raise SoundServerUnavailable(
                    f"{tool} is not installed (Debian: apt-get install pulseaudio pulseaudio-utils "
                    "libasound2-plugins)")
        for sub in ("home/.config", "runtime"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder / "runtime", 0o700)
        script = self.folder / "default.pa"
        script.write_text(
            f"load-module module-null-sink sink_name={SINK} format=float32le "
            f"rate={self.samplerate} channels={self.channels}\n"
            f"load-module module-native-protocol-unix socket={self.socket} auth-anonymous=1\n"
            f"set-default-sink {SINK}\n")
        log = open(self.folder / "pulseaudio.log", "wb")
        self._daemon = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=false",
             "--system=false", "--disallow-exit=true", "--realtime=false", "--high-priority=false",
             "--log-target=stderr", "-F", str(script)],
            env=self._env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self._daemon.poll() is not None:
                break
            probe = subprocess.run(["pactl", "list", "short", "sinks"], env=self._env(),
                                   capture_output=True, text=True, timeout=5)
            if probe.returncode == 0 and SINK in probe.stdout:
                return
            time.sleep(0.1)
        tail = (self.folder / "pulseaudio.log").read_text(errors="replace")[-600:]
        self.stop()
        raise SoundServerUnavailable(f"pulseaudio did not come up with a null sink: {tail.strip()}")

    def add_null_sink(self, name: str) -> None:
        """Load one more float32 null sink called ``name`` (same rate and channels)."""
        result = subprocess.run(
            ["pactl", "load-module", "module-null-sink", f"sink_name={name}", "format=float32le",
             f"rate={self.samplerate}", f"channels={self.channels}"],
            env=self._env(), capture_output=True, text=True, timeout=10)
        if result.returncode != 0:
            raise SoundServerUnavailable(f"cannot add the null sink {name}: {result.stderr.strip()}")

    def _recording_path(self, sink: str) -> Path:
        return self.recording_path if sink == SINK else self.folder / f"{sink}.raw"

    def start_recording(self, sink: str = SINK) -> None:
        """Record ``sink``'s monitor (float32, interleaved) until ``stop_recording(sink)``."""
        out = open(self._recording_path(sink), "wb")
        self._recorders[sink] = subprocess.Popen(
            ["parec", f"--device={sink}.monitor", "--format=float32le", f"--rate={self.samplerate}",
             f"--channels={self.channels}", "--raw", "--latency-msec=20"],
            env=self._env(), stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        out.close()

    def stop_recording(self, sink: str = SINK) -> np.ndarray:
        """Stop ``parec``; returns what the sink played as ``(channels, frames)`` float32."""
        rec = self._recorders.pop(sink, None)
        if rec is not None:
            rec.send_signal(signal.SIGINT)
            try:
                rec.wait(timeout=5)
            except subprocess.TimeoutExpired:
                rec.kill()
                rec.wait()
        data = np.fromfile(self._recording_path(sink), dtype=np.float32)
        frames = len(data) // self.channels
        return data[: frames * self.channels].reshape(frames, self.channels).T.copy()

    def stop(self) -> None:
        for sink in list(self._recorders):
            self.stop_recording(sink)
        daemon, self._daemon = self._daemon, None
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(timeout=5)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


def reinitialise_portaudio() -> None:
    """PortAudio reads PULSE_SERVER / ALSA config once; re-initialise it when sounddevice was
    already imported by an earlier test."""
    import sys

    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


def find_lag(recording: np.ndarray, reference: np.ndarray) -> int:
    """Offset (frames) of ``reference (C, n)`` inside ``recording (C, m)`` by FFT cross-correlation
    of the channel sums."""
    rec = recording.sum(axis=0).astype(np.float64)
    ref = reference.sum(axis=0).astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(rec) + len(ref))))
    corr = np.fft.irfft(np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size)), size)
    return int(np.argmax(corr[: len(rec)]))
