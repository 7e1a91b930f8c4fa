#!/usr/bin/env bash
# Remove what install.sh put under ~/.local: the program, the command link, the menu entry and the
# icons. Your StemDeck data (settings, installed models, the separation cache, logs) is kept; the
# last line says where it is, to delete by hand if you want it gone too.
set -euo pipefail
main() {
  local data dest bin desktop
  data="${XDG_DATA_HOME:-$HOME/.local/share}"
  dest="$HOME/.local/lib/stemdeck"
  bin="$HOME/.local/bin"
  desktop="$data/applications/stemdeck.desktop"
  if [ -L "$bin/stemdeck" ] && [ "$(readlink "$bin/stemdeck")" = "$dest/stemdeck" ]; then rm -f "$bin/stemdeck"; fi
  if [ -f "$desktop" ] && grep -q "^Exec=\"$dest/stemdeck\"" "$desktop"; then rm -f "$desktop"; fi
  rm -f "$data"/icons/hicolor/*/apps/stemdeck.png "$data"/icons/hicolor/scalable/apps/stemdeck.svg
  if [ -x "$dest/stemdeck" ] && [ -d "$dest/_internal" ]; then rm -rf "$dest"; fi
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" 2>/dev/null || true
  echo "StemDeck is uninstalled. Your settings, models and cache are kept in ${STEMDECK_HOME:-$data/stemdeck} and ~/.config/StemDeck."
}
main "$@"
