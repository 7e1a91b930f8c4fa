"""Export basics a producer expects: remembered choices, named presets, several songs at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from tests.gui_fixtures import make_song
from tests.test_gui_window import open_and_separate

pytestmark = pytest.mark.gui


def export_and_wait(qtbot, dialog, folder: Path):
    dialog.folder.setText(str(folder))
    with qtbot.waitSignal(dialog.exported, timeout=60_000) as blocker:
        dialog.start_export()
    return blocker.args[0]


def pick_preset(dialog, name: str) -> None:
    index = dialog.preset.findText(name)
    assert index >= 0, [dialog.preset.itemText(i) for i in range(dialog.preset.count())]
    dialog.preset.setCurrentIndex(index)
    dialog.preset.activated.emit(index)


def test_dialog_and_cli_offer_the_engine_formats(qtbot, make_window, stemdeck_home, song):
    """One table of export formats: the dialog and `stemdeck separate --format` offer exactly
    `model.export.FORMATS`, and the dialog asks for a bitrate only for lossy ones."""
    import argparse

    from model.commands import separate as separate_cmd
    from model.export import FORMATS

    parser = argparse.ArgumentParser()
    separate_cmd.add_arguments(parser)
    cli_choices = next(a.choices for a in parser._actions if a.dest == "format")
    assert list(cli_choices) == list(FORMATS)
    window = make_window()
    open_and_separate(qtbot, window, song)
    dialog = window.export_dialog()
    offered = [dialog.container.itemData(i) for i in range(dialog.container.count())]
    assert offered == list(FORMATS)
    for i, name in enumerate(offered):
        dialog.container.setCurrentIndex(i)
        assert dialog.mp3_kbps.isEnabled() is FORMATS[name].lossy
        assert dialog.bit_depth.isEnabled() is not FORMATS[name].lossy
    dialog.close()


def test_export_choices_are_remembered(qtbot, make_window, stemdeck_home, song, tmp_path):
    window = make_window()
    open_and_separate(qtbot, window, song)
    dialog = window.export_dialog()
    for name, box in dialog.stem_checks.items():
        box.setChecked(name == "vocals")
    dialog.output_checks["drumless"].setChecked(True)
    dialog.container.setCurrentIndex(dialog.container.findData("mp3"))
    dialog.mp3_kbps.setCurrentIndex(dialog.mp3_kbps.findData(192))
    export_and_wait(qtbot, dialog, tmp_path / "out")
    dialog.close()

    second = window.export_dialog()
    assert [n for n, b in second.stem_checks.items() if b.isChecked()] == ["vocals"]
    assert [k for k, b in second.output_checks.items() if b.isChecked()] == ["drumless"]
    assert second.container.currentData() == "mp3" and second.mp3_kbps.currentData() == 192
    assert second.folder.text() == str(tmp_path / "out")
    second.close()


def test_named_presets(qtbot, make_window, stemdeck_home, song, tmp_path):
    window = make_window()
    open_and_separate(qtbot, window, song)
    dialog = window.export_dialog()
    pick_preset(dialog, "Instrumental MP3 320")
    report = export_and_wait(qtbot, dialog, tmp_path / "out")
    assert [p.name for p in report.paths] == ["instrumental.mp3"]
    info = sf.info(report.paths[0])
    assert info.frames == sf.info(song).frames

    pick_preset(dialog, "Stems 24-bit WAV")
    assert all(b.isChecked() for b in dialog.stem_checks.values())
    assert not any(b.isChecked() for b in dialog.output_checks.values())
    assert (dialog.container.currentData(), dialog.bit_depth.currentData()) == ("wav", 24)
    # a change of one box leaves the preset: the combo says so
    dialog.stem_checks["bass"].setChecked(False)
    assert dialog.preset.currentText() == "Custom"
    dialog.save_preset("No bass 24")
    dialog.close()

    later = window.export_dialog()
    pick_preset(later, "Stems FLAC")
    pick_preset(later, "No bass 24")
    assert [n for n, b in later.stem_checks.items() if not b.isChecked()] == ["bass"]
    assert later.bit_depth.currentData() == 24
    later.close()


def test_queue_exports_several_songs(qtbot, make_window, stemdeck_home, tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    a = make_song(tmp_path / "A" / "mixture.wav", seconds=1.0)
    b = make_song(tmp_path / "B" / "mixture.wav", seconds=1.5)
    window = make_window()
    window.open_paths([a, b])
    qtbot.waitUntil(lambda: all(i.status == "done" for i in window.session.items), timeout=120_000)
    window.queue.tree.selectAll()
    item = window.session.items[0]
    menu = window.queue.context_menu(item)
    action = next(a for a in menu.actions() if a.text().startswith("Export"))
    assert action.text() == "Export 2 songs…"
    action.trigger()
    dialog = window.export_dialog_widget
    assert dialog.songs == [a, b]
    pick_preset(dialog, "Stems 16-bit WAV")
    dialog.template.setText("{track}/{stem}.{ext}")   # the same name twice: refused, nothing written
    with qtbot.waitSignal(dialog.export_failed, timeout=30_000) as failed:
        dialog.folder.setText(str(tmp_path / "out"))
        dialog.start_export()
    assert str(a) in failed.args[0] and str(b) in failed.args[0]
    assert not (tmp_path / "out").exists()
    dialog.template.setText("{relpath}/{stem}.{ext}")
    report = export_and_wait(qtbot, dialog, tmp_path / "out")
    assert len(report.paths) == 8 and not report.failures
    for song_path, folder in ((a, "A"), (b, "B")):
        for stem in ("drums", "bass", "other", "vocals"):
            info = sf.info(tmp_path / "out" / folder / "mixture" / f"{stem}.wav")
            assert info.frames == sf.info(song_path).frames and info.subtype == "PCM_16"
    dialog.close()
