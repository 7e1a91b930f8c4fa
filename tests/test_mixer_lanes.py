"""Lane buffers: borrowed (no copy) at the device rate, regions written in place, and a region
that lands past the frontier (a restarted separation) is heard without reloading the lane."""

from __future__ import annotations

import numpy as np

from app.audio.mixer import ORIGINAL, StemMixer

SR = 44100
N = 3 * SR
STEMS = ["drums", "bass", "other", "vocals"]


def _render(m: StemMixer, frames: int, block: int = 1024) -> np.ndarray:
    out = np.zeros((block, 2), np.float32)
    parts = []
    for _ in range(-(-frames // block)):
        m.render(out, block)
        parts.append(out.T.copy())
    return np.concatenate(parts, axis=1)[:, :frames]


def _heard(m: StemMixer, start: int, frames: int) -> np.ndarray:
    m.pause()
    _render(m, 1024)
    m.seek(start - 1024)
    m.play()
    _render(m, 1024)  # fade-in happens here
    return _render(m, frames)


def _shared_mixer():
    rng = np.random.default_rng(1)
    mixture = (0.1 * rng.standard_normal((2, N))).astype(np.float32)
    stems = np.zeros((4, 2, N), np.float32)   # what a Track holds before separation
    m = StemMixer(SR, max_block_frames=4096)
    m.load_track(SR, N, STEMS, original=mixture, stem_buffers=list(stems), share=True)
    return m, mixture, stems


def test_lanes_borrow_the_tracks_arrays_at_the_same_rate():
    m, mixture, stems = _shared_mixer()
    lanes = {lane.name: lane for lane in m._mix.track.lanes}
    assert np.shares_memory(lanes[ORIGINAL].samples, mixture)
    assert all(np.shares_memory(lanes[n].samples, stems[i]) for i, n in enumerate(STEMS))
    # the track writes a region, the mixer is told: it is heard, nothing after it
    stems[:, :, :SR] = 0.25
    for i, name in enumerate(STEMS):
        m.write_region(name, 0, stems[i, :, :SR])
    assert m.valid_frames("vocals") == SR
    np.testing.assert_allclose(_heard(m, SR // 2, 2048), 1.0, atol=1e-6)   # 4 stems x 0.25
    assert np.all(_heard(m, SR + 2048, 2048) == 0.0)
    # replacing the original lane never writes into the caller's array
    before = mixture.copy()
    m.set_lane(ORIGINAL, np.ones((2, N), np.float32))
    np.testing.assert_array_equal(mixture, before)
    m.set_listen_original(True)
    np.testing.assert_allclose(_heard(m, SR, 2048), 1.0, atol=1e-6)


def test_unshared_lanes_copy_and_stay_independent():
    mixture = np.full((2, N), 0.5, np.float32)
    m = StemMixer(SR, max_block_frames=4096)
    m.load_track(SR, N, STEMS, original=mixture)
    assert not np.shares_memory(m._mix.track.lanes[0].samples, mixture)


def test_region_past_the_frontier_is_heard_where_it_lands():
    m, _mixture, stems = _shared_mixer()
    stems[:, :, :SR // 2] = 0.1
    for i, name in enumerate(STEMS):
        m.write_region(name, 0, stems[i, :, :SR // 2])
    start = 2 * SR   # the separation restarted at 0:02
    stems[:, :, start:] = 0.2
    for i, name in enumerate(STEMS):
        m.write_region(name, start, stems[i, :, start:])
    assert m.valid_frames("drums") == N
    np.testing.assert_allclose(_heard(m, 2 * SR + 4096, 2048), 0.8, atol=1e-6)
    np.testing.assert_allclose(_heard(m, SR // 4, 2048), 0.4, atol=1e-6)
    assert np.all(_heard(m, SR, 2048) == 0.0)   # the gap: silence until it is separated
    # the gap is filled later and is heard in place
    stems[:, :, SR // 2:start] = 0.05
    for i, name in enumerate(STEMS):
        m.write_region(name, SR // 2, stems[i, :, SR // 2:start])
    np.testing.assert_allclose(_heard(m, SR, 2048), 0.2, atol=1e-6)


def test_region_past_the_frontier_at_another_rate():
    m = StemMixer(48000, max_block_frames=4096)
    m.load_track(SR, N, ["vocals"], stem_buffers=[np.zeros((2, N), np.float32)], share=True)
    assert not m._mix.track.lanes[0].borrowed   # needs conversion: its own buffer
    block = np.full((2, SR), 0.3, np.float32)
    m.write_region("vocals", 2 * SR, block)
    assert m.valid_frames("vocals") == m.duration_frames
    got = _heard(m, int(2.5 * 48000), 2048)
    np.testing.assert_allclose(got, 0.3, atol=1e-3)
