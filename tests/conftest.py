"""Shared fixtures. GUI tests run offscreen; torch uses one thread so tests are repeatable.

Every test runs in a temporary user home (`temp_home`, autouse): HOME, the XDG folders,
STEMDECK_HOME and Qt's settings paths point into it, so no test reads or writes the real user's
settings, cache or models."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

#: fixtures shared by many test files (the GUI's temp home with a tiny model, a song, the window)
pytest_plugins = ["tests.gui_fixtures"]

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MUSDB_EXCERPTS = SHARED / "data" / "musdb18hq-excerpts"


@pytest.fixture(scope="session")
def musdb_excerpts() -> Path:
    """The three real MUSDB18-HQ excerpts in ../shared (skips when absent)."""
    if not (MUSDB_EXCERPTS / "test").is_dir():
        pytest.skip(f"shared excerpts not found at {MUSDB_EXCERPTS}")
    return MUSDB_EXCERPTS


@pytest.fixture(autouse=True)
def temp_home(tmp_path_factory, monkeypatch) -> Path:
    """A fresh user home for each test (see module doc); fixtures such as `stemdeck_home` may
    point STEMDECK_HOME elsewhere, still inside the test's temporary folders."""
    home = tmp_path_factory.mktemp("user-home")
    config, data, cache = home / ".config", home / ".local" / "share", home / ".cache"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("STEMDECK_HOME", str(data / "stemdeck"))
    from PySide6.QtCore import QSettings

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(config))
    return home
