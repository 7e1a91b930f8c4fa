"""The `stemdeck` console script: routes to the headless engine CLI or to the desktop app.

`model.cli` is the engine's command line and never imports Qt or `app`; this launcher is the one
place that knows both exist:

- `stemdeck separate|train|evaluate|...` and `stemdeck --help/--version` run `model.cli` headless;
- `stemdeck` alone, or `stemdeck song.wav ...`, opens the desktop app with those files.
"""

from __future__ import annotations

import sys


def wants_gui(argv: list[str]) -> bool:
    """True when `argv` (without the program name) names no subcommand and no option."""
    from model.cli import COMMANDS

    return not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if wants_gui(argv):
        from app.main import main as gui_main

        return gui_main(argv)
    from model.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
