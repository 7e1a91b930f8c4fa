"""The window at 1280×800 with any combination of docks open: it fits, nothing is cut, every plot
is readable, and View ▸ Reset layout really resets (offscreen, with the app's style sheet)."""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtWidgets import QAbstractButton, QHeaderView, QLabel, QWidget

from tests.gui_fixtures import make_song

pytestmark = pytest.mark.gui

SCREEN = (1280, 800)


@pytest.fixture
def styled(qapp):
    from app.main import load_stylesheet

    qapp.setStyleSheet(load_stylesheet())
    yield
    qapp.setStyleSheet("")


@pytest.fixture
def window(qtbot, styled, make_window, stemdeck_home, tmp_path):
    """The window at 1280×800 with two separated songs (queue, lanes, residual, SE shown)."""
    window = make_window()
    window.resize(*SCREEN)
    songs = [make_song(tmp_path / "first song.wav", seconds=3.0),
             make_song(tmp_path / "second.wav", seconds=2.0)]
    window.open_paths(songs)
    qtbot.waitUntil(lambda: all(i.status == "done" for i in window.session.items), timeout=60_000)
    qtbot.waitUntil(lambda: "residual" in window.player.waveform.lane_names, timeout=10_000)
    return window


def docks(window):
    return [window.queue_dock, window.se_dock, window.log_dock, window.trainer_dock]


def show_only(qtbot, window, shown) -> None:
    for dock in docks(window):
        dock.setVisible(dock in shown)
    if window.log_dock in shown and window.se_dock in shown:
        window.se_dock.raise_()
    qtbot.wait(50)


def visible_widgets(window, kind):
    return [w for w in window.findChildren(kind) if w.isVisibleTo(window) and w.isVisible()]


def cut_texts(window) -> list[str]:
    """Labels, buttons and table headers too narrow for their text."""
    cut = []
    for label in visible_widgets(window, QLabel):
        text = label.text()
        if not text or label.wordWrap() or label.textFormat() == 1 or "<" in text:
            continue
        need = max(label.fontMetrics().horizontalAdvance(line) for line in text.split("\n"))
        if label.contentsRect().width() < need:
            cut.append(f"label {text!r}: {label.contentsRect().width()} < {need} px")
    for button in visible_widgets(window, QAbstractButton):
        if button.text() and button.width() < button.minimumSizeHint().width():
            cut.append(f"button {button.text()!r}: {button.width()} < "
                       f"{button.minimumSizeHint().width()} px")
    for header in visible_widgets(window, QHeaderView):
        if header.orientation().name != "Horizontal":
            continue
        for i in range(header.count()):
            if not header.isSectionHidden(i) and header.sectionSize(i) < header.sectionSizeHint(i):
                title = header.model().headerData(i, header.orientation())
                cut.append(f"header {title!r}: {header.sectionSize(i)} < "
                           f"{header.sectionSizeHint(i)} px")
    return cut


def squeezed(window) -> list[str]:
    """Visible widgets given less height than they need (rows drawn over each other)."""
    out = []
    for w in visible_widgets(window, QWidget):
        need = w.layout().totalMinimumSize().height() if w.layout() is not None else 0
        if w.height() < need - 1:
            out.append(f"{type(w).__name__} {w.objectName()!r}: {w.height()} < {need} px")
    return out


def test_every_combination_of_docks_fits_1280x800_with_nothing_cut(qtbot, window):
    import pyqtgraph as pg

    from app.widgets.sizing import READABLE_PLOT_HEIGHT

    for n in range(len(docks(window)) + 1):
        for shown in itertools.combinations(docks(window), n):
            names = [d.objectName() for d in shown]
            show_only(qtbot, window, shown)
            hint = window.minimumSizeHint()
            assert hint.width() <= SCREEN[0] and hint.height() <= SCREEN[1], (names, hint)
            window.resize(*SCREEN)
            qtbot.wait(20)
            assert (window.width(), window.height()) == SCREEN, names
            assert not cut_texts(window), (names, cut_texts(window))
            assert not squeezed(window), (names, squeezed(window))
            for plot in visible_widgets(window, pg.PlotWidget):
                assert plot.height() >= READABLE_PLOT_HEIGHT, (names, plot.objectName())
            if window.se_view.isVisible():   # layer names on the heat map not drawn over each other
                plot = window.se_view.map_plot
                labels = window.se_view.layer_labels()
                line = plot.fontMetrics().height()
                assert labels and len(labels) * line <= plot.getViewBox().height(), names
    # with every dock open, the lanes keep a usable height and the queue shows its columns
    assert window.player.waveform.height() >= 300
    assert window.queue_dock.width() >= 200
    # spectrogram lanes (frequency axes, the dB scale beside the transport) fit too
    window.spectrogram_action.trigger()
    qtbot.waitUntil(lambda: all(window.player.waveform.shows_spectrogram(n)
                                for n in window.player.waveform.lane_names), timeout=30_000)
    hint = window.minimumSizeHint()
    assert hint.width() <= SCREEN[0] and hint.height() <= SCREEN[1], hint
    window.resize(*SCREEN)
    qtbot.wait(20)
    assert window.player.level_scale.isVisible() and not cut_texts(window), cut_texts(window)
    scale = window.player.level_scale
    assert scale.width() >= scale.minimumSizeHint().width()


def test_reset_layout_really_resets(qtbot, window):
    from PySide6.QtCore import Qt

    show_only(qtbot, window, docks(window))
    window.resizeDocks([window.queue_dock], [10], Qt.Orientation.Horizontal)
    window.resizeDocks([window.se_dock], [10], Qt.Orientation.Vertical)
    window.trainer_dock.setFloating(True)
    qtbot.wait(20)
    assert window.queue_dock.width() >= 200, "the queue never becomes a strip"
    window.save_state()
    window.reset_layout()
    qtbot.wait(50)
    assert window.settings.window_state("state") is None
    assert not window.trainer_dock.isVisible() and not window.trainer_dock.isFloating()
    assert not window.se_dock.isVisible() and not window.log_dock.isVisible()
    assert window.queue_dock.isVisible()          # two songs are queued
    window.se_dock.show()
    qtbot.wait(50)
    assert window.se_dock.height() >= 0.3 * SCREEN[1] - 40
