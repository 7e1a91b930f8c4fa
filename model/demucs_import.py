"""Turn an official Demucs waveform checkpoint (`.th`) into a StemDeck model.

StemDeck's network with rnn=lstm, attention=none, norm=none, GLU rewrites and no SE is the
Demucs waveform U-Net; only the resampling filter (config.resample_filter = "demucs") and, for
the v3/v4 class, the padded decoder context conv (config.pad_context) differ, and both are
config options. Supported files:

- **v2 release state dicts** (demucs 2.x `pretrained.py`: `demucs-e07c671f.th`,
  `demucs_extra-3646af93.th`, `demucs48_hq-28a1282c.th`, `demucs_unittest-09ebc15f.th`): a
  bare OrderedDict of tensors in the v2 layout (encoder.i.{0 conv, 2 rewrite}, decoder.i.{0
  context conv, 2 transposed conv}, lstm.lstm.*, lstm.linear.*). The v2 class's fixed settings
  apply: stride 4, unpadded context conv, ReLU, x2 resampling, no input normalisation.
- **model packages** `{"klass", "args", "kwargs", "state"}` (what demucs's training writes)
  whose class is `demucs.model.Demucs` (v2) or `demucs.demucs.Demucs` (v3/v4) with settings the
  network can express: no DConv branches (dconv_mode=0), no GroupNorm (norm_starts >= depth),
  ReLU (gelu=False), glu=True, rewrite=True. Any number of sources, channels, depth, growth,
  kernel, stride, context and LSTM layers.

Refused, with one line naming the file and the reason: hybrid/transformer Demucs (HDemucs,
HTDemucs), Conv-TasNet, the v3/v4 waveform models with DConv branches (the `mdx` time-domain
models), diffq-quantized states (`demucs_quantized`, `mdx_q`), anything that is not a PyTorch
file or is truncated, and pickles naming anything beyond tensors, containers and the Demucs
class names (see model.restricted_unpickle: loading never runs code from the file).
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .checkpoint import ModelCard, save_model
from .config import ModelConfig
from .errors import ModelLoadError
from .network import UnetSEBiSRU
from .restricted_unpickle import NamedClass, UnsafePickleError, load_restricted

logger = logging.getLogger(__name__)

V2_CLASS = "demucs.model.Demucs"
V3_CLASS = "demucs.demucs.Demucs"
DEFAULT_SOURCES = ("drums", "bass", "other", "vocals")

#: constructor defaults of the two waveform classes (an omitted kwarg takes these)
V2_DEFAULTS: dict[str, Any] = dict(
    audio_channels=2, channels=64, depth=6, rewrite=True, glu=True, rescale=0.1, resample=True,
    kernel_size=8, stride=4, growth=2.0, lstm_layers=2, context=3, normalize=False, samplerate=44100)
V3_DEFAULTS: dict[str, Any] = dict(
    audio_channels=2, channels=64, growth=2.0, depth=6, rewrite=True, lstm_layers=0, kernel_size=8,
    stride=4, context=1, gelu=True, glu=True, norm_starts=4, norm_groups=4, dconv_mode=1,
    normalize=True, resample=True, rescale=0.1, samplerate=44100)

REFUSED_CLASSES = {
    "demucs.hdemucs.HDemucs": "a hybrid (waveform + spectrogram) Demucs v3 model",
    "demucs.htdemucs.HTDemucs": "a hybrid transformer Demucs v4 model",
    "demucs.tasnet.ConvTasNet": "a Conv-TasNet model",
    "demucs.tasnet_v2.ConvTasNet": "a Conv-TasNet model",
    "demucs.wdemucs.WDemucs": "a WDemucs model",
}
ONLY_WAVEFORM = ("StemDeck imports only the waveform Demucs v2/v3 U-Net (demucs, demucs_extra, "
                 "demucs48_hq)")

LICENCE_TEXT = """\
Demucs (code and the pretrained weights it downloads) is published by Meta Platforms, Inc. at
github.com/facebookresearch/demucs under the MIT License:

