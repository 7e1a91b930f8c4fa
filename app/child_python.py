"""Starting a fresh Python process (`python -m MODULE ...` / `python -c CODE ...`), from source or frozen.

From source, a child is the same interpreter: `sys.executable -u -m model.cli train ...`.
In a frozen build (PyInstaller sets `sys.frozen`) `sys.executable` is the StemDeck program itself,
which has no `-m`/`-c`; the launcher then takes the hidden first argument `CHILD_FLAG` and runs
the rest as the interpreter would (`run_child`). Nothing here imports Qt, so the launcher can
route to it before any GUI module loads.
"""

from __future__ import annotations

import runpy
import sys

#: the launcher's hidden mode: `stemdeck --child-python -m MODULE ARGS...` or `... -c CODE ARGS...`
CHILD_FLAG = "--child-python"


def is_frozen() -> bool:
    """True inside a PyInstaller build."""
    return bool(getattr(sys, "frozen", False))


def _runs_python(args: list[str]) -> bool:
    """Whether `args` starts like a Python command line this module runs: `-m MODULE` or `-c CODE`."""
    return args[:1] in (["-m"], ["-c"]) and len(args) >= 2


def python_command(args: list[str], python: str | None = None) -> tuple[str, list[str]]:
    """(program, arguments) that run `python -u ARGS` in a fresh process.

    `args` starts with `-m MODULE` or `-c CODE`. `python` names another interpreter explicitly
    (tests); otherwise the running one, or, frozen, the StemDeck executable in its hidden mode.
    """
    if not _runs_python(args):
        raise ValueError(f"expected -m MODULE or -c CODE, got {args[:2]}")
    if python is None and is_frozen():
        return sys.executable, [CHILD_FLAG, *args]
    return python or sys.executable, ["-u", *args]


def run_child(argv: list[str]) -> int:
    """Run `argv` (what follows `CHILD_FLAG`: `-m MODULE ARGS` or `-c CODE ARGS`) like `python -u`.

    Returns the exit status (a `SystemExit` inside the child's code ends here, as in Python).
    """
    if not _runs_python(argv):
        print(f"stemdeck {CHILD_FLAG}: expected -m MODULE or -c CODE", file=sys.stderr)
        return 2
    for stream in (sys.stdout, sys.stderr):  # `-u`: the parent reads progress line by line
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True, write_through=True)
    mode, target, rest = argv[0], argv[1], argv[2:]
    try:
        if mode == "-m":
            sys.argv = [target, *rest]
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *rest]
            exec(compile(target, "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return int(code or 0)
        print(code, file=sys.stderr)
        return 1
    return 0
