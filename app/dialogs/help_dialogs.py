"""Help ▸ Keyboard shortcuts (generated from the window's actions, so it is never out of date) and
Help ▸ Getting started (a short first-use guide whose keys also come from the actions)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QLabel,
                               QTableWidget, QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget)

from ..widgets.waveform_view import MOUSE_GESTURES


def action_label(action: QAction) -> str:
    """'&Export…' -> 'Export' (menu mnemonics and ellipses dropped)."""
    return action.text().replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def keys_of(action: QAction) -> str:
    """The action's shortcuts as the platform writes them ('Ctrl+E', 'Space'), comma-separated."""
    return ", ".join(seq.toString(QKeySequence.SequenceFormat.NativeText) for seq in action.shortcuts()
                     if not seq.isEmpty())


def shortcut_rows(window: QWidget) -> list[tuple[str, str]]:
    """(action, keys) for every action with a shortcut anywhere in `window`, sorted by action."""
    rows = {(action_label(a), keys_of(a)) for a in window.findChildren(QAction) if keys_of(a)}
    return sorted(rows, key=lambda row: row[0].lower())


class ShortcutsDialog(QDialog):
    """Every key of the window's actions, then what the mouse does on the lanes."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcutsDialog")
        rows = shortcut_rows(window)
        self.table = self._table(["Action", "Keys"], rows)
        self.mouse = self._table(["On the waveform", "Does"], list(MOUSE_GESTURES))
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(QLabel("Mouse"))
        layout.addWidget(self.mouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(560, 520)

    @staticmethod
    def _table(headers: list[str], rows: list[tuple[str, str]]) -> QTableWidget:
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        for r, (left, right) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(left))
            table.setItem(r, 1, QTableWidgetItem(right))
        return table

    def rows(self) -> list[tuple[str, str]]:
        return [(self.table.item(r, 0).text(), self.table.item(r, 1).text()) for r in range(self.table.rowCount())]


def getting_started_html(keys: dict[str, str]) -> str:
    """The guide; `keys` maps 'play', 'export', 'separate', 'selection', 'cancel', 'open' to keys."""
    k = {name: f"<b>{text}</b>" if text else "" for name, text in keys.items()}
    return f"""
<h2>Getting started</h2>
<ol>
<li><b>Open a song</b>: drop audio files or folders on the window, or File ▸ Open ({k['open']}).
Separation starts by itself; lanes fill in as it goes. Several songs go into the Queue.</li>
<li><b>Listen</b>: press {k['play']} at any time — separation runs ahead of the playhead. Click a
waveform to seek, wheel to zoom, Shift+drag to loop a passage.</li>
<li><b>Mix</b>: every lane has <b>M</b>ute, <b>S</b>olo and gain; <b>A/B</b> on the original lane
compares with the song.</li>
<li><b>Try a quality</b>: pick <i>Quality</i> in the toolbar, select a passage (Shift+drag) and
<i>Separate selection</i> ({k['selection']}) to hear it before the full render ({k['separate']}).
{k['cancel']} stops a separation.</li>
<li><b>Export</b> ({k['export']}): stems and mixes such as <i>Instrumental</i> as WAV, FLAC or MP3;
presets remember what you use. Drag a lane's name into your DAW for one stem.</li>
</ol>
<p>Headless: <code>stemdeck separate songs/ -o stems/</code> (see <code>stemdeck separate --help</code>).
All keys: Help ▸ Keyboard shortcuts.</p>
"""


class GettingStartedDialog(QDialog):
    def __init__(self, window: QWidget, keys: dict[str, str]) -> None:
        super().__init__(window)
        self.setWindowTitle("Getting started with StemDeck")
        self.setObjectName("gettingStartedDialog")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(getting_started_html(keys))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(600, 480)
