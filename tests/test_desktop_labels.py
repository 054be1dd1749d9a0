"""The labels panel: add, rename, recolour, shortcut, delete (confirmed, with the count)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemDelegate, QLineEdit

from desktop.annotate_page import AnnotatePage
from desktop.controller import ProjectController
from desktop.labels_panel import COL_KEY, COL_NAME

from annotate_support import collect_errors, drag_select, human_spans, make_project


@pytest.fixture
def page(qtbot, tmp_path):
    controller = ProjectController()
    controller.set_project(make_project(tmp_path))
    page = AnnotatePage(controller)
    qtbot.addWidget(page)
    page.resize(1200, 700)
    page.show()
    qtbot.waitExposed(page)
    yield page
    controller.close_project()


def names(controller) -> list[str]:
    return [row["name"] for row in controller.project.labels()]


def edit_cell(qtbot, table, row: int, column: int, text: str) -> None:
    """Double-click a cell, type, press Enter — as a person edits a table."""
    table.setCurrentCell(row, column)
    rect = table.visualItemRect(table.item(row, column))
    # a double-click is a press, a release, then the double-click event
    QTest.mouseClick(
        table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center()
    )
    QTest.mouseDClick(
        table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center()
    )

    def editor() -> QLineEdit | None:
        shown = [e for e in table.viewport().findChildren(QLineEdit) if e.isVisible()]
        return shown[0] if shown else None

    qtbot.waitUntil(lambda: editor() is not None, timeout=2000)
    editor = editor()
    editor.selectAll()
    QTest.keyClicks(editor, text)
    table.commitData(editor)
    table.closeEditor(editor, QAbstractItemDelegate.EndEditHint.NoHint)


def test_new_label_from_the_panel_then_annotate_with_its_key(page) -> None:
    panel, controller = page.labels, page.annotator.controller
    QTest.keyClicks(panel.new_name, "MISC")
    QTest.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    assert names(controller) == ["PER", "ORG", "LOC", "MISC"]
    key = controller.project.get_label("MISC")["shortcut"]
    assert key == "4"
    assert "MISC" in page.annotator.label_bar.buttons

    doc_id = controller.project.document_ids()[0]
    page.annotator.open_document(doc_id)
    view = page.annotator.view
    drag_select(view, 21, 27)  # "bakery"
    view.setFocus()
    QTest.keyClicks(view, key)
    assert human_spans(controller.project, doc_id) == [(21, 27, "MISC")]


def test_rename_in_place_and_undo(page, qtbot) -> None:
    panel, controller = page.labels, page.annotator.controller
    edit_cell(qtbot, panel.table, 2, COL_NAME, "PLACE")
    qtbot.waitUntil(lambda: names(controller) == ["PER", "ORG", "PLACE"], timeout=2000)
    doc2 = controller.project.document_ids()[1]
    assert [s["label"] for s in controller.project.spans(doc2)] == ["ORG"]
    controller.undo_stack.undo()
    assert names(controller) == ["PER", "ORG", "LOC"]


def test_set_shortcut_and_refuse_a_taken_one(page, qtbot) -> None:
    panel, controller = page.labels, page.annotator.controller
    errors = collect_errors(controller)
    edit_cell(qtbot, panel.table, 0, COL_KEY, "p")
    assert controller.project.get_label("PER")["shortcut"] == "p"
    edit_cell(qtbot, panel.table, 1, COL_KEY, "p")
    assert controller.project.get_label("ORG")["shortcut"] == "2"
    assert errors and "'p'" in errors[-1]
    qtbot.waitUntil(lambda: panel.table.item(1, COL_KEY).text() == "2", timeout=2000)


def test_recolour_with_the_colour_dialog(page, monkeypatch) -> None:
    panel, controller = page.labels, page.annotator.controller
    monkeypatch.setattr(
        "desktop.labels_panel.QColorDialog.getColor", lambda *a, **k: QColor("#123456")
    )
    panel.table.selectRow(1)
    QTest.mouseClick(panel.colour_button, Qt.MouseButton.LeftButton)
    assert controller.project.get_label("ORG")["colour"] == "#123456"
    assert controller.label_colour("ORG") == "#123456"
    controller.undo_stack.undo()
    assert controller.project.get_label("ORG")["colour"] == "#6ca6d9"


def test_delete_asks_with_the_span_count(page, monkeypatch) -> None:
    panel, controller = page.labels, page.annotator.controller
    asked: list[str] = []
    answers = iter([False, True])
    monkeypatch.setattr(panel, "confirm", lambda title, q: asked.append(q) or next(answers))
    panel.table.selectRow(1)  # ORG: one span
    QTest.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert "removes 1 span " in asked[0]
    assert "ORG" in names(controller)
    QTest.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert names(controller) == ["PER", "LOC"]
    doc2 = controller.project.document_ids()[1]
    assert controller.project.spans(doc2) == []
    assert "ORG" not in page.annotator.label_bar.buttons


def spans_column(panel) -> dict[str, str]:
    from desktop.labels_panel import COL_SPANS

    table = panel.table
    return {
        table.item(i, COL_NAME).text(): table.item(i, COL_SPANS).text()
        for i in range(table.rowCount())
    }


def test_span_counts_are_a_persons_spans_with_suggestions_apart(page, qtbot) -> None:
    from annotate_support import click_char

    panel, annotator = page.labels, page.annotator
    project = annotator.controller.project
    # a suggestion each for PER ("Tom Hale") and LOC ("Cardiff"); one ORG span by a person
    assert spans_column(panel) == {"PER": "0 (+1 suggested)", "ORG": "1", "LOC": "0 (+1 suggested)"}
    assert project.count_label_spans("PER", "human") == 0
    assert project.count_label_spans("PER", "model") == 1

    ids = project.document_ids()
    annotator.open_document(ids[0])
    drag_select(annotator.view, 0, 11)  # "Maria Lopez"
    annotator.view.setFocus()
    QTest.keyClicks(annotator.view, "1")
    qtbot.waitUntil(lambda: spans_column(panel)["PER"] == "1 (+1 suggested)", timeout=3000)

    annotator.open_document(ids[3])
    click_char(annotator.view, 2)  # the "Tom Hale" suggestion
    QTest.keyClick(annotator.view, Qt.Key.Key_Return)  # accept it
    qtbot.waitUntil(lambda: spans_column(panel)["PER"] == "2", timeout=3000)


def test_delete_counts_suggestions_apart(page, monkeypatch) -> None:
    panel = page.labels
    asked: list[str] = []
    monkeypatch.setattr(panel, "confirm", lambda title, q: asked.append(q) or False)
    panel.table.selectRow(2)  # LOC: no span by a person, one suggestion
    QTest.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert "removes 0 spans and 1 model suggestion labelled" in asked[0]
