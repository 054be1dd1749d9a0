"""An ONNX export made in Results is offered in Try it, which runs it on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from desktop.controller import ProjectController
from desktop.main_window import MainWindow

from desktop_support import trained_project

TIMEOUT = 120_000


@pytest.fixture
def window(tmp_path, tmp_path_factory, qtbot, isolated_settings):
    controller = ProjectController()
    controller.set_project(trained_project(tmp_path_factory, tmp_path / "p.spanlab"))
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    yield window
    controller.close_project()


def test_an_onnx_export_is_tried_and_pre_annotates_on_onnx_runtime(
    window, tmp_path, qtbot, monkeypatch
):
    results, try_it = window.results, window.try_it
    window.tabs.setCurrentWidget(results)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    qtbot.mouseClick(results.export_button, Qt.MouseButton.LeftButton)
    dialog = results.export_dialog
    qtbot.waitUntil(dialog.isVisible)
    dialog.buttons["onnx"].click()
    qtbot.mouseClick(dialog.choose_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(results.exported, timeout=TIMEOUT) as exported:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    folder = exported.args[0]
    assert (Path(folder) / "model.onnx").is_file()

    window.tabs.setCurrentWidget(try_it)
    index = try_it.model_combo.findData(folder)
    assert index >= 0 and try_it.model_combo.itemText(index).startswith("Exported:")
    try_it.model_combo.setCurrentIndex(index)
    try_it.model_combo.activated.emit(index)  # what a pick in the list emits
    with qtbot.waitSignal(try_it.predicted, timeout=TIMEOUT, check_params_cb=bool) as got:
        qtbot.keyClicks(try_it.editor, "Bob lives in Rome .")
    assert ("Rome", "LOC") in {(e["text"], e["label"]) for e in got.args[0]}
    assert try_it._predictors[folder].backend == "onnx"

    project = window.controller.project
    new_docs = list(project.document_ids(status="new"))
    assert new_docs
    with qtbot.waitSignal(try_it.pre_worker_finished, timeout=TIMEOUT):
        qtbot.mouseClick(try_it.pre_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not try_it._pre_active, timeout=TIMEOUT)
    assert any(project.spans(doc, origin="model") for doc in new_docs)
