"""Separation results cached on disk, so reopening a separated song is instant.

A result is keyed by the song's *content* (SHA-256 of the file bytes, so a renamed or moved file
still hits), the model (name + weights hash) and every setting that changes the output
(shifts, overlap, segment length, samplerate). Layout under `<StemDeck home>/cache/<key>/`:

- `stems.npy`  — (sources, channels, frames), float32 (lossless) or float16 (half the disk)
- `se.npz`     — SE activations per layer (n_segments, channels) and their times, when collected
- `meta.json`  — sources, samplerate, model, device that ran, settings, created

Entries are written to a temporary folder beside the final one and renamed into place, so a
crash or cancel never leaves a half-written entry that could be read back. The total size is
kept under a limit by evicting the least recently used entries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 20


def stemdeck_home() -> Path:
    """StemDeck's data folder: $STEMDECK_HOME, else $XDG_DATA_HOME/stemdeck, else ~/.local/share/stemdeck."""
    env = os.environ.get("STEMDECK_HOME")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "stemdeck"


def file_content_hash(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(content_hash: str, model_id: str, settings: dict[str, Any]) -> str:
    """Key of one result: song content + model identity + output-changing settings."""
    text = json.dumps({"content": content_hash, "model": model_id, "settings": settings},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class CachedResult:
    """A separation read back from the cache. `stems`: (S, C, frames) float32."""

    stems: np.ndarray
    sources: tuple[str, ...]
    samplerate: int
    meta: dict[str, Any]
    se_activations: dict[str, np.ndarray] | None = None
    se_times_seconds: np.ndarray | None = None
    path: Path | None = field(default=None, repr=False)


class ResultCache:
    """Size-limited on-disk cache of separation results (see module doc)."""

    def __init__(self, root: Path | None = None, max_bytes: int = 4 << 30,
                 dtype: str = "float32") -> None:
        self.root = Path(root) if root is not None else stemdeck_home() / "cache"
        self.max_bytes = int(max_bytes)
        self.dtype = np.float16 if dtype == "float16" else np.float32

    def _entry(self, key: str) -> Path:
        return self.root / key

    def contains(self, key: str) -> bool:
        return (self._entry(key) / "meta.json").is_file()

    def get(self, key: str) -> CachedResult | None:
        """The cached result for `key`, or None (a damaged entry is removed and reported as a miss)."""
        entry = self._entry(key)
        meta_path = entry / "meta.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            stems = np.load(entry / "stems.npy", allow_pickle=False)
            stems = np.ascontiguousarray(stems, dtype=np.float32)
            se = times = None
            if (entry / "se.npz").is_file():
                with np.load(entry / "se.npz", allow_pickle=False) as data:
                    se = {k[3:]: data[k] for k in data.files if k.startswith("se:")}
                    times = data["times"] if "times" in data.files else None
            os.utime(meta_path)  # LRU: last use is the meta file's mtime
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("cache entry %s is damaged (%s); removing it", entry, exc)
            shutil.rmtree(entry, ignore_errors=True)
            return None
        return CachedResult(stems=stems, sources=tuple(meta["sources"]),
                            samplerate=int(meta["samplerate"]), meta=meta,
                            se_activations=se, se_times_seconds=times, path=entry)

    def put(self, key: str, stems: np.ndarray, sources: tuple[str, ...], samplerate: int,
            meta: dict[str, Any], se_activations: dict[str, np.ndarray] | None = None,
            se_times_seconds: np.ndarray | None = None) -> Path:
        """Store a result atomically (temp folder, then rename) and evict old entries."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self._entry(key)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=self.root))
        try:
            np.save(tmp / "stems.npy", np.asarray(stems).astype(self.dtype, copy=False))
            if se_activations:
                arrays = {f"se:{name}": np.asarray(v, np.float32) for name, v in se_activations.items()}
                if se_times_seconds is not None:
                    arrays["times"] = np.asarray(se_times_seconds, np.float32)
                np.savez(tmp / "se.npz", **arrays)
            full_meta = dict(meta, sources=list(sources), samplerate=int(samplerate),
                             dtype=np.dtype(self.dtype).name, created=time.time())
            (tmp / "meta.json").write_text(json.dumps(full_meta, indent=1, default=str))
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.evict()
        return final

    def entries(self) -> list[tuple[Path, int, float]]:
        """(folder, bytes, last use time) of every complete entry."""
        out = []
        if not self.root.is_dir():
            return out
        for entry in self.root.iterdir():
            meta = entry / "meta.json"
            if entry.name.startswith(".tmp-") or not meta.is_file():
                continue
            size = sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
            out.append((entry, size, meta.stat().st_mtime))
        return out

    def total_bytes(self) -> int:
        return sum(size for _e, size, _t in self.entries())

    def evict(self) -> int:
        """Remove least recently used entries until the total is under the limit; returns how many."""
        entries = sorted(self.entries(), key=lambda e: e[2])
        total = sum(size for _e, size, _t in entries)
        removed = 0
        # Never evict the newest entry: it is the one the user just made.
        for entry, size, _t in entries[:-1]:
            if total <= self.max_bytes:
                break
            shutil.rmtree(entry, ignore_errors=True)
            total -= size
            removed += 1
        if removed:
            logger.info("cache: evicted %d old entries (limit %.1f GB)", removed, self.max_bytes / 1e9)
        return removed

    def clear_stale_temp(self) -> None:
        """Remove temp folders left by a crash (called at start-up)."""
        if self.root.is_dir():
            for entry in self.root.glob(".tmp-*"):
                shutil.rmtree(entry, ignore_errors=True)
