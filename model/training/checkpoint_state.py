"""Training checkpoints: everything needed to continue a run exactly, written atomically.

`checkpoint.pt` holds the model and optimizer state, the AMP grad-scaler state, the step,
the training configuration, the best validation so far, the elapsed time and ALL random
states (python `random`, numpy's global RNG, torch CPU and CUDA RNGs, and the DataLoader's
generator). The data order needs no saved state beyond the step (sampler.py). Everything is
stored as tensors and plain containers, so it loads with `torch.load(weights_only=True)`:
nothing is unpickled. Writes go to a temp file in the same folder, then `os.replace`, so a
`kill -9` leaves either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic_file import atomic_write
from ..errors import StemDeckError

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = 1


class CheckpointError(StemDeckError):
    """A training checkpoint is missing, corrupt or from an incompatible run."""


def capture_rng_states(loader_generator: torch.Generator | None = None) -> dict[str, Any]:
    py_state = random.getstate()
    np_state = np.random.get_state()
    states: dict[str, Any] = {
        "python": {"version": py_state[0], "state": torch.tensor(py_state[1], dtype=torch.int64),
                   "gauss": py_state[2]},
        "numpy": {"kind": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": loader_generator.get_state() if loader_generator is not None else None,
    }
    return states


def restore_rng_states(states: dict[str, Any], loader_generator: torch.Generator | None = None) -> None:
    py = states["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npst = states["numpy"]
    np.random.set_state((npst["kind"], npst["keys"].numpy().astype(np.uint32), npst["pos"],
                         npst["has_gauss"], npst["cached"]))
    torch.set_rng_state(states["torch"])
    if states.get("cuda") and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(states["cuda"])
        except (RuntimeError, IndexError):
            logger.warning("CUDA RNG state not restored (different GPU count)")
    if loader_generator is not None and states.get("loader") is not None:
        loader_generator.set_state(states["loader"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Atomically write `state` (tensors + plain containers) to `path`."""
    path = Path(path)
    payload = dict(state, format=FORMAT)
    with atomic_write(path, "wb") as fh:
        torch.save(payload, fh)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (weights_only: nothing unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no training checkpoint to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable training checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format")
    return state


__all__ = ["CHECKPOINT_NAME", "CheckpointError", "capture_rng_states", "restore_rng_states",
           "save_checkpoint", "load_checkpoint"]
