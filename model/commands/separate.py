"""`stemdeck separate FILES_OR_FOLDERS... [-o DIR]`: split songs into stem files, headless.

The model is loaded once; folders are searched recursively for audio files; each file gets a
progress bar (stderr) and one line on stdout naming the device that ran and the files written.
A file that fails (unreadable, outputs already exist, ...) costs one line on stderr,
`file: reason`, and the batch goes on; the exit code is 1 if any file failed.

Output names are unique by design: the default template `{relpath}/{stem}.{ext}` keeps the
input tree below the batch root (the deepest folder holding every input), so `*/mixture.wav`
gives `SongA/mixture/vocals.wav`, `SongB/mixture/vocals.wav`, ... A template that still maps two
inputs to one file is refused before any song is separated, naming both inputs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from model.export_formats import BIT_DEPTHS, CONTAINERS
from model.separation_settings import (DEFAULT_QUALITY, DEFAULT_SETTINGS, PRECISIONS, QUALITY_PRESETS,
                                       SeparationSettings, quality_settings)

logger = logging.getLogger(__name__)

#: Like demucs: `stemdeck separate song.wav` writes under ./separated/.
DEFAULT_OUT = "separated"
DEFAULT_CLI_TEMPLATE = "{relpath}/{stem}.{ext}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER",
                        help="audio files, or folders searched recursively for audio files")
    parser.add_argument("-o", "--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default ./{DEFAULT_OUT}/)")
    parser.add_argument("--model", metavar="NAME|PATH",
                        help="installed model name or a .safetensors file (default: the default model)")
    parser.add_argument("--device", default="auto", help="auto (CUDA > MPS > CPU), cpu, cuda, cuda:N or mps")
    parser.add_argument("--quality", choices=tuple(QUALITY_PRESETS), default=DEFAULT_QUALITY,
                        help="the app's presets: " + "; ".join(p.label.replace("%", "%%") for p in QUALITY_PRESETS.values())
                        + f" (default {DEFAULT_QUALITY}); --shifts/--overlap override it")
    parser.add_argument("--shifts", type=int,
                        help="random time offsets averaged (better quality, N times slower; paper: 10; "
                        f"default: the quality's, {DEFAULT_SETTINGS.shifts})")
    parser.add_argument("--overlap", type=float,
                        help=f"segment overlap fraction (default: the quality's, {DEFAULT_SETTINGS.overlap})")
    parser.add_argument("--segment", type=float, metavar="SECONDS",
                        help="segment length in seconds (default: the model's)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto = fp16 on CUDA, fp32 elsewhere")
    parser.add_argument("--stems", metavar="LIST",
                        help="comma-separated stems to write, e.g. vocals,drums (default: all); "
                        "'none' writes only --mix outputs")
    parser.add_argument("--mix", action="append", default=[], metavar="NAME=STEM+STEM",
                        help="extra combined output, e.g. instrumental=drums+bass+other, "
                        "karaoke=mixture-vocals, or a preset (instrumental, acappella, drumless, bassless); repeatable")
    parser.add_argument("--format", default="wav", choices=CONTAINERS, help="file format (default wav)")
    parser.add_argument("--bit-depth", type=int, choices=BIT_DEPTHS,
                        help="16, 24 or 32 (float; WAV only); default: like the source")
    parser.add_argument("--samplerate", type=int, help="output sample rate in Hz (default: the source's)")
    parser.add_argument("--mp3-bitrate", type=int, default=320, metavar="KBPS", help="MP3 bitrate (default 320)")
    parser.add_argument("--template", default=DEFAULT_CLI_TEMPLATE,
                        help="output file names under -o, fields {track} {stem} {model} {ext}, {parent} "
                        "(the song's folder name) and {relpath} (the song's path below the batch root, "
                        f"without extension) (default {DEFAULT_CLI_TEMPLATE})")
    parser.add_argument("--exact-sum", choices=("other", "energy"),
                        help="make the stems add up exactly to the input: the residual goes into "
                        "'other' or is spread by each stem's local energy")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace existing output files")
    existing.add_argument("--skip-existing", action="store_true",
                          help="write only the output files that do not exist yet (a song whose "
                          "outputs all exist is not separated)")
    parser.add_argument("--threads", type=int, help="CPU threads for the network (default: all cores)")


def find_inputs(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to process (folders expanded recursively, order kept, duplicates dropped) and
    (input, reason) pairs for inputs that do not exist or hold no audio."""
    from model.audio_io import iter_supported

    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen: set[Path] = set()
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found = list(iter_supported(path))
            if not found:
                problems.append((text, "no audio files found in this folder"))
            candidates = found
        elif path.exists():
            candidates = [path]
        else:
            problems.append((text, "no such file or folder"))
            candidates = []
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                files.append(candidate)
    return files, problems


