"""Worker-side steps of opening and separating a song (no widgets; run inside jobs).

`load_song` resolves the model, decodes the file at the model's samplerate, hashes its content
and looks the result up in the cache. `separate_to_cache` does a whole queued song in one go.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.errors import ModelLoadError, StemDeckError

from .cache import ResultCache, cache_key, file_content_hash
from .jobs import ModelHolder
from .track import Track, merge_interval

logger = logging.getLogger(__name__)

DEFAULT_SAMPLERATE = 44100


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Files as given, folders expanded recursively to the audio files they hold (sorted; the
    engine's list of extensions, `model.audio_io.is_supported`, as the CLI)."""
    from model.audio_io import iter_supported

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(iter_supported(p))
        else:
            out.append(p)
    return out



@dataclass
class LoadResult:
    track: Track
    model: Any = None                   # model.model_store.InstalledModel or None
    model_error: str = ""
    key: str = ""
    quality: dict[str, Any] = field(default_factory=dict)
    cached: Any = None                  # app.cache.CachedResult or None



def quality_id(quality: dict[str, Any], model_name: str) -> str:
    """Identity of the settings stems were made with (different -> they are redone)."""
    return repr(sorted(quality.items())) + "|" + model_name


def describe_device(report: Any) -> str:
    """'cuda:0 (NVIDIA …)' from a DeviceReport, with the fallback reason when there was one."""
    if report is None:
        return ""
    used = getattr(report, "used", str(report))
    name = getattr(report, "name", "") or ""
    text = f"{used} ({name})" if name and name != used else str(used)
    reason = getattr(report, "reason", "")
    if getattr(report, "requested", used) not in ("auto", used) and reason:
        text += f" — {reason}"
    return text


def load_song(path: Path, model_spec: str | None, quality: dict[str, Any],
              cache: ResultCache, held: Track | None = None) -> LoadResult:
    """Worker side of opening a song: model, audio at the model's rate, cache lookup.

    `held`: the song as displayed before the settings changed; when the cache has nothing for
    the new settings, its stems are held (shown and played until new regions replace them)."""
    from model.audio_io import load_audio
    from model.model_store import resolve_model

    model, model_error = None, ""
    try:
        model = resolve_model(model_spec)
    except ModelLoadError as exc:
        model_error = str(exc)
    config = model.card.config if model is not None else None
    samplerate = config.samplerate if config else DEFAULT_SAMPLERATE
    loaded = load_audio(path, samplerate=samplerate, channels=config.audio_channels if config else 2)
    track = Track(path=Path(path), mixture=loaded.samples, samplerate=loaded.samplerate,
                  source=loaded.source, notices=list(loaded.notices),
                  sources=tuple(config.sources) if config else Track.__dataclass_fields__["sources"].default)
    key, cached = "", None
    if model is not None:
        track.content_hash = file_content_hash(path)
        key = cache_key(track.content_hash, f"{model.name}:{model.card.sha256}",
                        dict(quality, samplerate=samplerate))
        cached = cache.get(key)
        if cached is not None and cached.stems.shape != track.stems.shape:
            cached = None
        track.model_name = model.name
        track.quality_id = quality_id(quality, model.name)
    if cached is not None:  # fill the track here, in the worker: the GUI only swaps it in
        track.set_stems(cached.stems)
        track.se_activations = cached.se_activations
        track.se_times_seconds = cached.se_times_seconds
        track.device_text = str(cached.meta.get("device", ""))
        track.from_cache = True
        cached.stems = track.stems  # one copy in memory
    elif (held is not None and held.has_stems and Path(held.path) == Path(path)
          and held.stems.shape == track.stems.shape):
        coverage = held.coverage
        for a, b in held.held_coverage:
            coverage = merge_interval(coverage, a, b)
        track.hold_stems(held.stems, coverage)
    # waveform envelopes are built here too (an hour of audio takes a moment)
    from .audio.envelope import EnvelopePyramid

    track.envelopes = {"original": EnvelopePyramid.from_samples(track.mixture)}
    if cached is not None or track.held_coverage:
        for i, name in enumerate(track.sources):
            track.envelopes[name] = EnvelopePyramid.from_samples(track.stems[i])
    return LoadResult(track, model, model_error, key, quality, cached)


def load_separated(path: Path, model_spec: str | None, quality: dict[str, Any], cache: ResultCache) -> Track:
    """Worker side of exporting a song that is not on screen: the track with its stems from the
    cache. Raises StemDeckError when it was not separated with this model and quality."""
    res = load_song(path, model_spec, quality, cache)
    if res.model is None:
        raise ModelLoadError(res.model_error)
    if res.cached is None:
        raise StemDeckError("not separated with the current model and quality yet (let it finish in the queue)")
    return res.track


def separate_to_cache(path: Path, model_spec: str | None, quality: dict[str, Any], device: str,
                      cache: ResultCache, models: ModelHolder, cancel: threading.Event) -> str:
    """Worker side of a queued (not displayed) song: separate it whole into the cache."""
    import torch

    from model.separate import Separator
    from model.separation_settings import SeparationSettings

    from .jobs import torch_threads_for_playback

    res = load_song(path, model_spec, quality, cache)
    if res.model is None:
        raise ModelLoadError(res.model_error)
    if res.cached is not None:
        return "from cache"
    torch.set_num_threads(torch_threads_for_playback())
    model = models.get(res.model.weights_path)
    separator = Separator(model, device=device, settings=SeparationSettings(**quality))
    result = separator.separate(res.track.mixture, cancel=cancel, collect_se=True)
    cache.put(res.key, result.stems, tuple(result.sources), result.samplerate,
              {"path": str(path), "model": res.model.name, "device": describe_device(result.device)},
              result.se_activations, getattr(result, "se_times_seconds", None))
    return describe_device(result.device)
