"""Training: configuration, the training loop, checkpoints that resume exactly, DDP helpers.

`train(config, emit=...)` in `trainer.py` is the one entry point (used by `stemdeck train`).
"""

from .config import TrainConfig
from .trainer import Trainer, train

__all__ = ["TrainConfig", "Trainer", "train"]
