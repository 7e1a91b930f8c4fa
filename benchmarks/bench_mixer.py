"""Mixer render cost per block, as a share of the block's duration (target < 1 % at 1024 frames).

Prints, for 5 lanes (original + 4 stems) at 44.1 kHz: steady playback, a gain ramp every block,
and a loop wrap every block, each against a baseline measured in the same run (a bare numpy sum
of the same 5 lane slices, the least any mixer could do).

    python benchmarks/bench_mixer.py [--block 1024] [--seconds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.audio.mixer import StemMixer  # noqa: E402

STEMS = ("drums", "bass", "other", "vocals")


def _time_blocks(fn, blocks: int) -> float:
    """Median seconds per call over ``blocks`` calls (after a warm-up)."""
    for _ in range(20):
        fn()
    times = np.empty(blocks)
    for i in range(blocks):
        t = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--block", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=2.0, help="measuring time per case (about)")
    ap.add_argument("--samplerate", type=int, default=44100)
    args = ap.parse_args(argv)
    sr, block = args.samplerate, args.block
    frames = 60 * sr
    rng = np.random.default_rng(0)
    stems = {n: (0.1 * rng.standard_normal((2, frames))).astype(np.float32) for n in STEMS}
    mixer = StemMixer(sr, max_block_frames=max(8192, block))
    mixer.load_track(sr, frames, STEMS, original=sum(stems.values()))
    for n, s in stems.items():
        mixer.set_lane(n, s)
    mixer.set_gain_db("drums", -6.0)
    mixer.set_mute("vocals", True)
    out = np.zeros((block, 2), np.float32)
    block_seconds = block / sr
    blocks = max(200, int(args.seconds / block_seconds))
    lanes = [mixer._mix.track.lanes[i].samples for i in range(5)]
    acc = np.zeros((2, block), np.float32)
    pos = [0]

    def baseline() -> None:
        p = pos[0]
        np.copyto(acc, lanes[0][:, p:p + block])
        for lane in lanes[1:]:
            acc.__iadd__(lane[:, p:p + block])
        pos[0] = (p + block) % (frames - block)

    def steady() -> None:
        if mixer.position_frames > frames - 2 * block:
            mixer.seek(0)
        mixer.render(out, block)

    gains = [-6.0, -5.0]
    flip = [0]

    def ramping() -> None:
        flip[0] ^= 1
        mixer.set_gain_db("bass", gains[flip[0]])  # snapshot swap (GUI-thread work) included
        steady()

    mixer.play()
    results = {"numpy sum of 5 lanes (baseline)": _time_blocks(baseline, blocks),
               "render, steady (gain, mute)": _time_blocks(steady, blocks),
               "render, gain ramp every block": _time_blocks(ramping, blocks)}
    mixer.set_loop(sr, sr + block // 2)
    mixer.seek(sr)
    results["render, loop wrap every block"] = _time_blocks(steady, blocks)
    base = results["numpy sum of 5 lanes (baseline)"]
    print(f"StemMixer render, 5 lanes, {block}-frame blocks at {sr} Hz "
          f"(block = {1000 * block_seconds:.2f} ms), median of {blocks} blocks")
    for name, sec in results.items():
        print(f"  {name:34s} {1e6 * sec:8.1f} us  {100 * sec / block_seconds:6.3f} % of the block"
              f"  x{sec / base:5.1f} baseline")
    worst = max(v for k, v in results.items() if k.startswith("render"))
    print(f"worst case: {100 * worst / block_seconds:.3f} % of the block (target < 1 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
