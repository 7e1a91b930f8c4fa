"""The `stemdeck` console script: routes to the headless engine CLI or to the desktop app.

`model.cli` is the engine's command line and never imports Qt or `app`; this launcher is the one
place that knows both exist:

- `stemdeck separate|train|evaluate|...` and `stemdeck --help/--version` run `model.cli` headless;
- `stemdeck` alone, or `stemdeck song.wav ...`, opens the desktop app with those files;
- `stemdeck --self-test` checks the installation's native pieces (app/self_test.py);
- hidden: `stemdeck --child-python -m MODULE ...` runs a module as `python -m` would, so a frozen
  build (whose executable is this launcher, not an interpreter) can start the trainer and other
  child processes (app/child_python.py).

`multiprocessing.freeze_support()` comes first: in a frozen build a worker process (a DataLoader
worker under the spawn start method) re-runs this executable, and must not reach the app.
"""

from __future__ import annotations

import sys

from app.child_python import CHILD_FLAG

SELF_TEST_FLAG = "--self-test"


def wants_gui(argv: list[str]) -> bool:
    """True when `argv` (without the program name) names no subcommand and no option."""
    from model.cli import COMMANDS

    return not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-"))


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [SELF_TEST_FLAG]:
        from app.self_test import run

        return run()
    if argv[:1] == [CHILD_FLAG]:
        from app.child_python import run_child

        return run_child(argv[1:])
    if wants_gui(argv):
        from app.main import main as gui_main

        return gui_main(argv)
    from model.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
