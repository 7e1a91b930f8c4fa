"""Settings, cache and track bookkeeping behind the window (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from app.cache import ResultCache, cache_key, file_content_hash
from app.settings import Settings
from app.track import Track, merge_interval


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


def test_cache_roundtrip_evicts_and_leaves_no_temp(tmp_path):
    song = tmp_path / "song.bin"
    song.write_bytes(b"abc" * 1000)
    h = file_content_hash(song)
    key = cache_key(h, "tiny:123", {"shifts": 1})
    assert key != cache_key(h, "tiny:123", {"shifts": 2})
    cache = ResultCache(tmp_path / "cache", max_bytes=10_000_000)
    stems = np.random.default_rng(0).standard_normal((4, 2, 1000)).astype(np.float32)
    se = {"encoder.1": np.full((3, 4), 0.5, np.float32)}
    cache.put(key, stems, ("drums", "bass", "other", "vocals"), 44100, {"device": "cpu"}, se,
              np.arange(3, dtype=np.float32))
    got = cache.get(key)
    assert got is not None and np.array_equal(got.stems, stems)
    assert got.samplerate == 44100 and got.meta["device"] == "cpu"
    assert np.array_equal(got.se_activations["encoder.1"], se["encoder.1"])
    assert not list((tmp_path / "cache").glob(".tmp-*"))
    # a second entry over the limit evicts the older one
    small = ResultCache(tmp_path / "cache", max_bytes=40_000)
    small.put("other", stems, ("drums", "bass", "other", "vocals"), 44100, {})
    assert small.get("other") is not None and small.get(key) is None


def test_cache_float16_is_half_size_and_close(tmp_path):
    stems = np.random.default_rng(1).uniform(-1, 1, (4, 2, 5000)).astype(np.float32)
    c32 = ResultCache(tmp_path / "a")
    c16 = ResultCache(tmp_path / "b", dtype="float16")
    c32.put("k", stems, ("a", "b", "c", "d"), 44100, {})
    c16.put("k", stems, ("a", "b", "c", "d"), 44100, {})
    assert c16.total_bytes() < 0.6 * c32.total_bytes()
    assert np.max(np.abs(c16.get("k").stems - stems)) < 1e-3


def test_cache_damaged_entry_is_a_miss(tmp_path):
    cache = ResultCache(tmp_path)
    cache.put("k", np.zeros((4, 2, 10), np.float32), ("a", "b", "c", "d"), 44100, {})
    (tmp_path / "k" / "stems.npy").write_bytes(b"garbage")
    assert cache.get("k") is None
    assert not (tmp_path / "k").exists()


def test_track_coverage_and_gaps():
    t = Track(path="x.wav", mixture=np.zeros((2, 100), np.float32), samplerate=10)
    assert t.next_gap(0) == (0, 100)
    t.write_region(40, np.ones((4, 2, 20), np.float32))
    assert t.coverage == [(40, 60)]
    assert t.next_gap(45) == (60, 100)
    assert t.next_gap(10) == (10, 40)
    t.write_region(60, np.ones((4, 2, 50), np.float32))  # clipped at the end
    assert t.coverage == [(40, 100)]
    assert t.next_gap(70) == (0, 40)   # wraps to the first gap
    t.write_region(0, np.full((4, 2, 40), 2.0, np.float32))
    assert t.complete and t.next_gap(0) is None
    assert t.stems[0, 0, 0] == 2.0 and t.stems[3, 1, 99] == 1.0


def test_merge_interval():
    assert merge_interval([(0, 5), (10, 15)], 5, 10) == [(0, 15)]
    assert merge_interval([(0, 5)], 7, 9) == [(0, 5), (7, 9)]
    assert merge_interval([(7, 9)], 0, 2) == [(0, 2), (7, 9)]


def test_queue_status_column_tooltip_holds_the_whole_status(qtbot, tmp_path):
    """The status column is narrow ("Done — cpu (C…"): hovering it shows all of it, or the
    reason a song failed."""
    from app.queue_panel import QueuePanel
    from app.session import QueueItem

    panel = QueuePanel()
    qtbot.addWidget(panel)
    done = QueueItem(tmp_path / "a.wav", status="done", message="cpu (CPU (2 cores))")
    failed = QueueItem(tmp_path / "b.wav", status="failed", message="b.wav: not an audio file")
    for item in (done, failed):
        panel.add_item(item)
        panel.update_item(item)
    rows = [panel.tree.topLevelItem(i) for i in range(2)]
    assert rows[0].toolTip(1) == "Done — cpu (CPU (2 cores))"
    assert rows[1].toolTip(1) == "b.wav: not an audio file"
    assert rows[0].toolTip(0) == str(tmp_path / "a.wav")
