"""Turn a finished `stemdeck train` run into the bundled model in resources/models/.

    python packaging/bundle_model.py --weights RUN/NAME.safetensors --corpus CORPUS/manifest.json \
        --eval real_excerpts=REPORT.json --eval synthetic_test=REPORT2.json [--note "..."]

Stores the weights in float16 (half the size; load_model returns float32) with a model card that
carries: the run's own training record, the corpus it was trained on (songs and hours per split,
generator version and seed, every sound source with its licence), and the evaluation reports
written by `stemdeck evaluate --baselines` (per-stem medians of the model and of the baselines
measured in the same run). Nothing is typed in by hand except the optional listening notes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.checkpoint import load_model, save_model  # noqa: E402


def corpus_summary(manifest_path: Path) -> dict:
    """What the card says about the training corpus, read from its manifest.json."""
    m = json.loads(manifest_path.read_text(encoding="utf-8"))
    genres: dict[str, int] = {}
    vocal_engines: dict[str, int] = {}
    for song in m.get("songs", []):
        genres[song.get("genre", "?")] = genres.get(song.get("genre", "?"), 0) + 1
        for part in song.get("parts", []):
            if part.get("stem") == "vocals":
                vocal_engines[part.get("engine", "?")] = vocal_engines.get(part.get("engine", "?"), 0) + 1
    return {
        "generator": f"{m.get('generator')} v{m.get('generator_version')}",
        "command": m.get("command"),
        "seed": m.get("seed"),
        "samplerate": m.get("samplerate"),
        "splits": m.get("splits"),
        "genres": genres,
        "vocal_parts_by_engine": vocal_engines,
        "soundfonts": m.get("soundfonts"),
        "real_recordings": [{"name": r.get("name"), "licence": r.get("licence")}
                            for r in m.get("real_recordings", [])],
        "voice_sources": [{"name": v.get("name"), "licence": v.get("licence")}
                          for v in m.get("voice_sources", [])],
        "licences_note": m.get("licences_note"),
    }


def evaluation_summary(report_path: Path) -> dict:
    """Per-stem medians (framewise SDR and whole-track SDR) for the model and each baseline."""
    r = json.loads(report_path.read_text(encoding="utf-8"))
    medians = {
        method: {stem: {k: (round(v, 2) if isinstance(v, (int, float)) else v)
                        for k, v in values.items() if v is not None}
                 for stem, values in per_stem.items()}
        for method, per_stem in r["medians"].items()
    }
    model_sdr = [v["sdr"] for v in medians.get("model", {}).values() if "sdr" in v]
    return {
        "data": r["data"]["root"],
        "songs": r["data"].get("test_songs"),
        "settings": r["settings"],
        "medians": medians,
        "mean_sdr_over_stems": round(sum(model_sdr) / len(model_sdr), 2) if model_sdr else None,
        "per_song": [row for row in r["rows"] if row["method"] == "model"],
        "where_true_stems_went": (r.get("leakage") or {}).get("median"),
    }


def _steps_of_lineage(training: dict) -> list[int]:
    """Steps kept from each run of a lineage, oldest first: a card's training record names the
    run it continued under "base" (recursively), and each run contributes its best step."""
    earlier = _steps_of_lineage(training["base"].get("training", {})) if "base" in training else []
    return earlier + [int(training.get("best_step") or training.get("steps") or 0)]


def _corpus_words(corpus: dict) -> str:
    """What sang and played in the corpus, from its manifest (never typed by hand)."""
    engines = corpus.get("vocal_parts_by_engine") or {}
    voices = {"fluidsynth": "General MIDI voice patches", "world": "re-pitched real voices",
              "formant": "formant-synthesised voices"}
    sung = [voices.get(e, e) for e in sorted(engines, key=lambda e: -engines[e])]
    played = "MIDI-played sampled instruments"
    if corpus.get("real_recordings"):
        played += " and recorded guitars"
    return f"{played}; vocals by {', '.join(sung)}" if sung else played


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, required=True, help="the run's NAME.safetensors")
    ap.add_argument("--corpus", type=Path, required=True, help="the corpus manifest.json")
    ap.add_argument("--eval", action="append", default=[], metavar="LABEL=REPORT.json")
    ap.add_argument("--note", action="append", default=[], help="listening notes (free text)")
    ap.add_argument("--base-card", type=Path, help="card (.json) of the model the run fine-tuned: "
                    "its training record is kept in the new card as the lineage")
    ap.add_argument("--name", help="bundled model name (default: the run's)")
    ap.add_argument("--out", type=Path, default=ROOT / "resources" / "models")
    args = ap.parse_args(argv)

    model, card = load_model(args.weights)
    name = args.name or card.name
    training = dict(card.training)
    # the run's own counters stay under run_*; "steps" is what the shipped weights went through
    training["run_steps"] = training.pop("steps", None)
    training["run_steps_planned"] = training.pop("steps_planned", None)
    training["corpus"] = corpus_summary(args.corpus)
    metrics = {"validation": card.metrics.get("validation")}
    for item in args.eval:
        label, _, path = item.partition("=")
        metrics[label] = evaluation_summary(Path(path))
    if args.note:
        metrics["listening_notes"] = args.note
    stages = _steps_of_lineage(card.training)
    how = f"trained from scratch for {stages[0]} steps"
    if args.base_card is not None:
        base = json.loads(args.base_card.read_text(encoding="utf-8"))
        base_training = {k: v for k, v in base.get("training", {}).items() if k not in ("corpus", "history")}
        training["base"] = {"name": base.get("name"), "sha256": base.get("sha256"), "training": base_training}
        stages = _steps_of_lineage(training)
        more = " and ".join(str(n) for n in stages[1:])
        how = (f"trained from scratch for {stages[0]} steps, then continued for {more} more "
               f"({sum(stages)} in all),")
    training["steps"] = sum(stages)
    training["steps_by_stage"] = stages
    resample = "internal x2 resampling" if model.config.resample else "no internal resampling"
    description = (
        f"Unet-SE-BiSRU starter model (channels {model.config.channels}, depth {model.config.depth}, "
        f"{resample}), {how} with `stemdeck train` on a synthetic "
        f"multitrack corpus rendered by model/corpus ({_corpus_words(training['corpus'])}; no MUSDB audio). "
        f"Trained on CPU only; see metrics for what it reaches.")
    new_card = dataclasses.replace(card, name=name, description=description, training=training,
                                   metrics=metrics)
    target = args.out / f"{name}.safetensors"
    save_model(model, target, new_card, half=True)
    print(f"wrote {target} ({target.stat().st_size / 2**20:.1f} MiB) and its card")
    return 0


if __name__ == "__main__":
    sys.exit(main())
