"""Where the program's own files live: the one lookup for `resources/` (icons, styles, bundled models).

From a source checkout or an editable install, `resources/` sits next to the `model/` and `app/`
packages. In a PyInstaller build the bootloader sets `sys._MEIPASS` to the folder holding the
bundled data (`StemDeck/_internal` in the one-folder build), and the build spec copies
`resources/` there under the same name. Every module that needs a shipped file asks here, so a
frozen build and a checkout find the same files the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path


def resource_root() -> Path:
    """The `resources/` folder of this installation (it need not exist in a stripped install)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    root = Path(frozen_root) if frozen_root else Path(__file__).resolve().parents[1]
    return root / "resources"


def resource_path(*parts: str) -> Path:
    """`resources/<parts...>`, e.g. `resource_path("icons", "stemdeck.svg")`."""
    return resource_root().joinpath(*parts)
