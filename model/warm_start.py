"""Start a Unet-SE-BiSRU from a network without SE (e.g. an imported Demucs model).

The new network has the source's shape (widths, depth, kernel, stride, context, resampling,
normalisation, norm="none") plus an SE block after every encoder and decoder GLU, and a
bottleneck of the chosen kind:

- encoder and decoder convolutions are copied;
- every SE block starts as an exact identity: its last layer's weights are 0, so its output is
  the constant s = sigmoid(SE_START_BIAS) for any input, and the "value" half of the GLU in front
  of it (rewrite conv rows 0..W-1, weight and bias) is divided by s, so GLU x SE equals the
  source's GLU. s is 0.88, not ~1, so that the SE layers get gradients from the first step;
- bottleneck: rnn="lstm" with an LSTM source copies the LSTM and its Linear (mapped exactly);
  rnn="sru" (the paper's model) or "gru" gets a NEW randomly initialised bottleneck: a BiSRU has
  no weights that correspond to an LSTM's gates, so nothing is mapped.

So at step 0 the result computes exactly the source's function when the bottleneck is mapped
(rnn="lstm") or when both networks' bottlenecks are bypassed (tests/test_warm_start.py).
GroupNorm cannot start as an identity, so the result keeps norm="none".
"""

from __future__ import annotations

import dataclasses

import torch

from .config import ModelConfig
from .network import UnetSEBiSRU

SE_START_BIAS = 2.0


def warm_start_config(source: ModelConfig, rnn: str = "sru", rnn_layers: int = 2) -> ModelConfig:
    if source.norm != "none":
        raise ValueError("warm start needs a source without normalisation layers (norm=none)")
    layers = source.rnn_layers if rnn == source.rnn else rnn_layers
    return dataclasses.replace(source, attention="se", rnn=rnn, rnn_layers=layers)


def warm_start(source: UnetSEBiSRU, rnn: str = "sru", seed: int = 0) -> UnetSEBiSRU:
    """A new network (train mode) initialised from `source` as described above."""
    config = warm_start_config(source.config, rnn)
    torch.manual_seed(seed)
    target = UnetSEBiSRU(config)
    src = source.state_dict()
    mapped = {k: v for k, v in src.items() if k.startswith(("encoder.", "decoder."))}
    if rnn == source.config.rnn and source.bottleneck is not None:
        mapped.update({k: v for k, v in src.items() if k.startswith("bottleneck.")})
    missing = [k for k in target.state_dict() if k not in mapped]
    fresh = {k for k in missing if ".se." in k or k.startswith("bottleneck.")}
    if set(missing) != fresh:
        raise ValueError(f"cannot map {sorted(set(missing) - fresh)[:3]} from the source network")
    target.load_state_dict(mapped, strict=False)
    scale = torch.sigmoid(torch.tensor(SE_START_BIAS)).item()
    with torch.no_grad():
        for layer in list(target.encoder) + list(target.decoder):
            layer.se.fc2.weight.zero_()
            layer.se.fc2.bias.fill_(SE_START_BIAS)
            width = layer.rewrite.out_channels // 2  # rows [0, W) are the GLU's value half
            layer.rewrite.weight[:width] /= scale
            layer.rewrite.bias[:width] /= scale
    return target.train()
