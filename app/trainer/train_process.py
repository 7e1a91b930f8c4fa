"""A training run as a child process: `python -m model.cli train ... --progress json` under QProcess.

Why a child process (DESIGN.md, "Threads"): training holds the GIL for long stretches, may use
every core and can crash the interpreter (CUDA OOM, a killed DataLoader worker). In a child it
cannot freeze or take down the window, and Stop always works: SIGTERM first (the trainer then
stops after the current step and writes a checkpoint, exit code 3), SIGKILL after a grace period
when it does not answer.

Parsing is incremental and happens in the GUI thread from QProcess's `readyRead*` signals:
`JsonLineParser` splits the byte stream into lines, keeps a trailing partial line for the next
chunk, and turns each line into an event dict (a JSON object with an "event" key) or a log line
(anything else: a warning the child printed, a traceback, garbage). Nothing here blocks.

Events of `stemdeck train --progress json` (model/training/trainer.py):
    start       step, steps, resumed, batch, device, precision, train_songs, valid_songs,
                unusable_songs [{path, reason}], parameters, base_model, out
    step        step, steps, loss, lr, steps_per_s, eta_seconds, elapsed_seconds
    validation  step, sdr {stem: dB}, mean_sdr, best, songs, seconds
                (when fine-tuning, the first one, at step 0, scores the base model)
    checkpoint  step, path
    stopped     step                      (a stop request was honoured; exit code 3)
    done        step, model, card, best_step, best_sdr {stem: dB}, elapsed_seconds
    error       message                   (then a non-zero exit code)
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from ..child_python import python_command

logger = logging.getLogger(__name__)

#: the repository/package root, put on the child's PYTHONPATH so `-m model.cli` resolves to
#: this very source tree (also when StemDeck runs from a checkout rather than an install)
PACKAGE_ROOT = Path(__file__).resolve().parents[2]

#: exit code of `stemdeck train` after a clean stop on SIGTERM / Ctrl-C
EXIT_STOPPED = 3

#: a line longer than this without a newline is flushed to the log (protects memory)
MAX_LINE_BYTES = 1 << 20


class JsonLineParser:
    """Split a byte stream into JSON events and plain log lines, across arbitrary chunk borders.

    `feed(chunk)` returns the complete lines of `chunk` (plus what was left over from earlier
    chunks) as a list of `("event", dict)` or `("log", str)` items, in order; a trailing partial
    line waits for the next chunk. `flush()` returns whatever partial line remains (at exit).
    A line is an event when it parses as a JSON object holding a string "event"; everything else
    (empty lines excepted) is a log line, so garbage is shown, never fatal.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[tuple[str, Any]]:
        self._buffer.extend(chunk)
        items: list[tuple[str, Any]] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                break
            line = bytes(self._buffer[:newline])
            del self._buffer[: newline + 1]
            item = self.parse_line(line)
            if item is not None:
                items.append(item)
        if len(self._buffer) > MAX_LINE_BYTES:
            items.append(("log", self._decode(bytes(self._buffer))))
            self._buffer.clear()
        return items

    def flush(self) -> list[tuple[str, Any]]:
        line = bytes(self._buffer)
        self._buffer.clear()
        item = self.parse_line(line)
        return [item] if item is not None else []

    @staticmethod
    def _decode(line: bytes) -> str:
        return line.decode("utf-8", errors="replace").rstrip("\r")

    @classmethod
    def parse_line(cls, line: bytes) -> tuple[str, Any] | None:
        text = cls._decode(line)
        if not text.strip():
            return None
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                value = json.loads(stripped)
            except ValueError:
                value = None
            if isinstance(value, dict) and isinstance(value.get("event"), str):
                return ("event", value)
        return ("log", text)


