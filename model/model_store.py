"""Where models live, which one is the default, and turning a name or path into a model file.

Two folders are searched, each holding NAME.safetensors + NAME.json pairs:

- bundled: `resources/models` (`model.resources.resource_path`: next to this package, or inside a frozen app
  under the bundle's data folder);
- user: `user_models_dir()` = `<home>/models`, where `<home>` is `$STEMDECK_HOME`, else
  `$XDG_DATA_HOME/stemdeck`, else `~/.local/share/stemdeck`.

A user model with the same name as a bundled one takes its place. The default model's name is
kept in `<home>/default_model.json` so the CLI and the GUI agree.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .atomic_file import atomic_write_text, temp_path_beside
from .checkpoint import ModelCard, card_path_for, load_model, read_card
from .errors import ModelLoadError, StemDeckError

logger = logging.getLogger(__name__)

NO_MODEL_HELP = ("train one with `stemdeck train`, or pass --model PATH to a .safetensors file "
                 "that has its .json model card beside it")


@dataclass(frozen=True)
class InstalledModel:
    """A model found on disk. `location` is "bundled", "user" or "path" (given explicitly)."""

    name: str
    weights_path: Path
    card: ModelCard
    location: str = "user"


def stemdeck_home() -> Path:
    """StemDeck's data folder (models, default-model choice)."""
    env = os.environ.get("STEMDECK_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "stemdeck"


def user_models_dir() -> Path:
    return stemdeck_home() / "models"


def bundled_models_dir() -> Path:
    """Models shipped with the program: resources/models, or $STEMDECK_BUNDLED_MODELS when set
    (a packager's system-wide folder; tests point it at an empty one)."""
    env = os.environ.get("STEMDECK_BUNDLED_MODELS")
    if env:
        return Path(env)
    from .resources import resource_path

    return resource_path("models")


def _default_file() -> Path:
    return stemdeck_home() / "default_model.json"


def _scan(folder: Path, location: str) -> list[InstalledModel]:
    found = []
    if not folder.is_dir():
        return found
    for weights in sorted(folder.glob("*.safetensors")):
        try:
            card = read_card(weights)
        except ModelLoadError as exc:
            logger.warning("ignoring %s: %s", weights, exc)
            continue
        found.append(InstalledModel(weights.stem, weights, card, location))
    return found


def installed_models() -> list[InstalledModel]:
    """Bundled and user models, sorted by name; a user model shadows a bundled one of the same name.

    Only the cards are read here (cheap); `load_model` verifies the weights.
    """
    by_name: dict[str, InstalledModel] = {}
    for model in _scan(bundled_models_dir(), "bundled") + _scan(user_models_dir(), "user"):
        if model.name in by_name:
            logger.info("user model %s shadows the bundled one", model.name)
        by_name[model.name] = model
    return [by_name[name] for name in sorted(by_name)]


def default_model_name() -> str | None:
    """The chosen default if still installed, else the first bundled, else the first user model."""
    models = installed_models()
    names = {m.name for m in models}
    try:
        chosen = json.loads(_default_file().read_text(encoding="utf-8")).get("default_model")
    except (OSError, ValueError, AttributeError):
        chosen = None
    if chosen in names:
        return chosen
    if chosen:
        logger.warning("default model %r is no longer installed", chosen)
    ordered = sorted(models, key=lambda m: (m.location != "bundled", m.name))
    return ordered[0].name if ordered else None


def _write_json_atomic(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def set_default_model(name: str) -> None:
    """Remember `name` (an installed model) as the default for the CLI and the GUI."""
    names = [m.name for m in installed_models()]
    if name not in names:
        raise ModelLoadError(f"cannot make {name!r} the default: no such model is installed "
                             f"(installed: {', '.join(names) or 'none'})")
    try:
        _write_json_atomic(_default_file(), {"default_model": name})
    except OSError as exc:
        raise StemDeckError(f"could not write {_default_file()}: {exc}") from exc


def _looks_like_path(spec: str) -> bool:
    return (os.sep in spec or "/" in spec or spec.endswith((".safetensors", ".json"))
            or Path(spec).exists())


def resolve_model(spec: str | os.PathLike | None) -> InstalledModel:
    """An installed model's name, a path to NAME.safetensors (or its .json), or None = the default."""
    if spec is None:
        name = default_model_name()
        if name is None:
            raise ModelLoadError(f"no model is installed: {NO_MODEL_HELP}")
        spec = name
    spec_str = os.fspath(spec)
    if isinstance(spec, os.PathLike) or _looks_like_path(spec_str):
        weights = Path(spec_str).expanduser()
        if weights.suffix == ".json":
            weights = weights.with_suffix(".safetensors")
        if not weights.is_file():
            raise ModelLoadError(f"{weights}: model file not found")
        return InstalledModel(weights.stem, weights, read_card(weights), "path")
    for model in installed_models():
        if model.name == spec_str:
            return model
    names = [m.name for m in installed_models()]
    if not names:
        raise ModelLoadError(f"no model named {spec_str!r}; no model is installed: {NO_MODEL_HELP}")
    raise ModelLoadError(f"no model named {spec_str!r} is installed (installed: {', '.join(names)})")


def install_model(weights_path: Path | str, overwrite: bool = False) -> InstalledModel:
    """Verify a model (full load) and copy it with its card into `user_models_dir()`.

    Installing the identical file again is a no-op; a different model under the same name is
    refused unless `overwrite=True`.
    """
    weights_path = Path(weights_path)
    if weights_path.suffix == ".json":
        weights_path = weights_path.with_suffix(".safetensors")
    _, card = load_model(weights_path)  # raises ModelLoadError with the reason
    target_dir = user_models_dir()
    target = target_dir / weights_path.name
    if target.exists() and target.resolve() != weights_path.resolve():
        try:
            same = read_card(target).sha256 == card.sha256
        except ModelLoadError:
            same = False
        if same:
            return InstalledModel(target.stem, target, read_card(target), "user")
        if not overwrite:
            raise ModelLoadError(f"{target}: a different model named {target.stem!r} is already "
                                 "installed; remove it or rename the new one")
    elif target.exists():
        return InstalledModel(target.stem, target, card, "user")
    temps: list[Path] = []
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        for src, dst in ((weights_path, target), (card_path_for(weights_path), card_path_for(target))):
            temps.append(temp_path_beside(dst))
            shutil.copyfile(src, temps[-1])
        os.replace(temps[0], target)
        os.replace(temps[1], card_path_for(target))
    except OSError as exc:
        raise StemDeckError(f"could not install {weights_path} into {target_dir}: {exc}") from exc
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    logger.info("installed model %s into %s", target.stem, target_dir)
    return InstalledModel(target.stem, target, read_card(target), "user")
