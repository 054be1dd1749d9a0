"""The Train panel, driven like a person: settings, Train, Cancel, the queue, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from core.store import Project
from core.training.config import TrainConfig
from core.training.events import Eval, Step
from desktop.controller import ProjectController
from desktop.results_panel import ResultsPanel
from desktop.train_panel import TrainPanel

from desktop_support import build_tiny_model, make_project

TIMEOUT = 90_000


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny-bert")


@pytest.fixture
def controller(tmp_path, qtbot):
    controller = ProjectController()
    controller.set_project(make_project(tmp_path / "p.spanlab"))
    yield controller
    controller.close_project()


@pytest.fixture
def panel(controller, qtbot):
    panel = TrainPanel(controller)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    yield panel
    panel.shutdown()


def fill_form(panel: TrainPanel, model: Path, monkeypatch, epochs: int = 2) -> None:
    """Pick the model folder through the dialog and type the settings in."""
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(model))
    panel.form.base_model.choose_button.click()
    form = panel.form
    form.editor("epochs").setValue(epochs)
    form.editor("batch_size").setValue(8)
    form.editor("learning_rate").setText("5e-3")
    panel.form.advanced.toggle.click()
    form.editor("max_length").setValue(32)
    form.editor("window_overlap").setValue(8)
    form.editor("patience").setValue(0)
    form.editor("warmup").setText("0")
    form.editor("device").setCurrentText("cpu")


def test_form_shows_the_defaults_with_advanced_folded(panel) -> None:
    assert not panel.form.advanced.is_open()
    assert not panel.form.editor("weight_decay").isVisible()
    assert panel.form.editor("epochs").isVisible()
    assert panel.form.config() == TrainConfig()
    panel.form.advanced.toggle.click()
    assert panel.form.editor("weight_decay").isVisible()
    # Set by the project (word tokenizer) or a federation's rounds (schedule), not by hand.
    hidden = {"word_tokenizer", "schedule_from", "schedule_to"}
    assert not hidden & set(panel.form.editors) and "proximal_mu" in panel.form.editors


def test_a_bad_setting_is_reported_not_raised(panel, controller, qtbot) -> None:
    panel.form.editor("learning_rate").setText("0")
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.error_label.isVisible()
    assert "learning rate" in panel.error_label.text()
    assert controller.project.runs() == []


def test_train_button_trains_records_and_fills_the_results(
    panel, controller, tiny_model, qtbot, monkeypatch
) -> None:
    results = ResultsPanel(controller)
    qtbot.addWidget(results)
    fill_form(panel, tiny_model, monkeypatch)
    with qtbot.waitSignal(panel.run_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
        assert panel.queue.is_busy()  # the click returned while the run goes on
    run_id, status = finished.args
    assert status == "done"

    run = controller.project.get_run(run_id)
    assert run["status"] == "done"
    assert run["config"]["base_model"] == str(tiny_model)
    assert Path(run["output_dir"], "config.json").is_file()
    kinds = {e["kind"] for e in controller.project.run_events(run_id)}
    assert {"step", "done"} <= kinds

    assert panel.chart.loss_points()
    assert panel.chart.f1_points()
    assert panel.progress.value() == panel.progress.maximum() > 0
    assert "Device: CPU" in panel.device_label.text()
    assert f"Run {run_id} finished. Dev F1 {run['metrics']['f1']:.3f}." in panel.log.toPlainText()
    assert not panel.cancel_button.isEnabled()

    # The Results tab shows this run and its entity scores.
    assert results.selected_run_id() == run_id
    names = [row["name"] for row in results.entity_table.visible_rows()]
    assert {"PER", "LOC", "micro avg", "macro avg", "weighted avg"} <= set(names)
    dev = run["metrics"]["dev"]["entity"]
    shown = {row["name"]: row for row in results.entity_table.visible_rows()}
    assert shown["PER"]["f1"] == pytest.approx(dev["PER"]["f1"])
    assert shown["micro avg"]["support"] == dev["micro avg"]["support"]


def test_cancel_stops_the_run_and_leaves_no_model_while_the_queue_goes_on(
    panel, controller, tiny_model, qtbot, monkeypatch
) -> None:
    fill_form(panel, tiny_model, monkeypatch, epochs=500)
    first = panel.start_training()
    panel.form.editor("epochs").setValue(1)
    second = panel.start_training()
    texts = [panel.queue_list.item(i).text() for i in range(panel.queue_list.count())]
    assert any(f"Run {second}" in t and "queued" in t for t in texts)
    assert controller.project.get_run(second)["status"] == "queued"

    with qtbot.waitSignal(
        panel.queue.run_event,
        timeout=TIMEOUT,
        check_params_cb=lambda run_id, event: run_id == first and isinstance(event, Step | Eval),
    ):
        pass
    with qtbot.waitSignal(panel.run_finished, timeout=TIMEOUT) as cancelled:
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert cancelled.args == [first, "cancelled"]
    run = controller.project.get_run(first)
    assert run["status"] == "cancelled"
    models = Path(controller.project.models_dir)
    assert not (models / f"run-{first}").exists()
    leftovers = [p for p in models.rglob("config.json") if f"run-{first}" in str(p)]
    assert leftovers == []

    with qtbot.waitSignal(panel.run_finished, timeout=TIMEOUT) as done:
        pass
    assert done.args == [second, "done"]
    assert controller.project.get_run(second)["status"] == "done"


def test_opening_another_project_stops_the_run_and_records_it_in_its_own_file(
    panel, controller, tiny_model, tmp_path, qtbot, monkeypatch
) -> None:
    fill_form(panel, tiny_model, monkeypatch, epochs=500)
    first_file = controller.project.path
    run_id = panel.start_training()
    with qtbot.waitSignal(panel.run_finished, timeout=TIMEOUT) as finished:
        controller.set_project(make_project(tmp_path / "other.spanlab"))
    assert finished.args == [run_id, "cancelled"]
    assert controller.project.runs() == []
    with Project.open(first_file) as first:
        assert first.get_run(run_id)["status"] == "cancelled"


def test_no_annotated_documents_is_a_readable_message(tmp_path, qtbot) -> None:
    controller = ProjectController()
    controller.set_project(Project.create(tmp_path / "empty.spanlab", labels=["PER"]))
    panel = TrainPanel(controller)
    qtbot.addWidget(panel)
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert "annotate" in panel.error_label.text().lower()
    assert not panel.error_label.isHidden()
    assert controller.project.runs() == []
    panel.shutdown()
    controller.close_project()


def test_a_failing_run_shows_its_reason(panel, controller, tmp_path, qtbot, monkeypatch) -> None:
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    fill_form(panel, not_a_model, monkeypatch)
    with qtbot.waitSignal(panel.run_finished, timeout=TIMEOUT) as finished:
        panel.train_button.click()
    run_id, status = finished.args
    assert status == "failed"
    run = controller.project.get_run(run_id)
    assert run["status"] == "failed" and run["error"]
    assert not panel.error_label.isHidden()
    assert "not a model" in panel.error_label.text()
    assert not Path(controller.project.models_dir, f"run-{run_id}").exists()


def test_train_and_results_tabs_give_a_run_the_same_duration(
    panel, controller, tiny_model, qtbot, monkeypatch
) -> None:
    from datetime import datetime, timedelta, timezone

    import core.training.recorder as recorder_module
    from core.durations import run_duration

    # The store's clock runs 7 s per reading: the stored timestamps, not the wall clock
    # the Train tab happens to see, are what both tabs must agree on.
    start = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    readings = iter(range(10_000))

    def slow_clock() -> str:
        moment = start + timedelta(seconds=7 * next(readings))
        return moment.isoformat(timespec="milliseconds")

    monkeypatch.setattr(recorder_module, "now", slow_clock)
    results = ResultsPanel(controller)
    qtbot.addWidget(results)
    fill_form(panel, tiny_model, monkeypatch)
    with qtbot.waitSignal(panel.run_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    run_id, status = finished.args
    assert status == "done"

    run = controller.project.get_run(run_id)
    stored = run_duration(run)
    assert stored and stored != "0 s"
    (row,) = [r for r in results.runs_table.visible_rows() if r["id"] == run_id]
    assert row["duration"] == stored
    assert panel.eta_label.text() == f"took {stored}"


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """What an import does: a connection of its own holding the file's write lock."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_a_run_keeps_its_records_while_an_import_writes_and_writes_them_after(
    panel, controller, tiny_model, qtbot, monkeypatch
) -> None:
    errors = []
    controller.error.connect(errors.append)
    locks = []

    def import_starts(_run_id: int, event: object) -> None:  # at the run's first step
        if isinstance(event, Step) and not locks:
            locks.append(hold_write_lock(controller.project.path))
            controller.begin_write_job("The import of big.conll")

    panel.queue.run_event.connect(import_starts)
    fill_form(panel, tiny_model, monkeypatch)
    # The run ends while the import holds the lock: the panel follows it, the store waits.
    with qtbot.waitSignal(panel.run_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    run_id = finished.args[0]
    assert finished.args == [run_id, "done"] and locks
    assert f"Run {run_id} finished." in panel.status_label.text()
    assert panel.eta_label.text().startswith("took ")
    assert controller.project.get_run(run_id)["status"] == "running"
    assert errors == []  # no write was tried (it would have met the lock and failed)

    # A new run is refused at once, with the reason.
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert "The import of big.conll is writing to the project" in panel.error_label.text()
    assert [r["id"] for r in controller.project.runs()] == [run_id]

    locks[0].rollback()
    locks[0].close()
    with qtbot.waitSignal(controller.runs_changed, timeout=TIMEOUT):
        controller.end_write_job()
    assert panel.error_label.isHidden()  # the refusal went with the import
    run = controller.project.get_run(run_id)
    assert run["status"] == "done" and run["output_dir"] and run["finished"]
    kinds = [e["kind"] for e in controller.project.run_events(run_id)]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("eval") == 2
    assert errors == []


def test_opening_a_project_with_runs_says_what_the_last_one_is(panel, controller) -> None:
    project = controller.project
    run_id = project.create_run({"epochs": 1}, "default")
    project.update_run(run_id, status="done", metrics={"f1": 0.5})
    controller.set_project(project)  # what opening it does
    assert panel.status_label.text() == (
        f"Last run: run {run_id}, done, dev F1 0.500 (details in the Results tab)."
    )


def test_the_form_shows_the_settings_of_the_projects_last_run(panel, controller) -> None:
    from core.training.config import TrainConfig

    project = controller.project
    used = TrainConfig(epochs=7, learning_rate=3e-5, batch_size=8, warm_start="run-1")
    project.create_run(used.to_dict(), "default")
    controller.set_project(project)  # what reopening the project does
    shown = panel.form.config()
    assert (shown.epochs, shown.learning_rate, shown.batch_size) == (7, 3e-5, 8)
    assert shown.warm_start is None  # a warm start belongs to one run, not carried on


def test_the_train_button_refits_on_train_and_dev_unless_the_box_is_unticked(
    panel, controller, tiny_model, qtbot, monkeypatch
) -> None:
    results = ResultsPanel(controller)
    qtbot.addWidget(results)
    fill_form(panel, tiny_model, monkeypatch)
    if not panel.form.advanced.is_open():
        panel.form.advanced.toggle.click()
    box = panel.form.editor("refit")
    assert box.isVisible() and box.isChecked()  # on by default
    shown = []  # the status line as each event left it
    panel.queue.run_event.connect(lambda *_: shown.append(panel.status_label.text()))
    with qtbot.waitSignal(panel.run_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    run_id, status = finished.args
    assert status == "done"
    run = controller.project.get_run(run_id)
    assert run["metrics"]["refit"]["epochs"] == run["metrics"]["best_epoch"]
    assert "Refit: dev F1 was best at epoch" in panel.log.toPlainText()
    epochs = run["metrics"]["refit"]["epochs"]
    assert any(f"refit epoch {epochs}/{epochs} · step" in text for text in shown)
    assert panel.progress.value() == panel.progress.maximum() > 0
    # The Results tab shows the first pass's dev scores and says why the errors differ.
    assert results.selected_run_id() == run_id
    assert f"dev micro F1 {run['metrics']['f1']:.3f} — before the refit" in results.summary.text()

    box.click()  # a person unticks it
    assert not box.isChecked()
    with qtbot.waitSignal(panel.run_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    second = controller.project.get_run(finished.args[0])
    assert second["config"]["refit"] is False and "refit" not in second["metrics"]
