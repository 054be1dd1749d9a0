"""Comparing two runs in the desktop: Results → Compare runs…, and Try it → Compare with."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

import desktop.try_panel as try_module
from core.store import Project
from core.training.predict import Predictor
from desktop.controller import ProjectController
from desktop.results_panel import ResultsPanel
from desktop.try_panel import TryPanel

from desktop_support import tiny_config, trained_project

TIMEOUT = 60_000
_TWO_RUNS: dict[str, Path] = {}


def two_run_project(tmp_path_factory: pytest.TempPathFactory, target: Path) -> Project:
    """A copy of a project whose run 1 is well trained and run 2 barely (trained once)."""
    if "path" not in _TWO_RUNS:
        from core.training.session import run_training

        path = tmp_path_factory.mktemp("two-runs") / "two.spanlab"
        with trained_project(tmp_path_factory, path) as project:
            base = project.latest_run()["base_model"]
            run_training(project, tiny_config(base, epochs=1, learning_rate=1e-3))
            assert [r["status"] for r in project.runs()] == ["done", "done"]
        _TWO_RUNS["path"] = path
    shutil.copy(_TWO_RUNS["path"], target)
    return Project.open(target)


@pytest.fixture
def controller(tmp_path, tmp_path_factory, qtbot):
    controller = ProjectController()
    controller.set_project(two_run_project(tmp_path_factory, tmp_path / "p.spanlab"))
    yield controller
    controller.close_project()


@pytest.fixture
def results(controller, qtbot):
    panel = ResultsPanel(controller)
    qtbot.addWidget(panel)
    panel.resize(1100, 750)
    panel.show()
    return panel


def click_row(qtbot, table, row: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    rect = table.view.visualRect(table.proxy.index(row, 0))
    qtbot.mouseClick(table.view.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def test_compare_two_picked_runs_shows_both_f1s_and_opens_fixed_and_broken_entities(
    results, controller, qtbot
) -> None:
    runs = {r["id"]: r for r in controller.project.runs()}
    click_row(qtbot, results.runs_table, 0)
    click_row(qtbot, results.runs_table, 1, Qt.KeyboardModifier.ControlModifier)
    assert results.compare_button.isEnabled()
    qtbot.mouseClick(results.compare_button, Qt.MouseButton.LeftButton)
    view = results.compare_view
    assert view is not None and view.isVisible()
    qtbot.waitUntil(lambda: bool(view.type_table.visible_rows()), timeout=TIMEOUT)
    assert view.chosen() == (1, 2, "dev")  # the older run is A

    rows = {r["label"]: r for r in view.type_table.visible_rows()}
    assert list(rows) == ["LOC", "PER", "micro avg"]
    micro = rows["micro avg"]
    assert micro["f1_a"] == pytest.approx(runs[1]["metrics"]["dev"]["f1"])
    assert micro["f1_b"] == pytest.approx(runs[2]["metrics"]["dev"]["f1"])
    assert micro["delta"] == pytest.approx(micro["f1_b"] - micro["f1_a"])
    assert micro["f1_a"] > micro["f1_b"], "one epoch at a low rate learns less"
    summary = view.summary.text()
    assert "paired bootstrap over 8 documents, 1000 resamples" in summary
    assert summary.startswith("Run 2 (B)")

    broken = view.broken_table.visible_rows()
    assert broken, "what run 1 finds and run 2 misses is broken"
    _click_opens_its_document(qtbot, controller, view.broken_table, broken)

    with qtbot.waitSignal(view.compared, timeout=TIMEOUT) as swapped:
        qtbot.mouseClick(view.swap_button, Qt.MouseButton.LeftButton)
    assert swapped.args == [(2, 1, "dev")]
    fixed = view.fixed_table.visible_rows()
    assert {(r["document_id"], r["start"]) for r in fixed} == {
        (r["document_id"], r["start"]) for r in broken
    }
    _click_opens_its_document(qtbot, controller, view.fixed_table, fixed)


def _click_opens_its_document(qtbot, controller, table, rows) -> None:
    with qtbot.waitSignal(controller.open_document_requested, timeout=2000) as opened:
        click_row(qtbot, table, 0)
    row = rows[0]
    assert opened.args == [row["document_id"], row["start"], row["end"]]
    text = controller.project.get_document(row["document_id"])["text"]
    assert text[row["start"] : row["end"]] == row["text"]


def test_with_one_run_chosen_it_is_compared_with_the_run_before_it(results, qtbot) -> None:
    assert results.selected_run_id() == 2  # the newest, chosen by default
    qtbot.mouseClick(results.compare_button, Qt.MouseButton.LeftButton)
    assert results.compare_view.chosen() == (1, 2, "dev")


def test_compare_needs_two_finished_runs(tmp_path, tmp_path_factory, qtbot) -> None:
    controller = ProjectController()
    controller.set_project(trained_project(tmp_path_factory, tmp_path / "one.spanlab"))
    panel = ResultsPanel(controller)
    qtbot.addWidget(panel)
    assert not panel.compare_button.isEnabled()
    assert panel.compare_selected() is None
    controller.close_project()


def test_try_it_shows_the_compared_runs_entities_under_the_same_text(
    controller, qtbot, monkeypatch
) -> None:
    threads: list[str] = []
    real = try_module.predict_text

    def spy(model, text):
        threads.append(threading.current_thread().name)
        return real(model, text)

    monkeypatch.setattr(try_module, "predict_text", spy)
    panel = TryPanel(controller)
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    runs = {r["id"]: r["output_dir"] for r in controller.project.runs()}
    assert panel.model_dir() == runs[2]
    pane = panel.compare_pane
    assert not pane.isVisible()

    panel.compare_combo.setFocus()
    qtbot.keyClick(panel.compare_combo, Qt.Key.Key_End)  # the last choice: run 1
    assert pane.isVisible() and pane.model_dir() == runs[1]
    assert "Run 1" in pane.title.text()

    text = "Bob lives in Rome ."
    qtbot.keyClicks(panel.editor, text)
    qtbot.waitUntil(lambda: pane.shown_text() == text, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: panel.status.text().endswith("entities"), timeout=TIMEOUT)
    assert panel.editor.entities() == Predictor(runs[2]).predict([text])[0]
    expected = Predictor(runs[1]).predict([text])[0]
    assert ("Rome", "LOC") in {(e["text"], e["label"]) for e in expected}
    assert pane.view.toPlainText() == text and pane.view.isReadOnly()
    assert pane.view.entities() == expected
    assert len(pane.view.extraSelections()) == len(expected)
    assert threads and threading.main_thread().name not in threads

    editor_bottom = panel.editor.mapTo(panel, QPoint(0, panel.editor.height())).y()
    assert pane.view.mapTo(panel, QPoint(0, 0)).y() >= editor_bottom  # one above the other

    qtbot.keyClick(panel.compare_combo, Qt.Key.Key_Home)  # no other run
    assert not pane.isVisible() and pane.model_dir() is None


def test_comparing_on_dev_warns_when_a_run_was_refit_on_dev(results, controller, qtbot) -> None:
    from core.training.session import run_training

    base = controller.project.latest_run()["base_model"]
    session = run_training(controller.project, tiny_config(base, refit=True))
    assert "refit" in session.final.metrics
    click_row(qtbot, results.runs_table, 0)
    qtbot.mouseClick(results.compare_button, Qt.MouseButton.LeftButton)
    view = results.compare_view
    with qtbot.waitSignal(view.compared, timeout=TIMEOUT):
        view.show_runs(1, session.run_id, "dev")
    assert f"Careful: run {session.run_id} trained on train + dev (refit)" in view.summary.text()
    with qtbot.waitSignal(view.compared, timeout=TIMEOUT):
        index = view.split_combo.findData("test")
        view.split_combo.setCurrentIndex(index)
        view.split_combo.activated.emit(index)  # as a pick from the list does
    assert "Careful" not in view.summary.text()
