"""Importing Demucs checkpoints: safety of the reader, refusals, and equivalence with the
reference implementation (the `demucs` package from PyPI, installed without its dependencies by
packaging/bootstrap.sh; see the `reference` extra). Every checkpoint here is made in the test
from random weights; nothing is downloaded.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from model.cli import main
from model.demucs_import import convert, default_name, import_demucs
from model.errors import ModelLoadError

SOURCES = ["drums", "bass", "other", "vocals"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("stemdeck_home")
    monkeypatch.setenv("STEMDECK_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    monkeypatch.setenv("STEMDECK_BUNDLED_MODELS", str(home / "no-bundled"))
    yield home


def _installed(home: Path) -> list[str]:
    folder = home / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# ------------------------------------------------------------------------------------------
# official-format files made with demucs's own code
# ------------------------------------------------------------------------------------------
demucs_pkg = pytest.importorskip("demucs", reason="the reference `demucs` package is not installed "
                                 "(pip install --no-deps demucs julius einops)")
from demucs.apply import apply_model  # noqa: E402
from demucs.demucs import Demucs  # noqa: E402
from demucs.states import get_state  # noqa: E402

#: two waveform configurations the official class can build and StemDeck can express:
#: "v2" = the v2 release's arrangement (2-layer BiLSTM, no input normalisation, unpadded decoder
#: context; depth 6, stride 4, kernel 8) at 8 channels instead of 64 to stay fast on a CPU;
#: "48" = demucs48_hq-like (48 channels) at depth 4, with input normalisation and the v3 class's
#: padded context conv.
CONFIGS = {
    "v2": dict(channels=8, depth=6, lstm_layers=2, context=0, normalize=False),
    "48": dict(channels=48, depth=4, lstm_layers=2, context=1, normalize=True),
}
EXPRESSIBLE = dict(dconv_mode=0, gelu=False, norm_starts=99, glu=True, rewrite=True)


def official_model(kind: str, seed: int = 0) -> Demucs:
    torch.manual_seed(seed)
    model = Demucs(sources=SOURCES, **EXPRESSIBLE, **CONFIGS[kind])
    # random biases too (Demucs' init makes them small): every tensor's mapping then matters
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model.eval()


def save_package(model: Demucs, path: Path, half: bool = False) -> Path:
    """The package format demucs.states.load_model reads ({klass, args, kwargs, state}), with the
    state from demucs.states.get_state (serialize_model itself needs omegaconf for training_args)."""
    args, kwargs = model._init_args_kwargs
    torch.save({"klass": model.__class__, "args": args, "kwargs": kwargs,
                "state": get_state(model, None, half)}, path)
    return path


def save_v2_state(model: Demucs, path: Path) -> Path:
    """A bare state dict in the v2 release's layout (encoder.i.2 / decoder.i.2: demucs's own
    Demucs.load_state_dict maps these 'previous generation' names to .3)."""
    state = {}
    for key, value in model.state_dict().items():
        parts = key.split(".")
        if parts[0] in ("encoder", "decoder") and parts[2] == "3":
            parts[2] = "2"
        state[".".join(parts)] = value.clone()
    torch.save(state, path)
    return path


def test_reference_loader_reads_our_test_files(tmp_path):
    """The files made here are what demucs itself loads (both layouts)."""
    from demucs.states import load_model

    model = official_model("48")
    loaded = load_model(str(save_package(model, tmp_path / "m.th")))
    x = torch.randn(1, 2, 20000)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    v2 = official_model("v2")
    fresh = Demucs(sources=SOURCES, **EXPRESSIBLE, **CONFIGS["v2"])
    fresh.load_state_dict(torch.load(save_v2_state(v2, tmp_path / "v2.th")))
    with torch.no_grad():
        assert torch.equal(fresh(x), v2(x))


@pytest.mark.parametrize("kind,layout", [("v2", "v2 state dict"), ("48", "v3/v4 package"),
                                         ("48", "v3/v4 package half")])
def test_converted_network_matches_official(tmp_path, kind, layout):
    from model.demucs_import import build_model

    official = official_model(kind)
    if layout == "v2 state dict":
        path = save_v2_state(official, tmp_path / "demucs-0123abcd.th")
    else:
        half = layout.endswith("half")
        path = save_package(official, tmp_path / "model.th", half=half)
        if half:  # the reference runs the weights as stored
            official.load_state_dict({k: v.float() for k, v in torch.load(path, weights_only=False)["state"].items()})
    converted = convert(path)
    assert converted.layout == layout.removesuffix(" half")
    net = build_model(converted)
    torch.manual_seed(1)
    for length in (44100 * 3, 100_003):
        x = torch.randn(1, 2, length) * 0.3
        with torch.no_grad():
            want, got = official(x), net(x)
        assert got.shape == want.shape == (1, 4, 2, length)
        assert want.abs().max() > 0.05  # a real signal, not all zeros
        assert (got - want).abs().max().item() < 1e-4


def _sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    return 10 * np.log10(np.sum(reference ** 2) / max(np.sum((reference - estimate) ** 2), 1e-30))


@pytest.mark.parametrize("kind", ["v2", "48"])
def test_separate_matches_apply_model(tmp_path, kind):
    """StemDeck's separate() vs demucs.apply.apply_model on 10 s, shifts=0, same segment and
    overlap. Both average windows with the same triangular weight; the one difference is the grid's
    end: Demucs adds windows at offsets 0, stride, 2 stride, ... while < length, the last ones cut
    short by the track end; StemDeck pulls its last window back to end at the track end. Up to the
    start of Demucs' first cut-short window the windows and weights are identical."""
    from model.demucs_import import build_model
    from model.separate import separate

    official = official_model(kind)
    net = build_model(convert(save_package(official, tmp_path / "m.th")))
    rate, segment, overlap = 44100, 4.0, 0.25
    rng = np.random.default_rng(3)
    mix = (0.3 * rng.standard_normal((2, 10 * rate))).astype(np.float32)
    with torch.no_grad():
        want = apply_model(official, torch.from_numpy(mix)[None], shifts=0, split=True,
                           overlap=overlap, segment=segment)[0].numpy()
    got = separate(mix, net, device="cpu", shifts=1, overlap=overlap, segment_seconds=segment,
                   threads=1).stems
    seg = int(segment * rate)
    stride = int((1 - overlap) * seg)
    same_until = next(o for o in range(0, mix.shape[1], stride) if o + seg > mix.shape[1])  # 9 s
    assert _sdr(want[..., :same_until], got[..., :same_until]) >= 60
    whole = _sdr(want, got)
    print(f"{kind}: SDR vs apply_model, first {same_until / rate:.1f} s: "
          f"{_sdr(want[..., :same_until], got[..., :same_until]):.1f} dB; whole 10 s: {whole:.1f} dB")
    # the tail differs only by the window layout explained above
    assert whole >= 20


