"""The Review window: run from the menu, progress and Cancel, the list that opens the
document at the span, A accepts as an undoable edit, K keeps and hides for good."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from core.training.events import Step

from desktop_support import CITIES, NAMES, build_tiny_model, make_project

TIMEOUT = 60_000
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


class LexiconModel:
    """A fold model that knows names and cities by heart (sure of itself: 0.9)."""

    tags = TAGS

    def probabilities(self, docs):
        def row(word: str) -> list[float]:
            tag = "B-PER" if word in NAMES else "B-LOC" if word in CITIES else "O"
            return [0.9 if t == tag else 0.025 for t in TAGS]

        return [[row(doc["text"][s:e]) for s, e in doc["tokens"]] for doc in docs]

    def close(self) -> None:
        pass


def lexicon_fit(fold, train, dev, should_stop):
    yield Step(
        step=1, total_steps=1, epoch=1.0, loss=0.1, lr=0.0, throughput=1.0, eta_s=0, elapsed_s=0
    )
    return LexiconModel()


def never_ending_fit(fold, train, dev, should_stop):
    step = 0
    while not should_stop():
        step += 1
        yield Step(
            step=step, total_steps=10**6, epoch=0.0, loss=0.1, lr=0.0, throughput=1.0, eta_s=0,
            elapsed_s=0,
        )  # fmt: skip
    return None


@pytest.fixture
def window(qtbot, tmp_path, isolated_settings):
    from desktop.main_window import MainWindow

    project = make_project(tmp_path / "p.spanlab", train=48)
    window = MainWindow()
    qtbot.addWidget(window)
    window.adopt_project(project)
    window.show()
    qtbot.waitExposed(window)
    yield window
    if window.review is not None:
        window.review.close()
    window.close()


def plant(window, doc_index: int, label: str = "PER", new_label: str = "LOC") -> dict:
    """Give the first ``label`` span of a train document ``new_label`` (store-side)."""
    project = window.controller.project
    doc = project.examples("train")[doc_index]
    span = next(r for r in project.spans(doc["id"]) if r["label"] == label)
    project.set_span_label(span["id"], new_label)
    return span


def open_review(window, qtbot, fit=lambda: lexicon_fit):
    bar = next(a for a in window.menuBar().actions() if a.text().replace("&", "") == "Annotate")
    action = next(
        a for a in bar.menu().actions() if a.text().replace("&", "") == "Review likely mistakes…"
    )
    action.trigger()
    review = window.review
    assert review is not None and review.isVisible()
    review.fit = fit()
    review.folds.setValue(2)
    return review


def run(review, qtbot) -> None:
    qtbot.mouseClick(review.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: review.worker is None, timeout=TIMEOUT)


def test_a_review_with_real_fold_models_lists_the_planted_mistake_and_a_accepts_it(
    window, qtbot, tmp_path, monkeypatch
):
    model = build_tiny_model(tmp_path / "tiny-bert")
    form = window.train.form
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(model))
    form.base_model.choose_button.click()
    for name, value in (("epochs", 15), ("batch_size", 8), ("max_length", 32)):
        form.editor(name).setValue(value)
    form.editor("window_overlap").setValue(8)
    form.editor("patience").setValue(0)
    form.editor("seed").setValue(3)
    form.editor("learning_rate").setText("1e-2")
    form.editor("warmup").setText("0")
    form.editor("device").setCurrentText("cpu")
    span = plant(window, 2)
    review = open_review(window, qtbot, fit=lambda: None)  # the normal trainer
    with qtbot.waitSignal(window.controller.open_document_requested, timeout=TIMEOUT):
        run(review, qtbot)
    top = review.suspects[0]
    assert (top.doc_id, top.kind, top.start, top.label, top.suggested) == (
        span["document_id"],
        "wrong_type",
        span["start"],
        "LOC",
        "PER",
    )
    annotator = window.annotate.annotator
    assert annotator.document_id == top.doc_id
    assert annotator.view.selected_range() == (top.start, top.end)
    assert window.controller.project.runs() == []  # the fold models are not runs

    qtbot.keyClick(review.list, Qt.Key.Key_A)
    assert window.controller.project.get_span(span["id"])["label"] == "PER"
    assert review.row_state(0) == "accepted"
    window.undo_action.trigger()  # an edit like any other
    assert window.controller.project.get_span(span["id"])["label"] == "LOC"
    assert review.row_state(0) == "open"


def test_progress_per_fold_and_cancel_keep_the_window_usable(window, qtbot):
    review = open_review(window, qtbot, fit=lambda: never_ending_fit)
    qtbot.mouseClick(review.run_button, Qt.MouseButton.LeftButton)
    assert review.progress.isVisible() and review.progress.maximum() == 2000
    assert not review.run_button.isEnabled()
    qtbot.waitUntil(lambda: "Fold 1 of 2" in review.status.text(), timeout=TIMEOUT)
    qtbot.mouseClick(review.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: review.worker is None, timeout=TIMEOUT)
    assert "Stopped after 0 of 2 folds" in review.status.text()
    assert review.run_button.isEnabled() and not review.progress.isVisible()
    assert not list(Path(window.controller.project.models_dir).glob(".review*"))


def test_a_click_opens_the_document_at_the_span(window, qtbot):
    plant(window, 2)
    plant(window, 5)
    review = open_review(window, qtbot)
    run(review, qtbot)
    assert len(review.suspects) == 2
    second = review.list.topLevelItem(1)
    rect = review.list.visualItemRect(second)
    qtbot.mouseClick(review.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    annotator = window.annotate.annotator
    assert annotator.document_id == review.suspects[1].doc_id
    s = review.suspects[1]
    assert annotator.view.selected_range() == (s.start, s.end)
    assert window.tabs.currentWidget() is window.annotate


def test_k_keeps_the_annotation_and_the_suspect_does_not_come_back(window, qtbot):
    span = plant(window, 2)
    plant(window, 5)
    review = open_review(window, qtbot)
    run(review, qtbot)
    kept = review.suspects[0]
    qtbot.keyClick(review.list, Qt.Key.Key_K)
    project = window.controller.project
    assert project.get_span(span["id"])["label"] == "LOC"  # the annotation stays
    assert project.count_reviewed() == 1
    assert kept not in review.suspects and len(review.suspects) == 1
    assert window.annotate.annotator.document_id == review.suspects[0].doc_id  # the next one
    run(review, qtbot)
    assert [s.key() for s in review.suspects] != [] and kept.key() not in {
        s.key() for s in review.suspects if s.doc_id == kept.doc_id
    }
    assert "1 reviewed before, not shown" in review.status.text()


def test_accepting_a_missed_entity_adds_the_span_and_undo_removes_it(window, qtbot):
    project = window.controller.project
    doc = project.examples("train")[4]
    loc = next(r for r in project.spans(doc["id"]) if r["label"] == "LOC")
    project.remove_span(loc["id"])  # nobody annotated the city
    review = open_review(window, qtbot)
    run(review, qtbot)
    (suspect,) = review.suspects
    assert (suspect.kind, suspect.suggested, suspect.suggested_start) == (
        "spurious",
        "LOC",
        loc["start"],
    )
    qtbot.keyClick(review.list, Qt.Key.Key_A)
    labels = {(r["start"], r["label"]) for r in project.spans(doc["id"], origin="human")}
    assert (loc["start"], "LOC") in labels
    window.undo_action.trigger()
    labels = {(r["start"], r["label"]) for r in project.spans(doc["id"], origin="human")}
    assert (loc["start"], "LOC") not in labels
