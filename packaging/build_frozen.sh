#!/usr/bin/env bash
# Build StemDeck's frozen one-folder app for Linux x86_64 with PyInstaller 6:
#
#   bash packaging/build_frozen.sh            -> dist/StemDeck-<version>-linux-x86_64.tar.gz
#
# Uses the project's environment (.venv/bin/python, or $PYTHON), which must hold the CPU build of
# torch (a CUDA build would add gigabytes; the script refuses it). PyInstaller comes from the
# `packaging` extra of pyproject.toml and is installed when missing. The tarball holds one folder
# with the program (`stemdeck`), its libraries (`_internal/`), install.sh/uninstall.sh, the
# desktop entry and the icons. Prints the unpacked and packed sizes and the build time.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"
[ -x "$py" ] || { echo "build_frozen: no Python at $py (run: bash packaging/bootstrap.sh test, or set PYTHON)" >&2; exit 1; }
start=$(date +%s)

version=$("$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
arch=$(uname -m)
name="StemDeck-${version}-linux-${arch}"

for tool in objdump readelf ldd; do   # PyInstaller's and the spec's dependency analysis
  command -v "$tool" >/dev/null || { echo "build_frozen: $tool is missing (Debian/Ubuntu: apt-get install binutils)" >&2; exit 1; }
done
if ! "$py" -c 'import torch, sys; sys.exit(0 if torch.version.cuda is None else 1)'; then
  echo "build_frozen: this environment has a CUDA build of torch; the frozen build ships the CPU one." >&2
  echo "  install it with: $py -m pip install torch==\$(version) --index-url https://download.pytorch.org/whl/cpu" >&2
  exit 1
fi
if ! "$py" -c 'import PyInstaller' 2>/dev/null; then
  req=$("$py" -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["packaging"]))')
  echo "build_frozen: installing $req"
  "$py" -m pip install -q $req
fi

rm -rf build/pyinstaller build/frozen-dist "dist/$name" "dist/$name.tar.gz"
mkdir -p dist build
"$py" -m PyInstaller --noconfirm --log-level WARN --workpath build/pyinstaller \
  --distpath build/frozen-dist packaging/stemdeck.spec

# the one folder users unpack: program + desktop integration
mv build/frozen-dist/StemDeck "dist/$name"
"$py" packaging/render_icons.py "dist/$name/share/icons" >/dev/null
install -m 644 packaging/stemdeck.desktop "dist/$name/share/stemdeck.desktop"
install -m 755 packaging/install.sh packaging/uninstall.sh "dist/$name/"
"dist/$name/stemdeck" --version >/dev/null   # the program starts at all

tar -C dist -czf "dist/$name.tar.gz" "$name"
end=$(date +%s)
unpacked=$(du -sb "dist/$name" | cut -f1)
packed=$(stat -c %s "dist/$name.tar.gz")
echo "build_frozen: dist/$name.tar.gz"
echo "build_frozen: unpacked $((unpacked / 1048576)) MiB, packed $((packed / 1048576)) MiB, built in $((end - start)) s"
