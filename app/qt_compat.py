"""Work around a reference-count bug of PySide6 6.12.0 on Python < 3.12.

There, every `SignalInstance.emit()` returns `True` without owning a reference to it, so each
emit takes one reference away from the `True` object. Python 3.12+ made `True`/`False` immortal, so
nobody noticed upstream; on 3.11 a GUI that emits a few thousand signals (pyqtgraph does, on every
zoom) drops `True`'s count to zero and the interpreter aborts with "Fatal Python error:
bool_dealloc". PySide6 6.11.3 does not have the bug (checked: 0 change after 1000 emits).

`apply()` gives `True` and `False` a very large extra count once, which is harmless (both are
static objects that are never freed) and keeps them alive for ~10^15 emits. It does nothing on
unaffected versions. The real fix is a PySide6 version without the bug; see the report.
"""

from __future__ import annotations

import ctypes
import logging
import sys

logger = logging.getLogger(__name__)

_EXTRA_REFERENCES = 1 << 50
_applied = False


def affected() -> bool:
    """True when this PySide6 + Python combination steals references from `True` on emit."""
    if sys.version_info >= (3, 12):
        return False
    try:
        import PySide6
    except ImportError:  # pragma: no cover
        return False
    return PySide6.__version__.startswith("6.12.")


def apply() -> bool:
    """Pin `True`/`False` against the leak when affected; returns whether it did."""
    global _applied
    if _applied or not affected() or sys.implementation.name != "cpython":
        return _applied
    for obj in (True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _EXTRA_REFERENCES
    _applied = True
    logger.info("PySide6 %s on Python %d.%d: applied the signal-emit refcount work-around",
                __import__("PySide6").__version__, *sys.version_info[:2])
    return True
