"""Fixtures for the GUI tests: a StemDeck home with a tiny (untrained) default model, a generated
song, and the real main window on a temporary settings file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 44100


def make_song(path: Path, seconds: float = 2.0, samplerate: int = SR) -> Path:
    """A stereo test song: a bass tone, a chord and clicks, 16-bit WAV."""
    t = np.arange(int(seconds * samplerate)) / samplerate
    bass = 0.3 * np.sin(2 * np.pi * 55 * t)
    chord = 0.1 * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 554 * t))
    clicks = np.zeros_like(t)
    clicks[:: samplerate // 4] = 0.8
    left, right = bass + chord + clicks, bass + 0.7 * chord + clicks
    sf.write(path, np.stack([left, right], axis=1).astype(np.float32), samplerate, subtype="PCM_16")
    return path


def install_untrained_tiny_model(name: str, description: str) -> None:
    """Save an UNTRAINED tiny network into $STEMDECK_HOME/models as the default model.

    For tests, benchmarks and screenshots that need some model but not a trained one; its card
    says it is untrained. Shared by tests, benchmarks/bench_gui_stall.py and packaging/screenshot.py.
    """
    import torch

    from model.checkpoint import ModelCard, save_model
    from model.config import tiny_config
    from model.model_store import set_default_model, user_models_dir
    from model.network import UnetSEBiSRU

    torch.manual_seed(0)
    config = tiny_config()
    folder = user_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    save_model(UnetSEBiSRU(config), folder / f"{name}.safetensors",
               ModelCard(name=name, config=config, description=description))
    set_default_model(name)


@pytest.fixture
def stemdeck_home(tmp_path, monkeypatch) -> Path:
    """STEMDECK_HOME in tmp_path with an untrained tiny model installed as the default."""
    import torch

    home = tmp_path / "home"
    monkeypatch.setenv("STEMDECK_HOME", str(home))
    torch.set_num_threads(1)
    install_untrained_tiny_model("tiny", "untrained test model")
    return home


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    """STEMDECK_HOME in tmp_path and no bundled models: a machine with no model installed."""
    home = tmp_path / "home"
    monkeypatch.setenv("STEMDECK_HOME", str(home))
    monkeypatch.setenv("STEMDECK_BUNDLED_MODELS", str(tmp_path / "no-bundled-models"))
    return home


@pytest.fixture
def song(tmp_path) -> Path:
    return make_song(tmp_path / "song.wav")


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Factory for the real main window with settings in tmp_path/settings.ini (audio off)."""
    from app.main_window import MainWindow
    from app.settings import Settings

    windows = []

    def make(**prefs):
        settings = Settings(tmp_path / "settings.ini")
        for key, value in prefs.items():
            settings.set(key, value)
        window = MainWindow(settings, enable_audio=False)
        window.confirm_close = False
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
