"""Player: owns the sounddevice (PortAudio) output stream whose callback only calls ``mixer.render``.

sounddevice is imported lazily in ``open()``. When PortAudio or an output device is missing,
``available`` is False and ``unavailable_reason`` says why in words a user understands; the mixer
still exists (the GUI, export-what-I-hear and tests keep working without sound).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from app.audio.mixer import StemMixer

logger = logging.getLogger(__name__)


def output_device_names() -> list[str]:
    """Names of the output devices PortAudio offers (empty when PortAudio is missing), in its order.

    On Linux these are ALSA PCMs: "default", "pulse", the sound cards, and any PCM defined in
    ~/.asoundrc (e.g. one per PulseAudio sink).
    """
    try:
        import sounddevice as sd

        devices = sd.query_devices()
    except Exception as exc:  # noqa: BLE001 - no PortAudio / no devices: nothing to offer
        logger.info("cannot list output devices: %s", exc)
        return []
    names: list[str] = []
    for info in devices:
        name = str(info["name"])
        if int(info.get("max_output_channels", 0)) > 0 and name not in names:
            names.append(name)
    return names


def _device_index(sd: Any, name: str) -> int | str:
    """The index of the output device called exactly `name` (sounddevice itself matches
    substrings, so 'pulse' could pick 'pulse_b'); `name` unchanged when none is called that."""
    for index, info in enumerate(sd.query_devices()):
        if info["name"] == name and int(info.get("max_output_channels", 0)) > 0:
            return index
    return name


class Player:
    """Plays a ``StemMixer`` through the default (or a named) output device.

    ``preferred_samplerate``: the stems' rate (the model's 44.1 kHz); used when the device accepts it,
    otherwise the device's default rate is used and the mixer resamples lanes once when loading.
    Call ``open()`` before loading a track: it may change ``mixer.samplerate`` (same object).
    ``blocksize``: frames per callback (0 lets PortAudio choose). ``latency``: PortAudio latency hint.
    """

    def __init__(self, preferred_samplerate: int = 44100, *, device: int | str | None = None,
                 blocksize: int = 1024, latency: str | float = "high", channels: int = 2) -> None:
        self.preferred_samplerate = int(preferred_samplerate)
        self.device = device
        self.blocksize = int(blocksize)
        self.latency = latency
        self.channels = int(channels)
        self.mixer = StemMixer(self.preferred_samplerate, channels=self.channels,
                               max_block_frames=max(8192, self.blocksize))
        self.available = False
        self.unavailable_reason = "the audio output has not been opened yet"
        self.device_name = ""
        self.portaudio_version = ""
        self._stream: Any = None
        self._underruns = 0
        self._underruns_reported = 0
        self._callback_error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> bool:
        """Open and start the output stream (silent until ``play``). Returns ``available``."""
        if self._stream is not None:
            return True
        try:
            import sounddevice as sd
        except (OSError, ImportError) as exc:  # PortAudio shared library missing
            return self._unavailable(f"PortAudio is not installed ({exc}); install libportaudio2")
        self.portaudio_version = sd.get_portaudio_version()[1]
        device = _device_index(sd, self.device) if isinstance(self.device, str) else self.device
        try:
            info = sd.query_devices(device, kind="output")
        except (ValueError, sd.PortAudioError) as exc:
            what = f"output device {self.device!r}" if self.device is not None else "an output device"
            return self._unavailable(f"no sound output: could not find {what} ({exc})")
        if int(info.get("max_output_channels", 0)) < 1:
            return self._unavailable(f"no sound output: {info['name']} has no output channels")
        rate = self.preferred_samplerate
        try:
            sd.check_output_settings(device=device, samplerate=rate, channels=self.channels,
                                     dtype="float32")
        except (ValueError, sd.PortAudioError):
            rate = int(info["default_samplerate"])
        if rate != self.mixer.samplerate:  # same mixer object, new rate (drops a loaded track)
            if self.mixer.duration_frames:
                logger.warning("output rate changed to %d Hz: the track must be loaded again", rate)
            self.mixer.set_samplerate(rate)
        try:
            stream = sd.OutputStream(samplerate=rate, blocksize=self.blocksize, device=device,
                                     channels=self.channels, dtype="float32", latency=self.latency,
                                     callback=self._callback)
            stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            return self._unavailable(f"could not open the sound output {info['name']!r} ({exc})")
        self._stream = stream
        self.available = True
        self.unavailable_reason = ""
        self.device_name = str(info["name"])
        logger.info("audio output: %s at %d Hz, block %d, latency %.1f ms (%s)", self.device_name,
                    rate, self.blocksize, 1000 * float(stream.latency), self.portaudio_version)
        return True

    def close(self) -> None:
        """Stop and close the stream (safe to call twice)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception as exc:  # noqa: BLE001 - closing must never raise into the GUI
                logger.warning("closing the audio output failed: %s", exc)
        if self.available:
            self.available = False
            self.unavailable_reason = "the audio output was closed"

    def _unavailable(self, reason: str) -> bool:
        self.available = False
        self.unavailable_reason = reason
        logger.warning("playback unavailable: %s", reason)
        return False

    # ------------------------------------------------------------------ audio thread
    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        if status.output_underflow:
            self._underruns += 1
        try:
            self.mixer.render(outdata, frames)
        except BaseException as exc:  # noqa: BLE001 - never raise into PortAudio; GUI polls it
            outdata.fill(0.0)
            if self._callback_error is None:
                self._callback_error = exc

    # ------------------------------------------------------------------ GUI thread
    @property
    def samplerate(self) -> int:
        return self.mixer.samplerate

    @property
    def underruns(self) -> int:
        """Output underflows PortAudio reported since ``open``."""
        return self._underruns

    @property
    def latency_seconds(self) -> float:
        return float(self._stream.latency) if self._stream is not None else 0.0

    def poll(self) -> int:
        """Call from a GUI QTimer: logs new underruns and callback errors; returns new underruns."""
        new = self._underruns - self._underruns_reported
        if new:
            self._underruns_reported += new
            logger.warning("audio underrun: %d new (%d in total)", new, self._underruns)
        if self._callback_error is not None:
            err, self._callback_error = self._callback_error, None
            logger.error("audio callback failed: %r", err)
        return new

    def play(self) -> None:
        self.mixer.play()

    def pause(self) -> None:
        self.mixer.pause()

    def toggle(self) -> None:
        if self.mixer.is_playing:
            self.mixer.pause()
        else:
            self.mixer.play()

    def stop(self) -> None:
        self.mixer.stop()

    def seek_seconds(self, seconds: float) -> None:
        self.mixer.seek(int(round(seconds * self.mixer.samplerate)))

    @property
    def position_seconds(self) -> float:
        """What is being heard now: the mixer's cursor minus the output latency while playing
        (the cursor runs ahead by the device buffer), for the playhead and the readout."""
        seconds = self.mixer.position_seconds
        if self.mixer.is_playing and self._stream is not None:
            seconds = max(0.0, seconds - self.latency_seconds)
        return seconds

    def __enter__(self) -> "Player":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
