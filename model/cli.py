"""The engine's command line: every subcommand runs headless and never imports Qt or `app`.

The `stemdeck` console script is `app.launcher`, which sends a call without a subcommand to the
desktop app and everything else here.

Each subcommand lives in its own module under `model.commands` exposing
`add_arguments(parser)` and `run(args) -> int`. Those modules import torch lazily so that
`stemdeck --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__
from .errors import StemDeckError

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "separate": ("model.commands.separate", "split songs into stems"),
    "info": ("model.commands.info", "versions, compute devices and installed models"),
    "train": ("model.commands.train", "train or fine-tune a model on a multitrack dataset"),
    "evaluate": ("model.commands.evaluate", "measure SDR of a model on a multitrack dataset"),
    "check-dataset": ("model.commands.check_dataset", "report what a dataset folder holds"),
    "import-demucs": ("model.commands.import_demucs", "install an official Demucs waveform checkpoint (.th)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stemdeck",
        description="StemDeck: split songs into drums, bass, other and vocals. "
        "Without a subcommand, starts the desktop app (files given are opened in it).",
    )
    parser.add_argument("--version", action="version", version=f"StemDeck {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # command not built into this version
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:  # `python -m model.cli` alone: the engine has no window to open
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("stemdeck: interrupted", file=sys.stderr)
        return 130
    except StemDeckError as exc:
        print(f"stemdeck {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
