"""Desktop integration of the frozen build: the .desktop entry's MIME types and install/uninstall.sh.

install.sh is run on a stand-in for the unpacked tarball (a stub `stemdeck`, `_internal/`, the real
desktop entry and icons rendered by packaging/render_icons.py) with HOME in a temporary folder.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from model.audio_io import SUPPORTED_EXTENSIONS

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
DESKTOP = PACKAGING / "stemdeck.desktop"

#: extension -> MIME types a file manager may give such a file (shared-mime-info names)
MIME_FOR_EXTENSION = {
    "wav": {"audio/wav", "audio/x-wav", "audio/vnd.wave"}, "wave": {"audio/x-wav"}, "bwf": {"audio/x-wav"},
    "rf64": {"audio/x-rf64"}, "w64": {"audio/x-w64"},
    "aif": {"audio/x-aiff"}, "aiff": {"audio/x-aiff", "audio/aiff"}, "aifc": {"audio/x-aifc"},
    "flac": {"audio/flac", "audio/x-flac"}, "ogg": {"audio/ogg", "audio/x-vorbis+ogg"},
    "oga": {"audio/ogg"}, "opus": {"audio/x-opus+ogg"}, "mp3": {"audio/mpeg"},
    "caf": {"audio/x-caf"}, "au": {"audio/basic"}, "snd": {"audio/basic"},
    "m4a": {"audio/mp4", "audio/x-m4a"}, "alac": {"audio/mp4"}, "m4b": {"audio/x-m4b"},
    "aac": {"audio/aac", "audio/x-aac"}, "mp4": {"video/mp4"}, "mov": {"video/quicktime"},
    "mkv": {"video/x-matroska"}, "mka": {"audio/x-matroska"}, "webm": {"video/webm", "audio/webm"},
    "wma": {"audio/x-ms-wma"}, "wv": {"audio/x-wavpack"}, "ape": {"audio/x-ape"},
    "ac3": {"audio/ac3"}, "eac3": {"audio/eac3"}, "mp2": {"audio/mp2", "audio/x-mp2"},
}


def _entry(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_the_desktop_entry_offers_every_format_stemdeck_opens() -> None:
    listed = set(_entry(DESKTOP)["MimeType"].strip(";").split(";"))
    missing = [ext for ext in SUPPORTED_EXTENSIONS if not MIME_FOR_EXTENSION.get(ext, set()) & listed]
    assert missing == [], f"add MIME types for {missing} to {DESKTOP.name} (and to this test's table)"


def test_the_desktop_entry_is_valid() -> None:
    if shutil.which("desktop-file-validate") is None:
        pytest.skip("desktop-file-validate is not installed (Debian: desktop-file-utils)")
    done = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


@pytest.fixture
def unpacked(tmp_path: Path) -> Path:
    """A stand-in for the unpacked tarball (what packaging/build_frozen.sh puts in it)."""
    spec = importlib.util.spec_from_file_location("render_icons", PACKAGING / "render_icons.py")
    render_icons = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render_icons)
    folder = tmp_path / "Downloads" / "StemDeck-0.1.0-linux-x86_64"
    (folder / "_internal").mkdir(parents=True)
    (folder / "_internal" / "libstub.so").write_bytes(b"\0")
    program = folder / "stemdeck"
    program.write_text("#!/bin/sh\necho \"stub stemdeck $*\"\n")
    program.chmod(0o755)
    (folder / "share").mkdir()
    shutil.copy(DESKTOP, folder / "share" / "stemdeck.desktop")
    render_icons.render(folder / "share" / "icons")
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy(PACKAGING / script, folder / script)
    return folder


def _run(script: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60, env=os.environ.copy())


def test_install_puts_program_menu_entry_and_icons_under_local_and_uninstall_removes_them(
        unpacked: Path, temp_home: Path) -> None:
    local = temp_home / ".local"
    user_data = local / "share" / "stemdeck" / "models" / "mine.safetensors"
    user_data.parent.mkdir(parents=True)
    user_data.write_bytes(b"user's own model")

    done = _run(unpacked / "install.sh")
    assert done.returncode == 0, done.stderr
    app = local / "lib" / "stemdeck"
    link = local / "bin" / "stemdeck"
    desktop = local / "share" / "applications" / "stemdeck.desktop"
    assert (app / "_internal" / "libstub.so").is_file()
    assert subprocess.run([str(link), "--self-test"], capture_output=True, text=True).stdout.strip() == \
        "stub stemdeck --self-test"
    assert _entry(desktop)["Exec"] == f'"{app}/stemdeck" %F'
    for size in ("16x16", "48x48", "256x256", "512x512"):
        assert (local / "share" / "icons" / "hicolor" / size / "apps" / "stemdeck.png").is_file()
    if shutil.which("desktop-file-validate"):
        assert subprocess.run(["desktop-file-validate", str(desktop)]).returncode == 0
    if shutil.which("update-desktop-database"):   # "Open with": the MIME cache names StemDeck for FLAC
        cache = (desktop.parent / "mimeinfo.cache").read_text()
        assert any(line.startswith("audio/flac=") and "stemdeck.desktop" in line for line in cache.splitlines())
    shutil.rmtree(unpacked)                       # the download may go: the install is a copy
    assert _run(app / "install.sh").returncode == 0   # re-running from the install itself is harmless

    done = _run(app / "uninstall.sh")
    assert done.returncode == 0, done.stderr
    assert not app.exists() and not link.exists() and not link.is_symlink() and not desktop.exists()
    assert list((local / "share" / "icons").rglob("stemdeck.*")) == []
    assert user_data.read_bytes() == b"user's own model"   # the user's data stays
    assert str(user_data.parents[1]) in done.stdout


def test_install_never_replaces_a_foreign_stemdeck_command(unpacked: Path, temp_home: Path) -> None:
    other = temp_home / ".local" / "bin" / "stemdeck"
    other.parent.mkdir(parents=True)
    other.write_text("#!/bin/sh\necho a pip-installed stemdeck\n")
    done = _run(unpacked / "install.sh")
    assert done.returncode == 1
    assert f"{other} exists and is not StemDeck's link" in done.stderr
    assert other.read_text() == "#!/bin/sh\necho a pip-installed stemdeck\n"
    assert not (temp_home / ".local" / "lib" / "stemdeck").exists()
