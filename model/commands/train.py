"""`stemdeck train`: fine-tune an installed model (or train from scratch) on a multitrack folder.

Examples:
    stemdeck train --data ~/multitracks --out ~/runs/mine --steps 2000
    stemdeck train --data musdb18hq --from scratch --channels 32 --out runs/base --steps 100000
    stemdeck train --out ~/runs/mine --resume            # after a crash, Ctrl-C or kill -9
    torchrun --nproc-per-node 4 -m model.cli train ...   # data parallel on 4 GPUs

Progress: a tqdm bar, or with `--progress json` one JSON object per line on stdout for each
event (start, step, validation, checkpoint, stopped, done, error). SIGTERM or the first Ctrl-C
stops cleanly after the current step with a checkpoint (resume later with --resume).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import Any

logger = logging.getLogger(__name__)


#: AugmentConfig fields set from the command line, and their flags (for messages)
PROBABILITY_FLAGS = {"remix_probability": "--remix", "speed_probability": "--varispeed"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data and output")
    g.add_argument("--data", metavar="DIR", help="dataset folder (MUSDB18-HQ, MUSDB18 .stem.mp4, "
                   "or one folder per song with one file per stem)")
    g.add_argument("--out", metavar="DIR", required=True,
                   help="run folder: checkpoint.pt, events.jsonl and the trained model NAME.safetensors")
    g.add_argument("--name", help="name of the trained model (default: the --out folder's name)")
    g.add_argument("--map", dest="stem_map", action="append", metavar="STEM=GLOB[,GLOB]",
                   help="extra file-name patterns for a stem, e.g. vocals=lead*,bgv*; "
                   "ignore=click* skips files; other= drops unmatched files (repeatable)")
    g.add_argument("--sources", metavar="LIST",
                   help="stems the model separates, in order, e.g. drums,bass,other,vocals,guitar,piano "
                   "(from scratch; default: the base model's, or drums,bass,other,vocals); files named "
                   "after a stem go to it")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint, with its settings")
    m = parser.add_argument_group("model")
    m.add_argument("--from", dest="base_model", metavar="MODEL",
                   help="installed model name or .safetensors path to fine-tune (default: the default "
                   "model); 'scratch' trains a new network")
    m.add_argument("--init-from", dest="init_from", metavar="MODEL",
                   help="start a Unet-SE-BiSRU from MODEL's encoder and decoder (e.g. an imported Demucs "
                   "model): SE blocks start as identity, the bottleneck is a new BiSRU (--rnn lstm keeps "
                   "an LSTM's weights)")
    m.add_argument("--channels", type=int, help="scratch: first-layer width (paper: 16/32/64; default 32)")
    m.add_argument("--depth", type=int, help="scratch: encoder layers (default 6)")
    m.add_argument("--rnn", choices=["sru", "lstm", "gru", "none"], help="scratch ablation: bottleneck")
    m.add_argument("--norm", choices=["group", "batch", "none"], help="scratch ablation: normalisation")
    m.add_argument("--attention", choices=["se", "none"], help="scratch ablation: SE blocks or none")
    m.add_argument("--no-resample", dest="resample", action="store_false", default=None,
                   help="scratch: no x2 upsampling inside the network (about 5x less CPU time per step)")
    m.add_argument("--tiny", action="store_true", help="scratch: a very small network (smoke tests)")
    t = parser.add_argument_group("training")
    t.add_argument("--steps", type=int, help="optimizer steps (default 1000)")
    t.add_argument("--batch", type=int, help="excerpts per step and process (default 4)")
    t.add_argument("--segment", dest="segment_seconds", type=float, help="excerpt seconds (default 4)")
    t.add_argument("--lr", type=float, help="peak learning rate (default 3e-4, Adam)")
    t.add_argument("--schedule", choices=["cosine", "constant"],
                   help="cosine: warm-up then cosine decay (default); constant: the paper's")
    t.add_argument("--warmup", dest="warmup_steps", type=int, help="warm-up steps (default 2%% of steps, <=500)")
    t.add_argument("--grad-clip", type=float, help="clip gradient norm (default off)")
    t.add_argument("--ema", dest="ema_decay", type=float, metavar="DECAY",
                   help="also keep an exponential moving average of the weights (e.g. 0.999) and write it "
                        "as a second model, <name>-ema (default off)")
    t.add_argument("--loss", choices=["l1", "l1+stft"],
                   help="l1: waveform L1, the recipe's (default); l1+stft: plus a multi-resolution STFT "
                        "magnitude L1 (windows 512/1024/2048)")
    t.add_argument("--no-augment", action="store_true", help="train on plain excerpts")
    t.add_argument("--remix", dest="remix_probability", type=float,
                   help="probability that an example's stems come from different songs (default 0.5)")
    t.add_argument("--varispeed", dest="speed_probability", type=float,
                   help="probability that an example is played up to 8%% faster or slower, pitch "
                        "and tempo together (default 0: off)")
    t.add_argument("--seed", type=int, help="random seed (default 0)")
    t.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    t.add_argument("--precision", choices=["auto", "fp32", "fp16", "bf16"],
                   help="auto: mixed precision on CUDA, fp32 elsewhere")
    t.add_argument("--workers", type=int, help="data loading processes (default 2; 0 = in the main process)")
    t.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice; on a busy "
                   "machine 1 can be much faster)")
    v = parser.add_argument_group("validation and checkpoints")
    v.add_argument("--validate-every", type=int, help="steps between validations (default 500; 0 = never)")
    v.add_argument("--valid-songs", type=int, help="at most this many held-out songs (default 8)")
    v.add_argument("--valid-seconds", type=float, help="seconds separated per held-out song (default 30)")
    v.add_argument("--valid-fraction", type=float,
                   help="share of songs held out when the dataset names no validation songs (default 0.1)")
    v.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 200)")
    v.add_argument("--checkpoint-minutes", type=float, help="minutes between checkpoints (default 10)")
    v.add_argument("--log-every", type=int, help="steps between progress events (default 10)")
    parser.add_argument("--progress", choices=["tqdm", "json", "none"], default="tqdm",
                        help="tqdm bar (default), JSON lines on stdout, or nothing")


_CONFIG_KEYS = ("data", "out", "name", "base_model", "init_from", "channels", "depth", "rnn", "norm", "attention",
                "resample", "steps", "batch", "segment_seconds", "lr", "schedule", "warmup_steps", "grad_clip",
                "ema_decay", "loss",
                "seed", "device", "precision", "workers", "threads", "validate_every", "valid_songs",
                "valid_seconds", "valid_fraction", "checkpoint_every", "checkpoint_minutes", "log_every")


def _explicit(args: argparse.Namespace) -> dict[str, Any]:
    values = {k: getattr(args, k) for k in _CONFIG_KEYS if getattr(args, k, None) is not None}
    if args.stem_map:
        values["stem_map"] = list(args.stem_map)
    if args.tiny:
        values["tiny"] = True
    if getattr(args, "sources", None):
        values["sources"] = args.sources.split(",")     # checked by TrainConfig
    return values


class _Reporter:
    """Turns trainer events into a tqdm bar + lines, or JSON lines on stdout."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.bar = None

    def __call__(self, event: dict[str, Any]) -> None:
        if self.mode == "json":
            print(json.dumps(event, allow_nan=False, default=str) if _finite(event) else
                  json.dumps(_nan_to_none(event), default=str), flush=True)
            return
        if self.mode == "none":
            return
        kind = event.get("event")
        if kind == "start":
            from tqdm import tqdm

            self.bar = tqdm(total=event["steps"], initial=event["step"], unit="step", dynamic_ncols=True,
                            desc="training", file=sys.stderr)
            self._write(f"training {event['parameters']:,} parameters on {event['device']} "
                        f"({event['precision']}), {event['train_songs']} songs, "
                        f"{event['valid_songs']} held out, from {event['base_model']}"
                        + (f", resumed at step {event['step']}" if event.get("resumed") else ""))
            for bad in event.get("unusable_songs", []):
                self._write(f"  skipped {bad['path']}: {bad['reason']}")
        elif kind == "step" and self.bar is not None:
            self.bar.n = event["step"]
            self.bar.set_postfix(loss=f"{event['loss']:.4f}", lr=f"{event['lr']:.2e}", refresh=True)
        elif kind == "validation":
            sdr = "  ".join(f"{k} {_db(v)}" for k, v in event["sdr"].items())
            self._write(f"step {event['step']}: validation SDR {sdr} dB (mean {_db(event['mean_sdr'])})"
                        + ("  * best" if event.get("best") else ""))
        elif kind == "stopped":
            self._write(f"stopped at step {event['step']} (checkpoint saved; continue with --resume)")
        elif kind == "done":
            if self.bar is not None:
                self.bar.n = event["step"]
                self.bar.close()
            self._write(f"done: {event['model']} (best validation at step {event['best_step']})")

    def _write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _db(v: Any) -> str:
    return "-" if v is None or v != v else f"{v:.2f}"


