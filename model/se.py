"""1-D squeeze-excitation block (paper eq. 3.8-3.10).

    z = mean_t(v)                      squeeze: one descriptor per channel, (B, C)
    s = sigmoid(W2 relu(W1 z))         excitation: W1 is C -> C/r, W2 is C/r -> C
    out = v * s                        channel recalibration

The GUI plots `s` (the paper's Fig. 4.3). A block keeps nothing by default; while a recording
sink is attached (see `model.network.record_se`) every forward appends its `s` as a float32 numpy
array (B, C) to the sink. When not recording, the cost is one `is None` check.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)


class SE1d(nn.Module):
    """Squeeze-excitation over channels of a (B, C, T) feature map."""

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 4) -> None:
        super().__init__()
        self.channels = channels
        hidden = max(channels // max(reduction, 1), min_hidden)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        #: list that receives each forward's activations (B, C) while recording, else None
        self.sink: list[np.ndarray] | None = None

    def excitation(self, v: Tensor) -> Tensor:
        """v: (B, C, T) -> s: (B, C) in (0, 1)."""
        z = v.mean(dim=-1)  # (B, C)
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))

    def forward(self, v: Tensor) -> Tensor:
        """v: (B, C, T) -> (B, C, T), each channel scaled by its activation."""
        s = self.excitation(v)
        if self.sink is not None:
            self.sink.append(s.detach().float().cpu().numpy())
        if not torch.is_grad_enabled():  # inference: scale in place, no extra activation-sized copy
            return v.mul_(s.unsqueeze(-1))
        return v * s.unsqueeze(-1)

    @property
    def last_activation(self) -> np.ndarray | None:
        """The latest recorded activations (B, C), or None when not recording / nothing recorded."""
        return self.sink[-1] if self.sink else None
