"""Training throughput on this CPU: steps/s for channels 16 and 32, and data loading per batch.

Measured in one run, on generated multitrack songs written to a temp folder:

1. training step (forward + L1 backward + Adam) of the real Unet-SE-BiSRU (depth 6) at
   channels 16 and 32, batch --batch of --segment seconds: steps/s, and channels 32 as a
   ratio of channels 16 (the baseline timed in the same run, round-robin);
2. data loading: seconds per batch of the streaming ExcerptDataset (seekable reads, augmentation)
   in the main process, and the share of a channels-16 step that it would take
   (with worker processes it overlaps the step; < 1 means loading is not the bottleneck).

    python benchmarks/bench_training.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_training.py --quick    # seconds: tiny sizes, to check it runs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from model.augment import AugmentConfig  # noqa: E402
from model.config import SOURCES, ModelConfig  # noqa: E402
from model.datasets import ExcerptDataset, discover_dataset  # noqa: E402
from model.network import UnetSEBiSRU  # noqa: E402
from train_fixtures import make_musdb_hq  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--segment", type=float, default=4.0, help="seconds per excerpt")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: only checks that it runs")
    args = ap.parse_args()
    if args.quick:
        args.batch, args.segment, args.repeats = 1, 0.5, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch} x "
          f"{args.segment:g} s, median of {args.repeats}")

    sr = 44100
    frames = int(args.segment * sr)
    models, opts = {}, {}
    for ch in (16, 32):
        torch.manual_seed(0)
        cfg = ModelConfig(channels=ch) if not args.quick else ModelConfig(channels=ch, depth=4, resample=False)
        models[ch] = UnetSEBiSRU(cfg)
        opts[ch] = torch.optim.Adam(models[ch].parameters(), lr=3e-4)
    mix = torch.randn(args.batch, 2, frames) * 0.1
    target = torch.randn(args.batch, 4, 2, frames) * 0.05

    def step(ch: int) -> None:
        opts[ch].zero_grad(set_to_none=True)
        loss = F.l1_loss(models[ch](mix), target)
        loss.backward()
        opts[ch].step()

    times: dict[int, list[float]] = {16: [], 32: []}
    for ch in (16, 32):
        step(ch)  # warm-up
    for _ in range(args.repeats):
        for ch in (16, 32):  # round-robin: machine load hits both alike
            t0 = time.perf_counter()
            step(ch)
            times[ch].append(time.perf_counter() - t0)
    med = {ch: statistics.median(v) for ch, v in times.items()}
    for ch in (16, 32):
        params = sum(p.numel() for p in models[ch].parameters())
        print(f"channels {ch:2d}: {params / 1e6:5.2f} M params, {med[ch]:.3f} s/step = "
              f"{1 / med[ch]:.2f} steps/s ({args.batch / med[ch]:.2f} excerpts/s)")
    print(f"channels 32 step time = {med[32] / med[16]:.2f} x channels 16")

    with tempfile.TemporaryDirectory() as tmp:
        root = make_musdb_hq(Path(tmp), n_train=4, n_valid=0, n_test=0, seconds=max(2.0, args.segment * 3))
        index = discover_dataset(root, valid_fraction=0)
        ds = ExcerptDataset(index.train, SOURCES, sr, frames, AugmentConfig(), seed=0)
        load = []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            for i in range(args.batch):
                ds[r * args.batch + i]
            load.append(time.perf_counter() - t0)
    per_batch = statistics.median(load)
    print(f"data loading: {per_batch * 1000:.1f} ms per batch in one process "
          f"= {per_batch / med[16]:.3f} x a channels-16 step "
          f"({'not the bottleneck' if per_batch < med[16] else 'THE BOTTLENECK: add --workers'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
