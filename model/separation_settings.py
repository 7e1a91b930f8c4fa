"""How a song is separated (`SeparationSettings`) and the named quality presets.

The one source of these defaults for the CLI (`stemdeck separate --quality`, `--shifts`,
`--overlap`, `--segment`), the app's quality picker and the evaluator. Standard library only, so
argument parsers and the GUI read it without loading torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class SeparationSettings:
    """`shifts`: passes averaged, the first unshifted, the others at random offsets (>= 1);
    `overlap`: share of a segment that neighbouring segments cross-fade over, in [0, 1);
    `segment_seconds`: model input length in seconds (None = the model's own);
    `precision`: auto (fp16 on CUDA, fp32 elsewhere), fp32, fp16 or bf16."""

    shifts: int = 1
    overlap: float = 0.25
    segment_seconds: float | None = None
    precision: str = "auto"

    def __post_init__(self) -> None:
        if int(self.shifts) < 1:
            raise ValueError("shifts must be >= 1")
        if not 0.0 <= float(self.overlap) < 1.0:
            raise ValueError("overlap must be in [0, 1)")
        if self.segment_seconds is not None and not float(self.segment_seconds) > 0:
            raise ValueError("segment_seconds must be positive")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}")

    def replace(self, **changes) -> "SeparationSettings":
        """A copy with `changes` applied (checked again)."""
        return dataclasses.replace(self, **changes)

    def identity(self) -> dict:
        """What makes stems differ (the app's cache key part): shifts, overlap, segment."""
        return {"shifts": int(self.shifts), "overlap": float(self.overlap),
                "segment_seconds": self.segment_seconds}


@dataclass(frozen=True)
class QualityPreset:
    """Settings a user picks by name (`shifts` passes, `overlap` fraction of a segment)."""

    name: str
    label: str
    settings: SeparationSettings

    @property
    def shifts(self) -> int:
        return self.settings.shifts

    @property
    def overlap(self) -> float:
        return self.settings.overlap


QUALITY_PRESETS: dict[str, QualityPreset] = {p.name: p for p in (
    QualityPreset("fast", "Fast (1 pass, 10 % overlap)", SeparationSettings(shifts=1, overlap=0.1)),
    QualityPreset("balanced", "Balanced (1 pass, 25 % overlap)", SeparationSettings(shifts=1, overlap=0.25)),
    QualityPreset("best", "Best (4 shifted passes, 50 % overlap)", SeparationSettings(shifts=4, overlap=0.5)),
)}
DEFAULT_QUALITY = "balanced"
#: the defaults everywhere: the balanced preset
DEFAULT_SETTINGS = QUALITY_PRESETS[DEFAULT_QUALITY].settings


def quality_settings(name: str) -> SeparationSettings:
    """The preset called `name` (KeyError naming the choices when there is none)."""
    try:
        return QUALITY_PRESETS[name].settings
    except KeyError:
        raise KeyError(f"unknown quality '{name}' (choose {', '.join(QUALITY_PRESETS)})") from None
