"""Saving and loading a network: safetensors weights + a JSON model card beside them.

    NAME.safetensors   tensors only (never pickle); its header metadata repeats the config JSON
    NAME.json          ModelCard: name, config, format_version, description, training, metrics,
                       created, sha256 (of NAME.safetensors), parameters

Loading checks, in order, and raises ModelLoadError naming the file and the reason: both files
exist; the card is valid JSON with a known format version and a valid config; the weights' sha256
equals the card's; the file parses as safetensors; the config stored in the weights equals the
card's; every tensor the network needs is there with the right shape, nothing extra, all finite.
Both files are written to temp files in the destination folder and then renamed into place.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .atomic_file import temp_path_beside
from .config import ModelConfig
from .errors import ModelLoadError, StemDeckError
from .network import UnetSEBiSRU

logger = logging.getLogger(__name__)

#: Version of the weights + card layout. Bump when old files can no longer be read as they are.
FORMAT_VERSION = 1


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class ModelCard:
    """What a model is, how it was made and how well it does; stored as JSON beside the weights."""

    name: str
    config: ModelConfig
    format_version: int = FORMAT_VERSION
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)   # data, steps, epochs, seed, ...
    metrics: dict[str, Any] = field(default_factory=dict)    # e.g. {"sdr_vocals": 5.1}
    created: str = field(default_factory=_now_iso)           # ISO 8601, UTC
    sha256: str = ""                                         # of the weights file, hex
    parameters: int = 0                                      # number of weights

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["config"] = self.config.to_dict()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "ModelCard":
        """Parse a card; any problem -> ModelLoadError (without a file name: callers add it)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"model card is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ModelLoadError("model card must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelLoadError(f"model card has unknown fields: {', '.join(unknown)}")
        for required in ("name", "config"):
            if required not in data:
                raise ModelLoadError(f"model card has no {required!r}")
        if not isinstance(data["config"], dict):
            raise ModelLoadError("model card 'config' must be a JSON object")
        data["config"] = ModelConfig.from_dict(data["config"])
        try:
            card = cls(**data)
        except TypeError as exc:
            raise ModelLoadError(f"invalid model card: {exc}") from exc
        if not isinstance(card.format_version, int) or not isinstance(card.parameters, int):
            raise ModelLoadError("model card 'format_version' and 'parameters' must be integers")
        return card


