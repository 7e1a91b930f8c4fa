"""Training losses on stem waveforms `(batch, sources, channels, frames)`, float32.

* ``l1`` — the recipe's loss (MODEL_SPEC.md, Demucs): mean absolute error of the waveforms.
* ``l1+stft`` — that plus a multi-resolution magnitude loss: the mean absolute error of the
  STFT magnitudes at three window sizes (512, 1024, 2048 samples ≈ 12, 23, 46 ms at 44.1 kHz;
  hop a quarter of the window, Hann), averaged over the resolutions. The STFTs are normalised
  (divided by the square root of the window length) so a magnitude is on the waveform's scale
  and the two terms weigh about alike without tuning. The magnitude term ignores phase, so it
  scores what is heard (a stem's spectrum over time) where L1 also asks for the exact wave, and
  the three windows trade time against frequency resolution (transients and pitched tones).

Cost: on one CPU thread, for a batch of 4 × 4 stems × 2 channels × 4 s, the magnitude term took
1.6 s forward and 2.4 s backward (measured 2026-12-06 with the target still in the graph), about
five times the network's own step at channels 16. On CPU it is for short fine-tunes; on a GPU the
FFTs are cheap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("l1", "l1+stft")
STFT_WINDOWS = (512, 1024, 2048)


def multires_stft_l1(estimate: torch.Tensor, target: torch.Tensor,
                     windows: tuple[int, ...] = STFT_WINDOWS) -> torch.Tensor:
    """Mean over `windows` of the L1 distance of normalised STFT magnitudes; scalar tensor.

    estimate, target: (..., frames) float; every leading dimension is one signal.
    """
    est = estimate.reshape(-1, estimate.shape[-1]).float()
    ref = target.reshape(-1, target.shape[-1]).float()
    total = est.new_zeros(())
    for n in windows:
        window = torch.hann_window(n, device=est.device, dtype=est.dtype)

        def magnitude(x: torch.Tensor) -> torch.Tensor:
            return torch.stft(x, n, n // 4, window=window, center=True, normalized=True, return_complex=True).abs()

        with torch.no_grad():  # the target needs no graph
            ref_mag = magnitude(ref)
        total = total + F.l1_loss(magnitude(est), ref_mag)
    return total / len(windows)


def training_loss(name: str, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The loss `name` (one of LOSSES) of estimate against target, both (B, S, C, T); scalar."""
    loss = F.l1_loss(estimate.float(), target)
    if name == "l1+stft":
        loss = loss + multires_stft_l1(estimate, target)
    elif name != "l1":
        raise ValueError(f"unknown loss {name!r} (choose from {', '.join(LOSSES)})")
    return loss


def describe(name: str) -> str:
    """How the model card names the loss."""
    return "L1" if name == "l1" else f"L1 + multi-resolution STFT magnitude L1 (windows {STFT_WINDOWS})"
