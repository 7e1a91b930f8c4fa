"""Train tab: JSON-line parsing, the QProcess wrapper, and the tab driven by a fake and a real run.

The fake child is a small Python script written by the tests: it prints the same JSON events as
`stemdeck train --progress json` with short sleeps, honours SIGTERM like the trainer (a "stopped"
event, exit code 3) or ignores it (to prove Stop still ends it by killing).
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
import time
from pathlib import Path

import pytest

from PySide6 import QtCore  # noqa: F401  (PySide6 before pyqtgraph)

from app.trainer import train_process as tp
from app.trainer.dataset_report import DatasetReportView, summarize_report
from app.time_format import format_eta
from app.trainer.run_view import sdr_comparison
from app.trainer.train_process import JsonLineParser, TrainProcess, TrainSettings, train_command
from app.trainer.trainer_tab import TrainerTab

pytestmark = pytest.mark.gui

FAKE_TRAINER = textwrap.dedent(r'''
    import json, signal, sys, time
    args = sys.argv[1:]
    def opt(name, default=None):
        return args[args.index(name) + 1] if name in args else default
    steps = int(opt("--steps", "20"))
    delay = float(opt("--fake-delay", "0.03"))
    mode = opt("--fake-mode", "normal")
    stop = []
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    def emit(**event):
        print(json.dumps(event), flush=True)
    emit(event="start", step=0, steps=steps, resumed=False, batch=4, device="cpu", precision="fp32",
         train_songs=2, valid_songs=1, unusable_songs=[{"path": "/x/broken", "reason": "too short"}],
         parameters=12345, base_model=opt("--from", "default"), out=opt("--out"), argv=args)
    print("a warning on stderr", file=sys.stderr, flush=True)
    print("not json {", flush=True)
    sdr0 = {"drums": 1.0, "bass": 0.5, "other": -0.5, "vocals": 2.0}
    emit(event="validation", step=0, sdr=sdr0, mean_sdr=0.75, best=True, songs=1, seconds=2.0)
    for step in range(1, steps + 1):
        if stop:
            emit(event="checkpoint", step=step - 1, path="ckpt")
            emit(event="stopped", step=step - 1)
            sys.exit(3)
        time.sleep(delay)
        # a partial line written in two pieces must still parse as one event
        line = json.dumps(dict(event="step", step=step, steps=steps, loss=1.0 / step, lr=3e-4,
                               steps_per_s=10.0, eta_seconds=(steps - step) / 10.0, elapsed_seconds=step / 10))
        sys.stdout.write(line[:10]); sys.stdout.flush(); time.sleep(0.002)
        sys.stdout.write(line[10:] + "\n"); sys.stdout.flush()
    sdr1 = {"drums": 2.5, "bass": 0.25, "other": 0.5, "vocals": 4.0}
    emit(event="validation", step=steps, sdr=sdr1, mean_sdr=1.8125, best=True, songs=1, seconds=2.0)
    out = opt("--out")
    emit(event="done", step=steps, model=out + "/fake.safetensors", card=out + "/fake.json",
         best_step=steps, best_sdr=sdr1, elapsed_seconds=1.5)
''')


@pytest.fixture
def fake_trainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make TrainProcess run the fake trainer script instead of `python -m model.cli train`."""
    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE_TRAINER, encoding="utf-8")

    def command(settings: TrainSettings, python: str | None = None) -> tuple[str, list[str]]:
        return sys.executable, [str(script), *settings.to_args()]

    monkeypatch.setattr(tp, "train_command", command)
    return script


# -- parser -------------------------------------------------------------------------------------
def test_parser_joins_partial_lines_and_sorts_events_from_log_lines() -> None:
    parser = JsonLineParser()
    assert parser.feed(b'{"event": "st') == []
    assert parser.feed(b'ep", "step": 3, "loss": 0.5}\nplain') == [
        ("event", {"event": "step", "step": 3, "loss": 0.5})]
    items = parser.feed(b' text\r\n\n[1, 2]\n{"no_event": 1}\n{"event": 5}\n{broken json\n'
                        b'{"event": "done", "model": "m"}\n')
    assert items == [("log", "plain text"), ("log", "[1, 2]"), ("log", '{"no_event": 1}'),
                     ("log", '{"event": 5}'), ("log", "{broken json"),
                     ("event", {"event": "done", "model": "m"})]
    assert parser.feed(b"tail without newline") == []
    assert parser.flush() == [("log", "tail without newline")]
    assert parser.flush() == []


