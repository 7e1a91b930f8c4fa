"""A track's bookkeeping of separated regions: coverage, gaps, merging (app/track.py)."""

from __future__ import annotations

import numpy as np

from app.track import Track, merge_interval


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
