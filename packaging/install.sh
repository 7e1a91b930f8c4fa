#!/usr/bin/env bash
# Install this unpacked StemDeck folder for the current user (no root needed):
#   the program     -> ~/.local/lib/stemdeck/          (a copy; the unpacked folder may be deleted)
#   the command     -> ~/.local/bin/stemdeck           (a link)
#   the menu entry  -> ~/.local/share/applications/stemdeck.desktop (with "Open with" for audio files)
#   the icons       -> ~/.local/share/icons/hicolor/<size>/apps/stemdeck.png
# Re-running replaces an earlier StemDeck install. Nothing else is overwritten: a foreign file at one
# of these places stops the install with a message. Undo: ~/.local/lib/stemdeck/uninstall.sh
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
dest="$HOME/.local/lib/stemdeck"
bin="$HOME/.local/bin"
fail() { echo "install.sh: $*" >&2; exit 1; }

[ -x "$src/stemdeck" ] && [ -d "$src/_internal" ] || fail "run me from the unpacked StemDeck folder ($src holds no stemdeck program)"
if [ -e "$dest" ] && ! { [ -x "$dest/stemdeck" ] && [ -d "$dest/_internal" ]; }; then
  fail "$dest exists and is not a StemDeck install; move it away first"
fi
if [ -e "$bin/stemdeck" ] || [ -L "$bin/stemdeck" ]; then
  [ "$(readlink "$bin/stemdeck" 2>/dev/null)" = "$dest/stemdeck" ] || fail "$bin/stemdeck exists and is not StemDeck's link; move it away first"
fi
desktop="$data/applications/stemdeck.desktop"
if [ -e "$desktop" ] && ! grep -q "^Exec=\"$dest/stemdeck\"" "$desktop"; then
  fail "$desktop exists and does not start this StemDeck; move it away first"
fi

# 1. the program: copied next to the old one, then swapped in
if [ "$src" != "$dest" ]; then
  mkdir -p "$(dirname "$dest")"
  tmp="$dest.installing"
  rm -rf "$tmp"
  cp -a "$src" "$tmp"
  [ -e "$dest" ] && rm -rf "$dest"
  mv "$tmp" "$dest"
fi
# 2. the command
mkdir -p "$bin"
ln -sfn "$dest/stemdeck" "$bin/stemdeck"
# 3. the menu entry, pointing at the installed program (the menu does not search ~/.local/bin)
mkdir -p "$data/applications"
sed -e "s|^Exec=.*|Exec=\"$dest/stemdeck\" %F|" -e "s|^TryExec=.*|TryExec=$dest/stemdeck|" \
  "$dest/share/stemdeck.desktop" > "$desktop"
# 4. the icons
for icon in "$dest"/share/icons/hicolor/*/apps/stemdeck.*; do
  rel="${icon#"$dest/share/icons/"}"
  mkdir -p "$data/icons/$(dirname "$rel")"
  install -m 644 "$icon" "$data/icons/$rel"
done
# 5. let the desktop see them now (tools may be missing: the desktop then finds them at next login)
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" 2>/dev/null || true

echo "StemDeck is installed: open it from your applications menu, or right-click a song > Open With > StemDeck."
case ":$PATH:" in *":$bin:"*) echo "In a terminal: stemdeck --help";;
  *) echo "In a terminal: $bin/stemdeck --help ($bin is not on your PATH)";; esac
echo "To remove it: $dest/uninstall.sh"