def _planned_outputs(args, path: Path, root: Path, model_name: str, names: list[str]) -> list[Path]:
    from model.export import expand_template, relpath_of, track_name

    out_dir = Path(args.out)
    return [out_dir / expand_template(args.template, track=track_name(path), stem=n, model=model_name,
                                      ext=args.format, parent=path.parent.name, relpath=relpath_of(path, root))
            for n in names]


def plan_batch(args, files: list[Path], root: Path, model_name: str, names: list[str]) -> dict[Path, list[Path]]:
    """Each input's output files; raises AudioWriteError, naming both inputs, when two of them
    would be written to the same file (checked before any song is separated)."""
    from model.export import check_unique_outputs

    plan = {path: _planned_outputs(args, path, root, model_name, names) for path in files}
    check_unique_outputs(plan.items())
    return plan


class _Bar:
    """tqdm bar fed by separate()'s Progress callbacks (seconds of audio done)."""

    def __init__(self, label: str, total_seconds: float) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=round(total_seconds, 1), desc=label, unit="s", file=sys.stderr,
                        leave=False, dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                        "{n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")
        self.total = total_seconds

    def __call__(self, progress) -> None:
        self.bar.n = round(progress.fraction * self.total, 1)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


class _EncodeBar:
    """tqdm bar fed by export_track()'s progress (fraction of the frames written, all files)."""

    def __init__(self, label: str, files: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=100, desc=f"{label}: writing {files} file(s)", file=sys.stderr, leave=False,
                        dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")

    def __call__(self, fraction: float) -> None:
        self.bar.n = round(100 * fraction, 1)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def separation_settings(args: argparse.Namespace) -> SeparationSettings:
    """The `--quality` preset with `--shifts`, `--overlap`, `--segment` and `--precision` applied;
    StemDeckError naming the problem when a value is out of range."""
    from model.errors import StemDeckError

    changes = {name: value for name, value in (("shifts", args.shifts), ("overlap", args.overlap),
                                               ("segment_seconds", args.segment)) if value is not None}
    try:
        return quality_settings(args.quality).replace(precision=args.precision, **changes)
    except ValueError as exc:
        raise StemDeckError(f"bad separation settings: {exc}") from None


def run(args: argparse.Namespace) -> int:
    import torch

    from model.audio_io import load_audio
    from model.checkpoint import load_model
    from model.devices import cpu_count, select_device
    from model.errors import OutputExistsError, StemDeckError
    from model.export import ExportFormat, batch_root, export_track, relpath_of, track_name
    from model.model_store import resolve_model
    from model.output_specs import parse_output_spec
    from model.separate import Separator

    # Everything that can be checked without a song is checked before the first one.
    settings = separation_settings(args)
    _device, report = select_device(args.device)
    installed = resolve_model(args.model)
    model, card = load_model(installed.weights_path, device="cpu")
    separator = Separator(model, device=args.device, settings=settings)
    sources = list(model.config.sources)
    model_name = installed.name
    fmt = ExportFormat(container=args.format, bit_depth=args.bit_depth, samplerate=args.samplerate,
                       mp3_bitrate_kbps=args.mp3_bitrate)
    if args.stems is None:
        selected = sources
    elif args.stems.strip().lower() == "none":
        selected = []
    else:
        selected = [s.strip() for s in args.stems.split(",") if s.strip()]
        unknown = [s for s in selected if s not in sources]
        if unknown:
            raise StemDeckError(f"unknown stem(s) {', '.join(unknown)}: model '{model_name}' produces "
                                f"{', '.join(sources)}")
    mixes = [parse_output_spec(text, sources) for text in args.mix]
    if not selected and not mixes:
        raise StemDeckError("nothing to write: --stems none and no --mix outputs")
    output_names = selected + [spec.name for spec in mixes]
    files, problems = find_inputs(args.inputs)
    root = batch_root([t for t in args.inputs if Path(t).exists()])
    # template errors and colliding names before any work
    plan = plan_batch(args, files or [Path("track.wav")], root, model_name, output_names)
    torch.set_num_threads(max(1, args.threads or cpu_count()))

    for text, reason in problems:
        print(f"{text}: {reason}", file=sys.stderr)
    failures = len(problems)
    print(f"model {model_name} ({card.parameters:,} parameters, {model.config.samplerate} Hz); "
          f"device {report.summary()}", file=sys.stderr)
    skipped = 0
    for path in files:
        try:
            targets = plan[path]
            existing = [t for t in targets if t.exists()]
            if args.skip_existing and len(existing) == len(targets):
                skipped += 1
                print(f"{path}: skipped, its {len(targets)} output file(s) exist")
                continue
            if existing and not args.overwrite and not args.skip_existing:
                more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
                raise OutputExistsError(f"'{existing[0]}' already exists{more}; skipped (use --overwrite)")
            loaded = load_audio(path, samplerate=model.config.samplerate, channels=model.config.audio_channels)
            seconds = loaded.samples.shape[1] / loaded.samplerate
            bar = _Bar(path.name, seconds)
            try:
                result = separator.separate(loaded.samples, exact_sum=args.exact_sum, progress=bar)
            finally:
                bar.close()
            stems = {name: result.stems[i] for i, name in enumerate(result.sources)}
            encode_bar = _EncodeBar(path.name, len(targets) - (len(existing) if args.skip_existing else 0))
            try:
                exported = export_track(stems, loaded.samples, loaded.samplerate, loaded.source, args.out,
                                        track=track_name(path), model_name=model_name, fmt=fmt,
                                        template=args.template, selected=selected, outputs=mixes,
                                        overwrite=args.overwrite, parent=path.parent.name,
                                        relpath=relpath_of(path, root), skip_existing=args.skip_existing,
                                        progress=encode_bar)
            finally:
                encode_bar.close()
        except StemDeckError as exc:
            failures += 1
            print(f"{path}: {exc}", file=sys.stderr)
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
            failures += 1
            logger.debug("unexpected failure on %s", path, exc_info=True)
            print(f"{path}: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        speed = seconds / max(result.elapsed_seconds, 1e-9)
        ran_on = f"{result.device.used} ({result.device.name})"
        if result.device.fallbacks:
            ran_on += " after: " + "; ".join(result.device.fallbacks)
        print(f"{path}: {seconds:.1f} s separated on {ran_on} in "
              f"{result.elapsed_seconds:.1f} s ({speed:.1f}x real time) -> "
              + ", ".join(str(p) for p in exported.paths)
              + (f" ({len(exported.skipped)} existing file(s) kept)" if exported.skipped else ""))
        for notice in list(loaded.notices) + list(result.notices) + list(exported.notices):
            print(f"  note: {notice}")
    if files or problems:
        done = len(files) - (failures - len(problems)) - skipped
        print(f"{done} of {len(files) + len(problems)} input(s) separated"
              + (f", {skipped} skipped (outputs exist)" if skipped else "")
              + (f", {failures} failed" if failures else ""), file=sys.stderr)
    return 1 if failures else 0