def test_parser_keeps_a_multibyte_character_split_across_chunks() -> None:
    parser = JsonLineParser()
    data = json.dumps({"event": "error", "message": "Mötley Crüe: kein Ton"}, ensure_ascii=False).encode() + b"\n"
    cut = data.index("ö".encode()) + 1          # in the middle of the two-byte "ö"
    assert parser.feed(data[:cut]) == []
    assert parser.feed(data[cut:]) == [("event", {"event": "error", "message": "Mötley Crüe: kein Ton"})]


def test_parser_flushes_an_endless_line_to_the_log() -> None:
    parser = JsonLineParser()
    items = parser.feed(b"x" * (tp.MAX_LINE_BYTES + 10))
    assert len(items) == 1 and items[0][0] == "log" and len(items[0][1]) == tp.MAX_LINE_BYTES + 10


def test_settings_build_the_train_command_line(tmp_path: Path) -> None:
    s = TrainSettings(data=str(tmp_path / "data"), out=str(tmp_path / "run"), base_model="scratch",
                      steps=50, batch=2, segment_seconds=2.5, device="cpu", validate_every=10,
                      log_every=1, name="mine", varispeed=0.5, extra_args=["--workers", "0"])
    program, args = train_command(s)
    assert program == sys.executable
    assert args[:4] == ["-u", "-m", "model.cli", "train"]
    joined = " ".join(args)
    for piece in (f"--out {tmp_path / 'run'}", "--progress json", f"--data {tmp_path / 'data'}",
                  "--from scratch", "--steps 50", "--batch 2", "--segment 2.5", "--device cpu",
                  "--validate-every 10", "--log-every 1", "--name mine", "--workers 0",
                  "--varispeed 0.5"):
        assert piece in joined
    resume = TrainSettings(data="ignored", out=str(tmp_path / "run"), steps=9, resume=True).to_args()
    assert "--resume" in resume and "--data" not in resume and "--steps" not in resume


def test_loss_curve_has_a_smoothed_line_that_follows_the_trend(qtbot) -> None:
    """Per-batch losses scatter: the bright line is a debiased moving average of them."""
    from app.trainer.run_view import RunView

    view = RunView()
    qtbot.addWidget(view)
    view.reset(scratch=True)
    losses = [0.1 if i % 2 else 0.3 for i in range(200)] + [0.05] * 200   # noisy, then a drop
    for i, loss in enumerate(losses, start=1):
        view.step({"event": "step", "step": i, "loss": loss})
    steps, smooth = view.smoothed_loss_points()
    assert steps == view.loss_points()[0] and len(smooth) == 400
    assert smooth[0] == pytest.approx(0.3)                    # debiased: starts at the first loss
    assert all(abs(v - 0.2) < 0.02 for v in smooth[100:200])  # the scatter averages out
    assert smooth[-1] == pytest.approx(0.05, abs=1e-3)        # and it follows the drop
    x, y = view.loss_smooth_curve.getData()                # the plot's y axis is logarithmic
    assert list(y) == pytest.approx([math.log10(v) for v in smooth])
    view.reset(scratch=True)
    assert view.smoothed_loss_points() == ([], [])


def test_format_eta_and_sdr_comparison() -> None:
    assert format_eta(None) == "—" and format_eta(float("nan")) == "—"
    assert format_eta(12.4) == "12 s" and format_eta(185) == "3 min 05 s" and format_eta(3720) == "1 h 02 min"
    rows = sdr_comparison({"drums": 1.0, "bass": None, "vocals": 2.0},
                          {"drums": 3.0, "bass": 1.0, "vocals": 1.0})
    assert rows[0] == ("drums", 1.0, 3.0, 2.0)
    assert rows[1] == ("bass", None, 1.0, None)
    assert rows[2] == ("vocals", 2.0, 1.0, -1.0)
    assert rows[3] == ("mean", 1.5, 2.0, 0.5)    # over stems measured both times only


