"""`stemdeck check-dataset DIR`: report what a multitrack dataset folder holds, song by song.

Exit status 0 when at least one song is usable, 1 otherwise. `--json FILE` (or `-`) writes the
full report as JSON. Never crashes on bad songs: they are listed as unusable with the reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="DIR", help="dataset folder")
    parser.add_argument("--map", dest="stem_map", action="append", metavar="STEM=GLOB[,GLOB]",
                        help="extra file-name patterns for a stem (as in stemdeck train)")
    parser.add_argument("--sources", metavar="LIST",
                        help="stems to look for, in order (as in stemdeck train; default "
                        "drums,bass,other,vocals)")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON ('-' = stdout)")


def run(args: argparse.Namespace) -> int:
    from ..dataset_check import check_dataset, format_report
    from ..datasets import StemMapping
    from ..errors import OutputExistsError

    from ..config import SOURCES, parse_sources
    from ..errors import StemDeckError

    try:
        sources = parse_sources(args.sources) if args.sources else SOURCES
    except ValueError as exc:
        raise StemDeckError(f"--sources: {exc}") from None
    mapping = StemMapping.parse(args.stem_map, sources)

    def progress(i: int, n: int, name: str) -> None:
        if sys.stderr.isatty() and name:
            print(f"\rchecking {i + 1}/{n}: {name[:50]:50}", end="", file=sys.stderr, flush=True)

    report = check_dataset(args.folder, mapping, progress=progress)
    if sys.stderr.isatty():
        print("\r" + " " * 70 + "\r", end="", file=sys.stderr)
    data = report.to_dict()
    if args.json == "-":
        print(json.dumps(data, indent=2))
    else:
        print(format_report(report, mapping.sources))
        if args.json:
            from pathlib import Path

            from ..atomic_file import atomic_write_text

            path = Path(args.json)
            if path.exists():
                raise OutputExistsError(f"{path}: already exists (not overwritten)")
            atomic_write_text(path, json.dumps(data, indent=2))
    if report.error:
        print(f"stemdeck check-dataset: error: {report.error}", file=sys.stderr)
        return 1
    return 0 if report.usable else 1
