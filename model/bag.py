"""A bag of separation networks: their stems averaged, as one network.

    ModelBag([net_a, net_b])(mix (B, C, T)) -> (B, S, C, T) = mean of net_a(mix) and net_b(mix)

Demucs ships bags of models for the same reason: networks trained differently make different
mistakes, so the average is closer to the truth than either. The members must separate the
same stems at the same rate and channel count; the bag takes the first member's config. The
Separator feeds a bag like any network (its `valid_length` is the longest member's), so the
evaluator and the engine need nothing special. Cost: one forward pass per member.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import StemDeckError


class ModelBag(torch.nn.Module):
    def __init__(self, members: Sequence[torch.nn.Module], names: Sequence[str] | None = None) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("a bag needs at least two models")
        names = list(names) if names is not None else [f"model {i + 1}" for i in range(len(members))]
        first = members[0].config
        for member, name in zip(members[1:], names[1:]):
            cfg = member.config
            for key in ("sources", "samplerate", "audio_channels"):
                if getattr(cfg, key) != getattr(first, key):
                    raise StemDeckError(f"cannot bag {names[0]} with {name}: different {key} "
                                        f"({getattr(first, key)} against {getattr(cfg, key)})")
        self.members = torch.nn.ModuleList(members)
        self.config = first

    def valid_length(self, length: int) -> int:
        """Input frames for `length` output frames: the most any member needs."""
        return max(int(m.valid_length(length)) if callable(getattr(m, "valid_length", None)) else length
                   for m in self.members)

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, S, C, T): the members' stems, averaged."""
        out = self.members[0](mix)
        for member in self.members[1:]:
            out = out + member(mix)
        return out / len(self.members)
