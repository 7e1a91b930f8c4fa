"""The queue panel's rows (app/queue_panel.py)."""

from __future__ import annotations

def test_queue_status_column_tooltip_holds_the_whole_status(qtbot, tmp_path):
    """The status column is narrow ("Done — cpu (C…"): hovering it shows all of it, or the
    reason a song failed."""
    from app.queue_panel import QueuePanel
    from app.session import QueueItem

    panel = QueuePanel()
    qtbot.addWidget(panel)
    done = QueueItem(tmp_path / "a.wav", status="done", message="cpu (CPU (2 cores))")
    failed = QueueItem(tmp_path / "b.wav", status="failed", message="b.wav: not an audio file")
    for item in (done, failed):
        panel.add_item(item)
        panel.update_item(item)
    rows = [panel.tree.topLevelItem(i) for i in range(2)]
    assert rows[0].toolTip(1) == "Done — cpu (CPU (2 cores))"
    assert rows[1].toolTip(1) == "b.wav: not an audio file"
    assert rows[0].toolTip(0) == str(tmp_path / "a.wav")
