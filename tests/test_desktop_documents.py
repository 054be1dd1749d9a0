"""The document list: lazy paging, filters by status / split / label, full-text search."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from desktop.controller import ProjectController
from desktop.document_list import PAGE_SIZE, DocumentList

from annotate_support import make_project, tokens_of


@pytest.fixture
def controller(tmp_path):
    controller = ProjectController()
    controller.set_project(make_project(tmp_path))
    yield controller
    controller.close_project()


@pytest.fixture
def doc_list(qtbot, controller):
    widget = DocumentList(controller)
    qtbot.addWidget(widget)
    widget.resize(500, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def shown_ids(widget: DocumentList) -> list[int]:
    model = widget.model
    return [model.document_id(r) for r in range(model.rowCount())]


def test_columns_show_status_split_and_entities(doc_list, controller, qtbot) -> None:
    model = doc_list.model
    assert model.rowCount() == 4
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(5)] == [
        "#", "Text", "Status", "Split", "Entities",
    ]  # fmt: skip
    assert model.data(model.index(1, 2)) == "new"
    assert model.data(model.index(1, 3)) == "train"
    assert model.data(model.index(1, 4)) == "1"
    assert model.data(model.index(3, 4)) == "0 (+2)"  # two model suggestions
    qtbot.waitUntil(lambda: doc_list.count.text() == "4 documents", timeout=2000)


def test_filter_by_status_split_and_label(doc_list, controller, qtbot) -> None:
    ids = controller.project.document_ids()
    controller.set_status(ids[0], "annotated")
    doc_list.status.setCurrentIndex(doc_list.status.findData("annotated"))
    assert shown_ids(doc_list) == [ids[0]]
    doc_list.status.setCurrentIndex(0)
    doc_list.label.setCurrentIndex(doc_list.label.findData("ORG"))
    assert shown_ids(doc_list) == [ids[1]]
    doc_list.label.setCurrentIndex(0)
    controller.set_split(ids[2], "test")
    doc_list.split.setCurrentIndex(doc_list.split.findData("test"))
    assert shown_ids(doc_list) == [ids[2]]
    qtbot.waitUntil(lambda: doc_list.count.text() == "1 document", timeout=2000)


def test_search_box(doc_list, controller, qtbot) -> None:
    ids = controller.project.document_ids()
    QTest.keyClicks(doc_list.search, "cardiff")
    assert doc_list.count.text() == "Searching…"  # until the results are counted
    qtbot.waitUntil(lambda: shown_ids(doc_list) == [ids[3]], timeout=2000)
    qtbot.waitUntil(lambda: doc_list.count.text() == "1 document", timeout=2000)
    doc_list.search.clear()
    qtbot.waitUntil(lambda: len(shown_ids(doc_list)) == 4, timeout=2000)


def test_search_finds_a_word_from_its_first_letters(doc_list, controller, qtbot) -> None:
    ids = controller.project.document_ids()
    QTest.keyClicks(doc_list.search, "Cardi")  # still typing "Cardiff"
    qtbot.waitUntil(lambda: shown_ids(doc_list) == [ids[3]], timeout=2000)


def test_picking_a_row_asks_for_that_document(doc_list, controller, qtbot) -> None:
    ids = controller.project.document_ids()
    with qtbot.waitSignal(doc_list.document_activated) as blocker:
        doc_list.table.selectRow(2)
    assert blocker.args == [ids[2]]
    assert controller.selected_document_ids() == [ids[2]]


def test_pages_are_fetched_only_when_scrolled_to(qtbot, tmp_path) -> None:
    from core.store import Project

    project = Project.create(tmp_path / "big.spanlab")
    texts = (f"Document number {i} about Porto" for i in range(3 * PAGE_SIZE + 10))
    project.add_documents({"text": t, "tokens": tokens_of(t)} for t in texts)
    controller = ProjectController()
    controller.set_project(project)
    widget = DocumentList(controller)
    qtbot.addWidget(widget)
    widget.resize(500, 400)
    widget.show()
    qtbot.waitExposed(widget)
    assert widget.model.rowCount() == PAGE_SIZE
    widget.table.scrollToBottom()
    qtbot.waitUntil(lambda: widget.model.rowCount() == 2 * PAGE_SIZE, timeout=2000)
    qtbot.waitUntil(lambda: widget.count.text() == f"{3 * PAGE_SIZE + 10:,} documents")
    controller.close_project()


@pytest.fixture
def page(qtbot, controller):
    from desktop.annotate_page import AnnotatePage

    page = AnnotatePage(controller)
    qtbot.addWidget(page)
    page.resize(1100, 600)
    page.show()
    qtbot.waitExposed(page)
    page.activateWindow()
    qtbot.waitUntil(page.isActiveWindow, timeout=2000)
    return page


def test_down_in_the_search_box_moves_to_the_first_result(page, controller, qtbot) -> None:
    ids = controller.project.document_ids()
    documents = page.documents
    documents.search.setFocus()
    QTest.keyClicks(documents.search, "Cardiff")
    QTest.keyClick(documents.search, Qt.Key.Key_Down)  # before the search timer fired
    assert shown_ids(documents) == [ids[3]]
    assert documents.table.hasFocus()
    assert documents.table.currentIndex().row() == 0
    assert page.annotator.document_id == ids[3]  # the result is shown beside the list


def test_arrow_keys_in_the_list_keep_the_focus_there(page, controller, qtbot) -> None:
    ids = controller.project.document_ids()
    documents = page.documents
    documents.search.setFocus()
    QTest.keyClick(documents.search, Qt.Key.Key_Down)
    QTest.keyClick(documents.table, Qt.Key.Key_Down)
    assert page.annotator.document_id == ids[1]
    assert documents.table.hasFocus()


def test_enter_in_the_search_box_opens_the_first_result(page, controller, qtbot) -> None:
    ids = controller.project.document_ids()
    documents = page.documents
    documents.search.setFocus()
    QTest.keyClicks(documents.search, "Leeds")
    QTest.keyClick(documents.search, Qt.Key.Key_Return)
    assert shown_ids(documents) == [ids[1]]
    assert page.annotator.document_id == ids[1]
    assert documents.selected_document_ids() == [ids[1]]
    assert page.annotator.view.hasFocus()  # ready to annotate


def test_a_new_project_clears_the_search_and_filters(doc_list, controller, tmp_path, qtbot):
    from core.store import Project

    QTest.keyClicks(doc_list.search, "cardiff")
    doc_list.split.setCurrentIndex(doc_list.split.findData("train"))
    other = Project.create(tmp_path / "other.spanlab", labels=["PER"])
    other.add_document("Cardiff is nowhere here.", split="test")
    other.add_document("Nor here.", split="dev")
    controller.set_project(other)
    assert doc_list.search.text() == "" and doc_list.split.currentData() is None
    assert len(shown_ids(doc_list)) == 2
    qtbot.waitUntil(lambda: doc_list.count.text() == "2 documents", timeout=2000)
