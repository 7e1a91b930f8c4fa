"""Which examples each step reads: a counter, not a shuffled list, so resuming is exact.

Global step s reads example indices [s·B·W, (s+1)·B·W) (B = per-process batch, W = world
size); rank r takes [s·B·W + r·B, s·B·W + (r+1)·B). One process with batch B·W therefore sees
exactly the union of what W processes with batch B see, and a run resumed at step s reads
the same examples it would have read without the interruption. Each example's content is a
pure function of (seed, index) (datasets.ExcerptDataset), independent of worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Sampler


class StepBatchSampler(Sampler[list[int]]):
    """Infinite batch sampler starting at `start_step`."""

    def __init__(self, batch_size: int, start_step: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.batch_size = batch_size
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size

    def indices(self, step: int) -> list[int]:
        base = (step * self.world_size + self.rank) * self.batch_size
        return list(range(base, base + self.batch_size))

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while True:
            yield self.indices(step)
            step += 1

    def __len__(self) -> int:  # nominal; iteration is driven by the step count
        return 2**62
