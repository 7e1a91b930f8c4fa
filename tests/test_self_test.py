"""`stemdeck --self-test` (app/self_test.py) and the one resource lookup (model/resources.py)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import self_test
from model import model_store
from model.resources import resource_path, resource_root

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_self_test_from_source_prints_one_line_per_check_and_ok() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("STEMDECK_BUNDLED_MODELS", None)
    done = subprocess.run([sys.executable, "-m", "app.launcher", "--self-test"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split(":")[0] for line in lines[:-1]] == [f"ok   {name}" for name, _ in self_test.CHECKS]
    assert lines[-1] == "SELFTEST OK"
    assert "stemdeck-starter sha256" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_failed_check_is_named_the_others_still_run_and_the_status_is_1() -> None:
    ran = []

    def good(_tmp: Path) -> str:
        ran.append("good")
        return "fine"

    def broken(_tmp: Path) -> str:
        raise OSError("libportaudio.so.2: cannot open shared object file")

    out = io.StringIO()
    status = self_test.run([("first", good), ("portaudio", broken), ("last", good)], out=out)
    assert status == 1 and ran == ["good", "good"]
    assert out.getvalue().splitlines() == [
        "ok   first: fine",
        "FAIL portaudio: OSError: libportaudio.so.2: cannot open shared object file",
        "ok   last: fine",
        "SELFTEST FAILED: portaudio",
    ]


def test_bundled_model_check_reports_a_damaged_model(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    source = resource_path("models", "stemdeck-starter.safetensors")
    blob = bytearray(source.read_bytes())
    blob[-1] ^= 0xFF
    (folder / source.name).write_bytes(bytes(blob))
    (folder / "stemdeck-starter.json").write_bytes(source.with_suffix(".json").read_bytes())
    monkeypatch.setenv("STEMDECK_BUNDLED_MODELS", str(folder))
    with pytest.raises(Exception, match="sha256 mismatch"):
        self_test.check_bundled_model(tmp_path)
    monkeypatch.setenv("STEMDECK_BUNDLED_MODELS", str(tmp_path / "empty"))
    with pytest.raises(RuntimeError, match="no bundled model in .*empty"):
        self_test.check_bundled_model(tmp_path)


def test_resources_are_found_in_the_checkout_and_in_a_frozen_bundle(tmp_path: Path, monkeypatch) -> None:
    assert resource_root() == ROOT / "resources"
    assert resource_path("icons", "stemdeck.svg").is_file()
    monkeypatch.delenv("STEMDECK_BUNDLED_MODELS", raising=False)
    assert model_store.bundled_models_dir() == ROOT / "resources" / "models"
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)   # what PyInstaller's bootloader sets
    assert resource_path("icons", "play.svg") == tmp_path / "resources" / "icons" / "play.svg"
    assert model_store.bundled_models_dir() == tmp_path / "resources" / "models"
