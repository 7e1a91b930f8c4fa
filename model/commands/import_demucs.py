"""`stemdeck import-demucs FILE.th [--name NAME]`: install an official Demucs waveform checkpoint
as a StemDeck model (see model.demucs_import for what is supported and how it is read safely)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.th",
                        help="a Demucs v2/v3 waveform checkpoint, e.g. demucs48_hq-28a1282c.th")
    parser.add_argument("--name", help="name of the installed model (default: the release's name, "
                        "e.g. demucs48_hq)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a different installed model of the same name")


def run(args: argparse.Namespace) -> int:
    from ..demucs_import import import_demucs

    installed = import_demucs(args.file, name=args.name, overwrite=args.overwrite)
    config = installed.card.config
    print(f"installed {installed.name} ({installed.card.parameters:,} parameters, "
          f"{config.channels} channels, depth {config.depth}, "
          f"{'LSTM' if config.rnn == 'lstm' else 'no'} bottleneck) into {installed.weights_path.parent}")
    print(f"use it with: stemdeck separate --model {installed.name} SONG")
    return 0
