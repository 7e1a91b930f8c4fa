"""Model store: folders from STEMDECK_HOME, installing, the persisted default, name/path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model import model_store
from model.checkpoint import ModelCard, load_model, save_model
from model.config import tiny_config
from model.errors import ModelLoadError
from model.model_store import (
    default_model_name,
    install_model,
    installed_models,
    resolve_model,
    set_default_model,
    user_models_dir,
)
from model.network import UnetSEBiSRU

torch.set_num_threads(1)


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    """An empty StemDeck home and an empty bundled folder (whatever the repo ships)."""
    monkeypatch.setenv("STEMDECK_HOME", str(tmp_path / "home"))
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    monkeypatch.setattr(model_store, "bundled_models_dir", lambda: bundled)
    return tmp_path


def _make(folder: Path, name: str, channels: int = 4) -> Path:
    torch.manual_seed(channels)
    model = UnetSEBiSRU(tiny_config(channels=channels))
    return save_model(model, folder / f"{name}.safetensors", ModelCard(name=name, config=model.config))


def test_user_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMDECK_HOME", str(tmp_path / "sd"))
    assert user_models_dir() == tmp_path / "sd" / "models"
    monkeypatch.delenv("STEMDECK_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_models_dir() == tmp_path / "xdg" / "stemdeck" / "models"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert user_models_dir() == tmp_path / "h" / ".local" / "share" / "stemdeck" / "models"


def test_bundled_dir_is_the_repos_resources_folder():
    expected = Path(__file__).resolve().parents[1] / "resources" / "models"
    assert model_store.bundled_models_dir() == expected


def test_nothing_installed_gives_a_helpful_error(home):
    assert installed_models() == []
    assert default_model_name() is None
    with pytest.raises(ModelLoadError, match=r"no model is installed: .*stemdeck train.*--model PATH"):
        resolve_model(None)


def test_install_then_resolve_by_name_and_default(home):
    src = _make(home / "elsewhere", "mine")
    installed = install_model(src)
    assert installed.weights_path == user_models_dir() / "mine.safetensors"
    assert (user_models_dir() / "mine.json").is_file()
    assert [m.name for m in installed_models()] == ["mine"]
    assert resolve_model("mine").weights_path == installed.weights_path
    assert resolve_model(None).name == "mine"  # the only one is the default
    load_model(resolve_model(None).weights_path)  # the installed copy verifies


def test_default_is_persisted_and_shared(home):
    install_model(_make(home / "src", "alpha"))
    install_model(_make(home / "src", "beta", channels=6))
    assert default_model_name() == "alpha"
    set_default_model("beta")
    assert (home / "home" / "default_model.json").is_file()
    assert default_model_name() == "beta"
    assert resolve_model(None).name == "beta"
    with pytest.raises(ModelLoadError, match="'gamma'.*installed: alpha, beta"):
        set_default_model("gamma")


def test_default_falls_back_when_its_model_is_removed(home):
    install_model(_make(home / "src", "alpha"))
    beta = install_model(_make(home / "src", "beta", channels=6))
    set_default_model("beta")
    beta.weights_path.unlink()
    assert default_model_name() == "alpha"


def test_bundled_models_are_listed_and_preferred_as_default(home):
    _make(home / "bundled", "shipped")
    install_model(_make(home / "src", "aaa-user"))
    models = {m.name: m for m in installed_models()}
    assert models["shipped"].location == "bundled" and models["aaa-user"].location == "user"
    assert default_model_name() == "shipped"


def test_resolve_by_path(home):
    path = _make(home / "loose", "loose")
    assert resolve_model(str(path)).weights_path == path
    assert resolve_model(path.with_suffix(".json")).weights_path == path
    with pytest.raises(ModelLoadError, match="not found"):
        resolve_model(str(home / "missing.safetensors"))


def test_unknown_name_lists_installed(home):
    install_model(_make(home / "src", "alpha"))
    with pytest.raises(ModelLoadError, match="no model named 'nope' is installed.*alpha"):
        resolve_model("nope")


def test_installing_a_broken_model_is_refused_and_leaves_nothing(home):
    path = _make(home / "src", "broken")
    path.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="broken.safetensors"):
        install_model(path)
    assert not user_models_dir().exists() or list(user_models_dir().iterdir()) == []


def test_installing_a_different_model_under_a_taken_name_needs_overwrite(home):
    install_model(_make(home / "a", "same", channels=4))
    other = _make(home / "b", "same", channels=6)
    install_model(_make(home / "a", "same", channels=4))  # identical again: fine
    with pytest.raises(ModelLoadError, match="already installed"):
        install_model(other)
    assert resolve_model("same").card.config.channels == 4
    install_model(other, overwrite=True)
    assert resolve_model("same").card.config.channels == 6


def test_a_model_with_a_broken_card_is_skipped_not_fatal(home):
    install_model(_make(home / "src", "good"))
    (user_models_dir() / "bad.safetensors").write_bytes(b"x")
    (user_models_dir() / "bad.json").write_text("{")
    assert [m.name for m in installed_models()] == ["good"]
