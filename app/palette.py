"""The app's colours: one per stem, used everywhere a stem is drawn (player lanes and their
controls, the training charts), so a producer learns it once; and one heat map for images of
levels (spectrograms, SE activations)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

STEM_COLORS = {
    "original": "#b0b7c3", "drums": "#f2a541", "bass": "#5fb3f6",
    "other": "#8fd17a", "vocals": "#e86a92", "residual": "#9e8cc8",
    # the synthetic corpus renders these separately too (a 6-stem model)
    "guitar": "#f4d35e", "piano": "#4ecdc4",
}
#: a stem the palette does not know (a custom model's extra source)
UNKNOWN_STEM_COLOR = "#c8c8c8"


def stem_color(name: str) -> str:
    return STEM_COLORS.get(name, UNKNOWN_STEM_COLOR)


@lru_cache(maxsize=1)
def heatmap_lut() -> Any:
    """(256, 3 or 4) uint8 lookup table of the heat map (matplotlib's "inferno"), made on first use."""
    import pyqtgraph as pg  # after PySide6, as everywhere in the app

    return pg.colormap.get("inferno").getLookupTable(nPts=256)
