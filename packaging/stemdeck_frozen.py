"""Entry script of the frozen build (PyInstaller analyses this file): the `stemdeck` launcher.

`app.launcher.main` calls `multiprocessing.freeze_support()` first, so worker processes that
re-run this executable never reach the app.
"""

import sys

from app.launcher import main

if __name__ == "__main__":
    sys.exit(main())