@dataclass
class TrainSettings:
    """What the tab asks `stemdeck train` to do. Seconds for times; None leaves the CLI default.

    base_model: an installed model's name, a .safetensors path, "scratch", or None (the default
    model). resume: continue the run in `out` from its checkpoint (the other settings are then
    the run's own and are not passed).
    """

    data: str
    out: str
    base_model: str | None = None
    steps: int | None = None
    batch: int | None = None
    segment_seconds: float | None = None
    device: str | None = None
    validate_every: int | None = None
    log_every: int | None = None
    workers: int | None = None
    name: str | None = None
    varispeed: float | None = None   # probability of a sped-up/slowed-down example (--varispeed)
    tiny: bool = False
    resume: bool = False
    extra_args: list[str] = field(default_factory=list)

    def to_args(self) -> list[str]:
        """The `train` subcommand's arguments (without the interpreter and `-m model.cli`)."""
        args = ["train", "--out", str(Path(self.out).expanduser().absolute()), "--progress", "json"]
        if self.resume:
            return args + ["--resume"] + list(self.extra_args)
        args += ["--data", str(Path(self.data).expanduser().absolute())]
        if self.base_model:
            args += ["--from", self.base_model]
        if self.tiny:
            args.append("--tiny")
        for flag, value in (("--steps", self.steps), ("--batch", self.batch),
                            ("--segment", self.segment_seconds), ("--device", self.device),
                            ("--validate-every", self.validate_every), ("--log-every", self.log_every),
                            ("--workers", self.workers), ("--name", self.name),
                            ("--varispeed", self.varispeed)):
            if value is not None and value != "":
                args += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        return args + list(self.extra_args)


def train_command(settings: TrainSettings, python: str | None = None) -> tuple[str, list[str]]:
    """(program, arguments) that run the training CLI in a fresh process: `python -u -m model.cli
    train ...` from source; frozen, the StemDeck executable's hidden child mode (app.child_python)."""
    return python_command(["-m", "model.cli", *settings.to_args()], python)


def child_environment(extra: dict[str, str] | None = None) -> QProcessEnvironment:
    """The GUI's environment plus unbuffered output and this source tree on PYTHONPATH."""
    env = QProcessEnvironment.systemEnvironment()
    env.insert("PYTHONUNBUFFERED", "1")
    env.insert("PYTHONIOENCODING", "utf-8")
    path = env.value("PYTHONPATH", "")
    root = str(PACKAGE_ROOT)
    if root not in path.split(os.pathsep):
        env.insert("PYTHONPATH", root + (os.pathsep + path if path else ""))
    for key, value in (extra or {}).items():
        env.insert(key, value)
    return env


