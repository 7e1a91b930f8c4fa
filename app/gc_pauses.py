"""Keep Python's full garbage collections short while the window runs.

A full (generation 2) collection walks every tracked object; once torch, PySide6 and pyqtgraph are
imported that is over 200,000 objects, and on a busy 2-core machine one such pass took ~120 ms.
Any thread can trigger it (a worker allocating while it separates) and it holds the GIL
throughout, so it froze the window. Moving the objects that exist at start-up (modules, classes,
the window) into the permanent generation (`gc.freeze`) leaves later full collections only what
was made since. Call it only at start-up moments: cycles that are already garbage then are kept
for the life of the process (at start-up there are next to none).
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)


def freeze_startup_objects() -> int:
    """Exclude every object alive now from future collections; returns the number of objects
    frozen so far (``gc.get_freeze_count()``)."""
    gc.freeze()
    count = gc.get_freeze_count()
    logger.debug("%d start-up objects moved out of the garbage collector's way", count)
    return count
