"""`stemdeck evaluate --model M --data DIR`: SDR of a model per song and stem, with baselines.

Prints a table; `--out FILE` writes FILE.json and FILE.csv. `--pseudo-reference spleeter` scores
real songs that have no stems (files, folders of files, or dataset folders' mixtures) against
pretrained Spleeter 2-stem's vocals and accompaniment (model/evaluate_pseudo.py). `--full` adds ISR/SIR/SAR via the
optional museval package (slow: about 0.6 s per second of audio); `--baselines` adds the
mixture, scaled-mixture and oracle-mask rows measured in the same run.
"""

from __future__ import annotations

import argparse
import logging
import sys

from model.separation_settings import DEFAULT_SETTINGS

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="MODEL", help="installed model name or .safetensors path "
                        "(default: the default model)")
    parser.add_argument("--compare", metavar="MODEL2", help="also evaluate this model on the same songs "
                        "and settings: one report with a row per model (e.g. an imported Demucs model "
                        "against your own, the paper's Table 4.1 on your data)")
    parser.add_argument("--bag", metavar="MODEL2", action="append",
                        help="evaluate the average of --model's and MODEL2's stems, as one model "
                             "(repeat for a larger bag; model/bag.py)")
    parser.add_argument("--data", metavar="PATH", required=True, nargs="+",
                        help="dataset folder; with --pseudo-reference also audio files or folders of them")
    parser.add_argument("--pseudo-reference", choices=["spleeter"],
                        help="score songs without stems: vocals and accompaniment against pretrained "
                             "Spleeter 2-stem (needs the [eval] extra)")
    parser.add_argument("--split", choices=["test", "valid", "train", "all"], default="test",
                        help="songs to evaluate (default test; folders without splits: all songs)")
    parser.add_argument("--full", action="store_true", help="also ISR/SIR/SAR via museval (slow)")
    parser.add_argument("--shifts", type=int, default=DEFAULT_SETTINGS.shifts,
                        help="random time shifts averaged (paper: 10)")
    parser.add_argument("--baselines", action="store_true",
                        help="add mixture, scaled-mixture and oracle-mask rows")
    parser.add_argument("--max-seconds", type=float, help="score only the middle part of each song")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--map", dest="stem_map", action="append", metavar="STEM=GLOB[,GLOB]",
                        help="extra file-name patterns for a stem (as in stemdeck train)")
    parser.add_argument("--out", metavar="FILE", help="write FILE.json and FILE.csv")
    parser.add_argument("--overwrite", action="store_true", help="replace existing report files")


def _load(name: str | None):
    """Resolve and load a model by installed name or path: (network, card, its report entry)."""
    from ..checkpoint import load_model
    from ..model_store import resolve_model

    installed = resolve_model(name)
    model, card = load_model(installed.weights_path, device="cpu")
    return model, card, {"name": card.name, "path": str(installed.weights_path), "sha256": card.sha256}


def run(args: argparse.Namespace) -> int:
    from ..datasets import StemMapping
    from ..evaluate import evaluate_dataset
    from ..errors import StemDeckError

    if args.shifts < 1:
        raise SystemExit("stemdeck evaluate: error: --shifts must be >= 1")
    if not args.pseudo_reference and len(args.data) != 1:
        raise SystemExit("stemdeck evaluate: error: --data takes one dataset folder "
                         "(several paths only with --pseudo-reference)")
    if args.pseudo_reference and args.compare:
        raise SystemExit("stemdeck evaluate: error: --compare works on datasets with stems; run "
                         "--pseudo-reference once per model")
    if args.bag and args.compare:
        raise SystemExit("stemdeck evaluate: error: --bag and --compare cannot be combined")
    model, card, info = _load(args.model)
    if args.bag:
        from ..bag import ModelBag

        members, infos = [model], [info]
        for name in args.bag:
            member, _, member_info = _load(name)
            members.append(member)
            infos.append(member_info)
        model = ModelBag(members, [i["name"] for i in infos])
        info = {"name": " + ".join(i["name"] for i in infos) + " (bag)", "members": infos}
    mapping = StemMapping.parse(args.stem_map, tuple(model.config.sources))
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="song", desc="evaluating", file=sys.stderr)

    def progress(i: int, n: int, name: str) -> None:
        if bar is not None:
            bar.total = n
            bar.n = i
            bar.set_postfix_str(name[:30])
            bar.refresh()

    other = None
    if args.compare:
        other, other_card, other_info = _load(args.compare)
        if tuple(other.config.sources) != tuple(model.config.sources):
            raise StemDeckError(f"cannot compare {card.name} ({', '.join(model.config.sources)}) with "
                                f"{other_card.name} ({', '.join(other.config.sources)}): different stems")
    labels = [card.name, other_card.name if other is not None else ""]
    if labels[0] == labels[1]:
        labels = [labels[0] + " (1)", labels[1] + " (2)"]
    try:
        if args.pseudo_reference:
            from ..evaluate_pseudo import evaluate_pseudo_reference

            report = evaluate_pseudo_reference(model, args.data, model_info=info, device=args.device,
                                               shifts=args.shifts, max_seconds=args.max_seconds,
                                               progress=progress)
        else:
            report = evaluate_dataset(
                model, args.data[0], model_info=info, split=args.split, device=args.device, shifts=args.shifts,
                full=args.full, baselines=args.baselines, max_seconds=args.max_seconds, mapping=mapping,
                progress=progress, label=labels[0] if other is not None else "model")
            if other is not None:
                second = evaluate_dataset(
                    other, args.data[0], split=args.split, device=args.device, shifts=args.shifts,
                    full=args.full, max_seconds=args.max_seconds, mapping=mapping, progress=progress,
                    label=labels[1])
                report.rows.extend(second.rows)
                report.settings["compared_with"] = other_info
    finally:
        if bar is not None:
            bar.close()
    if args.pseudo_reference:
        print(f"model {info['name']} against the Spleeter 2-stem pseudo-reference")
        print(report.format_table())
        print("vocal stem level relative to the mixture (dB; for instrumental songs lower is better): "
              + ", ".join(f"{k} {v:.1f}" for k, v in report.data["vocal_level_db"].items()))
    else:
        compared = f" vs {other_card.name}" if other is not None else ""
        print(f"model {info['name']}{compared} on {args.data[0]} ({args.split})")
        print(report.format_table())
    if args.out:
        for path in report.write(args.out, overwrite=args.overwrite):
            print(f"wrote {path}")
    return 0
