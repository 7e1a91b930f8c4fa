"""The `stemdeck` console script routes calls between the engine CLI and the desktop app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import launcher


@pytest.mark.parametrize("argv, gui", [
    ([], True),
    (["song.wav"], True),
    (["a.mp3", "b.flac"], True),
    (["separate", "song.wav"], False),
    (["--help"], False),
    (["--version"], False),
    (["-v", "info"], False),
])
def test_wants_gui(argv, gui):
    assert launcher.wants_gui(argv) is gui


def test_subcommand_runs_headless_without_qt():
    """`stemdeck --version` through the launcher answers without loading Qt or the app's GUI code."""
    code = ("import sys\nfrom app import launcher\n"
            "try:\n    launcher.main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'app.main'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "StemDeck" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_engine_cli_alone_prints_help(capsys):
    """`python -m model.cli` has no window to open: it prints its usage and exits with 2."""
    from model.cli import main

    assert main([]) == 2
    assert "usage: stemdeck" in capsys.readouterr().out


def test_no_engine_module_imports_the_app_or_qt():
    """The engine is headless: importing every `model.*` module loads neither PySide6 nor `app`."""
    code = ("import importlib, pkgutil, sys\nimport model\n"
            "names = [m.name for m in pkgutil.walk_packages(model.__path__, 'model.')]\n"
            "for name in names:\n    importlib.import_module(name)\n"
            "print(len(names))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'app', 'shiboken6')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=str(Path(__file__).resolve().parents[1]))     # this tree's `model`
    assert out.returncode == 0, out.stderr
    count, loaded = out.stdout.strip().splitlines()[-2:]
    assert int(count) > 40           # the walk found the engine's modules, sub-packages included
    assert loaded == "[]"


def test_every_subcommand_help_prints(capsys):
    """`stemdeck COMMAND --help` prints its usage for every command (a stray % in a help text
    once made `stemdeck separate --help` crash inside argparse)."""
    from model.cli import COMMANDS, main

    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0, name
        assert f"usage: stemdeck {name}" in capsys.readouterr().out, name
