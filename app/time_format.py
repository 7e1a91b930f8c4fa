"""How the app writes a remaining or elapsed time for people (progress labels, the Train tab)."""

from __future__ import annotations

import math


def format_eta(seconds: float | None) -> str:
    """'1 h 02 min', '3 min 05 s', '12 s'; '—' when unknown (None, NaN, negative)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