MIT License

Copyright (c) Meta Platforms, Inc. and affiliates.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.

The official weights were trained on MUSDB18 (demucs_extra: plus 150 extra songs), whose audio
is licensed for non-commercial research; check whether that matters for your use. The weights
are the user's own download: StemDeck does not ship them.
"""


@dataclass(frozen=True)
class ConvertedCheckpoint:
    """A Demucs checkpoint as a StemDeck config + state dict (float32, StemDeck key names)."""

    config: ModelConfig
    state: dict[str, torch.Tensor]
    layout: str              # "v2 state dict", "v2 package" or "v3/v4 package"
    kwargs: dict[str, Any]   # the Demucs constructor arguments that applied (defaults filled in)


class _Refused(Exception):
    """Internal: the reason a file cannot be imported (the caller adds the file name)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(". ")[0].rstrip(".")


def read_checkpoint(path: Path) -> Any:
    """The unpickled content of `path` (restricted: never runs code); ModelLoadError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: cannot import: file not found")
    try:
        return load_restricted(path)
    except UnsafePickleError as exc:
        raise ModelLoadError(f"{path}: cannot import: refused to load it: {exc} (a pickle that would "
                             "run code?); nothing was installed") from None
    except MemoryError:
        raise ModelLoadError(f"{path}: cannot import: it does not fit in memory; nothing was installed") from None
    except Exception as exc:  # noqa: BLE001 - torch/pickle/zip raise many types for bad files
        raise ModelLoadError(f"{path}: cannot import: not a readable PyTorch checkpoint (damaged, "
                             f"truncated or another kind of file: {_first_line(exc)}); nothing was installed") from None


def _tensor_state(state: Any) -> dict[str, torch.Tensor]:
    if not isinstance(state, dict):
        raise _Refused("its 'state' is not a dictionary of tensors")
    if state.get("__quantized") or "compressed" in state or "quantized" in state:
        raise _Refused("it holds diffq-quantized weights (demucs_quantized, mdx_q, mdx_extra_q), "
                       "which StemDeck cannot read; import the unquantized release instead")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad or not state:
        raise _Refused("it is not a Demucs checkpoint (no dictionary of named tensors)")
    return {k: v.detach().to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for k in state if (m := regex.match(k))})


def _map_state(state: dict[str, torch.Tensor], depth: int, rewrite_index: int, lstm_layers: int,
               ) -> dict[str, torch.Tensor]:
    """Demucs keys -> StemDeck keys; _Refused listing any tensor the network has no place for."""
    names: dict[str, str] = {}
    for i in range(depth):
        names[f"encoder.{i}.0"] = f"encoder.{i}.conv"
        names[f"encoder.{i}.{rewrite_index}"] = f"encoder.{i}.rewrite"
        names[f"decoder.{i}.0"] = f"decoder.{i}.rewrite"
        names[f"decoder.{i}.{rewrite_index}"] = f"decoder.{i}.conv_tr"
    out: dict[str, torch.Tensor] = {}
    extra = []
    for key, tensor in state.items():
        prefix, _, leaf = key.rpartition(".")
        if prefix in names:
            out[f"{names[prefix]}.{leaf}"] = tensor
        elif lstm_layers and key.startswith("lstm.lstm."):
            out["bottleneck.rnn." + key[len("lstm.lstm."):]] = tensor
        elif lstm_layers and key.startswith("lstm.linear."):
            out["bottleneck.linear." + key[len("lstm.linear."):]] = tensor
        else:
            extra.append(key)
    if extra:
        raise _Refused(f"it has layers StemDeck's network cannot express ({', '.join(extra[:3])}"
                       f"{' ...' if len(extra) > 3 else ''}); {ONLY_WAVEFORM}")
    return out


def _config_from(kw: dict[str, Any], state: dict[str, torch.Tensor], v3: bool) -> ModelConfig:
    """The ModelConfig of a Demucs with constructor arguments `kw` (defaults filled in)."""
    if not kw.get("rewrite", True) or not kw.get("glu", True):
        raise _Refused("it was built with rewrite=False or glu=False, which StemDeck's network cannot express")
    depth = int(kw["depth"])
    if v3:
        if int(kw["dconv_mode"]) != 0:
            raise _Refused("it is a Demucs v3/v4 waveform model with DConv residual branches (e.g. the "
                           f"'mdx' time-domain models), which StemDeck's network cannot express; {ONLY_WAVEFORM}")
        if int(kw["norm_starts"]) < depth:
            raise _Refused("it uses GroupNorm layers (norm_starts < depth), which StemDeck's network "
                           "cannot express in Demucs' arrangement")
        if kw["gelu"]:
            raise _Refused("it uses GELU activations (gelu=True); StemDeck's network uses ReLU")
        context = 2 * int(kw["context"]) + 1
    else:
        context = int(kw["context"])
    sources = tuple(str(s) for s in kw["sources"])
    lstm_layers = int(kw["lstm_layers"])
    try:
        return ModelConfig(
            sources=sources, audio_channels=int(kw["audio_channels"]), samplerate=int(kw["samplerate"]),
            channels=int(kw["channels"]), depth=depth, kernel_size=int(kw["kernel_size"]),
            stride=int(kw["stride"]), growth=float(kw["growth"]), context=context,
            rnn="lstm" if lstm_layers else "none", rnn_layers=max(lstm_layers, 1), norm="none",
            attention="none", resample=bool(kw["resample"]), resample_filter="demucs",
            pad_context=v3, normalize=bool(kw["normalize"]), rescale=0.0)
    except (TypeError, ValueError) as exc:
        raise _Refused(f"its settings do not make a valid network ({exc})") from None


def _infer_v2_kwargs(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Constructor arguments of a bare v2 state dict, read from the tensor shapes."""
    kw = dict(V2_DEFAULTS)
    first = state.get("encoder.0.0.weight")
    if first is None or first.dim() != 3:
        raise _Refused("it is not a Demucs checkpoint (no first encoder convolution)")
    depth = _count(state, r"encoder\.(\d+)\.0\.weight$")
    kw.update(depth=depth, channels=int(first.shape[0]), audio_channels=int(first.shape[1]),
              kernel_size=int(first.shape[2]))
    if depth > 1:
        kw["growth"] = state["encoder.1.0.weight"].shape[0] / first.shape[0]
    context_conv = state.get("decoder.0.0.weight")
    if context_conv is not None:
        kw["context"] = int(context_conv.shape[2])
    kw["lstm_layers"] = _count(state, r"lstm\.lstm\.weight_ih_l(\d+)$")
    last = state.get(f"decoder.{depth - 1}.2.weight")
    outputs = int(last.shape[1]) if last is not None else 0
    if outputs != len(DEFAULT_SOURCES) * kw["audio_channels"]:
        raise _Refused(f"its last layer has {outputs} outputs, not the 4 stems (drums, bass, other, vocals) "
                       "a bare v2 state dict stands for")
    kw["sources"] = list(DEFAULT_SOURCES)
    return kw


