"""The one colour per stem, used everywhere a stem is drawn (player lanes and their controls,
the training charts), so a producer learns it once."""

from __future__ import annotations

STEM_COLORS = {
    "original": "#b0b7c3", "drums": "#f2a541", "bass": "#5fb3f6",
    "other": "#8fd17a", "vocals": "#e86a92", "residual": "#9e8cc8",
}
#: a stem the palette does not know (a custom model's extra source)
UNKNOWN_STEM_COLOR = "#c8c8c8"


def stem_color(name: str) -> str:
    return STEM_COLORS.get(name, UNKNOWN_STEM_COLOR)
