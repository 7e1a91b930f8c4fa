"""StemMixer: every lane of a track mixed from one cursor in one ``render`` call (pure numpy).

Layouts and units
-----------------
- Lanes are stored as float32 ``(channels, frames)`` arrays at the mixer's **output** rate
  (``StemMixer.samplerate``, the sound device's rate). Material handed in at another rate (the
  model's 44.1 kHz) is resampled once, outside the audio callback, when it is loaded or written.
- ``render(out, frames)`` fills ``out``: float32 ``(frames, channels)`` (what PortAudio hands the
  callback). All public frame numbers (cursor, seek, loop) are output-rate frames; use
  ``source_to_output_frames`` / ``output_to_source_frames`` to convert from track frames.

Threads
-------
The GUI thread (single writer) builds immutable ``MixSnapshot``s (track + per-lane gains) and
request tuples (seek ``(generation, frame)``, transport ``(generation, playing)``) and swaps them in by
reference. The audio thread only reads those references, owns the cursor and the current ramp
state, and writes levels into preallocated arrays. ``render`` allocates no arrays, takes no locks,
logs nothing and emits nothing. Progressive separation writes regions into preallocated
full-length lane buffers (``write_region``; in place, or nothing at all when the lane borrows the
track's array), then advances the lane's "valid up to" frame; stems play silence beyond it. A
region past that frontier (a separation restarted ahead of the playhead) makes the lane playable
throughout: its buffer is silence wherever nothing has been separated yet.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Sequence

import numpy as np

from app.audio.lanes import (ORIGINAL, LaneBuffer, match_channels, prepare_lane, prepare_lanes,
                             same_memory)
from app.audio.mix_params import MixParams, MixSnapshot, default_params

__all__ = ["ORIGINAL", "StemMixer"]

logger = logging.getLogger(__name__)

class _Track:
    """Lanes of one song plus render-owned state sized for them (swapped in as a whole)."""

    def __init__(self, lanes: list[LaneBuffer], total_frames: int, source_samplerate: int,
                 channels: int, max_block_frames: int) -> None:
        self.lanes = lanes
        self.names = tuple(lane.name for lane in lanes)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.total_frames = total_frames
        self.source_samplerate = source_samplerate
        self.is_original = tuple(name == ORIGINAL for name in self.names)
        n = len(lanes)
        self.current_gain = np.zeros(n, dtype=np.float64)  # render-owned: gain reached so far
        self.peak = np.zeros(n, dtype=np.float32)  # render-written levels (linear, with fall-back)
        self.rms = np.zeros(n, dtype=np.float32)
        # Scratch for render, flat so each block views it as contiguous (lanes, channels, n):
        # strided slices would make numpy allocate iteration buffers inside the callback.
        self.lane_flat = np.zeros(n * channels * max_block_frames, dtype=np.float32)
        self.abs_flat = np.zeros_like(self.lane_flat)
        self.peak_new = np.zeros(n, dtype=np.float32)
        self.rms_new = np.zeros(n, dtype=np.float32)


class StemMixer:
    """Mixes the original and stem lanes from one integer cursor; see the module docstring.

    ``samplerate``: output (device) rate in Hz. ``channels``: output channels (2).
    ``max_block_frames``: largest block rendered in one pass (longer requests are split).
    ``ramp_seconds``: length of the linear gain / transport ramps (no clicks). A seek while playing
    fades out then in within one block, so blocks should be at least twice the ramp (the Player
    uses 1024 frames; 5 ms is 220-240 frames). ``loop_crossfade_seconds``: at the loop end the
    audio fades into the audio just before the loop start over this long (10 ms), so a loop
    repeats without a click.
    """

    def __init__(self, samplerate: int = 44100, channels: int = 2, max_block_frames: int = 8192,
                 ramp_seconds: float = 0.005, meter_fall_db_per_second: float = 24.0,
                 loop_crossfade_seconds: float = 0.01) -> None:
        if samplerate <= 0 or channels <= 0 or max_block_frames <= 0:
            raise ValueError("samplerate, channels and max_block_frames must be positive")
        self.channels = int(channels)
        self.max_block_frames = int(max_block_frames)
        self.ramp_seconds = ramp_seconds
        self.loop_crossfade_seconds = loop_crossfade_seconds
        self.meter_fall_db_per_second = meter_fall_db_per_second
        b, c = self.max_block_frames, self.channels
        # Preallocated scratch, reused by every block.
        self._acc_flat = np.zeros(c * b, dtype=np.float32)  # viewed per block as (channels, n)
        self._gvec = np.zeros(b, dtype=np.float32)  # per-frame gain of one lane
        self._env = np.ones(b, dtype=np.float32)  # transport * master per frame
        self.master_peak = np.zeros(1, dtype=np.float32)
        self._master_peak_new = np.zeros(1, dtype=np.float32)
        self._master_peak_0d = self._master_peak_new[0, ...]  # 0-d view: reduce target
        self._master_abs = np.zeros((b, c), dtype=np.float32)
        self._xfade_tmp = np.zeros(b, dtype=np.float32)  # loop crossfade: one channel's difference
        self._xfade_w = np.zeros(b, dtype=np.float32)  # loop crossfade: weights of one span
        # Shared references (GUI writes, audio thread reads).
        self._mix = MixSnapshot(None, default_params(0))
        self._seek_request: tuple[int, int] = (0, 0)
        self._transport_request: tuple[int, bool] = (0, False)
        # Audio-thread-owned state.
        self.cursor = 0
        self._seek_applied = 0
        self._transport_applied = 0
        self._playing = False
        self._master_current = 1.0
        self.blocks_rendered = 0
        self._configure_rate(samplerate)

    def _configure_rate(self, samplerate: int) -> None:
        b = self.max_block_frames
        self.samplerate = int(samplerate)
        self.ramp_frames = max(1, int(round(self.ramp_seconds * samplerate)))
        ramp_up = np.ones(b, dtype=np.float32)  # 1/R, 2/R, ..., 1, 1, ...
        r = min(self.ramp_frames, b)
        ramp_up[:r] = np.arange(1, r + 1, dtype=np.float32) / r
        self._ramp_up = ramp_up
        self._ramp_down = (1.0 - ramp_up).astype(np.float32)  # 1-1/R, ..., 0, 0, ...
        self.loop_crossfade_frames = max(0, int(round(self.loop_crossfade_seconds * samplerate)))
        # (k + 0.5) for k < crossfade length: scaled by 1/length per span, no allocation in render
        self._xfade_index = np.arange(max(1, self.loop_crossfade_frames), dtype=np.float32) + 0.5

    def set_samplerate(self, samplerate: int) -> None:
        """Change the output rate (the Player does this before its stream starts); drops the track,
        which must then be loaded again."""
        if samplerate <= 0:
            raise ValueError("samplerate must be positive")
        self.unload()
        self._configure_rate(samplerate)

    # ------------------------------------------------------------------ track setup (GUI thread)
    def load_track(self, source_samplerate: int, total_frames: int, stems: Sequence[str],
                   original: np.ndarray | None = None, *,
                   stem_buffers: Sequence[np.ndarray] | None = None, share: bool = False,
                   original_later: bool = False) -> None:
        """Replace the lanes: an ``original`` lane (if given, ``(C, total_frames)`` at
        ``source_samplerate``) and empty full-length stem lanes named ``stems`` that fill in via
        ``write_region`` / ``set_lane``. Stops playback and moves the cursor to 0.

        ``share=True`` lets lanes borrow ``original`` and ``stem_buffers`` (one zero-initialised
        ``(C, total_frames)`` float32 array per stem that the caller writes regions into) when
        they need no conversion, instead of copying them: see ``app.audio.lanes.prepare_lanes``.
        ``original_later``: a silent original lane now, filled by ``set_lane_prepared`` (when
        converting the song would take too long for the caller's thread)."""
        if total_frames <= 0:
            raise ValueError("a track needs at least one frame")
        out_frames = self.source_to_output_frames(total_frames, source_samplerate)
        lanes = prepare_lanes(source_samplerate, total_frames, stems, self.samplerate,
                              self.channels, original=original, stem_buffers=stem_buffers,
                              share=share, original_later=original_later)
        track = _Track(lanes, out_frames, int(source_samplerate), self.channels,
                       self.max_block_frames)
        n = len(lanes)
        self.pause()
        old = self._mix.params
        params = replace(default_params(n), master_gain_db=old.master_gain_db)
        self._mix = MixSnapshot(track, params)
        self.seek(0)
        logger.info("mixer: %d lanes, %d frames at %d Hz (source %d Hz)", n, out_frames,
                    self.samplerate, source_samplerate)

    def unload(self) -> None:
        """Drop the track (render outputs silence)."""
        self.pause()
        self._mix = MixSnapshot(None, replace(default_params(0), master_gain_db=self._mix.params.master_gain_db))

    def set_lane(self, name: str, samples: np.ndarray) -> None:
        """Fill a whole lane at once (e.g. from the cache): ``samples (C, frames)`` at the source rate."""
        track, lane = self._lane(name)
        if same_memory(lane.samples, np.asarray(samples)):  # a borrowed buffer that holds it
            lane.fill(lane.samples)
            return
        lane.fill(prepare_lane(samples, track.source_samplerate, self.samplerate, self.channels,
                               track.total_frames))

    def set_lane_prepared(self, name: str, samples: np.ndarray) -> None:
        """Fill a whole lane with ``samples (channels, frames)`` already at the output rate, e.g.
        made by ``app.audio.lanes.prepare_lane`` in a worker; the array is taken, not copied."""
        _track, lane = self._lane(name)
        lane.swap(samples)

    def write_region(self, name: str, start_frame: int, block: np.ndarray) -> None:
        """Write ``block (C, n)`` (source rate) at source frame ``start_frame`` of lane ``name`` and
        advance its valid frontier. Regions arriving in time order are resampled as one stream (no
        seams); any other order starts a fresh stream. One writer thread at a time."""
        track, lane = self._lane(name)
        block = match_channels(np.asarray(block, dtype=np.float32), self.channels)
        lane.write(start_frame, block, track.source_samplerate, self.samplerate, track.total_frames)

    def write_stems_region(self, start_frame: int, block: np.ndarray,
                           names: Sequence[str] | None = None) -> None:
        """``on_region``-shaped helper: ``block (S, C, n)`` for the stems ``names`` (default: the
        stem lanes in load order)."""
        track = self._require_track()
        names = names or [n for n in track.names if n != ORIGINAL]
        if len(names) != block.shape[0]:
            raise ValueError(f"{block.shape[0]} stems in the region, {len(names)} lanes named")
        for i, name in enumerate(names):
            self.write_region(name, start_frame, block[i])

    def valid_frames(self, name: str) -> int:
        """Output frames of lane ``name`` that hold separated audio (from frame 0)."""
        return self._lane(name)[1].valid_frames

    # ------------------------------------------------------------------ controls (GUI thread)
    @property
    def lane_names(self) -> tuple[str, ...]:
        track = self._mix.track
        return track.names if track else ()

    @property
    def params(self) -> MixParams:
        return self._mix.params

    def set_gain_db(self, name: str, gain_db: float) -> None:
        self._set_lane_field(name, "gains_db", float(gain_db))

    def set_mute(self, name: str, muted: bool) -> None:
        self._set_lane_field(name, "muted", bool(muted))

    def set_solo(self, name: str, soloed: bool) -> None:
        self._set_lane_field(name, "soloed", bool(soloed))

    def set_listen_original(self, listen: bool) -> None:
        """A/B: True plays only the original lane, False only the stems."""
        self._swap(replace(self._mix.params, listen_original=bool(listen)))

    def set_master_gain_db(self, gain_db: float) -> None:
        self._swap(replace(self._mix.params, master_gain_db=float(gain_db)))

    def set_loop(self, start_frame: int, end_frame: int) -> None:
        """Loop output frames [start_frame, end_frame): reaching ``end_frame`` wraps to
        ``start_frame`` sample-accurately (only when the cursor crosses the end from inside)."""
        track = self._require_track()
        start = max(0, min(int(start_frame), track.total_frames))
        end = max(0, min(int(end_frame), track.total_frames))
        if end - start < 16:
            raise ValueError(f"loop region too short: {start}..{end}")
        self._swap(replace(self._mix.params, loop=(start, end)))

    def clear_loop(self) -> None:
        self._swap(replace(self._mix.params, loop=None))

    def target_gains(self) -> dict[str, float]:
        """Linear gain each lane is heading to (what "export what I hear" should apply)."""
        mix = self._mix
        if mix.track is None:
            return {}
        return {n: float(g) * mix.master for n, g in zip(mix.track.names, mix.target)}

    # ------------------------------------------------------------------ transport (GUI thread)
    def play(self) -> None:
        track = self._mix.track
        if track is not None and self.position_frames >= track.total_frames:
            loop = self._mix.loop
            self.seek(loop[0] if loop else 0)
        gen = self._transport_request[0] + 1
        self._transport_request = (gen, True)

    def pause(self) -> None:
        self._transport_request = (self._transport_request[0] + 1, False)

    def stop(self) -> None:
        """Pause and return to the start (of the loop when one is set)."""
        self.pause()
        loop = self._mix.loop
        self.seek(loop[0] if loop else 0)

    def seek(self, frame: int) -> None:
        """Request the cursor to move to output ``frame``; applied at the next block with a short
        fade when audible."""
        track = self._mix.track
        total = track.total_frames if track else 0
        frame = max(0, min(int(frame), total))
        self._seek_request = (self._seek_request[0] + 1, frame)

    @property
    def is_playing(self) -> bool:
        gen, want = self._transport_request
        return want if gen != self._transport_applied else self._playing

    @property
    def position_frames(self) -> int:
        """Cursor in output frames (a pending seek's target until the next block applies it)."""
        gen, frame = self._seek_request
        return frame if gen != self._seek_applied else self.cursor

    @property
    def position_seconds(self) -> float:
        return self.position_frames / self.samplerate

    @property
    def duration_frames(self) -> int:
        track = self._mix.track
        return track.total_frames if track else 0

    def levels(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """(lane names, peak, rms) linear post-fader levels with meter fall-back; the arrays are
        the live ones the audio thread writes (copy them if you keep them)."""
        track = self._mix.track
        if track is None:
            return (), np.zeros(0, np.float32), np.zeros(0, np.float32)
        return track.names, track.peak, track.rms

    # ------------------------------------------------------------------ conversions
    def source_to_output_frames(self, frames: int, source_samplerate: int | None = None) -> int:
        rate = source_samplerate or (self._mix.track.source_samplerate if self._mix.track else self.samplerate)
        return int(frames) if rate == self.samplerate else int(round(frames * self.samplerate / rate))

    def output_to_source_frames(self, frames: int, source_samplerate: int | None = None) -> int:
        rate = source_samplerate or (self._mix.track.source_samplerate if self._mix.track else self.samplerate)
        return int(frames) if rate == self.samplerate else int(round(frames * rate / self.samplerate))

    # ------------------------------------------------------------------ audio thread
    def render(self, out: np.ndarray, frames: int) -> None:
        """Fill ``out[:frames]`` (float32 ``(frames, channels)``) with the next block. Audio thread
        only; allocates no arrays."""
        done = 0
        while done < frames:
            n = min(self.max_block_frames, frames - done)
            self._render_block(out[done:done + n], n)
            done += n
        self.blocks_rendered += 1

    def _render_block(self, out: np.ndarray, n: int) -> None:
        mix = self._mix
        track = mix.track
        if track is None:
            out.fill(0.0)
            return
        lanes_c = len(track.lanes) * self.channels
        lane_buf = track.lane_flat[:lanes_c * n].reshape(len(track.lanes), self.channels, n)
        acc = self._acc_flat[:self.channels * n].reshape(self.channels, n)
        seek_gen, seek_frame = self._seek_request
        tr_gen, want_play = self._transport_request
        seek_pending = seek_gen != self._seek_applied
        if tr_gen != self._transport_applied:
            self._transport_applied = tr_gen
            transport_change = want_play != self._playing
        else:
            want_play = self._playing
            transport_change = False
        env = self._env
        lane_buf.fill(0.0)
        ramp = min(self.ramp_frames, n)
        # Plan: which output span plays which source frames, and the transport envelope.
        env_steady = True
        if self._playing and (seek_pending or (transport_change and not want_play)):
            # fade out where we are over `ramp` frames ...
            env_steady = False
            env[:n] = self._ramp_down[:n]
            self._play_span(track, mix, lane_buf, 0, ramp)
            self._playing = False
            if seek_pending:
                self._seek_applied = seek_gen
                self.cursor = seek_frame
                if want_play:  # ... then fade in at the new frame
                    self._playing = True
                    env[ramp:n] = self._ramp_up[:n - ramp]
                    self._play_span(track, mix, lane_buf, ramp, n - ramp)
        else:
            if seek_pending:
                self._seek_applied = seek_gen
                self.cursor = seek_frame
            if transport_change and want_play:
                self._playing = True
                env_steady = False
                env[:n] = self._ramp_up[:n]
            if not self._playing:
                out.fill(0.0)
                track.peak *= 0.0
                track.rms *= 0.0
                self.master_peak *= 0.0
                self._settle_gains(track, mix)
                return
            self._play_span(track, mix, lane_buf, 0, n)
        self._mix_lanes(track, mix, lane_buf, acc, n)
        # master gain (ramped when it changed) times the transport envelope
        target_master = mix.master
        if target_master != self._master_current:
            if env_steady:
                env[:n] = 1.0
                env_steady = False
            gvec = self._gvec
            np.multiply(self._ramp_up[:n], target_master - self._master_current, out=gvec[:n])
            gvec[:n] += self._master_current
            env[:n] *= gvec[:n]
            self._master_current = target_master
        gain = target_master if env_steady else env[:n]
        for c in range(self.channels):  # per channel: a transposed/broadcast out= would buffer
            np.multiply(acc[c], gain, out=out[:, c])
        np.abs(out, out=self._master_abs[:n])
        np.maximum.reduce(self._master_abs[:n], axis=None, out=self._master_peak_0d)
        self._fall(self.master_peak, self._master_peak_new, n)

    def _play_span(self, track: _Track, mix: MixSnapshot, lane_buf: np.ndarray, offset: int,
                   length: int) -> None:
        """Copy ``length`` frames from the cursor into the lane scratch at ``offset``, wrapping at the
        loop end and stopping at the end of the track. Gains are applied later, per lane."""
        lanes = track.lanes
        loop = mix.loop
        total = track.total_frames
        while length > 0:
            cur = self.cursor
            looping = loop is not None and loop[0] <= cur < loop[1]
            stop = loop[1] if looping else total
            take = min(length, stop - cur)
            if take <= 0:  # end of the track: silence from here, stop playing
                self._playing = False
                return
            for i, lane in enumerate(lanes):
                valid = min(cur + take, lane.valid_frames) - cur
                if valid > 0:
                    np.copyto(lane_buf[i, :, offset:offset + valid], lane.samples[:, cur:cur + valid])
            if looping:
                self._crossfade_loop_end(lanes, lane_buf, offset, cur, take, loop)
            cur += take
            self.cursor = loop[0] if looping and cur == stop else cur
            offset += take
            length -= take

    def _crossfade_loop_end(self, lanes: list[LaneBuffer], lane_buf: np.ndarray, offset: int,
                            cur: int, take: int, loop: tuple[int, int]) -> None:
        """Make the wrap at the loop end continuous: over the last X frames before the loop end
        (X = loop_crossfade_frames, at most the frames before the loop start and half the loop)
        the audio fades linearly into the X frames that lead up to the loop start, so the jump
        back lands where that audio already is. A loop starting at frame 0 has no lead-in: hard wrap.
        Lane scratch ``lane_buf[:, :, offset:offset + take]`` holds source frames [cur, cur + take)."""
        start, end = loop
        x = min(self.loop_crossfade_frames, start, (end - start) // 2)
        a, b = max(cur, end - x), cur + take
        if x <= 0 or b <= a:
            return
        k0, n = a - (end - x), b - a  # position within the fade, frames in this span
        w = self._xfade_w[:n]
        np.multiply(self._xfade_index[k0:k0 + n], 1.0 / x, out=w)
        tmp = self._xfade_tmp[:n]
        o0, src = offset + (a - cur), start - x + k0  # lead-in frames [src, src + n)
        for i, lane in enumerate(lanes):
            if lane.valid_frames < src + n:
                continue  # lead-in not separated yet (a loop ahead of the separation): hard wrap
            for c in range(self.channels):  # tail + w * (lead_in - tail), 1-D ops: no buffering
                tail = lane_buf[i, c, o0:o0 + n]
                np.subtract(lane.samples[c, src:src + n], tail, out=tmp)
                np.multiply(tmp, w, out=tmp)
                np.add(tail, tmp, out=tail)

    def _mix_lanes(self, track: _Track, mix: MixSnapshot, lane_buf: np.ndarray, acc: np.ndarray,
                   n: int) -> None:
        """Apply each lane's (ramped) gain in ``lane_buf (L, C, n)``, sum into ``acc (C, n)``, meter."""
        target = mix.target
        current = track.current_gain
        gvec = self._gvec
        for i in range(len(track.lanes)):
            g0 = float(current[i])  # Python floats: numpy float64 scalars would force a
            g1 = float(target[i])  # float64 result and a casting buffer
            if g0 == g1:
                if g1 == 0.0:
                    lane_buf[i].fill(0.0)
                elif g1 != 1.0:
                    lane_buf[i] *= g1
            else:
                np.multiply(self._ramp_up[:n], g1 - g0, out=gvec[:n])
                gvec[:n] += g0
                for c in range(self.channels):  # 1-D ops: broadcasting would buffer
                    np.multiply(lane_buf[i, c], gvec[:n], out=lane_buf[i, c])
                current[i] = g1
        np.add.reduce(lane_buf, axis=0, out=acc)
        absb = track.abs_flat[:lane_buf.size].reshape(lane_buf.shape[0], -1)  # (L, C*n)
        np.abs(lane_buf.reshape(absb.shape), out=absb)
        np.maximum.reduce(absb, axis=1, out=track.peak_new)
        np.multiply(absb, absb, out=absb)
        np.add.reduce(absb, axis=1, out=track.rms_new)
        track.rms_new *= 1.0 / (n * self.channels)
        np.sqrt(track.rms_new, out=track.rms_new)
        self._fall(track.peak, track.peak_new, n)
        self._fall(track.rms, track.rms_new, n)

    def _fall(self, level: np.ndarray, new: np.ndarray, n: int) -> None:
        """Meter ballistics: jump up at once, fall at ``meter_fall_db_per_second``."""
        level *= 10.0 ** (-self.meter_fall_db_per_second * n / self.samplerate / 20.0)
        np.maximum(level, new, out=level)

    def _settle_gains(self, track: _Track, mix: MixSnapshot) -> None:
        """While paused nothing is heard, so gains jump straight to their targets."""
        np.copyto(track.current_gain, mix.target)
        self._master_current = mix.master

    # ------------------------------------------------------------------ helpers
    def _require_track(self) -> _Track:
        track = self._mix.track
        if track is None:
            raise ValueError("no track is loaded in the mixer")
        return track

    def _lane(self, name: str) -> tuple[_Track, LaneBuffer]:
        track = self._require_track()
        if name not in track.index:
            raise ValueError(f"no lane named {name!r} (lanes: {', '.join(track.names)})")
        return track, track.lanes[track.index[name]]

    def _set_lane_field(self, name: str, field: str, value: object) -> None:
        track, _ = self._lane(name)
        params = self._mix.params
        values = list(getattr(params, field))
        values[track.index[name]] = value
        self._swap(replace(params, **{field: tuple(values)}))

    def _swap(self, params: MixParams) -> None:
        self._mix = MixSnapshot(self._mix.track, params)
