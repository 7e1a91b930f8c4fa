"""Child processes from source and frozen (app/child_python.py): the command line and the hidden mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.child_python import CHILD_FLAG, python_command
from app.trainer.train_process import TrainSettings, train_command

ROOT = Path(__file__).resolve().parents[1]


def _settings(tmp_path: Path) -> TrainSettings:
    return TrainSettings(data=str(tmp_path / "data"), out=str(tmp_path / "run"), steps=5)


def test_from_source_the_trainer_runs_in_this_interpreter(tmp_path: Path) -> None:
    program, args = train_command(_settings(tmp_path))
    assert program == sys.executable
    assert args[:5] == ["-u", "-m", "model.cli", "train", "--out"]


def test_frozen_the_trainer_reruns_the_app_in_its_hidden_mode(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/home/u/.local/lib/stemdeck/stemdeck")
    program, args = train_command(_settings(tmp_path))
    assert program == "/home/u/.local/lib/stemdeck/stemdeck"
    assert args[:5] == [CHILD_FLAG, "-m", "model.cli", "train", "--out"]
    assert "-u" not in args
    assert python_command(["-c", "print(1)", "x"]) == (program, [CHILD_FLAG, "-c", "print(1)", "x"])
    # an explicit interpreter (tests, a packager's choice) still wins
    assert train_command(_settings(tmp_path), python="/usr/bin/python3")[0] == "/usr/bin/python3"


def test_a_command_that_is_not_m_or_c_is_refused() -> None:
    with pytest.raises(ValueError, match="-m MODULE or -c CODE"):
        python_command(["script.py"])


def _launcher(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.launcher", CHILD_FLAG, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_hidden_mode_runs_a_module_like_python_m() -> None:
    done = _launcher("-m", "model.cli", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("StemDeck ")


def test_hidden_mode_runs_code_with_its_arguments_and_exit_status() -> None:
    done = _launcher("-c", "import sys; print(sys.argv); raise SystemExit(3)", "song folder", "x")
    assert done.stdout.strip() == "['-c', 'song folder', 'x']"
    assert done.returncode == 3
    bad = _launcher("script.py")
    assert bad.returncode == 2 and "expected -m MODULE or -c CODE" in bad.stderr
