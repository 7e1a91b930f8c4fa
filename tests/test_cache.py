"""The separation result cache: round trip, eviction, float16, damaged entries (app/cache.py)."""

from __future__ import annotations

import numpy as np

from app.cache import ResultCache, cache_key, file_content_hash


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
