"""StemMixer renders exactly the combination of stems the user set (pure numpy, no sound card)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from app.audio.mix_params import db_to_gain, mix_offline
from app.audio.mixer import ORIGINAL, StemMixer

SR = 44100
N = SR  # one second
STEMS = ("drums", "bass", "other", "vocals")
BLOCK = 512


def _stems(seed: int = 0, frames: int = N) -> dict[str, np.ndarray]:
    """Four distinguishable stems (channels, frames): tones at different pitches plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / SR
    out = {}
    for k, name in enumerate(STEMS):
        tone = 0.2 * np.sin(2 * np.pi * (110 * (k + 1)) * t)
        out[name] = (np.stack([tone, 0.5 * tone]) + 0.02 * rng.standard_normal((2, frames))).astype(np.float32)
    return out


def _mixer(stems: dict[str, np.ndarray], samplerate: int = SR) -> StemMixer:
    m = StemMixer(samplerate, channels=2, max_block_frames=4096)
    original = sum(stems.values()).astype(np.float32)
    m.load_track(SR, N, list(stems), original=original)
    for name, samples in stems.items():
        m.set_lane(name, samples)
    return m


def _render(m: StemMixer, frames: int, block: int = BLOCK) -> np.ndarray:
    """Render ``frames`` frames in callback-sized blocks -> (channels, frames)."""
    out = np.zeros((block, 2), dtype=np.float32)
    parts = []
    done = 0
    while done < frames:
        n = min(block, frames - done)
        m.render(out, n)
        parts.append(out[:n].copy())
        done += n
    return np.concatenate(parts).T


def _settled(m: StemMixer) -> None:
    """Play and get past the start fade-in."""
    m.play()
    _render(m, BLOCK)


def test_all_stems_play_their_sum_from_one_cursor():
    stems = _stems()
    m = _mixer(stems)
    m.play()
    got = _render(m, 4 * BLOCK)
    expected = mix_offline(stems, {n: 1.0 for n in STEMS})[:, : 4 * BLOCK]
    ramp = m.ramp_frames
    # first frames fade in (no click), then the exact sum
    assert np.allclose(got[:, ramp:], expected[:, ramp:], atol=1e-6)
    assert np.abs(got[:, 0]).max() < np.abs(expected[:, :ramp]).max() / 10 + 1e-3
    assert m.position_frames == 4 * BLOCK


def test_mute_vocals_gives_the_sum_of_the_others():
    stems = _stems()
    m = _mixer(stems)
    _settled(m)
    m.set_mute("vocals", True)
    ramp_block = _render(m, BLOCK)  # the change is heard within this block (ramp)
    got = _render(m, 2 * BLOCK)
    start = 2 * BLOCK
    expected = mix_offline(stems, {"drums": 1, "bass": 1, "other": 1})[:, start:start + 2 * BLOCK]
    assert np.allclose(got, expected, atol=1e-6)
    # the ramp block starts at the old mix and ends at the new one, no jump
    with_vocals = mix_offline(stems, {n: 1.0 for n in STEMS})[:, BLOCK:2 * BLOCK]
    without = mix_offline(stems, {"drums": 1, "bass": 1, "other": 1})[:, BLOCK:2 * BLOCK]
    assert np.allclose(ramp_block[:, 0], with_vocals[:, 0], atol=0.01)
    assert np.allclose(ramp_block[:, m.ramp_frames:], without[:, m.ramp_frames:], atol=1e-6)


def test_solo_plays_only_soloed_stems():
    stems = _stems()
    m = _mixer(stems)
    _settled(m)
    m.set_solo("drums", True)
    _render(m, BLOCK)
    got = _render(m, BLOCK)
    assert np.allclose(got, stems["drums"][:, 2 * BLOCK:3 * BLOCK], atol=1e-6)
    m.set_solo("bass", True)
    _render(m, BLOCK)
    got = _render(m, BLOCK)
    assert np.allclose(got, (stems["drums"] + stems["bass"])[:, 4 * BLOCK:5 * BLOCK], atol=1e-6)
    m.set_mute("drums", True)  # mute wins over solo, like a DAW
    _render(m, BLOCK)
    got = _render(m, BLOCK)
    assert np.allclose(got, stems["bass"][:, 6 * BLOCK:7 * BLOCK], atol=1e-6)