# -- the process wrapper ------------------------------------------------------------------------
def test_train_process_turns_child_output_into_signals(qtbot, tmp_path: Path, fake_trainer: Path) -> None:
    proc = TrainProcess()
    kinds: list[str] = []
    logs: list[str] = []
    steps: list[int] = []
    proc.event.connect(lambda e: kinds.append(e["event"]))
    proc.step.connect(lambda e: steps.append(e["step"]))
    proc.log.connect(logs.append)
    settings = TrainSettings(data=str(tmp_path), out=str(tmp_path / "run"), steps=5)
    with qtbot.waitSignal(proc.finished, timeout=15000) as finished:
        proc.start(settings)
    assert finished.args == ["done", 0]
    assert kinds == ["start", "validation"] + ["step"] * 5 + ["validation", "done"]
    assert steps == [1, 2, 3, 4, 5]
    assert "a warning on stderr" in logs and "not json {" in logs
    assert proc.last_events["done"]["model"].endswith("fake.safetensors")
    assert not proc.is_running()


def test_train_process_reports_a_crash_with_the_stderr_tail(qtbot, tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text("import sys\nprint('Traceback: boom', file=sys.stderr)\nsys.exit(7)\n")
    proc = TrainProcess()
    errors: list[str] = []
    proc.error.connect(errors.append)
    with qtbot.waitSignal(proc.finished, timeout=10000) as finished:
        proc.start(program=sys.executable, arguments=[str(script)])
    assert finished.args == ["failed", 7]
    assert errors and "exit code 7" in errors[0] and "Traceback: boom" in errors[0]


def test_train_process_reports_a_program_that_cannot_start(qtbot, tmp_path: Path) -> None:
    proc = TrainProcess()
    with qtbot.waitSignal(proc.finished, timeout=5000) as finished:
        proc.start(program=str(tmp_path / "no-such-python"), arguments=[])
    assert finished.args[0] == "failed"
    assert "could not start" in proc.error_message


# -- the tab with the fake child ----------------------------------------------------------------
def _tab(qtbot, tmp_path: Path, **kwargs) -> TrainerTab:
    tab = TrainerTab(probe_environment=False, **kwargs)
    qtbot.addWidget(tab)
    # what the environment probe (a worker) reports, without importing torch here
    tab._environment_ready({"models": [{"name": "other-model"}, {"name": "base", "description": "bundled"}],
                            "default": "base", "devices": [{"id": "cpu", "name": "CPU"},
                                                           {"id": "cuda:0", "name": "Fake GPU"}]})
    data = tmp_path / "songs"
    data.mkdir(exist_ok=True)
    tab.dataset_edit.setText(str(data))
    tab.out_edit.setText(str(tmp_path / "run"))
    return tab


def test_tab_shows_progress_curves_and_the_before_after_table(qtbot, tmp_path: Path, fake_trainer: Path) -> None:
    tab = _tab(qtbot, tmp_path)
    tab.steps_spin.setValue(12)
    tab.batch_spin.setValue(3)
    seen_points: list[int] = []
    tab.process.step.connect(lambda _e: seen_points.append(len(tab.loss_points()[0])))
    assert tab.start_button.isEnabled() and not tab.stop_button.isEnabled()
    with qtbot.waitSignal(tab.running_changed, timeout=15000, check_params_cb=lambda running: not running):
        tab.start_button.click()
        assert tab.stop_button.isEnabled() and not tab.start_button.isEnabled()
        assert not tab.settings_box.isEnabled()
    # the form reached the child's command line
    argv = tab.process.last_events["start"]["argv"]
    assert argv[argv.index("--steps") + 1] == "12" and argv[argv.index("--batch") + 1] == "3"
    assert argv[argv.index("--from") + 1] == "base"          # the default model is preselected
    assert argv[argv.index("--device") + 1] == "auto"
    # the curve grew while the run went on, one point per step event
    assert seen_points == list(range(1, 13))
    xs, ys = tab.loss_points()
    assert xs == [float(i) for i in range(1, 13)] and ys[0] == 1.0 and math.isclose(ys[-1], 1 / 12)
    curve_x, curve_y = tab.run_view.loss_curve.getData()
    assert len(curve_x) == 12
    assert tab.sdr_points()["vocals"] == ([0.0, 12.0], [2.0, 4.0])
    assert tab.rate_label.text() == "10.00 steps/s"
    assert tab.progress_bar.value() == tab.progress_bar.maximum() == 12
    # before/after: base model (step 0) vs best validation
    table = tab.run_view.results_table
    cells = {table.item(r, 0).text(): [table.item(r, c).text() for c in (1, 2, 3)] for r in range(table.rowCount())}
    assert cells["drums"] == ["1.00 dB", "2.50 dB", "+1.50 dB"]
    assert cells["bass"] == ["0.50 dB", "0.25 dB", "-0.25 dB"]
    assert cells["mean"] == ["0.75 dB", "1.81 dB", "+1.06 dB"]
    assert tab.run_view.use_button.isEnabled()
    assert tab.state == "idle" and tab.last_outcome == "done"
    assert tab.status_label.text().startswith("Done")
    assert tab.start_button.isEnabled() and not tab.stop_button.isEnabled()
    log = tab.run_view.log_view.toPlainText()
    assert "skipped /x/broken: too short" in log and "a warning on stderr" in log
    assert "validation (base model)" in log


def test_stop_ends_the_run_cleanly_and_the_tab_returns_to_idle(qtbot, tmp_path: Path, fake_trainer: Path) -> None:
    tab = _tab(qtbot, tmp_path)
    tab.steps_spin.setValue(100000)
    tab.extra_args = ["--fake-delay", "0.05"]
    tab.start()
    qtbot.waitUntil(lambda: len(tab.loss_points()[0]) >= 3, timeout=15000)
    t0 = time.monotonic()
    with qtbot.waitSignal(tab.running_changed, timeout=5000):
        tab.stop_button.click()
        assert tab.status_label.text().startswith("Stopping") and not tab.stop_button.isEnabled()
    assert time.monotonic() - t0 < 2.0
    assert tab.last_outcome == "stopped" and not tab.is_running()
    assert tab.status_label.text().startswith("Stopped.")
    assert tab.start_button.isEnabled() and tab.settings_box.isEnabled()
    assert not tab.run_view.use_button.isEnabled() and tab.run_view.results_table.rowCount() == 0


def test_stop_kills_a_child_that_ignores_the_request(qtbot, tmp_path: Path, fake_trainer: Path) -> None:
    tab = _tab(qtbot, tmp_path, stop_grace_seconds=0.5)
    tab.steps_spin.setValue(100000)
    tab.extra_args = ["--fake-mode", "ignore-term"]
    tab.start()
    qtbot.waitUntil(lambda: len(tab.loss_points()[0]) >= 2, timeout=15000)
    t0 = time.monotonic()
    with qtbot.waitSignal(tab.running_changed, timeout=5000):
        tab.stop()
    assert time.monotonic() - t0 < 2.0
    assert tab.last_outcome == "killed" and "killed" in tab.status_label.text()


def test_closing_asks_first_and_keeps_the_run_when_told_no(qtbot, tmp_path: Path, fake_trainer: Path) -> None:
    tab = _tab(qtbot, tmp_path)
    tab.steps_spin.setValue(100000)
    tab.start()
    qtbot.waitUntil(lambda: len(tab.loss_points()[0]) >= 1, timeout=15000)
    questions: list[str] = []
    tab._question = lambda title, text: questions.append(title) or False
    tab.hide()                                  # closing the tab itself leaves the run alone
    assert tab.confirm_close() is False and tab.is_running()
    tab._question = lambda title, text: questions.append(title) or True
    painted: list[str] = []
    tab.process.stopped.connect(lambda _e: painted.append(tab.status_label.text()))
    t0 = time.monotonic()
    assert tab.confirm_close() is True
    assert time.monotonic() - t0 < 2.0
    assert not tab.is_running() and questions == ["Stop training?", "Stop training?"]
    # events were still handled while waiting (a local event loop, not a blocking wait)
    assert painted and painted[0].startswith("Stopping the training run before closing")
    assert tab.state == "idle" and tab.last_outcome == "stopped"


def test_start_refuses_without_folders_and_resumes_an_existing_run(qtbot, tmp_path: Path,
                                                                   fake_trainer: Path) -> None:
    tab = _tab(qtbot, tmp_path)
    tab.dataset_edit.setText(str(tmp_path / "missing"))
    assert tab.start() is False and "dataset" in tab.status_label.text()
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"x")
    (run / "events.jsonl").write_text(
        json.dumps({"event": "start", "step": 0, "base_model": "base", "resumed": False}) + "\n"
        + json.dumps({"event": "validation", "step": 0, "sdr": {"vocals": 1.5}}) + "\n"
        + json.dumps({"event": "step", "step": 5, "loss": 0.25}) + "\n")
    tab._question = lambda title, text: False
    assert tab.start() is False and not tab.is_running()
    tab._question = lambda title, text: True
    with qtbot.waitSignal(tab.running_changed, timeout=15000, check_params_cb=lambda r: not r):
        assert tab.start() is True
        # the resumed run's history is back on the curves before the child says anything
        assert tab.loss_points() == ([5.0], [0.25])
    assert "--resume" in tab.process.last_events["start"]["argv"]