def _finite(obj: Any) -> bool:
    if isinstance(obj, float):
        return obj == obj and obj not in (float("inf"), float("-inf"))
    if isinstance(obj, dict):
        return all(_finite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(_finite(v) for v in obj)
    return True


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not _finite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def run(args: argparse.Namespace) -> int:
    from ..augment import AugmentConfig
    from ..errors import StemDeckError
    from ..training import TrainConfig
    from ..training.trainer import Trainer

    values = _explicit(args)
    reporter = _Reporter(args.progress)
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        if args.resume:
            config = TrainConfig(out=args.out)
        else:
            if not args.data:
                raise StemDeckError("--data DIR is required (unless --resume)")
            chances = {key: getattr(args, key) for key in PROBABILITY_FLAGS if getattr(args, key) is not None}
            for key, value in chances.items():
                if not 0.0 <= value <= 1.0:
                    raise StemDeckError(f"{PROBABILITY_FLAGS[key]} is a probability between 0 and 1, got {value}")
            augment = AugmentConfig.off() if args.no_augment else AugmentConfig(**chances)
            shaping = ("channels", "depth", "norm", "attention", "resample", "tiny")
            if args.base_model is None and any(k in values for k in shaping + (() if args.init_from else ("rnn",))):
                raise StemDeckError("--channels/--depth/--rnn/--norm/--attention/--no-resample/--tiny shape a new network: "
                                    "add --from scratch (a fine-tuned model keeps its base model's shape)")
            try:
                config = TrainConfig(augment=augment, **values)
            except ValueError as exc:
                raise StemDeckError(str(exc)) from exc
        trainer = Trainer(config, emit=reporter, stop=stop, resume=args.resume, overrides=values)
        result = trainer.run()
        return 0 if not result.stopped else 3
    except StemDeckError as exc:
        if args.progress == "json":
            print(json.dumps({"event": "error", "message": str(exc)}), flush=True)
        raise
    except Exception as exc:  # unexpected: still one JSON line for the GUI, then the traceback
        if args.progress == "json":
            print(json.dumps({"event": "error", "message": f"{type(exc).__name__}: {exc}"}), flush=True)
        raise
    finally:
        reporter.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
