"""`TrainConfig`: every choice of a training run, saved in its checkpoint and model card.

Recipe defaults (../shared/MODEL_SPEC.md): L1 loss on waveforms, Adam with lr 3e-4, the
augmentations of augment.py. Learning-rate schedule: default "cosine" = linear warm-up over
`warmup_steps` (default 2 % of the run, at most 500 steps) then a cosine decay to
`final_lr_fraction` of the peak. Why: (1) when fine-tuning an installed model, Adam's first
updates (before its second-moment estimates settle) are large and can wreck the pretrained
weights — the warm-up keeps them small; (2) decaying at the end lets a short run settle
instead of stopping mid-noise (the first synthetic-corpus run had no schedule and its losses
were still bouncing). `schedule="constant"` gives the paper's plain Adam 3e-4. The learning
rate is a pure function of the step, so resuming needs no scheduler state.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..augment import AugmentConfig
from ..config import parse_sources
from .losses import LOSSES

SCHEDULES = ("cosine", "constant")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")


@dataclass
class TrainConfig:
    """Everything a training run needs. Times in seconds, lengths in seconds at the model rate."""

    data: str = ""
    out: str = ""
    base_model: str | None = None       # installed name or path; None = the default model; "scratch"
    name: str | None = None             # name of the output model (default: from the out folder)
    init_from: str | None = None        # warm start a Unet-SE-BiSRU from this model (model.warm_start)
    steps: int = 1000
    batch: int = 4                      # per process (global batch = batch x world size)
    segment_seconds: float = 4.0
    lr: float = 3e-4
    schedule: str = "cosine"
    warmup_steps: int | None = None     # None: 2 % of steps, at most 500
    final_lr_fraction: float = 0.05
    weight_decay: float = 0.0
    grad_clip: float = 0.0              # 0 = off (the recipe has none)
    ema_decay: float = 0.0              # > 0: also keep an EMA of the weights, written as <name>-ema
    loss: str = "l1"                    # one of losses.LOSSES: "l1" (the recipe) or "l1+stft"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"             # auto: bf16/fp16 autocast on CUDA, fp32 elsewhere
    workers: int = 2
    threads: int = 0                    # torch CPU threads (0 = torch's default)
    # scratch-model shape (ignored when fine-tuning: the base model fixes the shape)
    channels: int = 32
    depth: int = 6
    rnn: str = "sru"
    norm: str = "group"
    attention: str = "se"
    resample: bool = True               # x2 upsampling inside the network (~5x the CPU cost per step)
    tiny: bool = False                  # tests/smoke runs: model.config.tiny_config
    # validation / checkpoints
    validate_every: int = 500
    valid_songs: int = 8                # at most this many held-out songs
    valid_seconds: float = 30.0         # middle part of each, separated in chunks
    valid_fraction: float = 0.1         # held-out fraction when the layout names no validation
    checkpoint_every: int = 200
    checkpoint_minutes: float = 10.0
    log_every: int = 10
    stem_map: list[str] = field(default_factory=list)
    #: stems the model separates, in output order; empty = the base model's (from scratch:
    #: model.config.SOURCES). Fine-tuning cannot change them (the output layer's shape).
    sources: list[str] = field(default_factory=list)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**self.augment)
        problems = []
        if self.steps < 1:
            problems.append("steps must be >= 1")
        if self.batch < 1:
            problems.append("batch must be >= 1")
        if self.segment_seconds <= 0:
            problems.append("segment must be positive")
        if self.lr <= 0:
            problems.append("lr must be positive")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {SCHEDULES}")
        if self.loss not in LOSSES:
            problems.append(f"loss must be one of {LOSSES}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {PRECISIONS}")
        if self.workers < 0:
            problems.append("workers must be >= 0")
        if not 0.0 <= self.ema_decay < 1.0:
            problems.append("ema decay must be 0 (off) or between 0 and 1")
        if self.sources:
            try:
                self.sources = list(parse_sources(",".join(self.sources)))
            except ValueError as exc:
                problems.append(f"sources: {exc}")
        if self.init_from and self.base_model is not None:
            problems.append("--init-from starts a new network: it cannot be combined with --from")
        if problems:
            raise ValueError("invalid training settings: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["augment"] = dataclasses.asdict(self.augment)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def warmup(self) -> int:
        if self.warmup_steps is not None:
            return max(0, self.warmup_steps)
        return min(500, self.steps // 50)

    def lr_at(self, step: int) -> float:
        """Learning rate for the update made at `step` (0-based)."""
        if self.schedule == "constant":
            return self.lr
        warm = self.warmup
        if warm and step < warm:
            return self.lr * (step + 1) / warm
        span = max(1, self.steps - warm)
        progress = min(1.0, (step - warm) / span)
        low = self.final_lr_fraction
        return self.lr * (low + (1 - low) * 0.5 * (1 + math.cos(math.pi * progress)))
