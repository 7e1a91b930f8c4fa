"""`stemdeck info`: versions, the compute devices torch sees, and the installed models.

Meant to be pasted into a bug report: every line is plain text, and a library that is missing or
broken is reported as such instead of failing the command.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys

from model import __version__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-models", action="store_true", help="skip the installed-model list")


def _version(module: str, attribute: str = "__version__") -> str:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - report, don't fail
        return f"not available ({type(exc).__name__}: {exc})"
    return str(getattr(mod, attribute, "unknown version"))


def version_lines() -> list[tuple[str, str]]:
    """(label, value) pairs for StemDeck and every library it relies on."""
    import torch

    lines = [
        ("StemDeck", __version__),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("platform", platform.platform()),
        ("torch", torch.__version__),
    ]
    if torch.cuda.is_available():
        lines.append(("CUDA", f"available, runtime {torch.version.cuda}, {torch.cuda.device_count()} device(s)"))
    else:
        built = torch.version.cuda
        lines.append(("CUDA", "not available" + (f" (torch built for CUDA {built})" if built else " (CPU-only torch)")))
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    lines.append(("MPS", "available" if mps_ok else "not available"))
    lines.append(("numpy", _version("numpy")))
    sf_version = _version("soundfile")
    libsndfile = _version("soundfile", "__libsndfile_version__")
    lines.append(("soundfile", f"{sf_version} (libsndfile {libsndfile})"))
    lines.append(("soxr", _version("soxr")))
    av_version = _version("av")
    ffmpeg = "unknown"
    try:
        import av

        libs = getattr(av, "library_versions", {}) or {}
        if "libavformat" in libs:
            ffmpeg = "libavformat " + ".".join(str(x) for x in libs["libavformat"])
        ffmpeg_version = getattr(av, "ffmpeg_version_info", None)
        if ffmpeg_version:
            ffmpeg = f"FFmpeg {ffmpeg_version}"
    except Exception:  # noqa: BLE001
        pass
    lines.append(("PyAV", f"{av_version} ({ffmpeg})"))
    lines.append(("safetensors", _version("safetensors")))
    return lines


def _model_lines() -> list[str]:
    try:
        from model import model_store
    except ImportError as exc:
        return [f"  (model store not available: {exc})"]
    models = model_store.installed_models()
    if not models:
        return ["  none installed. Add one with a trained .safetensors model "
                f"in {model_store.user_models_dir()} (see README: Models)"]
    try:
        default = model_store.default_model_name()
    except Exception:  # noqa: BLE001 - a broken settings file must not hide the list
        default = None
    out = []
    for item in models:
        card = item.card
        cfg = card.config
        mark = " (default)" if item.name == default else ""
        facts = [f"{card.parameters:,} parameters", f"channels {cfg.channels}", f"depth {cfg.depth}",
                 f"rnn {cfg.rnn}", f"{cfg.samplerate} Hz", "/".join(cfg.sources)]
        out.append(f"  {item.name}{mark}: " + ", ".join(facts))
        out.append(f"      file: {item.weights_path}")
        if card.description:
            out.append(f"      {card.description}")
        out.extend(f"      {line}" for line in _metric_lines(card.metrics))
        steps = card.training.get("steps") if isinstance(card.training, dict) else None
        if steps is not None or card.created:
            out.append(f"      created {card.created}" + (f", {steps} training steps" if steps is not None else ""))
    return out


def run(args: argparse.Namespace) -> int:
    from model.devices import format_memory, list_devices

    for label, value in version_lines():
        print(f"{label + ':':<13}{value}")
    print("devices:")
    for dev in list_devices():
        print(f"  {dev.id:<8} {dev.name}, {format_memory(dev.memory_bytes)}")
    if not args.no_models:
        print("models:")
        for line in _model_lines():
            print(line)
    return 0


def _metric_lines(metrics: dict) -> list[str]:
    """One line per measurement in a card: plain numbers, and per-stem SDR of each evaluation.

    Evaluations (cards made by packaging/bundle_model.py) hold `medians[method][stem]["sdr"]`;
    validation records hold `sdr[stem]`. Anything else (notes, per-song rows) stays in the card.
    """
    lines = []
    plain = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    if plain:
        lines.append("metrics: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(plain.items())))
    for label, value in sorted(metrics.items()):
        if not isinstance(value, dict):
            continue
        per_stem = value.get("medians", {}).get("model") or value.get("sdr")
        if not isinstance(per_stem, dict):
            continue
        sdr = {stem: (v.get("sdr") if isinstance(v, dict) else v) for stem, v in per_stem.items()}
        text = ", ".join(f"{stem} {v:.2f}" for stem, v in sdr.items() if isinstance(v, (int, float)))
        if text:
            lines.append(f"SDR dB ({label}): {text}")
    return lines
