"""Render StemDeck's icon (resources/icons/stemdeck.svg) into the freedesktop hicolor sizes.

    python packaging/render_icons.py OUT_FOLDER

writes `OUT_FOLDER/hicolor/<N>x<N>/apps/stemdeck.png` for every size in `SIZES` (PNG, RGBA,
N x N pixels, transparent outside the rounded square) and `hicolor/scalable/apps/stemdeck.svg`.
packaging/build_frozen.sh puts them into the frozen build for install.sh. Uses Qt's SVG renderer
offscreen, so no display and no extra tool is needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.resources import resource_path  # noqa: E402

#: the sizes desktops look up (menus 16-48, docks/app grids 64-256, HiDPI 512)
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(out: Path, svg: Path | None = None) -> list[Path]:
    """Write the PNGs and the SVG under `out/hicolor`; return the files written."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(["render_icons"])
    svg = svg or resource_path("icons", "stemdeck.svg")
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG icon")
    written = []
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        target = out / "hicolor" / f"{size}x{size}" / "apps" / "stemdeck.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target), "PNG"):
            raise SystemExit(f"{target}: cannot write the icon")
        written.append(target)
    scalable = out / "hicolor" / "scalable" / "apps" / "stemdeck.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(svg, scalable)
    return written + [scalable]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder that receives hicolor/...")
    args = parser.parse_args(argv)
    for path in render(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
