"""The Try-it panel: entities while typing (off the GUI thread), JSON copy, pre-annotation."""

from __future__ import annotations

import json
import threading

import pytest
from PySide6.QtGui import QGuiApplication

import desktop.try_panel as try_module
from desktop.controller import ProjectController
from desktop.entity_text import tooltip_text
from desktop.try_panel import TryPanel

from desktop_support import trained_project

TIMEOUT = 60_000


@pytest.fixture
def controller(tmp_path, tmp_path_factory, qtbot):
    controller = ProjectController()
    controller.set_project(trained_project(tmp_path_factory, tmp_path / "p.spanlab"))
    yield controller
    controller.close_project()


@pytest.fixture
def panel(controller, qtbot):
    panel = TryPanel(controller)
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    return panel


def test_typing_shows_entities_predicted_off_the_gui_thread(panel, controller, qtbot, monkeypatch):
    threads: list[str] = []
    real = try_module.predict_text

    def spy(model, text):
        threads.append(threading.current_thread().name)
        return real(model, text)

    monkeypatch.setattr(try_module, "predict_text", spy)
    run = controller.project.latest_run()
    assert panel.model_dir() == run["output_dir"]  # the latest run by default

    with qtbot.waitSignal(panel.predicted, timeout=TIMEOUT, check_params_cb=bool) as got:
        qtbot.keyClicks(panel.editor, "Bob lives in Rome .")
    entities = got.args[0]
    assert ("Rome", "LOC") in {(e["text"], e["label"]) for e in entities}
    assert threads and threading.main_thread().name not in threads
    assert len(threads) <= 2  # one burst of typing, debounced: not one call per key

    rows = panel.table.visible_rows()
    assert {(r["text"], r["label"]) for r in rows} == {(e["text"], e["label"]) for e in entities}
    assert len(panel.editor.extraSelections()) == len(entities)
    bob = next(e for e in entities if e["text"] == "Bob")
    assert panel.editor.entity_at(1) == bob
    assert tooltip_text(bob).startswith("PER — confidence 0.")

    panel.copy_json_button.click()
    copied = json.loads(QGuiApplication.clipboard().text())
    assert copied["text"] == "Bob lives in Rome ."
    assert [e["label"] for e in copied["entities"]] == [e["label"] for e in entities]


def test_a_result_for_old_text_is_dropped_and_the_new_text_predicted(
    panel, qtbot, monkeypatch
) -> None:
    gate = threading.Event()
    seen: list[str] = []
    real = try_module.predict_text

    def slow_for_the_first_text(model, text):
        seen.append(text)
        if text.startswith("Alice"):
            gate.wait(10)  # the person keeps typing while this one is predicted
        return real(model, text)

    monkeypatch.setattr(try_module, "predict_text", slow_for_the_first_text)
    shown: list[list[dict]] = []
    panel.predicted.connect(shown.append)
    panel.editor.setPlainText("Alice went to Paris yesterday .")
    qtbot.waitUntil(lambda: seen == ["Alice went to Paris yesterday ."], timeout=TIMEOUT)
    panel.editor.setPlainText("Bob lives in Rome .")
    # The debounce timer fires while the first prediction is still running.
    qtbot.waitUntil(lambda: not panel.debounce.isActive(), timeout=TIMEOUT)
    gate.set()
    qtbot.waitUntil(lambda: bool(shown), timeout=TIMEOUT)
    assert seen == ["Alice went to Paris yesterday .", "Bob lives in Rome ."]
    assert len(shown) == 1  # the result for the old text never reached the screen
    assert all("Alice" not in e["text"] for e in shown[0])
    assert all(r["text"] != "Alice" for r in panel.table.visible_rows())


def test_pre_annotate_stores_model_spans_on_new_documents(panel, controller, qtbot) -> None:
    project = controller.project
    new_ids = project.document_ids(status="new")
    assert new_ids

    with qtbot.waitSignal(panel.pre_annotated, timeout=TIMEOUT) as done:
        panel.pre_button.click()
    assert done.args[0] > 0
    spans = [s for doc_id in new_ids for s in project.spans(doc_id, origin="model")]
    assert spans and all(s["origin"] == "model" and s["score"] is not None for s in spans)
    assert {s["label"] for s in spans} <= {"PER", "LOC"}
    assert all(project.spans(doc_id, origin="human") == [] for doc_id in new_ids)


def test_pre_annotate_during_an_import_stores_when_the_import_has_finished(
    panel, controller, qtbot
) -> None:
    project = controller.project
    new_ids = project.document_ids(status="new")
    controller.begin_write_job("The import of big.conll")  # what File ▸ Import does
    stored: list[int] = []
    panel.pre_annotated.connect(stored.append)
    worker_done = qtbot.waitSignal(panel.pre_worker_finished, timeout=TIMEOUT)
    with worker_done:
        panel.pre_button.click()
    assert stored == []  # predicted, but nothing written while the import holds the file
    assert all(project.spans(doc_id, origin="model") == [] for doc_id in new_ids)
    assert panel.pre_status.text().endswith("stored when the import of big.conll has finished.")
    assert not panel.pre_button.isEnabled()
    with qtbot.waitSignal(panel.pre_annotated, timeout=TIMEOUT) as done:
        controller.end_write_job()
    assert done.args[0] > 0
    assert any(project.spans(doc_id, origin="model") for doc_id in new_ids)
    assert panel.pre_status.text().startswith("Model suggestions stored in")


def test_pre_annotate_suggests_on_the_documents_stored_tokens(panel, controller, qtbot) -> None:
    from core.tokenize import tokenize

    project = controller.project
    # Imported with tokens of its own (a JSONL "tokens" field, say) that split "BobRome"
    # where core's tokenizer sees one word: a suggestion must keep to the stored edges,
    # as the annotator and training do, rather than cover both words as one entity.
    text = "BobRome is far ."
    stored = [(0, 3), (3, 7), (8, 10), (11, 14), (15, 16)]
    assert tokenize(text)[0] == (0, 7)
    doc_id = project.add_document(text, tokens=stored, status="new")

    with qtbot.waitSignal(panel.pre_annotated, timeout=TIMEOUT):
        panel.pre_button.click()
    spans = [(s["start"], s["end"], s["label"]) for s in project.spans(doc_id, origin="model")]
    assert spans, "the model finds the names at least"
    assert not [(start, end) for start, end, _ in spans if start < 3 < end], spans
    assert {(start, end) for start, end, _ in spans} <= set(stored)
