"""The Results panel: runs list, score tables (sorting, TSV), errors that open, export."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from core.errors import ValidationError
from desktop.controller import ProjectController
from desktop.metrics_table import metric_rows
from desktop.results_panel import ResultsPanel, copy_model_folder
from desktop.run_rows import run_row

from desktop_support import trained_project

TIMEOUT = 60_000


@pytest.fixture
def controller(tmp_path, tmp_path_factory, qtbot):
    project = trained_project(tmp_path_factory, tmp_path / "p.spanlab")
    # A dev document whose entity has a label the model was never trained on: whatever
    # the model predicts there, it is an error (a false negative or a wrong type).
    project.add_label("ORG")
    project.add_document("Oslo met Alice .", split="dev", status="annotated", spans=[(0, 4, "ORG")])
    controller = ProjectController()
    controller.set_project(project)
    yield controller
    controller.close_project()


@pytest.fixture
def panel(controller, qtbot):
    panel = ResultsPanel(controller)
    qtbot.addWidget(panel)
    panel.resize(1100, 750)
    panel.show()
    return panel


def test_runs_list_shows_the_finished_run(panel, controller) -> None:
    (row,) = panel.runs_table.visible_rows()
    run = controller.project.latest_run()
    assert row["id"] == run["id"] and row["status"] == "done"
    assert row["dev_f1"] == pytest.approx(run["metrics"]["dev"]["f1"])
    assert row["test_f1"] == pytest.approx(run["metrics"]["test"]["f1"])
    assert row["duration"] and row["date"] and row["base_model_name"] == "tiny-bert"
    assert panel.selected_run_id() == run["id"]


def test_entity_and_token_tables_sort_with_averages_last_and_copy_as_tsv(
    panel, controller, qtbot
) -> None:
    names = [r["name"] for r in panel.entity_table.visible_rows()]
    assert names == ["LOC", "PER", "micro avg", "macro avg", "weighted avg"]
    tags = [r["name"] for r in panel.token_table.visible_rows()]
    assert {"B-PER", "B-LOC", "micro avg"} <= set(tags)

    header = panel.entity_table.view.horizontalHeader()
    f1_column = 3
    for _ in range(2):  # ascending, then descending: the averages stay at the bottom
        qtbot.mouseClick(
            header.viewport(),
            Qt.MouseButton.LeftButton,
            pos=_section_centre(header, f1_column),
        )
        rows = panel.entity_table.visible_rows()
        assert [r["name"] for r in rows[-3:]] == ["micro avg", "macro avg", "weighted avg"]
    first, second = rows[0]["f1"], rows[1]["f1"]
    assert first >= second

    panel.entity_table.view.setFocus()
    qtbot.keyClick(panel.entity_table.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    lines = QGuiApplication.clipboard().text().splitlines()
    assert lines[0].split("\t") == ["Type", "Precision", "Recall", "F1", "Support"]
    assert len(lines) == 6 and lines[-1].startswith("weighted avg\t")


def _section_centre(header, column) -> QPoint:
    return QPoint(header.sectionViewportPosition(column) + header.sectionSize(column) // 2, 5)


def test_errors_are_listed_and_a_click_opens_the_document(panel, controller, qtbot) -> None:
    if not panel.errors_table.visible_rows():
        with qtbot.waitSignal(panel.errors_ready, timeout=TIMEOUT):
            pass
    rows = panel.errors_table.visible_rows()
    assert rows, "the mislabelled dev document gives at least one error"
    kinds = {r["kind"] for r in rows}
    assert kinds <= {"false_positive", "false_negative", "wrong_type", "wrong_boundary"}
    target = next(i for i, r in enumerate(rows) if r["document_id"] is not None)
    view = panel.errors_table.view
    rect = view.visualRect(panel.errors_table.proxy.index(target, 1))
    with qtbot.waitSignal(controller.open_document_requested, timeout=2000) as opened:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    row = rows[target]
    assert opened.args == [row["document_id"], row["start"], row["end"]]
    doc = controller.project.get_document(row["document_id"])
    assert doc["text"][row["start"] : row["end"]] == row["text"]


def _export_through_the_dialog(panel, qtbot, monkeypatch, folder: Path, fmt: str) -> Path:
    """Click "Export model…", pick ``fmt`` and a folder in the dialog, click Export."""
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    dialog = panel.export_dialog
    qtbot.waitUntil(dialog.isVisible)
    assert set(dialog.buttons) == {"hf", "onnx", "onnx-int8"}
    dialog.buttons[fmt].click()
    qtbot.mouseClick(dialog.choose_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(panel.exported, timeout=TIMEOUT) as exported:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.export_button.text() == "Export model…", timeout=TIMEOUT)
    return Path(exported.args[0])


def test_export_copies_the_model_folder_whole(panel, tmp_path, qtbot, monkeypatch) -> None:
    target = _export_through_the_dialog(panel, qtbot, monkeypatch, tmp_path, "hf")
    assert target.parent == tmp_path and target.name.endswith(f"-run-{panel.selected_run_id()}")
    assert (target / "config.json").is_file() and (target / "model.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_export_as_onnx_int8_is_checked_on_dev_and_loads_on_onnx_runtime(
    panel, controller, tmp_path, qtbot, monkeypatch
) -> None:
    import json

    from core.training.predict import Predictor

    target = _export_through_the_dialog(panel, qtbot, monkeypatch, tmp_path, "onnx-int8")
    assert target.name.endswith("-onnx-int8") and (target / "model.onnx").is_file()
    check = json.loads((target / "export.json").read_text())["check"]
    assert check["documents"] == len(controller.project.examples("dev"))
    assert check["passed"]
    assert "agreement F1" in panel.summary.text() and str(target) in panel.summary.text()
    assert Predictor(target).backend == "onnx"


def test_copy_model_folder_refuses_to_overwrite_and_leaves_nothing_half_done(tmp_path) -> None:
    source = tmp_path / "model"
    source.mkdir()
    (source / "config.json").write_text("{}")
    copy_model_folder(source, tmp_path / "out" / "m")
    with pytest.raises(ValidationError, match="already exists"):
        copy_model_folder(source, tmp_path / "out" / "m")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m"]


def stored_run(**fields: object) -> dict:
    """A run as the store gives it: every column, None where not set."""
    columns = ("started", "finished", "output_dir", "metrics", "error", "owner")
    row = {"config": {}, "created": "2024-05-01T11:59:00.000+00:00", "base_model": "default"}
    return {**row, **dict.fromkeys(columns), **fields}


def test_rows_for_a_failed_run_and_a_report() -> None:
    row = run_row(stored_run(id=3, status="failed", error="Out of memory"))
    assert row["_tooltip"] == "Out of memory" and row["dev_f1"] is None
    rows = metric_rows({"B": {"precision": 1, "recall": 0.5, "f1-score": 0.6, "support": 2}})
    assert rows == [{"name": "B", "precision": 1, "recall": 0.5, "f1": 0.6, "support": 2}]


def test_a_runs_duration_comes_from_its_stored_timestamps() -> None:
    run = stored_run(
        id=4,
        status="done",
        started="2024-05-01T12:00:00.000+00:00",
        finished="2024-05-01T12:00:43.400+00:00",
    )
    assert run_row(run)["duration"] == "43 s"
    assert run_row({**run, "finished": None})["duration"] == ""
    assert run_row({**run, "finished": "2024-05-01T12:03:05"})["duration"] == "3 min 05 s"
