"""Help: the shortcuts sheet is generated from the window's actions; the guide names real keys."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction, QKeySequence


pytestmark = pytest.mark.gui


def test_shortcuts_sheet_lists_every_key_of_the_window(qtbot, make_window, empty_home):
    window = make_window()
    # an action added later (e.g. by a dock) shows up too: the sheet is generated, not typed
    extra = QAction("Nudge &left", window)
    extra.setShortcut(QKeySequence("Alt+Left"))
    window.addAction(extra)
    rows = dict(window.shortcuts_dialog().rows())
    assert rows["Play / pause"] == "Space"
    assert rows["Export"] == "Ctrl+E"
    assert rows["Spectrograms"] == "Ctrl+Shift+F"
    assert rows["Keyboard shortcuts"] == "Ctrl+/"
    assert rows["Nudge left"] == "Alt+Left"
    with_keys = [a for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
    for action in with_keys:
        key = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        assert key in rows.values(), action.text()


def test_getting_started_names_the_real_keys(qtbot, make_window, empty_home):
    window = make_window()
    window.export_action.setShortcut(QKeySequence("Ctrl+Alt+X"))  # a remapped key is shown as it is
    text = window.getting_started_dialog().browser.toPlainText()
    assert "Getting started" in text and "Ctrl+Alt+X" in text and "Space" in text
    assert "stemdeck separate" in text
