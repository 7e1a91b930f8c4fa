"""Typed preferences: defaults, persistence, bad values fall back (app/settings.py)."""

from __future__ import annotations

import pytest

from app.settings import Settings


def test_settings_typed_defaults_and_persistence(tmp_path):
    ini = tmp_path / "s.ini"
    s = Settings(ini)
    assert s.get("device") == "auto" and s.get("auto_separate") is True
    assert s.get("segment_seconds") == 0.0
    s.set("device", "cpu")
    s.set("quality", "best")
    s.set("auto_separate", False)
    s.set("segment_seconds", 6.5)
    s.add_recent_file(tmp_path / "a.wav")
    s.add_recent_file(tmp_path / "b.wav")
    s.add_recent_file(tmp_path / "a.wav")
    s.sync()
    again = Settings(ini)
    assert again.get("device") == "cpu"
    assert again.quality().shifts == 4
    assert again.get("auto_separate") is False
    assert again.get("segment_seconds") == pytest.approx(6.5)
    assert again.recent_files() == [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]


def test_settings_bad_values_fall_back_to_defaults(tmp_path):
    ini = tmp_path / "s.ini"
    ini.write_text("[prefs]\nsegment_seconds=lots\nauto_separate=maybe\nquality=ultra\n")
    s = Settings(ini)
    assert s.get("segment_seconds") == 0.0
    assert s.get("auto_separate") is True
    assert s.quality().name == "balanced"