# ------------------------------------------------------------------------------------------
# refusals: one line naming the file, nothing installed
# ------------------------------------------------------------------------------------------
def _import_fails(path: Path, home: Path, capsys, *words: str) -> str:
    code = main(["import-demucs", str(path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(path) in err
    for word in words:
        assert word in err, err
    assert not [n for n in _installed(home) if not n.startswith(".")]
    assert not list(home.glob(".import-*"))  # no temp folder left behind
    return err


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("legacy", [False, True])
def test_pickle_that_runs_code_is_refused_without_running(tmp_path, _isolated_home, capsys, legacy):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.th"
    state = {"encoder.0.0.weight": torch.zeros(1), "x": _RunsCode(marker)}
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    _import_fails(path, _isolated_home, capsys, "refused", "system")
    assert not marker.exists()


def test_truncated_and_foreign_files_are_refused(tmp_path, _isolated_home, capsys):
    good = save_package(official_model("v2"), tmp_path / "good.th")
    blob = good.read_bytes()
    for i, size in enumerate((len(blob) // 2, 200, 0)):
        cut = tmp_path / f"cut{i}.th"
        cut.write_bytes(blob[:size])
        _import_fails(cut, _isolated_home, capsys, "cannot", "nothing")
    text = tmp_path / "notes.th"
    text.write_text("not a checkpoint\n")
    _import_fails(text, _isolated_home, capsys)
    plain = tmp_path / "tensor.th"
    torch.save(torch.zeros(3), plain)
    _import_fails(plain, _isolated_home, capsys, "not a Demucs checkpoint")
    _import_fails(tmp_path / "missing.th", _isolated_home, capsys, "not found")


def test_hybrid_transformer_and_dconv_models_are_refused(tmp_path, _isolated_home, capsys):
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    hybrid = HDemucs(sources=SOURCES, channels=4, depth=2)
    _import_fails(save_package(hybrid, tmp_path / "hdemucs.th"), _isolated_home, capsys, "hybrid")
    args, kwargs = (), {"sources": SOURCES, "channels": 4}
    torch.save({"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": {}}, tmp_path / "ht.th")
    _import_fails(tmp_path / "ht.th", _isolated_home, capsys, "transformer")
    dconv = Demucs(sources=SOURCES, channels=4, depth=2)  # the class defaults: DConv branches
    _import_fails(save_package(dconv, tmp_path / "mdx.th"), _isolated_home, capsys, "DConv")
    quantized = {"klass": Demucs, "args": (), "kwargs": {"sources": SOURCES},
                 "state": {"__quantized": True, "quantized": [], "packed": []}}
    torch.save(quantized, tmp_path / "q.th")
    _import_fails(tmp_path / "q.th", _isolated_home, capsys, "quantized")


def test_v2_package_class_is_read_with_v2_settings(tmp_path, monkeypatch):
    """A package naming the v2 class (demucs.model.Demucs, absent from demucs 4) is read with the
    v2 constructor defaults (context 3 unpadded, no normalisation)."""
    module = types.ModuleType("demucs.model")

    class Demucs2:  # stands in for demucs 2.x's class when writing the file
        pass

    Demucs2.__module__, Demucs2.__qualname__, Demucs2.__name__ = "demucs.model", "Demucs", "Demucs"
    module.Demucs = Demucs2
    monkeypatch.setitem(sys.modules, "demucs.model", module)
    v2 = official_model("v2")
    state = torch.load(save_v2_state(v2, tmp_path / "s.th"))
    torch.save({"klass": Demucs2, "args": (), "kwargs": {"sources": SOURCES, "channels": 8, "depth": 6,
                "context": 1}, "state": state}, tmp_path / "v2pkg.th")
    monkeypatch.delitem(sys.modules, "demucs.model")
    converted = convert(tmp_path / "v2pkg.th")
    assert converted.layout == "v2 package"
    assert not converted.config.pad_context and converted.config.context == 1
    assert not converted.config.normalize and converted.config.rnn == "lstm"


# ------------------------------------------------------------------------------------------
# installing
# ------------------------------------------------------------------------------------------
def test_cli_installs_a_usable_model_with_its_provenance(tmp_path, _isolated_home, capsys):
    from model.checkpoint import load_model
    from model.demucs_import import sha256_of
    from model.model_store import resolve_model

    path = save_v2_state(official_model("v2"), tmp_path / "demucs_unittest-09ebc15f.th")
    assert main(["import-demucs", str(path)]) == 0
    out = capsys.readouterr().out
    assert "installed demucs_unittest" in out
    assert _installed(_isolated_home) == ["demucs_unittest.json", "demucs_unittest.safetensors"]
    model = resolve_model("demucs_unittest")
    training = model.card.training
    assert training["source_sha256"] == sha256_of(path)
    assert training["source_file"] == path.name
    assert "MIT License" in training["licence"]
    net, card = load_model(model.weights_path)
    assert card.config.attention == "none" and card.config.resample_filter == "demucs"
    # a different model under the same name is refused, the same file again is a no-op
    other = save_v2_state(official_model("v2", seed=5), tmp_path / "demucs_unittest-aaaaaaaa.th")
    _ = main(["import-demucs", str(other)])
    assert "already installed" in capsys.readouterr().err
    assert main(["import-demucs", str(path)]) == 0
    assert main(["import-demucs", str(other), "--name", "second"]) == 0
    assert {"second.safetensors", "demucs_unittest.safetensors"} <= set(_installed(_isolated_home))


def test_default_name_drops_the_release_hash():
    assert default_name(Path("demucs48_hq-28a1282c.th")) == "demucs48_hq"
    assert default_name(Path("/x/my model.th")) == "my_model"
    with pytest.raises(ModelLoadError, match="not a usable model name"):
        import_demucs(Path(__file__), name="../evil")


@pytest.mark.gui
def test_the_app_imports_a_demucs_file_and_lists_it(qtbot, tmp_path, _isolated_home):
    """Separation ▸ Install or import a model… with a .th file: converted, installed, in the picker."""
    from app.main_window import MainWindow
    from app.settings import Settings

    th = save_v2_state(official_model("v2"), tmp_path / "demucs-e07c671f.th")
    window = MainWindow(Settings(tmp_path / "settings.ini"), enable_audio=False)
    window.confirm_close = False
    qtbot.addWidget(window)
    window.install_model_file(th)
    qtbot.waitUntil(lambda: "Installed model demucs" in window.statusBar().currentMessage(), timeout=60_000)
    assert "demucs.safetensors" in _installed(_isolated_home)
    qtbot.waitUntil(lambda: any("demucs" in window.model_picker.itemText(i)
                                for i in range(window.model_picker.count())), timeout=20_000)
    # a file that is not a checkpoint: one message naming it, nothing installed
    bad = tmp_path / "notes.th"
    bad.write_text("not a checkpoint")
    with qtbot.waitSignal(window.error_shown, timeout=20_000):
        window.install_model_file(bad)
    assert "notes.th" in window.banner.text()
    assert _installed(_isolated_home) == ["demucs.json", "demucs.safetensors"]
    window.close()