def test_gain_minus_6_db_is_exact_after_the_ramp_and_ramps_smoothly():
    stems = _stems()
    m = _mixer(stems)
    _settled(m)
    m.set_gain_db("drums", -6.0)
    ramp_block = _render(m, BLOCK)
    got = _render(m, BLOCK)
    g = 10 ** (-6 / 20)
    gains = {"drums": g, "bass": 1.0, "other": 1.0, "vocals": 1.0}
    assert np.allclose(got, mix_offline(stems, gains)[:, 2 * BLOCK:3 * BLOCK], atol=1e-6)
    # during the ramp the drums' gain moves linearly from 1 to g
    rest = mix_offline(stems, {"bass": 1, "other": 1, "vocals": 1})[:, BLOCK:2 * BLOCK]
    drums = stems["drums"][0, BLOCK:2 * BLOCK]
    r = m.ramp_frames
    mask = np.abs(drums[:r]) > 0.05
    implied = (ramp_block[0, :r] - rest[0, :r])[mask] / drums[:r][mask]
    assert np.all(np.diff(implied) <= 1e-4) and implied[0] > 0.99 and implied[-1] < g + 0.01


def test_original_is_exclusive_against_the_stems():
    stems = _stems()
    original = (0.3 * np.ones((2, N))).astype(np.float32)  # deliberately unlike the stem sum
    m = StemMixer(SR)
    m.load_track(SR, N, STEMS, original=original)
    for name, s in stems.items():
        m.set_lane(name, s)
    _settled(m)
    m.set_listen_original(True)
    _render(m, BLOCK)
    got = _render(m, BLOCK)
    assert np.allclose(got, original[:, 2 * BLOCK:3 * BLOCK], atol=1e-6)
    m.set_solo("vocals", True)  # stem solo does not leak into original listening
    _render(m, BLOCK)
    assert np.allclose(_render(m, BLOCK), original[:, 4 * BLOCK:5 * BLOCK], atol=1e-6)
    m.set_listen_original(False)
    _render(m, BLOCK)
    assert np.allclose(_render(m, BLOCK), stems["vocals"][:, 6 * BLOCK:7 * BLOCK], atol=1e-6)
    assert m.target_gains()[ORIGINAL] == 0.0


def test_seek_while_playing_lands_on_the_exact_frame():
    stems = _stems()
    m = _mixer(stems)
    full = mix_offline(stems, {n: 1.0 for n in STEMS})
    _settled(m)
    target = 30_001
    m.seek(target)
    assert m.position_frames == target  # a pending seek reads as its target
    got = _render(m, BLOCK)
    r = m.ramp_frames
    # old position fades out over r frames, then frame `target` plays at output offset r
    assert np.allclose(got[:, :r], full[:, BLOCK:BLOCK + r] * m._ramp_down[:r], atol=1e-6)
    assert np.allclose(got[:, 2 * r:], full[:, target + r:target + BLOCK - r], atol=1e-6)
    assert np.allclose(got[:, r:2 * r], full[:, target:target + r] * m._ramp_up[:r], atol=1e-6)
    assert m.position_frames == target + BLOCK - r


def test_seek_while_paused_then_play_starts_at_that_frame():
    stems = _stems()
    m = _mixer(stems)
    full = mix_offline(stems, {n: 1.0 for n in STEMS})
    m.seek(12_345)
    assert np.all(_render(m, BLOCK) == 0.0)  # paused: silence, cursor stays
    assert m.position_frames == 12_345
    m.play()
    got = _render(m, BLOCK)
    assert np.allclose(got, full[:, 12_345:12_345 + BLOCK] * m._ramp_up[:BLOCK], atol=1e-6)


def _looped(full: np.ndarray, a: int, b: int, idx: np.ndarray, x: int) -> np.ndarray:
    """Expected loop playback of source frames ``idx``: the last ``x`` frames before the loop
    end ``b`` fade linearly into the ``x`` frames that lead up to the loop start ``a``."""
    out = full[:, idx].astype(np.float64)
    k = idx - (b - x)
    fade = (k >= 0) & (k < x)
    w = (k[fade] + 0.5) / x
    out[:, fade] += w * (full[:, a - x + k[fade]] - full[:, idx[fade]])
    return out