def card_path_for(weights_path: Path) -> Path:
    """The card that belongs to a weights file: NAME.safetensors -> NAME.json."""
    return Path(weights_path).with_suffix(".json")


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write to a temp file in the same folder; return the temp path (caller renames it)."""
    tmp = temp_path_beside(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def save_model(model: UnetSEBiSRU, path: Path, card: ModelCard, half: bool = False) -> Path:
    """Write `path` (*.safetensors) and its card atomically; returns `path`.

    `half=True` stores floating tensors as float16 (half the size; load_model returns float32).
    The card's sha256, parameters and format_version are filled in here; `card.config` must be the
    model's config. Existing files at `path` are replaced (a checkpoint being updated).
    """
    from safetensors.torch import save as st_save

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"model weights must be saved as .safetensors, got {path.name}")
    if card.config != model.config:
        raise ValueError("card.config differs from the model's config")
    state = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu")
        if half and tensor.is_floating_point():
            tensor = tensor.half()
        state[key] = tensor.contiguous()
    # One metadata entry: safetensors writes its metadata map in a random order, and a single
    # key keeps the bytes (and so the sha256) identical for identical weights.
    info = {"format_version": FORMAT_VERSION, "config": model.config.to_dict(),
            "dtype": "float16" if half else "float32"}
    blob = st_save(state, metadata={"stemdeck": json.dumps(info, sort_keys=True)})
    card = dataclasses.replace(
        card,
        format_version=FORMAT_VERSION,
        sha256=hashlib.sha256(blob).hexdigest(),
        parameters=count_parameters(model),
        created=card.created or _now_iso(),
    )
    card_path = card_path_for(path)
    temps: list[Path] = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temps.append(_atomic_write_bytes(path, blob))
        temps.append(_atomic_write_bytes(card_path, card.to_json().encode("utf-8")))
        os.replace(temps[0], path)
        os.replace(temps[1], card_path)
    except OSError as exc:
        raise StemDeckError(f"could not write model {path}: {exc.strerror or exc}") from exc
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    logger.info("saved model %s (%d parameters, %s)", path, card.parameters, info["dtype"])
    return path


def read_card(weights_path: Path) -> ModelCard:
    """Read and parse the card beside `weights_path` (no weight checks); ModelLoadError if unusable."""
    weights_path = Path(weights_path)
    card_path = card_path_for(weights_path)
    try:
        text = card_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelLoadError(f"{weights_path}: its model card {card_path.name} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{card_path}: cannot read the model card ({exc})") from exc
    try:
        return ModelCard.from_json(text)
    except ModelLoadError as exc:
        raise ModelLoadError(f"{card_path}: {exc}") from None


def _safetensors_metadata(blob: bytes) -> dict[str, str]:
    """The `__metadata__` of a safetensors blob (raises ValueError if the header is malformed)."""
    if len(blob) < 8:
        raise ValueError("file is too short")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > len(blob) - 8:
        raise ValueError("header is longer than the file")
    header = json.loads(blob[8: 8 + header_len])
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    meta = header.get("__metadata__") or {}
    return meta if isinstance(meta, dict) else {}


def load_model(path: Path | str, device: str | torch.device = "cpu") -> tuple[UnetSEBiSRU, ModelCard]:
    """Load and verify a model (float32, eval mode, on `device`). Never unpickles anything."""
    from safetensors.torch import load as st_load

    path = Path(path)
    if path.suffix == ".json":
        path = path.with_suffix(".safetensors")
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    card = read_card(path)
    if card.format_version > FORMAT_VERSION:
        raise ModelLoadError(f"{path}: made by a newer StemDeck (format {card.format_version}, "
                             f"this version reads up to {FORMAT_VERSION})")
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read the weights ({exc})") from exc
    digest = hashlib.sha256(blob).hexdigest()
    if digest != card.sha256:
        raise ModelLoadError(f"{path}: sha256 mismatch, the weights file is damaged or was changed "
                             f"(card {card.sha256[:12] or 'empty'}..., file {digest[:12]}...)")
    try:
        meta = _safetensors_metadata(blob)
        tensors = st_load(blob)
    except Exception as exc:  # safetensors raises its own error types for malformed files
        raise ModelLoadError(f"{path}: not a valid safetensors file ({exc})") from exc
    if "stemdeck" in meta:
        try:
            info = json.loads(meta["stemdeck"])
            stored = ModelConfig.from_dict(info["config"])
        except (ValueError, KeyError, TypeError, ModelLoadError) as exc:
            raise ModelLoadError(f"{path}: config stored in the weights is invalid ({exc})") from None
        if stored != card.config:
            diff = [k for k, v in stored.to_dict().items() if card.config.to_dict().get(k) != v]
            raise ModelLoadError(f"{path}: the card's config does not match the weights' config "
                                 f"(differs in: {', '.join(diff)})")
    try:
        model = UnetSEBiSRU(card.config)
    except ValueError as exc:
        raise ModelLoadError(f"{path}: cannot build the network from the card's config ({exc})") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [f"{k} {tuple(tensors[k].shape)} != {tuple(v.shape)}"
             for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f"missing tensors: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"unexpected tensors: {', '.join(unexpected[:5])}" + (" ..." if len(unexpected) > 5 else ""))
    if wrong:
        problems.append(f"wrong shapes: {'; '.join(wrong[:5])}" + (" ..." if len(wrong) > 5 else ""))
    if problems:
        raise ModelLoadError(f"{path}: weights do not fit the network in the card ({'; '.join(problems)})")
    state = {}
    for key, ref in expected.items():
        tensor = tensors[key]
        if tensor.is_floating_point():
            if not torch.isfinite(tensor).all():
                raise ModelLoadError(f"{path}: tensor {key} holds NaN or infinite values")
            tensor = tensor.to(ref.dtype)
        state[key] = tensor
    model.load_state_dict(state, strict=True)
    model.eval()
    try:
        model.to(device)
    except (RuntimeError, AssertionError) as exc:
        raise ModelLoadError(f"{path}: cannot move the model to {device} ({exc})") from exc
    logger.info("loaded model %s (%s, %d parameters)", path, card.name, card.parameters)
    return model, card