def convert(path: Path) -> ConvertedCheckpoint:
    """Read and convert a Demucs waveform checkpoint; ModelLoadError naming `path` if unsupported."""
    path = Path(path)
    content = read_checkpoint(path)
    try:
        if isinstance(content, dict) and "klass" in content and "state" in content:
            klass = content["klass"]
            name = klass.qualname if isinstance(klass, NamedClass) else repr(klass)
            if name in REFUSED_CLASSES:
                raise _Refused(f"it is {REFUSED_CLASSES[name]}; {ONLY_WAVEFORM}")
            if name not in (V2_CLASS, V3_CLASS):
                raise _Refused(f"its model class {name} is not a Demucs waveform model; {ONLY_WAVEFORM}")
            v3 = name == V3_CLASS
            args, kwargs = content.get("args") or (), content.get("kwargs") or {}
            if not isinstance(kwargs, dict) or not isinstance(args, (list, tuple)):
                raise _Refused("its constructor arguments are not readable")
            kw = dict(V3_DEFAULTS if v3 else V2_DEFAULTS)
            if args:
                kw["sources"] = args[0]
            kw.update(kwargs)
            if "sources" not in kw:
                raise _Refused("its constructor arguments name no sources")
            state = _tensor_state(content["state"])
            layout = "v3/v4 package" if v3 else "v2 package"
        elif isinstance(content, dict) and "encoder.0.0.weight" in content:
            state = _tensor_state(content)
            if any(k.startswith("encoder.0.3.") for k in state):
                raise _Refused("it is a bare state dict in the Demucs v3/v4 layout, without the settings "
                               "needed to rebuild it (export the whole model package instead)")
            kw, v3, layout = _infer_v2_kwargs(state), False, "v2 state dict"
        elif isinstance(content, dict) and ("models" in content or "weights" in content):
            raise _Refused(f"it looks like a bag of models, not one checkpoint; {ONLY_WAVEFORM}")
        elif isinstance(content, dict) and isinstance(content.get("state"), dict):
            raise _Refused("it is a model package without its model class")
        else:
            raise _Refused("it is a PyTorch file but not a Demucs checkpoint")
        config = _config_from(kw, state, v3)
        mapped = _map_state(state, config.depth, 3 if v3 else 2, int(kw["lstm_layers"]))
        network = UnetSEBiSRU(config)
        expected = network.state_dict()
        missing = sorted(set(expected) - set(mapped))
        wrong = [k for k, v in expected.items() if k in mapped and mapped[k].shape != v.shape]
        if missing or wrong:
            raise _Refused(f"its tensors do not fit the network its settings describe (missing: "
                           f"{', '.join(missing[:3]) or 'none'}; wrong shapes: {', '.join(wrong[:3]) or 'none'})")
        nonfinite = [k for k, v in mapped.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if nonfinite:
            raise _Refused(f"tensor {nonfinite[0]} holds NaN or infinite values")
    except _Refused as exc:
        raise ModelLoadError(f"{path}: cannot import: {exc}; nothing was installed") from None
    return ConvertedCheckpoint(config, mapped, layout, {k: v for k, v in kw.items() if _jsonable(v)})


def _jsonable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None))) or (
        isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value))


