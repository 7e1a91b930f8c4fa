"""The training loop: fine-tune an installed model (or train from scratch) on a multitrack folder.

    Trainer(config, emit=print_event).run() -> TrainResult

One step = one batch of `config.batch` random excerpts per process (datasets.ExcerptDataset,
streamed by a DataLoader with `config.workers` worker processes), the configured loss (losses.py: L1 by default) between the
network's stems `(B, S, C, T)` and the augmented target stems, Adam, learning rate from
`TrainConfig.lr_at(step)`. Every `validate_every` steps (and at the end) rank 0 separates the
middle `valid_seconds` of up to `valid_songs` held-out songs with the engine's `separate()`
and measures the MUSDB-style framewise SDR per stem; the best validation (mean over stems of
the per-stem medians over songs) is written at once as the installable model
`<out>/<name>.safetensors` + card. Checkpoints (`<out>/checkpoint.pt`) every
`checkpoint_every` steps and every `checkpoint_minutes`, atomically, with all RNG states:
`resume=True` continues with the same next batch and the same weights as if never stopped.

Events (dicts, also appended to `<out>/events.jsonl`): start, step, validation, checkpoint,
stopped, done (the CLI adds error). Only rank 0 emits and writes files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..config import SOURCES, ModelConfig, tiny_config
from ..datasets import DatasetIndex, ExcerptDataset, StemMapping, discover_dataset, load_song
from ..errors import DatasetError, ModelLoadError, OutputExistsError, StemDeckError
from ..evaluate import song_sdr
from ..metrics import nanmedian
from . import distributed as ddp
from .checkpoint_state import (
    CHECKPOINT_NAME,
    CheckpointError,
    capture_rng_states,
    load_checkpoint,
    restore_rng_states,
    save_checkpoint,
)
from .config import TrainConfig
from .losses import describe as describe_loss
from .losses import training_loss
from .sampler import StepBatchSampler
from .weight_average import WeightAverage

logger = logging.getLogger(__name__)

EVENTS_NAME = "events.jsonl"
#: settings that may change when resuming (everything else must match the checkpoint)
RESUME_OVERRIDABLE = ("steps", "device", "workers", "threads", "validate_every", "checkpoint_every",
                      "checkpoint_minutes", "log_every", "data")

Emit = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    model_path: Path | None
    steps: int
    best_sdr: dict[str, float] = field(default_factory=dict)
    best_step: int | None = None
    stopped: bool = False
    elapsed_seconds: float = 0.0


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return name or "finetuned"


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """Mixed precision only on CUDA: bf16 when supported (no loss scaling), else fp16."""
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


class Trainer:
    """One training run. Construct, then `run()`; see the module docstring."""

    def __init__(
        self,
        config: TrainConfig,
        emit: Emit | None = None,
        stop: threading.Event | None = None,
        resume: bool = False,
        model_factory: Callable[[ModelConfig], torch.nn.Module] | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        """`resume=True`: continue the run in `config.out`; its saved settings are used, except
        the keys of `overrides` listed in RESUME_OVERRIDABLE (e.g. more steps, another device)."""
        self.config = config
        self.overrides = dict(overrides or {})
        self._emit_cb = emit
        self.stop = stop or threading.Event()
        self.resume = resume
        self.model_factory = model_factory
        self.out = Path(config.out).expanduser()
        self.state: dict[str, Any] | None = None
        self.step = 0
        self.best_score = -math.inf
        self.best_step: int | None = None
        self.best_sdr: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self.elapsed_before = 0.0
        self.base_info: dict[str, Any] = {}
        self._setup_done = False

    # ------------------------------------------------------------------ events
    def emit(self, event: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        event = _json_safe({"time": round(time.time(), 3), **event})  # NaN -> null
        try:
            with open(self.out / EVENTS_NAME, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(event) + "\n")
        except OSError as exc:  # the log is a convenience; never stop training for it
            logger.warning("cannot append to %s: %s", self.out / EVENTS_NAME, exc)
        if self._emit_cb is not None:
            self._emit_cb(event)

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        if self._setup_done:
            return
        from ..devices import select_device

        ckpt_path = self.out / CHECKPOINT_NAME
        if self.resume:
            self.state = load_checkpoint(ckpt_path)
            saved = TrainConfig.from_dict(self.state["config"])
            ignored = sorted(k for k in self.overrides if k not in RESUME_OVERRIDABLE and k != "out")
            if ignored:
                logger.warning("resuming: the checkpoint's settings are kept for %s", ", ".join(ignored))
            for key in RESUME_OVERRIDABLE:
                if self.overrides.get(key) is not None:
                    setattr(saved, key, self.overrides[key])
            saved.out = str(self.out)
            self.config = saved
        elif ckpt_path.exists():
            raise OutputExistsError(
                f"{self.out} already holds a training run ({CHECKPOINT_NAME}): continue it with "
                "--resume or choose another --out folder"
            )
        cfg = self.config
        if not cfg.data:
            raise DatasetError("no dataset folder given (--data)")

        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        world = ddp.env_world_size()
        requested = cfg.device
        if world > 1 and requested in ("auto", "cuda") and torch.cuda.is_available():
            requested = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        self.device, self.device_report = select_device(requested)
        self.dist = ddp.init_distributed(self.device.type)
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)

        # data
        mapping = StemMapping.parse(cfg.stem_map, tuple(cfg.sources) or SOURCES)
        self.index: DatasetIndex = discover_dataset(cfg.data, mapping, cfg.valid_fraction, cfg.seed)
        if not self.index.train:
            raise DatasetError(f"{cfg.data}: no usable training songs")
        for path, reason in self.index.unusable:
            logger.warning("skipping %s: %s", path, reason)

        # model
        self.model = self._build_model()
        mcfg: ModelConfig = self.model.config
        if cfg.sources and tuple(cfg.sources) != tuple(mcfg.sources):
            raise ModelLoadError(
                f"--sources {','.join(cfg.sources)}: the base model {self.base_info.get('name', '')!r} "
                f"separates {', '.join(mcfg.sources)}, and fine-tuning cannot change a model's stems; "
                "use --from scratch for new stems, or leave out --sources")
        if tuple(mcfg.sources) != tuple(mapping.sources):
            mapping = StemMapping.parse(cfg.stem_map, tuple(mcfg.sources))
            self.index = discover_dataset(cfg.data, mapping, cfg.valid_fraction, cfg.seed)
        self.samplerate = int(mcfg.samplerate)
        self.sources = tuple(mcfg.sources)
        self.model.to(self.device)
        self.net: torch.nn.Module = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.amp_dtype = autocast_dtype(cfg.precision, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

        segment_frames = int(round(cfg.segment_seconds * self.samplerate))
        self.dataset = ExcerptDataset(
            self.index.train, self.sources, self.samplerate, segment_frames, cfg.augment,
            seed=cfg.seed, channels=mcfg.audio_channels,
        )
        self.loader_generator = torch.Generator().manual_seed(cfg.seed)

        self.ema: WeightAverage | None = WeightAverage(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        if self.state is not None:
            self._restore(self.state)
        self._setup_done = True

    def _build_model(self) -> torch.nn.Module:
        cfg = self.config
        factory = self.model_factory
        if factory is None:
            from ..network import UnetSEBiSRU

            factory = UnetSEBiSRU
        if self.state is not None:
            mcfg = ModelConfig.from_dict(self.state["model_config"])
            model = factory(mcfg)
            self.base_info = dict(self.state.get("base", {}))
            return model
        if cfg.init_from:
            model = self._warm_start(cfg.init_from)
            if self.model_factory is not None:  # tests: same shape, custom class
                replacement = self.model_factory(model.config)
                replacement.load_state_dict(model.state_dict())
                model = replacement
            return model
        spec = cfg.base_model
        if spec is not None and str(spec).lower() == "scratch":
            torch.manual_seed(cfg.seed)
            shape = dict(channels=cfg.channels, depth=cfg.depth, rnn=cfg.rnn, norm=cfg.norm,
                         attention=cfg.attention, resample=cfg.resample,
                         sources=tuple(cfg.sources) or SOURCES)
            mcfg = tiny_config(**{k: v for k, v in shape.items() if k not in ("channels", "depth", "resample")}) \
                if cfg.tiny else ModelConfig(**shape)
            self.base_info = {"name": "scratch", "config": mcfg.to_dict()}
            return factory(mcfg)
        from ..checkpoint import load_model
        from ..model_store import resolve_model

        try:
            installed = resolve_model(spec)
        except ModelLoadError as exc:
            raise ModelLoadError(f"{exc} (to train a new network use --from scratch)") from exc
        model, card = load_model(installed.weights_path, device="cpu")
        if self.model_factory is not None:  # tests: same shape, custom class
            replacement = self.model_factory(model.config)
            replacement.load_state_dict(model.state_dict())
            model = replacement
        self.base_info = {"name": card.name, "path": str(installed.weights_path), "sha256": card.sha256,
                          "metrics": card.metrics}
        return model

    def _warm_start(self, spec: str) -> torch.nn.Module:
        """A Unet-SE-BiSRU started from an installed model's encoder/decoder (model.warm_start)."""
        from ..checkpoint import load_model
        from ..model_store import resolve_model
        from ..warm_start import warm_start

        installed = resolve_model(spec)
        source, card = load_model(installed.weights_path, device="cpu")
        try:
            model = warm_start(source, rnn=self.config.rnn, seed=self.config.seed)
        except ValueError as exc:
            raise ModelLoadError(f"{installed.weights_path}: cannot warm-start from it ({exc})") from None
        mapped = self.config.rnn == source.config.rnn and source.bottleneck is not None
        self.base_info = {"name": card.name, "path": str(installed.weights_path), "sha256": card.sha256,
                          "metrics": card.metrics,
                          "warm_start": {"se": "identity at step 0", "rnn": self.config.rnn,
                                         "bottleneck": "mapped from the source" if mapped else "new"}}
        return model

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        best = state.get("best", {})
        self.best_score = float(best.get("score", -math.inf))
        self.best_step = best.get("step")
        self.best_sdr = {k: float(v) for k, v in best.get("sdr", {}).items()}
        self.history = list(state.get("history", []))
        self.elapsed_before = float(state.get("elapsed_seconds", 0.0))
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        restore_rng_states(state["rng"], self.loader_generator)

    # ------------------------------------------------------------------ pieces
    def make_loader(self) -> DataLoader:
        cfg = self.config
        sampler = StepBatchSampler(cfg.batch, self.step, self.dist.rank, self.dist.world_size)
        kwargs: dict[str, Any] = {}
        if cfg.workers > 0:
            kwargs.update(persistent_workers=False, prefetch_factor=2, worker_init_fn=_worker_init)
        return DataLoader(
            self.dataset, batch_sampler=sampler, num_workers=cfg.workers,
            pin_memory=self.device.type == "cuda", generator=self.loader_generator, **kwargs,
        )

    def forward_backward(self, mix: torch.Tensor, stems: torch.Tensor) -> torch.Tensor:
        """The configured loss (losses.py) on (B, S, C, T) and its backward pass (gradients averaged
        over ranks by DDP)."""
        mix = mix.to(self.device, non_blocking=True)
        stems = stems.to(self.device, non_blocking=True)
        self.net.train()
        if self.amp_dtype is not None:
            with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype):
                estimate = self.net(mix)
        else:
            estimate = self.net(mix)
        loss = training_loss(self.config.loss, estimate, stems)
        self.scaler.scale(loss).backward()
        return loss.detach()

    def optimizer_step(self) -> None:
        cfg = self.config
        lr = cfg.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)

    def validate(self) -> dict[str, Any] | None:
        """Framewise SDR per stem on held-out songs (rank 0). None if there are none."""
        cfg = self.config
        songs = self.index.valid[: cfg.valid_songs]
        if not songs:
            return None
        from ..separate import separate

        t0 = time.perf_counter()
        per_stem: dict[str, list[float]] = {s: [] for s in self.sources}
        for song in songs:
            try:
                mix, refs = load_song(song, self.sources, self.samplerate,
                                      self.model.config.audio_channels, max_seconds=cfg.valid_seconds)
            except DatasetError as exc:
                logger.warning("validation: %s", exc)
                continue
            result = separate(mix, self.model, device=self.device, shifts=1,
                              precision="fp32" if self.amp_dtype is None else "auto")
            values = song_sdr(refs, result.stems, self.samplerate)  # as `stemdeck evaluate`
            for j, stem in enumerate(self.sources):
                per_stem[stem].append(float(values[j]))
        sdr = {s: nanmedian(v) for s, v in per_stem.items()}
        finite = [v for v in sdr.values() if not math.isnan(v)]
        score = float(np.mean(finite)) if finite else math.nan
        return {"sdr": sdr, "mean_sdr": score, "songs": len(songs),
                "seconds": round(time.perf_counter() - t0, 2)}

    def _checkpoint_state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "model_config": self.model.config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "step": self.step,
            "config": self.config.to_dict(),
            "best": {"score": self.best_score, "step": self.best_step, "sdr": self.best_sdr},
            "history": self.history,
            "elapsed_seconds": self.elapsed(),
            "rng": capture_rng_states(self.loader_generator),
            "base": self.base_info,
            "ema": self.ema.state_dict() if self.ema is not None else None,
        }

    def checkpoint(self) -> Path | None:
        if not self.dist.is_main:
            return None
        path = save_checkpoint(self.out / CHECKPOINT_NAME, self._checkpoint_state())
        self._last_ckpt_time = time.monotonic()
        self.emit({"event": "checkpoint", "step": self.step, "path": str(path)})
        return path

    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self._t_start)

    @property
    def model_name(self) -> str:
        return _safe_name(self.config.name or self.out.name)

    @property
    def model_path(self) -> Path:
        return self.out / f"{self.model_name}.safetensors"

    @property
    def ema_model_path(self) -> Path:
        return self.out / f"{self.model_name}-ema.safetensors"

    def _card(self, final: bool) -> Any:
        from ..checkpoint import ModelCard

        cfg = self.config
        metrics: dict[str, Any] = {}
        if self.best_sdr:
            metrics = {f"sdr_{s}": round(v, 3) for s, v in self.best_sdr.items() if not math.isnan(v)}
            metrics["validation"] = {
                "metric": "framewise SDR (museval v4 as in MUSDB: median of 1 s windows; median over songs)",
                "sdr": {s: (None if math.isnan(v) else round(v, 3)) for s, v in self.best_sdr.items()},
                "songs": min(len(self.index.valid), cfg.valid_songs),
                "seconds_per_song": cfg.valid_seconds,
                "step": self.best_step,
            }
        training = {
            "data": self.index.describe(),
            "base_model": self.base_info.get("name"),
            "steps": self.step,
            "steps_planned": cfg.steps,
            "best_step": self.best_step,
            "batch_per_process": cfg.batch,
            "world_size": self.dist.world_size,
            "segment_seconds": cfg.segment_seconds,
            "loss": describe_loss(self.config.loss),
            "optimizer": f"Adam lr {cfg.lr:g}",
            "schedule": cfg.schedule if cfg.schedule == "constant" else
            f"cosine, {cfg.warmup} warm-up steps, final {cfg.final_lr_fraction:g} x lr",
            "augment": cfg.to_dict()["augment"],
            "seed": cfg.seed,
            "elapsed_seconds": round(self.elapsed(), 1),
            "device": self.device_report.name if hasattr(self.device_report, "name") else str(self.device),
            "precision": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "fp32",
            "finished": final,
            "history": self.history[-50:],
        }
        origin = "trained from scratch" if self.base_info.get("name") == "scratch" else \
            f"fine-tuned from {self.base_info.get('name')}"
        description = (f"Unet-SE-BiSRU {origin} on {self.index.describe()['train_songs']} songs of "
                       f"{Path(cfg.data).name} ({self.step} steps)")
        return ModelCard(name=self.model_name, config=self.model.config, description=description,
                         training=training, metrics=metrics)

    def _save_best(self) -> None:
        from ..checkpoint import save_model

        save_model(self.model, self.model_path, self._card(final=False))

    def _run_validation(self) -> None:
        result = self.validate()
        if result is None:
            return
        improved = not math.isnan(result["mean_sdr"]) and result["mean_sdr"] > self.best_score
        if improved:
            self.best_score = result["mean_sdr"]
            self.best_step = self.step
            self.best_sdr = dict(result["sdr"])
            self._save_best()
        record = {"step": self.step, "sdr": result["sdr"], "mean_sdr": result["mean_sdr"]}
        self.history.append(record)
        self.emit({"event": "validation", **record, "best": improved, "songs": result["songs"],
                   "seconds": result["seconds"]})

    def _finish(self) -> Path:
        """Write the final installable model: the best validated weights (or the last)."""
        from ..checkpoint import load_model, save_model

        if self.best_step is not None and self.model_path.is_file():
            best_model, _ = load_model(self.model_path, device="cpu")
            current = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.model.load_state_dict(best_model.state_dict())
            save_model(self.model, self.model_path, self._card(final=True))
            self.model.load_state_dict(current)
        else:
            save_model(self.model, self.model_path, self._card(final=True))
        if self.ema is not None:
            self._save_ema()
        return self.model_path

    def _save_ema(self) -> None:
        """`<name>-ema.safetensors`: the weight average at the last step (not validated here)."""
        import dataclasses

        from ..checkpoint import save_model

        current = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.ema.averaged_state(self.model))
        card = self._card(final=True)
        training = dict(card.training, weights=f"exponential moving average of every step's weights "
                        f"(decay {self.ema.decay:g}) at step {self.step}; not the best validated step",
                        best_step=None)
        card = dataclasses.replace(card, name=f"{self.model_name}-ema", metrics={}, training=training,
                                   description=card.description + f", EMA {self.ema.decay:g}")
        save_model(self.model, self.ema_model_path, card)
        self.model.load_state_dict(current)

    # ------------------------------------------------------------------ loop
    def run(self) -> TrainResult:
        self._t_start = time.monotonic()
        self.setup()
        cfg = self.config
        self._t_start = time.monotonic()
        self._last_ckpt_time = time.monotonic()
        params = sum(p.numel() for p in self.model.parameters())
        self.emit({
            "event": "start", "step": self.step, "steps": cfg.steps, "resumed": self.resume,
            "batch": cfg.batch, "world_size": self.dist.world_size,
            "segment_seconds": cfg.segment_seconds, "device": str(self.device),
            "precision": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "fp32",
            "train_songs": len(self.index.train), "valid_songs": min(len(self.index.valid), cfg.valid_songs),
            "unusable_songs": [{"path": p, "reason": r} for p, r in self.index.unusable],
            "parameters": params, "base_model": self.base_info.get("name"), "out": str(self.out),
            "sources": list(self.sources),
        })
        if (self.dist.is_main and self.step == 0 and not self.resume
                and self.base_info.get("name") != "scratch" and cfg.validate_every > 0):
            self._run_validation()  # the base model's score: "before" for the before/after table
        stopped = False
        if self.step < cfg.steps:
            stopped = self._loop()
        if not stopped and self.dist.is_main:
            if cfg.validate_every > 0 and (not self.history or self.history[-1]["step"] != self.step):
                self._run_validation()
            self.checkpoint()
            path = self._finish()
            self.emit({"event": "done", "step": self.step, "model": str(path),
                       "card": str(path.with_suffix(".json")), "best_step": self.best_step,
                       "best_sdr": self.best_sdr, "elapsed_seconds": round(self.elapsed(), 1)})
        result = TrainResult(self.model_path if not stopped else None, self.step, self.best_sdr,
                             self.best_step, stopped, self.elapsed())
        ddp.cleanup(self.dist)
        return result

    def _loop(self) -> bool:
        """Train until cfg.steps or a stop request; True when stopped early."""
        cfg = self.config
        loader = self.make_loader()
        it = iter(loader)
        window_t = time.monotonic()
        window_steps = 0
        losses: list[float] = []
        try:
            while self.step < cfg.steps:
                if ddp.broadcast_flag(self.dist, self.stop.is_set()):
                    if self.dist.is_main:
                        self.checkpoint()
                    self.emit({"event": "stopped", "step": self.step})
                    return True
                mix, stems = next(it)
                loss = self.forward_backward(mix, stems)
                lr = cfg.lr_at(self.step)
                self.optimizer_step()
                self.step += 1
                loss_value = float(loss)
                if not math.isfinite(loss_value):
                    raise StemDeckError(
                        f"training diverged at step {self.step} (loss {loss_value}); resume from the last "
                        "checkpoint with a lower --lr or --precision fp32"
                    )
                losses.append(loss_value)
                window_steps += 1
                if self.step % max(1, cfg.log_every) == 0 or self.step == cfg.steps or self.step == 1:
                    now = time.monotonic()
                    rate = window_steps / max(1e-9, now - window_t)
                    self.emit({"event": "step", "step": self.step, "steps": cfg.steps,
                               "loss": float(np.mean(losses)), "lr": lr, "steps_per_s": round(rate, 4),
                               "eta_seconds": round((cfg.steps - self.step) / rate, 1) if rate > 0 else None,
                               "elapsed_seconds": round(self.elapsed(), 1)})
                    window_t, window_steps, losses = now, 0, []
                if self.dist.is_main:
                    if cfg.validate_every > 0 and self.step % cfg.validate_every == 0 and self.step < cfg.steps:
                        self._run_validation()
                    due_steps = cfg.checkpoint_every > 0 and self.step % cfg.checkpoint_every == 0
                    due_time = (cfg.checkpoint_minutes > 0 and
                                time.monotonic() - self._last_ckpt_time > cfg.checkpoint_minutes * 60)
                    if (due_steps or due_time) and self.step < cfg.steps:
                        self.checkpoint()
        finally:
            del it
        return False


def train(config: TrainConfig, emit: Emit | None = None, stop: threading.Event | None = None,
          resume: bool = False, overrides: dict[str, Any] | None = None) -> TrainResult:
    """Run one training (see Trainer)."""
    return Trainer(config, emit=emit, stop=stop, resume=resume, overrides=overrides).run()


__all__ = ["Trainer", "TrainResult", "train", "autocast_dtype", "CheckpointError"]
