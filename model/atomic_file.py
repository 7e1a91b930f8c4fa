"""The one way StemDeck replaces a file: write a temp file in the same folder, then `os.replace`.

A crash, a full disk or an exception mid-write leaves the old file (or nothing) in place, never a
half-written one, and the temp file is removed. Multi-file commits (weights + card, a batch of
stems) build on `temp_path_beside`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


def temp_path_beside(path: Path, suffix: str = ".tmp") -> Path:
    """Create an empty, uniquely named hidden temp file in `path`'s folder and return its path.

    Its permissions follow the umask like any new file (mkstemp alone would make it 0600, and
    the renamed result would be unreadable to the user's other accounts and tools).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(tmp)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temp file beside `path` for writing; on success it is synced and renamed to `path`."""
    target = Path(path)
    tmp = temp_path_beside(target)
    try:
        with open(tmp, mode, encoding=encoding, newline="" if "b" not in mode else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path | str, text: str) -> Path:
    """Replace `path` with `text` (UTF-8) atomically."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return Path(path)