def test_loop_wraps_sample_accurately():
    stems = _stems()
    m = _mixer(stems)
    full = mix_offline(stems, {n: 1.0 for n in STEMS})
    a, b = 10_000, 10_700
    m.set_loop(a, b)
    m.seek(b - 100)
    _settled(m)  # fade-in block from b-100: wraps after 100 frames
    got = _render(m, 1000)
    # cursor was at a + (BLOCK - 100) after the first block
    start = a + BLOCK - 100
    idx = a + (np.arange(start - a, start - a + 1000) % (b - a))  # wraps twice: 288 + 700 + 12
    x = min(m.loop_crossfade_frames, (b - a) // 2)  # a 700-frame loop: at most half of it fades
    assert np.allclose(got, _looped(full, a, b, idx, x), atol=1e-6)
    assert m.position_frames == a + 12
    m.clear_loop()
    pos = m.position_frames
    _render(m, 800)
    assert m.position_frames == pos + 800  # no wrap once the loop is cleared


def test_pause_fades_out_and_holds_the_cursor():
    m = _mixer(_stems())
    _settled(m)
    m.pause()
    got = _render(m, BLOCK)
    r = m.ramp_frames
    assert np.all(got[:, r:] == 0.0) and np.abs(got[:, :r]).max() > 0
    pos = m.position_frames
    assert np.all(_render(m, 3 * BLOCK) == 0.0)
    assert m.position_frames == pos == BLOCK + r
    assert not m.is_playing


def test_playback_stops_at_the_end_of_the_track():
    m = _mixer(_stems())
    m.seek(N - 300)
    m.play()
    got = _render(m, BLOCK)
    assert np.all(got[:, 300:] == 0.0)
    assert not m.is_playing and m.position_frames == N
    m.play()  # play at the end starts again from the top
    assert m.position_frames == 0 and m.is_playing


def test_progressive_regions_play_and_unrendered_stems_are_silent():
    stems = _stems()
    m = StemMixer(SR)
    m.load_track(SR, N, STEMS)  # no original; stems still empty
    block = np.stack([stems[n][:, :3000] for n in STEMS])  # (S, C, n) like on_region
    m.write_stems_region(0, block)
    assert m.valid_frames("vocals") == 3000
    m.play()
    got = _render(m, 4096 + BLOCK)[:, :4096]
    full = mix_offline(stems, {n: 1.0 for n in STEMS})
    r = m.ramp_frames
    assert np.allclose(got[:, r:3000], full[:, r:3000], atol=1e-6)
    assert np.all(got[:, 3000:] == 0.0)
    # the next region arrives while playing: it is heard when the cursor gets there
    m.write_stems_region(3000, np.stack([stems[n][:, 3000:20000] for n in STEMS]))
    got = _render(m, 4096)
    pos = 4096 + BLOCK
    assert np.allclose(got, full[:, pos:pos + 4096], atol=1e-6)
    with pytest.raises(ValueError, match="2 stems in the region, 4 lanes"):
        m.write_stems_region(0, block[:2])


def test_regions_at_another_rate_are_resampled_once_without_seams():
    stems = _stems()
    m48 = StemMixer(48000)
    m48.load_track(SR, N, ["vocals"])
    x = stems["vocals"]
    for start in range(0, N, 7000):  # in-order regions, odd size
        m48.write_region("vocals", start, x[:, start:start + 7000])
    whole = StemMixer(48000)
    whole.load_track(SR, N, ["vocals"])
    whole.set_lane("vocals", x)
    assert m48.duration_frames == whole.duration_frames == 48000
    assert m48.valid_frames("vocals") == 48000
    a = m48._mix.track.lanes[0].samples
    b = whole._mix.track.lanes[0].samples
    assert np.max(np.abs(a[:, 100:-100] - b[:, 100:-100])) < 1e-4
    # the 440 Hz vocal tone stays a 440 Hz tone at the new rate (pitch preserved)
    spec = np.abs(np.fft.rfft(a[0]))
    assert abs(np.argmax(spec) * 48000 / a.shape[1] - 440) < 2


def test_levels_are_post_fader_per_lane():
    stems = _stems()
    m = _mixer(stems)
    _settled(m)
    names, peak, rms = m.levels()
    assert names == (ORIGINAL, *STEMS)
    idx = {n: i for i, n in enumerate(names)}
    bass_before = float(peak[idx["bass"]])
    assert bass_before > 0.2
    m.set_mute("bass", True)
    _render(m, SR // 2 - BLOCK)
    seg = stems["drums"][:, SR // 2:SR // 2 + BLOCK]
    _render(m, BLOCK)
    # muted: the meter falls at 24 dB/s, so after half a second it is 12 dB down
    assert peak[idx["bass"]] < 0.3 * bass_before
    assert peak[idx[ORIGINAL]] == 0.0  # not listened to
    assert peak[idx["drums"]] >= np.abs(seg).max() - 1e-6
    assert 0.05 < rms[idx["drums"]] < peak[idx["drums"]]
    assert m.master_peak[0] > 0.1


def test_render_allocates_no_arrays_per_block():
    """Peak traced memory across many blocks (gain ramps, mute, seek, loop, pause) stays far below
    one block of audio (1024 frames x 2 channels x 4 bytes = 8 KiB): only transient views/ints."""
    m = _mixer(_stems())
    out = np.zeros((1024, 2), dtype=np.float32)
    m.play()
    m.set_loop(1000, 9000)
    for _ in range(3):
        m.render(out, 1024)
    # prepare all snapshots first (their creation allocates; that is the GUI thread's work)
    steps = list(range(40))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        worst = 0
        for k in steps:
            if k == 10:
                m.set_gain_db("drums", -6.0)
            elif k == 20:
                m.set_mute("vocals", True)
            elif k == 25:
                m.seek(5000)
            elif k == 30:
                m.set_master_gain_db(-3.0)
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            m.render(out, 1024)
            worst = max(worst, tracemalloc.get_traced_memory()[1] - before)
        leaked = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert worst < 4096, f"render allocated {worst} bytes in one block"
    assert leaked < 64 * 1024  # the snapshots made by the setters, nothing per block


def test_lane_names_and_bad_requests():
    m = _mixer(_stems())
    assert m.lane_names == (ORIGINAL, *STEMS)
    with pytest.raises(ValueError, match="no lane named 'guitar'"):
        m.set_gain_db("guitar", -3)
    with pytest.raises(ValueError, match="loop region too short"):
        m.set_loop(100, 105)
    assert db_to_gain(-6.0) == pytest.approx(0.501187, rel=1e-5)
    silent = StemMixer(SR)
    out = np.ones((256, 2), np.float32)
    silent.render(out, 256)  # nothing loaded: silence, no error
    assert np.all(out == 0.0)


def test_changing_the_output_rate_resamples_newly_loaded_lanes():
    stems = _stems()
    m = StemMixer(SR)
    m.set_samplerate(48000)
    assert m.samplerate == 48000 and m.ramp_frames == 240
    m.load_track(SR, N, ["bass"])
    m.set_lane("bass", stems["bass"])
    assert m.duration_frames == 48000
    m.play()
    got = _render(m, 4096)
    assert np.abs(got[:, m.ramp_frames:]).max() > 0.1  # it plays
    assert m.output_to_source_frames(m.position_frames) == round(4096 * SR / 48000)


def test_seek_from_the_last_frames_keeps_playing_at_the_new_frame():
    stems = _stems()
    m = _mixer(stems)
    full = mix_offline(stems, {n: 1.0 for n in STEMS})
    m.seek(N - 100 - BLOCK)
    _settled(m)  # now playing, 100 frames before the end
    m.seek(1000)  # the fade-out runs into the end of the track after 100 frames
    got = _render(m, BLOCK)
    r = m.ramp_frames
    assert r > 100 and m.is_playing
    assert np.all(got[:, 100:r] == 0.0)
    assert np.allclose(got[:, 2 * r:], full[:, 1000 + r:1000 + BLOCK - r], atol=1e-6)
    assert m.position_frames == 1000 + BLOCK - r


def test_loop_wrap_is_continuous_instead_of_a_click():
    """A rising ramp steps down by its whole loop span at a hard wrap (a click); the crossfade
    spreads that step over the crossfade's frames, so the largest step is ~1/441 of it."""
    ramp = np.tile(np.linspace(-0.5, 0.5, N, dtype=np.float32), (2, 1))
    m = StemMixer(SR, channels=2, max_block_frames=4096)
    m.load_track(SR, N, ["drums"])
    m.set_lane("drums", ramp)
    a, b = 20_000, 30_000
    m.set_loop(a, b)
    m.seek(b - 2000)
    _settled(m)
    got = _render(m, 4000)[0]
    slope = 1.0 / (N - 1)
    hard_step = (b - a) * slope  # 0.227
    x = m.loop_crossfade_frames
    assert x == round(0.01 * SR)
    jump = np.abs(np.diff(got)).max()
    assert jump <= hard_step / x + slope + 1e-6, jump


def test_loop_starting_at_zero_wraps_hard_and_keeps_the_body_untouched():
    stems = _stems()
    m = _mixer(stems)
    full = mix_offline(stems, {n: 1.0 for n in STEMS})
    m.set_loop(0, 3000)
    m.seek(0)
    _settled(m)
    got = _render(m, 3000)
    idx = (BLOCK + np.arange(3000)) % 3000
    assert np.allclose(got, full[:, idx], atol=1e-6)  # no lead-in before frame 0: plain wrap
