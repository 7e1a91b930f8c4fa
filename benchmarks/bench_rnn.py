"""How much faster is the BiSRU bottleneck than BiLSTM / BiGRU, alone and inside the whole network?

Three measurements, each as ratios against a baseline timed in the same run (median of --repeats
after one warm-up):

1. bottleneck alone: 2-layer bidirectional RNN, input = hidden = --width, (batch, --lengths steps),
   forward + backward. Default width 512 = the bottleneck of channels=16/depth 6 (channels=32 gives
   1024); 172 steps = 8 s of 44.1 kHz audio after the x2 upsample and 6 strides of 4, 690 = 32 s.
2. SRU chunked parallel scan vs the Python time loop (same BiSRU, forward + backward).
3. the whole Unet-SE-BiSRU training step (forward + L1 backward + Adam) with rnn = sru/lstm/gru
   at --channels (default 32, depth 6, resample on) on --seconds of stereo audio.

    python benchmarks/bench_rnn.py                 # full run (minutes on a laptop CPU)
    python benchmarks/bench_rnn.py --quick         # seconds: tiny sizes, to check it runs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from model.config import ModelConfig  # noqa: E402
from model.network import UnetSEBiSRU  # noqa: E402
from model.sru import BiSRU  # noqa: E402


def timed(fn: Callable[[], None], repeats: int, device: torch.device) -> float:
    """Median seconds of `fn` over `repeats` runs after one warm-up."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rnn_step(rnn: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        rnn.zero_grad(set_to_none=True)
        out, _ = rnn(x)
        out.square().mean().backward()
    return step


def make_rnn(kind: str, width: int, layers: int) -> nn.Module:
    if kind == "sru":
        return BiSRU(width, width, layers)
    cls = nn.LSTM if kind == "lstm" else nn.GRU
    return cls(width, width, layers, batch_first=True, bidirectional=True)


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bench_bottleneck(args, device) -> None:
    print(f"\n1. bottleneck alone: 2-layer bidirectional, width {args.width}, batch {args.batch}, "
          "forward+backward")
    for length in args.lengths:
        x = torch.randn(args.batch, length, args.width, device=device)
        times = {}
        for kind in ("sru", "lstm", "gru"):
            torch.manual_seed(0)
            rnn = make_rnn(kind, args.width, 2).to(device)
            times[kind] = timed(rnn_step(rnn, x), args.repeats, device)
        print(f"   T={length:5d} steps: sru {times['sru'] * 1e3:8.1f} ms | "
              f"lstm/sru {times['lstm'] / times['sru']:5.2f}x | gru/sru {times['gru'] / times['sru']:5.2f}x")
    sizes = {k: params(make_rnn(k, args.width, 2)) for k in ("sru", "lstm", "gru")}
    print(f"   parameters: sru {sizes['sru']:,} | lstm/sru {sizes['lstm'] / sizes['sru']:.2f}x | "
          f"gru/sru {sizes['gru'] / sizes['sru']:.2f}x")


def bench_scan(args, device) -> None:
    print(f"\n2. SRU chunked scan vs Python time loop: width {args.width}, batch {args.batch}, "
          "forward+backward")
    for length in args.lengths:
        x = torch.randn(args.batch, length, args.width, device=device)
        torch.manual_seed(0)
        rnn = BiSRU(args.width, args.width, 2).to(device)
        fast = timed(rnn_step(rnn, x), args.repeats, device)
        rnn.naive = True
        slow = timed(rnn_step(rnn, x), max(1, args.repeats // 2), device)
        print(f"   T={length:5d} steps: scan {fast * 1e3:8.1f} ms | loop/scan {slow / fast:6.2f}x")


def bench_network(args, device) -> None:
    frames = int(args.seconds * 44100)
    print(f"\n3. whole network training step (forward + L1 backward + Adam): channels {args.channels}, "
          f"depth {args.depth}, batch {args.batch}, {args.seconds} s stereo at 44.1 kHz")
    mix = torch.randn(args.batch, 2, frames, device=device)
    target = torch.randn(args.batch, 4, 2, frames, device=device)
    times, sizes = {}, {}
    for kind in ("sru", "lstm", "gru"):
        torch.manual_seed(0)
        cfg = ModelConfig(channels=args.channels, depth=args.depth, rnn=kind, resample=not args.quick)
        model = UnetSEBiSRU(cfg).to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=3e-4)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            (model(mix) - target).abs().mean().backward()
            opt.step()

        times[kind] = timed(step, args.repeats, device)
        sizes[kind] = params(model)
    print(f"   sru {times['sru']:.3f} s/step | lstm/sru {times['lstm'] / times['sru']:5.2f}x | "
          f"gru/sru {times['gru'] / times['sru']:5.2f}x")
    print(f"   parameters: sru {sizes['sru']:,} | lstm {sizes['lstm']:,} | gru {sizes['gru']:,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:0, mps")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--lengths", type=int, nargs="+", default=[172, 690])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-network", action="store_true", help="only the RNN measurements")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that the script runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.width, args.lengths, args.batch, args.repeats = 32, [40, 300], 2, 2
        args.channels, args.depth, args.seconds = 4, 3, 0.25
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    bench_bottleneck(args, device)
    bench_scan(args, device)
    if not args.skip_network:
        bench_network(args, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
