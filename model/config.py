"""The one frozen description of a Unet-SE-BiSRU network, saved as JSON beside its weights.

Defaults follow ../shared/MODEL_SPEC.md (the paper) and Demucs v2 where the paper is silent.
Every ablation variant of the paper's Table 4.1 is a value of `rnn`, `norm` or `attention`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from .errors import ModelLoadError

#: Output order of every StemDeck model: `(batch, len(SOURCES), audio_channels, time)`.
SOURCES: tuple[str, ...] = ("drums", "bass", "other", "vocals")

RESERVED_STEM_NAMES = ("mixture", "ignore", "original", "residual", "mean")


def parse_sources(text: str) -> tuple[str, ...]:
    """Stem names from "drums,bass,other,vocals,guitar,piano" (the `--sources` option), lower
    case, in the order given. Raises ValueError naming the problem (empty, repeated, reserved)."""
    names = tuple(part.strip().lower() for part in str(text).split(",") if part.strip())
    if not names:
        raise ValueError("no stem names given (e.g. --sources drums,bass,other,vocals)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"stem name(s) given twice: {', '.join(repeated)}")
    bad = [n for n in names if n in RESERVED_STEM_NAMES or not n.replace("_", "").replace("-", "").isalnum()]
    if bad:
        raise ValueError(f"{', '.join(bad)}: not usable as a stem name (letters, digits, - and _; "
                         f"not {', '.join(RESERVED_STEM_NAMES)})")
    return names


RNN_KINDS = ("sru", "lstm", "gru", "none")
NORM_KINDS = ("group", "batch", "none")
ATTENTION_KINDS = ("se", "none")
#: "stemdeck": model.network's Hann-windowed sinc (64 zero crossings); "demucs": Demucs' own
#: (model.demucs_resample), for networks imported from Demucs checkpoints
RESAMPLE_FILTERS = ("stemdeck", "demucs")


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters that fix the network's shape (not its weights).

    Lengths are in samples at `samplerate`; `channels` is the width of the first encoder layer.
    """

    sources: tuple[str, ...] = SOURCES
    audio_channels: int = 2
    samplerate: int = 44100
    channels: int = 32          # paper compares 16 / 32 / 64
    depth: int = 6
    kernel_size: int = 8
    stride: int = 4
    growth: float = 2.0
    context: int = 3            # kernel of the decoder's first conv (Demucs v2: 3)
    rnn: str = "sru"            # sru | lstm | gru | none
    rnn_layers: int = 2
    norm: str = "group"         # group | batch | none
    norm_groups: int = 32       # largest divisor of the width <= this is used
    attention: str = "se"       # se | none
    se_reduction: int = 16      # SE bottleneck: C -> C // r (at least 4 units)
    resample: bool = True       # x2 upsample before the encoder, /2 after the decoder
    resample_filter: str = "stemdeck"  # stemdeck | demucs (see RESAMPLE_FILTERS)
    pad_context: bool = False   # zero-pad the decoder's context conv to keep its length (Demucs v3/v4
                                # class; needs an odd context); False: unpadded, as in Demucs v2
    normalize: bool = True      # standardise input by the mono mixture's mean/std
    rescale: float = 0.1        # Demucs weight rescaling target std (0 disables)
    segment_seconds: float = 8.0  # default inference/training excerpt length

    def __post_init__(self) -> None:
        problems = []
        if self.rnn not in RNN_KINDS:
            problems.append(f"rnn must be one of {RNN_KINDS}, got {self.rnn!r}")
        if self.norm not in NORM_KINDS:
            problems.append(f"norm must be one of {NORM_KINDS}, got {self.norm!r}")
        if self.attention not in ATTENTION_KINDS:
            problems.append(f"attention must be one of {ATTENTION_KINDS}, got {self.attention!r}")
        if self.resample_filter not in RESAMPLE_FILTERS:
            problems.append(f"resample_filter must be one of {RESAMPLE_FILTERS}, got {self.resample_filter!r}")
        if self.pad_context and self.context % 2 == 0:
            problems.append(f"pad_context needs an odd context, got {self.context}")
        for name in ("audio_channels", "samplerate", "channels", "depth", "kernel_size", "stride"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if not self.sources:
            problems.append("sources must not be empty")
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(problems))
        object.__setattr__(self, "sources", tuple(self.sources))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["sources"] = list(self.sources)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelLoadError(f"unknown model config fields: {', '.join(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"invalid model config: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"model config is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelLoadError("model config must be a JSON object")
        return cls.from_dict(data)


def tiny_config(**overrides: Any) -> ModelConfig:
    """A very small network for tests and smoke runs (seconds on two CPU cores)."""
    base = dict(channels=4, depth=3, resample=False, rnn_layers=1, segment_seconds=1.0)
    base.update(overrides)
    return ModelConfig(**base)
