"""Desktop app entry point (the GUI is being built in issue #3)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("stemdeck: the desktop app is not built yet; use a subcommand (stemdeck --help)",
          file=sys.stderr)
    return 2