def test_model_and_device_lists_fill_the_form(qtbot, tmp_path: Path) -> None:
    tab = _tab(qtbot, tmp_path)
    models = [tab.base_combo.itemText(i) for i in range(tab.base_combo.count())]
    assert models == ["other-model", "base  (default)", "From scratch (a new network)"]
    assert tab.base_combo.currentData() == "base"
    devices = [tab.device_combo.itemData(i) for i in range(tab.device_combo.count())]
    assert devices == ["auto", "cpu", "cuda:0"]
    tab.device_combo.setCurrentIndex(2)
    tab.base_combo.setCurrentIndex(2)
    s = tab.settings()
    assert (s.base_model, s.device) == ("scratch", "cuda:0")


def test_form_is_saved_and_restored(qtbot, tmp_path: Path) -> None:
    from app.settings import Settings

    store = Settings(tmp_path / "settings.ini")
    tab = _tab(qtbot, tmp_path)
    tab.steps_spin.setValue(2500)
    tab.batch_spin.setValue(8)
    tab.segment_spin.setValue(6.5)
    tab.validate_spin.setValue(0)
    tab.varispeed_check.setChecked(True)
    tab.device_combo.setCurrentIndex(tab.device_combo.findData("cuda:0"))
    tab.base_combo.setCurrentIndex(tab.base_combo.findData("other-model"))
    fresh = TrainerTab(probe_environment=False)
    qtbot.addWidget(fresh)
    assert fresh.settings().varispeed is None                                # off by default
    tab.save_settings(store)
    store.sync()
    again = TrainerTab(probe_environment=False)
    qtbot.addWidget(again)
    again.check.start = lambda folder, sources=(): None  # the checker child is not needed here
    again.restore_settings(Settings(tmp_path / "settings.ini"))
    assert again.dataset_edit.text() == str(tmp_path / "songs")
    s = again.settings()
    assert (s.steps, s.batch, s.segment_seconds, s.validate_every) == (2500, 8, 6.5, 0)
    assert (s.device, s.base_model, s.varispeed) == ("cuda:0", "other-model", 0.5)
    # the choice survives the model list arriving; a model that is gone falls back to the default
    again._environment_ready({"models": [{"name": "base"}, {"name": "other-model"}], "default": "base",
                              "devices": [{"id": "cpu", "name": "CPU"}]})
    assert again.base_combo.currentData() == "other-model"
    assert again.device_combo.currentData() == "auto"     # cuda:0 is not on this machine
    again._environment_ready({"models": [{"name": "base"}], "default": "base", "devices": []})
    assert again.base_combo.currentData() == "base"


