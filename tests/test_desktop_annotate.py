"""Annotating with the mouse and keys, as a person does; the store is the judge."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from desktop.annotate_page import AnnotatePage
from desktop.controller import ProjectController

from annotate_support import (
    click_char,
    collect_errors,
    drag_select,
    human_spans,
    make_project,
)


@pytest.fixture
def page(qtbot, tmp_path):
    project = make_project(tmp_path)
    controller = ProjectController()
    errors = collect_errors(controller)
    controller.set_project(project)
    page = AnnotatePage(controller)
    page.errors = errors
    qtbot.addWidget(page)
    page.resize(1200, 700)
    page.show()
    qtbot.waitExposed(page)
    yield page
    controller.close_project()


def open_doc(page, n: int) -> int:
    """Open the n-th document (1-based) and return its id."""
    doc_id = page.annotator.controller.project.document_ids()[n - 1]
    page.annotator.open_document(doc_id)
    return doc_id


def press(view, key: Qt.Key | str, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    view.setFocus()
    if isinstance(key, str):
        QTest.keyClicks(view, key, modifier)
    else:
        QTest.keyClick(view, key, modifier)


def test_first_document_opens_with_its_spans(page) -> None:
    assert page.annotator.document_id == page.annotator.controller.project.document_ids()[0]
    assert page.annotator.view.text.startswith("Maria Lopez")


def test_drag_and_key_make_a_span_undo_and_redo(page, qtbot) -> None:
    controller = page.annotator.controller
    project = controller.project
    doc_id = open_doc(page, 1)
    view = page.annotator.view
    # "aria Lop" snaps to the whole tokens "Maria Lopez"
    drag_select(view, 1, 9)
    assert view.selected_range() == (0, 11)
    press(view, "1")
    assert human_spans(project, doc_id) == [(0, 11, "PER")]
    assert view.selected_span is not None and view.selected_span["label"] == "PER"

    controller.undo_stack.undo()
    assert human_spans(project, doc_id) == []
    assert view.spans == []
    controller.undo_stack.redo()
    assert human_spans(project, doc_id) == [(0, 11, "PER")]
    assert [s["label"] for s in view.spans] == ["PER"]


def test_label_button_labels_the_selection(page) -> None:
    project = page.annotator.controller.project
    doc_id = open_doc(page, 1)
    view = page.annotator.view
    drag_select(view, 31, 36)  # "Porto"
    page.annotator.label_bar.buttons["LOC"].click()
    assert human_spans(project, doc_id) == [(31, 36, "LOC")]


def double_click_char(view, pos: int) -> None:
    """Double-click the character at ``pos`` as the window system delivers it: press,
    release, the double-click event, release."""
    rect = view.char_rect(pos)
    point = QPoint(int(rect.center().x()), int(rect.center().y()))
    viewport, left, none = (
        view.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QTest.mousePress(viewport, left, none, point)
    QTest.mouseRelease(viewport, left, none, point)
    QTest.mouseDClick(viewport, left, none, point)
    QTest.mouseRelease(viewport, left, none, point)


def test_double_click_selects_a_word(page) -> None:
    doc_id = open_doc(page, 4)
    view = page.annotator.view
    double_click_char(view, 33)  # inside "Swansea" (32..39)
    assert view.selected_range() == (32, 39)
    press(view, "3")
    assert human_spans(page.annotator.controller.project, doc_id) == [(32, 39, "LOC")]


def test_double_click_on_a_suggestion_selects_the_word(page) -> None:
    project = page.annotator.controller.project
    doc_id = open_doc(page, 4)  # "Tom Hale" is a model suggestion (0..8)
    view = page.annotator.view
    double_click_char(view, 5)  # inside "Hale"
    assert view.selected_range() == (4, 8)
    assert view.selected_span is None
    press(view, "1")
    assert (4, 8, "PER") in human_spans(project, doc_id)


def test_click_span_then_relabel_and_delete(page) -> None:
    controller = page.annotator.controller
    project = controller.project
    doc_id = open_doc(page, 2)  # has ORG "Northwind Bank"
    view = page.annotator.view
    click_char(view, 3)
    assert view.selected_span["label"] == "ORG"
    press(view, "3")
    assert human_spans(project, doc_id) == [(0, 14, "LOC")]
    press(view, Qt.Key.Key_Delete)
    assert human_spans(project, doc_id) == []
    controller.undo_stack.undo()
    assert human_spans(project, doc_id) == [(0, 14, "LOC")]
    controller.undo_stack.undo()
    assert human_spans(project, doc_id) == [(0, 14, "ORG")]


def test_accept_model_spans_one_then_all(page) -> None:
    controller = page.annotator.controller
    project = controller.project
    doc_id = open_doc(page, 4)
    view = page.annotator.view
    assert [s["origin"] for s in view.spans] == ["model", "model"]
    click_char(view, 2)  # "Tom Hale", a suggestion
    press(view, Qt.Key.Key_Return)
    assert human_spans(project, doc_id) == [(0, 8, "PER")]
    assert [s["origin"] for s in project.spans(doc_id)] == ["human", "model"]
    page.annotator.actions_by_name["accept_all"].trigger()
    assert [s["origin"] for s in project.spans(doc_id)] == ["human", "human"]
    controller.undo_stack.undo()
    controller.undo_stack.undo()
    rows = project.spans(doc_id)
    assert [(s["origin"], s["score"]) for s in rows] == [("model", 0.91), ("model", 0.64)]


def test_next_previous_and_done(page, qtbot) -> None:
    annotator = page.annotator
    project = annotator.controller.project
    ids = project.document_ids()
    open_doc(page, 1)
    annotator.actions_by_name["next"].trigger()
    assert annotator.document_id == ids[1]
    annotator.actions_by_name["prev"].trigger()
    assert annotator.document_id == ids[0]
    annotator.actions_by_name["accept_doc"].trigger()
    assert project.get_document(ids[0])["status"] == "annotated"
    assert annotator.document_id == ids[1]
    annotator.actions_by_name["skip"].trigger()
    assert project.get_document(ids[1])["status"] == "skipped"
    assert annotator.document_id == ids[2]
    # the list shows the new status (right after the text view has been redrawn)
    model = page.documents.model
    qtbot.waitUntil(lambda: model.data(model.index(0, 2)) == "annotated", timeout=2000)


def test_keyboard_shortcuts_for_documents(page, qtbot) -> None:
    annotator = page.annotator
    ids = annotator.controller.project.document_ids()
    open_doc(page, 1)
    page.activateWindow()
    qtbot.waitUntil(lambda: page.isActiveWindow(), timeout=2000)
    press(annotator.view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert annotator.document_id == ids[1]
    press(annotator.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert annotator.controller.project.get_document(ids[1])["status"] == "annotated"
    assert annotator.document_id == ids[2]


def test_chinese_text_is_selected_by_character(page) -> None:
    project = page.annotator.controller.project
    doc_id = open_doc(page, 3)  # 王小明在北京的一家书店工作。
    view = page.annotator.view
    drag_select(view, 4, 6)
    assert view.selected_range() == (4, 6)
    press(view, "3")
    drag_select(view, 0, 3)
    press(view, "1")
    assert human_spans(project, doc_id) == [(0, 3, "PER"), (4, 6, "LOC")]


def test_overlap_is_told_in_words_and_replace_is_one_undo(page) -> None:
    controller = page.annotator.controller
    project = controller.project
    doc_id = open_doc(page, 2)  # "Northwind Bank" is ORG (0..14)
    annotator, view = page.annotator, page.annotator.view
    drag_select(view, 0, 9)  # "Northwind", inside the ORG span
    press(view, "1")
    assert human_spans(project, doc_id) == [(0, 14, "ORG")]
    assert page.errors == []  # no message box
    assert "“Northwind” (PER) overlaps “Northwind Bank” (ORG)" in annotator.hint.text()
    assert annotator.replace_button.isVisible()
    QTest.mouseClick(annotator.replace_button, Qt.MouseButton.LeftButton)
    assert human_spans(project, doc_id) == [(0, 9, "PER")]
    assert not annotator.replace_button.isVisible()
    assert [(s["start"], s["end"], s["label"]) for s in view.spans] == [(0, 9, "PER")]
    controller.undo_stack.undo()  # one undo: the old span back, the new one gone
    assert human_spans(project, doc_id) == [(0, 14, "ORG")]
    controller.undo_stack.redo()
    assert human_spans(project, doc_id) == [(0, 9, "PER")]
    controller.undo_stack.undo()
    assert human_spans(project, doc_id) == [(0, 14, "ORG")]


def test_overlap_offer_takes_the_same_key_again_and_ends_with_the_selection(page) -> None:
    project = page.annotator.controller.project
    doc_id = open_doc(page, 2)
    annotator, view = page.annotator, page.annotator.view
    drag_select(view, 10, 20)  # "Bank moved": overlaps the ORG span
    press(view, "3")
    assert annotator.replace_button.isVisible()
    drag_select(view, 26, 31)  # "Leeds": the offer is gone with the selection
    assert not annotator.replace_button.isVisible()
    assert "overlaps" not in annotator.hint.text()
    press(view, "3")
    assert human_spans(project, doc_id) == [(0, 14, "ORG"), (26, 31, "LOC")]
    drag_select(view, 10, 20)
    press(view, "3")
    press(view, "3")  # the same key again: replace
    assert human_spans(project, doc_id) == [(10, 20, "LOC"), (26, 31, "LOC")]
    assert page.errors == []


def test_a_span_over_a_suggestion_replaces_it_in_one_undo(page) -> None:
    controller = page.annotator.controller
    project = controller.project
    doc_id = open_doc(page, 4)  # suggestions: PER "Tom Hale" 0..8, LOC "Cardiff" 21..28
    view = page.annotator.view
    drag_select(view, 4, 8)  # "Hale"
    press(view, "1")
    assert human_spans(project, doc_id) == [(4, 8, "PER")]
    assert [(s["start"], s["origin"]) for s in project.spans(doc_id)] == [
        (4, "human"),
        (21, "model"),
    ]
    assert page.errors == []
    assert "Replaced “Tom Hale” (PER, suggested)" in page.annotator.hint.text()
    controller.undo_stack.undo()
    rows = project.spans(doc_id)
    assert [(s["start"], s["end"], s["origin"], s["score"]) for s in rows] == [
        (0, 8, "model", 0.91),
        (21, 28, "model", 0.64),
    ]


def test_labelling_the_very_words_of_a_span_relabels_it(page) -> None:
    project = page.annotator.controller.project
    doc_id = open_doc(page, 2)
    drag_select(page.annotator.view, 0, 14)  # exactly "Northwind Bank"
    press(page.annotator.view, "3")
    assert human_spans(project, doc_id) == [(0, 14, "LOC")]
    assert not page.annotator.replace_button.isVisible()


def test_undo_of_an_edit_elsewhere_opens_that_document(page) -> None:
    controller = page.annotator.controller
    doc_id = open_doc(page, 1)
    drag_select(page.annotator.view, 0, 5)
    press(page.annotator.view, "1")
    open_doc(page, 3)
    controller.undo_stack.undo()
    assert page.annotator.document_id == doc_id
    assert human_spans(controller.project, doc_id) == []


def test_emoji_before_a_word_keeps_offsets_right(page) -> None:
    from annotate_support import tokens_of

    controller = page.annotator.controller
    text = "Fun 😀😀 trip to Lisbon\r\nwith Ana"
    doc_id = controller.project.add_document(text, tokens=tokens_of(text))
    page.annotator.open_document(doc_id)
    view = page.annotator.view
    start = text.index("Lisbon")
    drag_select(view, start, start + 6)
    assert view.selected_range() == (start, start + 6)
    press(view, "3")
    ana = text.index("Ana")
    drag_select(view, ana, ana + 3)
    press(view, "1")
    assert human_spans(controller.project, doc_id) == [
        (start, start + 6, "LOC"),
        (ana, ana + 3, "PER"),
    ]


def test_status_and_split_edits_are_undoable(page) -> None:
    annotator = page.annotator
    controller = annotator.controller
    doc_id = open_doc(page, 1)
    annotator.split.setCurrentIndex(annotator.split.findText("test"))
    annotator.split.activated.emit(annotator.split.currentIndex())  # as a person picks it
    assert controller.project.get_document(doc_id)["split"] == "test"
    annotator.actions_by_name["accept_doc"].trigger()
    assert controller.project.get_document(doc_id)["status"] == "annotated"
    assert annotator.document_id != doc_id  # "Done" moved on to the next document
    controller.undo_stack.undo()
    assert controller.project.get_document(doc_id)["status"] == "new"
    assert annotator.document_id == doc_id  # undo shows what it changed
    assert "new" in annotator.status_badge.text()
    controller.undo_stack.undo()
    assert controller.project.get_document(doc_id)["split"] == "train"
    assert annotator.split.currentText() == "train"


def test_selection_snaps_to_whole_words_while_dragging(page) -> None:
    from annotate_support import char_point

    open_doc(page, 1)  # "Maria Lopez opened a bakery in Porto last spring."
    view = page.annotator.view
    viewport = view.viewport()
    press_at = char_point(view, 8)  # inside "Lopez"
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, press_at)
    QTest.mouseMove(viewport, char_point(view, 14))  # inside "opened"
    assert view.selected_range() == (6, 18)
    cursor = view.textCursor()
    assert (cursor.anchor(), cursor.position()) == (6, 18)
    QTest.mouseMove(viewport, char_point(view, 2))  # back past the press, into "Maria"
    cursor = view.textCursor()
    assert (cursor.anchor(), cursor.position()) == (11, 0)  # "Lopez" stays selected
    QTest.mouseRelease(
        viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, char_point(view, 2)
    )
    assert view.selected_range() == (0, 11)


def test_a_drag_that_starts_inside_the_selection_makes_a_new_selection(page) -> None:
    """Qt would drag the selected text away; a person means a new, longer selection."""
    from annotate_support import drag_select

    doc_id = open_doc(page, 1)
    view = page.annotator.view
    double_click_char(view, 0)  # "Maria" (0..5) is selected
    assert view.selected_range() == (0, 5)
    # Press inside "Maria" (far enough from the double-click not to be a triple click)
    # and drag to the end of "Lopez".
    drag_select(view, 4, 11)
    assert view.selected_range() == (0, 11)
    press(view, "1")
    assert human_spans(page.annotator.controller.project, doc_id) == [(0, 11, "PER")]


def test_a_digit_with_no_label_says_so(page) -> None:
    doc_id = open_doc(page, 1)
    view = page.annotator.view
    double_click_char(view, 0)
    press(view, "7")  # labels have keys 1-3
    assert "No label has the key 7" in page.annotator.hint.text()
    assert human_spans(page.annotator.controller.project, doc_id) == []
