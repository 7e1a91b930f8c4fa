"""Separation speed and memory for long tracks (issue 2, section 7).

For each track length (default 1, 10 and 60 minutes of generated stereo noise+tones at 44.1 kHz)
a fresh child process loads a channels=32 Unet-SE-BiSRU with RANDOM weights (fine for speed and
memory, meaningless for quality), separates at default settings (segment from the config, 25 %
overlap, shifts=1) and reports:

- real-time factor (RTF) = audio seconds / wall seconds (higher is faster; target >= 10 on 2 cores),
- peak RSS of the child, and "working" memory = peak RSS - RSS before the buffers were made -
  input buffer - output buffer (target: flat in track length, <= 600 MB),
- the ratio of each row's working memory and RTF to the first (shortest) row, measured in the same run.

    python benchmarks/bench_separate.py               # 1, 10, 60 minutes (needs ~7 GB RAM for 60)
    python benchmarks/bench_separate.py --minutes 1   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def child(minutes: float, channels: int, device: str, threads: int | None) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    from model.config import ModelConfig
    from model.network import UnetSEBiSRU
    from model.separate import separate

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = ModelConfig(channels=channels)
    model = UnetSEBiSRU(config).eval()
    # warm-up on a short excerpt so one-off allocations count in the baseline, not the track
    separate(np.zeros((2, config.samplerate * 2), np.float32), model, device=device)
    baseline = _rss_bytes()

    frames = int(minutes * 60 * config.samplerate)
    mix = np.empty((2, frames), dtype=np.float32)
    rng = np.random.default_rng(0)
    block = 1 << 20
    for start in range(0, frames, block):  # blockwise: no track-sized float64 temporaries
        n = min(block, frames - start)
        t = (np.arange(start, start + n) / config.samplerate).astype(np.float32)
        mix[:, start : start + n] = 0.2 * np.sin(2 * np.pi * 110 * t) + 0.05 * rng.standard_normal((2, n), dtype=np.float32)
    out = np.zeros((len(config.sources), 2, frames), dtype=np.float32)
    out.fill(0.0)  # touch the pages so they count as the output buffer, not as working memory
    t0 = time.perf_counter()
    result = separate(mix, model, device=device, out=out)
    wall = time.perf_counter() - t0
    peak = _peak_rss_bytes()
    io_bytes = mix.nbytes + out.nbytes
    return {
        "minutes": minutes,
        "device": result.device.summary(),
        "threads": torch.get_num_threads(),
        "rtf": frames / config.samplerate / wall,
        "wall_s": wall,
        "peak_rss_mb": peak / 2**20,
        "io_mb": io_bytes / 2**20,
        "working_mb": (peak - baseline - io_bytes) / 2**20,
        "accumulator_frames": result.accumulator_frames,
        "segments": result.segments_processed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.channels, args.device, args.threads)))
        return 0

    print(f"bench_separate: channels={args.channels}, RANDOM weights (speed/memory only, not quality), "
          "44.1 kHz stereo, default segment/overlap, shifts=1")
    rows = []
    for minutes in sorted(args.minutes):
        cmd = [sys.executable, __file__, "--child", str(minutes), "--channels", str(args.channels),
               "--device", args.device]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{minutes} min: child failed:\n{proc.stderr[-2000:]}")
            return 1
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"  {minutes:g} min done in {r['wall_s']:.0f} s", file=sys.stderr)
    base = rows[0]
    print(f"device: {base['device']}, torch threads: {base['threads']}")
    header = (f"{'minutes':>8} {'RTF (x real time)':>18} {'RTF vs first':>13} {'peak RSS MB':>12} "
              f"{'in+out MB':>10} {'working MB':>11} {'working vs first':>17} {'accum. frames':>14}")
    print(header)
    for r in rows:
        rel_work = r["working_mb"] / base["working_mb"] if base["working_mb"] > 0 else float("nan")
        print(f"{r['minutes']:>8g} {r['rtf']:>18.2f} {r['rtf'] / base['rtf']:>13.2f} {r['peak_rss_mb']:>12.0f} "
              f"{r['io_mb']:>10.0f} {r['working_mb']:>11.0f} {rel_work:>17.2f} {r['accumulator_frames']:>14}")
    print("targets: RTF >= 10 on 2 CPU cores; working memory flat in length and <= 600 MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
