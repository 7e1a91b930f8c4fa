"""Export encode time of one track: files written one after another vs in parallel threads.

Prints, for N stems of S seconds of stereo 44.1 kHz audio (tones + noise, so the encoder has
real work), the wall time of `export_track` with one writer and with one writer per core
(`model.export.default_workers`), both measured in the same run, and the speedup. The parallel
figure depends on free cores: on a busy machine it is lower.

    python benchmarks/bench_export.py [--seconds 180] [--stems 4] [--format mp3] [--repeat 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.audio_io import SourceInfo  # noqa: E402
from model.export import CONTAINERS, FORMATS, ExportFormat, default_workers, export_track  # noqa: E402

RATE = 44100


def _stems(count: int, seconds: float) -> dict[str, np.ndarray]:
    """`count` float32 `(2, frames)` signals: a different chord + noise each."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE), dtype=np.float32) / RATE
    out = {}
    for i in range(count):
        base = 110.0 * (i + 1)
        tone = sum(np.sin(2 * np.pi * base * k * t) / k for k in (1, 1.25, 1.5, 2))
        left = 0.15 * tone + 0.03 * rng.standard_normal(t.size, dtype=np.float32)
        right = 0.15 * np.roll(tone, 200) + 0.03 * rng.standard_normal(t.size, dtype=np.float32)
        out[f"stem{i}"] = np.stack([left, right]).astype(np.float32)
    return out


def _time_export(stems, fmt, workers: int, repeat: int) -> tuple[float, float]:
    """Fastest wall time (s) over `repeat` runs and that run's process CPU time / wall time (the
    cores busy on average: above 1 only if the encoders really ran at once, GIL released)."""
    frames = next(iter(stems.values())).shape[1]
    source = SourceInfo(path=Path("bench.wav"), samplerate=RATE, channels=2, frames=frames,
                        subtype="PCM_16", container="wav", duration_seconds=frames / RATE)
    best, cores = float("inf"), 0.0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start, cpu = time.perf_counter(), time.process_time()
            export_track(stems, None, RATE, source, tmp, fmt=fmt, workers=workers)
            wall = time.perf_counter() - start
            if wall < best:
                best, cores = wall, (time.process_time() - cpu) / wall
    return best, cores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="length of each stem (default 180)")
    parser.add_argument("--stems", type=int, default=4, help="files per track (default 4)")
    parser.add_argument("--format", default="mp3", choices=CONTAINERS)
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting; the fastest counts")
    args = parser.parse_args()
    stems = _stems(args.stems, args.seconds)
    fmt = ExportFormat(container=args.format, bit_depth=None if FORMATS[args.format].lossy else 24)
    parallel = default_workers(args.stems)
    serial_s, serial_cores = _time_export(stems, fmt, 1, args.repeat)
    parallel_s, parallel_cores = _time_export(stems, fmt, parallel, args.repeat)
    print(f"{args.stems} x {args.seconds:.0f} s stereo {RATE} Hz -> {args.format}")
    print(f"serial   (1 writer):  {serial_s:6.2f} s  ({serial_cores:.2f} cores busy)")
    print(f"parallel ({parallel} writers): {parallel_s:6.2f} s  ({parallel_cores:.2f} cores busy)")
    print(f"speedup: {serial_s / parallel_s:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