def default_name(path: Path) -> str:
    """demucs48_hq-28a1282c.th -> demucs48_hq (the release's name without its hash suffix)."""
    stem = re.sub(r"-[0-9a-f]{8}$", "", Path(path).stem)
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", stem).strip(".") or "demucs"


def build_model(converted: ConvertedCheckpoint) -> UnetSEBiSRU:
    network = UnetSEBiSRU(converted.config)
    network.load_state_dict(converted.state, strict=True)
    return network.eval()


def import_demucs(path: Path | str, name: str | None = None, overwrite: bool = False):
    """Convert `path` and install it into the user models folder as NAME (default: the release's
    name). Returns the InstalledModel. Nothing is installed when anything fails."""
    from .model_store import install_model, stemdeck_home

    path = Path(path).expanduser()
    name = name or default_name(path)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", name):
        raise ModelLoadError(f"{name!r} is not a usable model name (letters, digits, _ . + - only)")
    converted = convert(path)
    card = ModelCard(
        name=name, config=converted.config,
        description=f"Demucs waveform model imported from {path.name} ({converted.layout}); "
                    "no SE layers (the paper's Demucs baseline)",
        training={"imported_from": "demucs", "source_file": path.name,
                  "source_sha256": sha256_of(path), "source_layout": converted.layout,
                  "demucs_kwargs": converted.kwargs, "licence": LICENCE_TEXT})
    network = build_model(converted)
    stemdeck_home().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".import-", dir=stemdeck_home()) as tmp:
        weights = save_model(network, Path(tmp) / f"{name}.safetensors", card)
        installed = install_model(weights, overwrite=overwrite)
    logger.info("imported %s as %s", path, installed.name)
    return installed