def test_train_form_survives_a_restart_of_the_window(qtbot, tmp_path: Path, make_window,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The README says the Train tab remembers its form: close the app, open it again."""
    checked = []
    monkeypatch.setattr("app.trainer.dataset_report.DatasetCheck.start",
                        lambda self, folder, sources=(): checked.append(folder))
    songs = tmp_path / "songs"
    songs.mkdir()
    window = make_window()
    tab = window.trainer_tab
    tab.set_dataset(str(songs))
    tab.steps_spin.setValue(2500)
    tab.batch_spin.setValue(8)
    tab.segment_spin.setValue(6.5)
    tab.validate_spin.setValue(0)
    tab.varispeed_check.setChecked(True)
    window.close()
    again = make_window().trainer_tab
    assert again.dataset_edit.text() == str(songs)
    assert checked == [str(songs), str(songs)]                   # checked again on restart
    s = again.settings()
    assert (s.steps, s.batch, s.segment_seconds, s.validate_every, s.varispeed) == (2500, 8, 6.5, 0, 0.5)
    assert s.device == "auto"


def test_dataset_report_view_lists_songs_and_unusable_reasons(qtbot) -> None:
    report = {
        "root": "/d", "layout": "musdb18hq", "notes": ["validation: valid/"], "error": None,
        "songs": [
            {"name": "B song", "path": "/d/train/B", "split": "train", "usable": True, "reasons": [],
             "warnings": ["vocals is silent"], "duration_seconds": 125.0, "samplerate": 44100,
             "stems": {"vocals": {"files": ["vocals.wav"], "channels": 2},
                       "drums": {"files": ["drums.wav"], "channels": 2}}},
            {"name": "Broken", "path": "/d/train/Broken", "split": "?", "usable": False,
             "reasons": ["too short (0.20 s < 1 s)"], "warnings": [], "stems": {}},
            {"name": "A song", "path": "/d/valid/A", "split": "valid", "usable": True, "reasons": [],
             "warnings": [], "duration_seconds": 2.0, "samplerate": 48000,
             "stems": {"bass": {"files": ["bass.flac"], "channels": 1}}},
        ],
    }
    view = DatasetReportView()
    qtbot.addWidget(view)
    view.show_report(report)
    rows = [[view.table.item(r, c).text() for c in range(view.table.columnCount())]
            for r in range(view.table.rowCount())]
    assert rows[0] == ["B song", "train", "drums, vocals", "2:05.0", "44100 Hz", "2", "vocals is silent"]
    assert rows[1] == ["A song", "valid", "bass", "2.0 s", "48000 Hz", "1", "ok"]
    assert rows[2][0] == "Broken" and rows[2][-1] == "unusable: too short (0.20 s < 1 s)"
    assert view.usable_count() == 2
    assert "2 usable songs" in view.summary.text() and "1 unusable" in view.summary.text()
    assert summarize_report({"error": "/x: no songs found"}).endswith("/x: no songs found")


# -- one real run: the checker and `stemdeck train` as child processes --------------------------
@pytest.mark.slow
def test_real_short_run_checks_trains_compares_and_installs(qtbot, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("model.training.trainer")
    torch = pytest.importorskip("torch")
    from model import model_store
    from model.checkpoint import ModelCard, save_model
    from model.config import tiny_config
    from model.network import UnetSEBiSRU
    from train_fixtures import make_musdb_hq

    home = tmp_path / "home"
    monkeypatch.setenv("STEMDECK_HOME", str(home))
    monkeypatch.setenv("STEMDECK_BUNDLED_MODELS", str(tmp_path / "no-bundled-models"))  # child too
    # an installed tiny "base" model to fine-tune (the bundled one is far too big for a test)
    torch.manual_seed(0)
    base = UnetSEBiSRU(tiny_config())
    save_model(base, home / "models" / "base.safetensors",
               ModelCard(name="base", config=base.config, description="tiny test base"))
    data = make_musdb_hq(tmp_path / "songs", n_train=2, n_valid=1, n_test=0, seconds=2.0)
    broken = data / "train" / "broken song"
    broken.mkdir()
    for stem in ("mixture", "drums", "bass", "other", "vocals"):
        (broken / f"{stem}.wav").write_bytes(b"RIFF not really a wave file")

    tab = TrainerTab()
    qtbot.addWidget(tab)
    tab.show()                                              # models and devices are listed on show
    qtbot.waitUntil(lambda: tab.base_combo.findData("base") >= 0, timeout=60000)
    assert tab.base_combo.currentData() == "base"           # the only installed model is the default
    with qtbot.waitSignal(tab.check.finished, timeout=60000):
        tab.set_dataset(str(data))
    table = tab.report_view.table
    rows = {table.item(r, 0).text(): [table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())}
    assert rows["train song 0"][1:6] == ["train", "drums, bass, other, vocals", "2.0 s", "44100 Hz", "2"]
    assert rows["valid song 0"][1] == "valid"
    assert rows["broken song"][-1].startswith("unusable:")
    assert tab.report_view.summary.text().startswith("musdb18hq: 3 usable songs (0.1 min; 2 train, 1 valid), 1 unusable")

    tab.out_edit.setText(str(tmp_path / "run"))
    tab.name_edit.setText("tuned")
    tab.steps_spin.setValue(3)
    tab.batch_spin.setValue(1)
    tab.segment_spin.setValue(0.5)
    tab.validate_spin.setValue(3)
    tab.device_combo.setCurrentIndex(tab.device_combo.findData("cpu"))
    tab.extra_args = ["--workers", "0", "--valid-seconds", "1.5"]
    with qtbot.waitSignal(tab.running_changed, timeout=180000, check_params_cb=lambda r: not r):
        assert tab.start()
    assert tab.last_outcome == "done", tab.run_view.log_view.toPlainText()
    model_path = tmp_path / "run" / "tuned.safetensors"
    assert model_path.is_file() and model_path.with_suffix(".json").is_file()
    assert len(tab.loss_points()[0]) >= 2                   # steps 1 and 3 (log every step)
    results = tab.run_view.results_table
    cells = {results.item(r, 0).text(): [results.item(r, c).text() for c in (1, 2, 3)]
             for r in range(results.rowCount())}
    assert set(cells) >= {"drums", "bass", "other", "vocals", "mean"}
    assert cells["mean"][0].endswith(" dB") and cells["mean"][1].endswith(" dB")   # before and after
    assert "skipped" in tab.run_view.log_view.toPlainText() and "broken song" in tab.run_view.log_view.toPlainText()

    with qtbot.waitSignal(tab.model_selected, timeout=60000) as selected:
        tab.run_view.use_button.click()
    assert selected.args == ["tuned"]
    assert model_store.default_model_name() == "tuned"
    assert (home / "models" / "tuned.safetensors").is_file()
    tab.shutdown()


@pytest.mark.slow
def test_real_run_stops_with_a_checkpoint_and_resumes(qtbot, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("model.training.trainer")
    from train_fixtures import make_musdb_hq

    monkeypatch.setenv("STEMDECK_HOME", str(tmp_path / "home"))
    data = make_musdb_hq(tmp_path / "songs", n_train=2, n_valid=0, n_test=0, seconds=2.0)
    tab = TrainerTab(probe_environment=False)          # no model installed: only "from scratch"
    qtbot.addWidget(tab)
    tab.dataset_edit.setText(str(data))                 # (the checker is covered above)
    assert tab.base_combo.currentData() == "scratch"
    tab.out_edit.setText(str(tmp_path / "run"))
    tab.steps_spin.setValue(100000)
    tab.batch_spin.setValue(1)
    tab.segment_spin.setValue(0.5)
    tab.validate_spin.setValue(0)
    tab.extra_args = ["--tiny", "--workers", "0", "--log-every", "1"]
    assert tab.start()
    qtbot.waitUntil(lambda: len(tab.loss_points()[0]) >= 2, timeout=60000)
    # Stop must end the run: the signal's timeout is the hang check (a 5 s wall-clock bound
    # failed only when another job loaded both cores: 6.4 s)
    with qtbot.waitSignal(tab.running_changed, timeout=15000):
        tab.stop()
    assert tab.last_outcome == "stopped", tab.run_view.log_view.toPlainText()
    stopped_at = tab.process.last_events["stopped"]["step"]
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    # Start again with the same folder: asked, then resumed from the checkpoint's step
    tab._question = lambda title, text: True
    assert tab.start()
    qtbot.waitUntil(lambda: "start" in tab.process.last_events, timeout=60000)
    start = tab.process.last_events["start"]
    assert start["resumed"] is True and start["step"] == stopped_at
    qtbot.waitUntil(lambda: tab.loss_points()[0][-1] > stopped_at, timeout=60000)
    with qtbot.waitSignal(tab.running_changed, timeout=15000):
        tab.stop()
    assert tab.last_outcome == "stopped"


def test_an_empty_folder_is_reported_and_cannot_be_trained_on(qtbot, tmp_path: Path) -> None:
    pytest.importorskip("model.dataset_check")
    tab = TrainerTab(probe_environment=False)
    qtbot.addWidget(tab)
    empty = tmp_path / "empty"
    empty.mkdir()
    tab.out_edit.setText(str(tmp_path / "run"))
    with qtbot.waitSignal(tab.check.finished, timeout=60000):
        tab.set_dataset(str(empty))
    assert tab.report_view.summary.text().startswith("This folder cannot be used for training")
    assert tab.start() is False and "no usable songs" in tab.status_label.text()
    assert not tab.is_running() and not (tmp_path / "run").exists()


def test_use_this_model_asks_before_replacing_a_different_installed_model(
        qtbot, tmp_path: Path, fake_trainer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from model import model_store
    from model.checkpoint import ModelCard, read_card, save_model
    from model.config import tiny_config
    from model.network import UnetSEBiSRU

    home = tmp_path / "home"
    monkeypatch.setenv("STEMDECK_HOME", str(home))
    torch.manual_seed(1)
    installed = UnetSEBiSRU(tiny_config())
    save_model(installed, home / "models" / "fake.safetensors",
               ModelCard(name="fake", config=installed.config, description="the user's own"))
    old_sha = read_card(home / "models" / "fake.safetensors").sha256
    tab = _tab(qtbot, tmp_path)
    trained = UnetSEBiSRU(tiny_config())                    # what the (fake) run "trained"
    save_model(trained, tmp_path / "run" / "fake.safetensors",
               ModelCard(name="fake", config=trained.config, description="fine-tuned"))
    new_sha = read_card(tmp_path / "run" / "fake.safetensors").sha256
    assert new_sha != old_sha
    tab.steps_spin.setValue(3)
    (tmp_path / "run" / "checkpoint.pt").unlink(missing_ok=True)
    with qtbot.waitSignal(tab.running_changed, timeout=15000, check_params_cb=lambda r: not r):
        tab.start()
    assert tab.run_view.use_button.isEnabled()
    questions: list[str] = []
    tab._question = lambda title, text: questions.append(text) or False
    tab.run_view.use_button.click()
    qtbot.waitUntil(lambda: tab.run_view.use_button.isEnabled(), timeout=30000)
    assert questions and "already installed" in questions[0]
    assert "Not installed" in tab.status_label.text()
    assert read_card(home / "models" / "fake.safetensors").sha256 == old_sha      # untouched
    tab._question = lambda title, text: True
    with qtbot.waitSignal(tab.model_selected, timeout=30000):
        tab.run_view.use_button.click()
    assert read_card(home / "models" / "fake.safetensors").sha256 == new_sha
    assert model_store.default_model_name() == "fake"
    QtCore.QThreadPool.globalInstance().waitForDone(10000)