class TrainProcess(QObject):
    """One training child process and the signals its output turns into (GUI thread only).

    Signals: `started()`; `event(dict)` for every event, and one signal per kind
    (`start_event`, `step`, `validation`, `checkpoint`, `stopped`, `done`, `error`) carrying the
    event dict (`error` carries the message); `log(str)` for stderr lines and non-JSON stdout
    lines; `finished(outcome, exit_code)` once the process is gone, outcome being "done",
    "stopped", "failed" (an error or a crash) or "killed" (did not stop within the grace period).
    """

    started = Signal()
    event = Signal(dict)
    start_event = Signal(dict)
    step = Signal(dict)
    validation = Signal(dict)
    checkpoint = Signal(dict)
    stopped = Signal(dict)
    done = Signal(dict)
    error = Signal(str)
    log = Signal(str)
    finished = Signal(str, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._stdout = JsonLineParser()
        self._stderr = JsonLineParser()
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)
        self._killed = False
        self._stop_requested = False
        self.last_events: dict[str, dict] = {}
        self.error_message = ""
        self._stderr_tail: list[str] = []
        self.command: tuple[str, list[str]] | None = None

    # -- state ----------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def pid(self) -> int | None:
        return int(self._process.processId()) if self.is_running() else None

    # -- control --------------------------------------------------------------------------
    def start(self, settings: TrainSettings | None = None, *, program: str | None = None,
              arguments: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        """Start `stemdeck train` with `settings` (or any program+arguments, for tests)."""
        if self.is_running():
            raise RuntimeError("a training run is already in progress")
        if program is None:
            if settings is None:
                raise ValueError("settings or program is required")
            program, arguments = train_command(settings)
        self.command = (program, list(arguments or []))
        self._stdout, self._stderr = JsonLineParser(), JsonLineParser()
        self._killed = self._stop_requested = False
        self.last_events = {}
        self.error_message = ""
        self._stderr_tail = []
        process = QProcess(self)
        process.setProcessEnvironment(child_environment(env))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.started.connect(self.started)
        process.errorOccurred.connect(self._process_error)
        process.finished.connect(self._finished)
        self._process = process
        logger.info("starting training: %s %s", program, " ".join(arguments or []))
        process.start(program, list(arguments or []))

    def stop(self, grace_seconds: float = 15.0) -> None:
        """Ask the run to stop (SIGTERM: checkpoint, then exit); kill it after `grace_seconds`."""
        if not self.is_running() or self._stop_requested:
            return
        self._stop_requested = True
        self.log.emit(f"stop requested; waiting up to {grace_seconds:g} s for the checkpoint")
        assert self._process is not None
        self._process.terminate()
        self._kill_timer.start(int(grace_seconds * 1000))

    def kill(self) -> None:
        """End the run at once (no checkpoint)."""
        if self.is_running():
            self._kill()

    def wait(self, timeout_seconds: float) -> bool:
        """Block until the child is gone (for closing the app); True when it is."""
        if self._process is None or not self.is_running():
            return True
        return self._process.waitForFinished(int(timeout_seconds * 1000))

    def _kill(self) -> None:
        if self.is_running():
            assert self._process is not None
            self._killed = True
            self.log.emit("the run did not stop in time: killed")
            self._process.kill()

    # -- output ---------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        if self._process is not None:
            self._dispatch(self._stdout.feed(bytes(self._process.readAllStandardOutput())))

    def _read_stderr(self) -> None:
        if self._process is not None:
            self._dispatch(self._stderr.feed(bytes(self._process.readAllStandardError())),
                           from_stderr=True)

    def _dispatch(self, items: list[tuple[str, Any]], from_stderr: bool = False) -> None:
        for kind, payload in items:
            if kind == "log" or from_stderr:
                text = payload if kind == "log" else json.dumps(payload)
                if from_stderr:
                    self._stderr_tail = (self._stderr_tail + [text])[-20:]
                self.log.emit(text)
                continue
            self._emit_event(payload)

    def _emit_event(self, event: dict) -> None:
        name = event["event"]
        self.last_events[name] = event
        self.event.emit(event)
        if name == "start":
            self.start_event.emit(event)
        elif name == "step":
            self.step.emit(event)
        elif name == "validation":
            self.validation.emit(event)
        elif name == "checkpoint":
            self.checkpoint.emit(event)
        elif name == "stopped":
            self.stopped.emit(event)
        elif name == "done":
            self.done.emit(event)
        elif name == "error":
            self.error_message = str(event.get("message", "training failed"))
            self.error.emit(self.error_message)
        else:
            logger.debug("unknown training event %r", name)

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            assert self._process is not None
            self.error_message = (f"could not start the training process "
                                  f"({self._process.program()}): {self._process.errorString()}")
            self.error.emit(self.error_message)
            self._finish(-1)

    def _finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        self._dispatch(self._stdout.flush())
        self._dispatch(self._stderr.flush(), from_stderr=True)
        self._finish(exit_code)

    def _finish(self, exit_code: int) -> None:
        self._kill_timer.stop()
        process, self._process = self._process, None
        if process is None:
            return
        if self._killed:
            outcome = "killed"
        elif "done" in self.last_events and exit_code == 0:
            outcome = "done"
        elif "stopped" in self.last_events or (self._stop_requested and exit_code in (EXIT_STOPPED, 0, -15, 15)):
            outcome = "stopped"
        elif self._stop_requested and process.exitStatus() == QProcess.ExitStatus.CrashExit:
            outcome = "stopped"
        else:
            outcome = "failed"
            if not self.error_message:
                tail = "\n".join(self._stderr_tail[-5:])
                self.error_message = (f"the training process ended with exit code {exit_code}"
                                      + (f":\n{tail}" if tail else ""))
                self.error.emit(self.error_message)
        logger.info("training process finished: %s (exit code %d)", outcome, exit_code)
        process.deleteLater()
        self.finished.emit(outcome, exit_code)
