"""Exponential moving average (EMA) of a network's weights during training.

After every optimizer step each floating-point tensor of the model's state (parameters and
buffers) is blended into its average: ``avg += (1 - d) * (w - avg)`` with
``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so the first steps (far from any good
solution) fade out quickly. Integer buffers are copied. The average is kept in float32 on the
model's device, saved in the training checkpoint (a resumed run continues it exactly) and written
at the end of a run as a second model, ``<name>-ema.safetensors``, to be compared with the best
validated weights like any other model.
"""

from __future__ import annotations

import torch


class WeightAverage:
    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be between 0 and 1 (exclusive), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.shadow = {k: v.detach().clone().float() if v.is_floating_point() else v.detach().clone()
                       for k, v in model.state_dict().items()}

    def current_decay(self) -> float:
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        d = self.current_decay()
        floats_avg, floats_new = [], []
        for key, value in model.state_dict().items():
            avg = self.shadow[key]
            if avg.is_floating_point():
                floats_avg.append(avg)
                floats_new.append(value.detach().to(avg.dtype))
            else:
                avg.copy_(value)
        if floats_avg:
            torch._foreach_lerp_(floats_avg, floats_new, 1.0 - d)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        if set(state["shadow"]) != set(self.shadow):
            raise ValueError("the saved weight average does not match this network")
        self.decay = float(state["decay"])
        self.updates = int(state["updates"])
        for key, value in state["shadow"].items():
            self.shadow[key].copy_(value)

    def averaged_state(self, like: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The average in the dtypes of ``like``'s state, ready for ``load_state_dict``."""
        return {k: self.shadow[k].to(v.dtype) for k, v in like.state_dict().items()}
