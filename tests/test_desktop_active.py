"""The model in the loop, driven like a person: most useful first, re-training, status.

The model that scores is a fake (scores chosen by the test, labels it claims to know);
the trainer is a fake that finishes at once. Everything else is the app's: the main
window, its menus and keys, the worker threads, the store.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QSpinBox

from core.store import Project
from core.training.assist import SuggestionBatch
from core.training.events import Cancelled, Done, Failed
from desktop import active_loop, training_queue

from desktop_support import make_project, tiny_config, trained_project

TIMEOUT = 20_000
N_NEW = 8
REAL_SCORER, REAL_SUGGESTIONS = active_loop.load_scorer, active_loop.suggestion_job


def fake_score(doc: dict) -> float:
    """A usefulness that orders the new documents differently from their ids."""
    return float((doc["id"] * 37) % 101)


class FakeScorer:
    """Stands in for ``PoolScorer``: scores from :func:`fake_score`, progress per doc."""

    calls: list[tuple[str, str, list[int]]] = []  # (folder, strategy, doc ids)
    gate: threading.Event | None = None  # when set by a test: wait for it before scoring

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def score(self, docs, strategy, should_stop=lambda: False, progress=None) -> list[float]:
        FakeScorer.calls.append((self.folder, strategy, [d["id"] for d in docs]))
        if FakeScorer.gate is not None:
            assert FakeScorer.gate.wait(10), "the test never let the scorer go on"
        out = []
        for i, doc in enumerate(docs):
            out.append(fake_score(doc))
            if progress is not None:
                progress((i + 1, len(docs)))
        return out


def fake_suggestions(project_path, model_dir, doc_ids, should_stop):
    """Stands in for the pre-annotation job: one PER suggestion on each first word."""
    project = Project.open(project_path, readonly=True)
    try:
        results = []
        for doc_id in doc_ids:
            start, end = project.get_document(doc_id)["tokens"][0]
            results.append((doc_id, [{"start": start, "end": end, "label": "PER", "score": 0.5}]))
    finally:
        project.close()
    yield SuggestionBatch(results, len(doc_ids), len(doc_ids))


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    FakeScorer.calls = []
    FakeScorer.gate = None
    monkeypatch.setattr(active_loop, "load_scorer", FakeScorer)
    monkeypatch.setattr(active_loop, "suggestion_job", fake_suggestions)


def add_finished_run(
    project: Project, folder: Path, f1: float = 0.71, labels: tuple[str, ...] = ("LOC", "PER")
) -> int:
    """A run row as a finished training leaves it; its model folder holds only the
    config's label map."""
    folder.mkdir(parents=True, exist_ok=True)
    tags = ["O"] + [f"{p}-{label}" for label in labels for p in "BI"]
    id2label = {str(i): tag for i, tag in enumerate(tags)}
    (folder / "config.json").write_text(json.dumps({"id2label": id2label}), encoding="utf-8")
    config = tiny_config(folder).to_dict()
    run_id = project.create_run(config, base_model=str(folder))
    train = project.count_documents(split="train", status="annotated")
    project.update_run(
        run_id,
        status="done",
        output_dir=str(folder),
        metrics={"f1": f1, "train_documents": train, "dev_documents": 8},
    )
    return run_id


def active_project(
    tmp_path: Path, with_run: bool = True, labels: tuple[str, ...] = ("LOC", "PER")
) -> Project:
    """24 annotated train documents (+ dev, test) and N_NEW new ones in train."""
    project = make_project(tmp_path / "active.spanlab", new=N_NEW)
    for doc_id in project.document_ids(status="new"):
        project.set_split(doc_id, "train")
    if with_run:
        add_finished_run(project, tmp_path / "models" / "run-1", labels=labels)
    return project


@pytest.fixture
def window(qtbot, isolated_settings, tmp_path):
    from desktop.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.active_loop.stop()
    window.close()


def open_project(window, qtbot, project: Project, scores: bool = True) -> None:
    """Show the project; wait for its first scoring (and the suggestions after it)."""
    if not scores:
        window.adopt_project(project)
        return
    loop = window.active_loop
    with qtbot.waitSignals([loop.scoring_finished, loop.suggestions_refreshed], timeout=TIMEOUT):
        window.adopt_project(project)


def useful_order(project: Project) -> list[int]:
    """The new documents, most useful first by the fake's scores."""
    docs = [project.get_document(i) for i in project.document_ids(status="new")]
    return [d["id"] for d in sorted(docs, key=lambda d: -fake_score(d))]


def menu_action(window, text: str):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Annotate")
    return next(a for a in menu.actions() if a.text().replace("&", "") == text)


def press(window, qtbot, key: Qt.Key, modifiers=Qt.KeyboardModifier.ControlModifier) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    view = window.annotate.annotator.view
    view.setFocus()
    QTest.keyClick(view, key, modifiers)


def test_most_useful_first_from_the_menu_then_next_opens_the_top_document(
    window, qtbot, tmp_path
) -> None:
    project = active_project(tmp_path)
    open_project(window, qtbot, project)
    annotator = window.annotate.annotator
    assert annotator.document_id == project.document_ids()[0]  # document order at first
    expected = useful_order(project)
    assert expected != sorted(expected)  # the useful order is not the id order

    action = menu_action(window, "Most useful first")
    assert action.isCheckable() and not action.isChecked()
    table = window.annotate.documents.table
    assert table.isColumnHidden(5)  # no score column in document order
    action.trigger()
    assert window.annotate.documents.order.currentData() == "useful"
    assert not table.isColumnHidden(5)
    press(window, qtbot, Qt.Key.Key_Right)  # Ctrl+Right: next document
    assert annotator.document_id == expected[0]
    press(window, qtbot, Qt.Key.Key_Right)
    assert annotator.document_id == expected[1]
    # The list shows the same order, with the scores.
    model = window.annotate.documents.model
    shown = [model.document_id(r) for r in range(len(expected))]
    assert shown == expected
    assert model.headerData(5, Qt.Orientation.Horizontal) == "Useful"
    top = project.get_document(expected[0])
    assert model.data(model.index(0, 5)) == f"{fake_score(top):.3g}"
    assert model.data(model.index(len(expected), 5)) == ""  # annotated: not scored


def test_done_and_next_follows_the_rank(window, qtbot, tmp_path) -> None:
    project = active_project(tmp_path)
    open_project(window, qtbot, project)
    expected = useful_order(project)
    annotator = window.annotate.annotator
    QTest.keyClick(window.annotate.documents, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
    assert menu_action(window, "Most useful first").isChecked()
    press(window, qtbot, Qt.Key.Key_Right)
    assert annotator.document_id == expected[0]
    for i in range(3):
        press(window, qtbot, Qt.Key.Key_Return)  # Ctrl+Return: done, next
        assert project.get_document(expected[i])["status"] == "annotated"
        assert annotator.document_id == expected[i + 1]


def test_a_chosen_document_without_a_split_is_annotated_into_train(window, qtbot, tmp_path) -> None:
    project = active_project(tmp_path)
    expected = useful_order(project)
    project.set_split(expected[0], "unassigned")  # imported, no split given yet
    open_project(window, qtbot, project)
    assert useful_order(project) == expected  # unassigned documents are in the pool too
    annotator = window.annotate.annotator
    menu_action(window, "Most useful first").trigger()
    press(window, qtbot, Qt.Key.Key_Right)
    assert annotator.document_id == expected[0]
    press(window, qtbot, Qt.Key.Key_Return)  # Ctrl+Return: done, next
    doc = project.get_document(expected[0])
    assert (doc["status"], doc["split"]) == ("annotated", "train")
    assert annotator.document_id == expected[1]
    assert f"Document {expected[0]} went to the train split" in annotator.hint.text()
    press(window, qtbot, Qt.Key.Key_Z)  # Ctrl+Z: one edit, both undone
    doc = project.get_document(expected[0])
    assert (doc["status"], doc["split"]) == ("new", "unassigned")
    # In document order, done is done: the split stays as it is.
    window.annotate.documents.set_order("id")
    annotator.open_document(expected[0])
    press(window, qtbot, Qt.Key.Key_Return)
    doc = project.get_document(expected[0])
    assert (doc["status"], doc["split"]) == ("annotated", "unassigned")


def test_after_a_new_ranking_next_serves_its_top_document(
    window, qtbot, tmp_path, monkeypatch
) -> None:
    project = active_project(tmp_path)
    open_project(window, qtbot, project)
    annotator = window.annotate.annotator
    menu_action(window, "Most useful first").trigger()
    expected = useful_order(project)
    press(window, qtbot, Qt.Key.Key_Right)
    press(window, qtbot, Qt.Key.Key_Return)  # done, next: the second most useful
    assert annotator.document_id == expected[1]
    # A new model turns the order round: what was least useful is now the top.
    turned = {doc_id: float(k) for k, doc_id in enumerate(expected)}
    monkeypatch.setattr(
        FakeScorer, "score", lambda self, docs, *a, **k: [turned[d["id"]] for d in docs]
    )
    add_finished_run(project, tmp_path / "models" / "run-2")
    with qtbot.waitSignal(window.active_loop.scoring_finished, timeout=TIMEOUT):
        window.active_loop.rescore()
    ranked = [d["id"] for d in project.ranked_documents(project.strategy(), limit=3)]
    top = next(i for i in ranked if i != annotator.document_id)
    assert top != expected[2]  # in the old order, the next one down
    press(window, qtbot, Qt.Key.Key_Right)
    assert annotator.document_id == top
    # The list keeps the open document marked.
    view = window.annotate.documents.table
    assert view.model().document_id(view.currentIndex().row()) == top


def test_reopening_in_the_useful_order_shows_the_scores(window, qtbot, tmp_path) -> None:
    project = active_project(tmp_path)
    open_project(window, qtbot, project)
    menu_action(window, "Most useful first").trigger()
    path = project.path
    window.controller.close_project()
    window.annotate.documents.set_order("id")  # as a new window starts (not remembered)
    assert window.annotate.documents.table.isColumnHidden(5)
    open_project(window, qtbot, Project.open(path), scores=False)  # scores are stored
    documents = window.annotate.documents
    assert documents.order.currentData() == "useful"
    assert not documents.table.isColumnHidden(5)


def test_the_order_is_remembered_per_project(window, qtbot, tmp_path) -> None:
    project = active_project(tmp_path)
    path = project.path
    open_project(window, qtbot, project)
    menu_action(window, "Most useful first").trigger()
    other = make_project(tmp_path / "other.spanlab")
    window.adopt_project(other)
    assert window.annotate.documents.order.currentData() == "id"
    assert not menu_action(window, "Most useful first").isChecked()
    with qtbot.waitSignal(window.active_loop.status_changed, timeout=TIMEOUT):
        window.adopt_project(Project.open(path))
    assert window.annotate.documents.order.currentData() == "useful"
    assert menu_action(window, "Most useful first").isChecked()
    # Reopened: the scores are kept (nothing is scored again) and order the list.
    assert len(FakeScorer.calls) == 1
    model = window.annotate.documents.model
    assert model.document_id(0) == useful_order(window.controller.project)[0]


def test_status_label_says_which_model_orders_and_when_it_retrains(window, qtbot, tmp_path) -> None:
    project = active_project(tmp_path)
    open_project(window, qtbot, project)
    label = window.annotate.loop_status
    assert label.isVisible()
    text = label.text()
    assert "run 1" in text and "0.71" in text and "24" in text
    assert "20 more" in text, text
    annotator = window.annotate.annotator
    window.annotate.documents.set_order("useful")
    press(window, qtbot, Qt.Key.Key_Right)
    press(window, qtbot, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "19 more" in label.text(), timeout=2000)
    assert annotator.document_id is not None


def test_no_finished_run_says_to_train_first_and_keeps_document_order(
    window, qtbot, tmp_path
) -> None:
    project = active_project(tmp_path, with_run=False)
    open_project(window, qtbot, project, scores=False)
    label = window.annotate.loop_status
    qtbot.waitUntil(lambda: "train" in label.text().lower(), timeout=2000)
    assert "no model" in label.text().lower()
    menu_action(window, "Most useful first").trigger()
    ids = project.document_ids()
    assert window.annotate.annotator.document_id == ids[0]
    press(window, qtbot, Qt.Key.Key_Right)  # next in the useful order: document order
    assert window.annotate.annotator.document_id == ids[1]
    press(window, qtbot, Qt.Key.Key_Right)
    assert window.annotate.annotator.document_id == ids[2]
    assert FakeScorer.calls == []


def test_the_first_run_is_named_while_it_trains(window, qtbot, tmp_path, monkeypatch) -> None:
    gate = threading.Event()

    def train_events(plan, should_stop):  # a run that trains until the test lets it end
        assert gate.wait(10), "the test never let the run end"
        yield Cancelled()

    monkeypatch.setattr(training_queue, "train_events", train_events)
    project = active_project(tmp_path, with_run=False)
    open_project(window, qtbot, project, scores=False)
    run_id = window.train.queue.submit(tiny_config(tmp_path))
    label = window.annotate.loop_status
    qtbot.waitUntil(
        lambda: f"training the first model (run {run_id})" in label.text(), timeout=5000
    )
    gate.set()
    qtbot.waitUntil(lambda: not window.train.queue.is_busy(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "no model yet" in label.text(), timeout=5000)


def test_model_labels_that_differ_are_reported(window, qtbot, tmp_path) -> None:
    project = active_project(tmp_path, labels=("ORG", "PER"))
    open_project(window, qtbot, project)
    text = window.annotate.loop_status.text()
    assert "ORG" in text and "LOC" in text, text


def test_scoring_runs_on_a_worker_while_the_window_keeps_working(window, qtbot, tmp_path) -> None:
    FakeScorer.gate = threading.Event()
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(window.active_loop.is_scoring()))
    project = active_project(tmp_path)
    window.adopt_project(project)
    qtbot.waitUntil(lambda: bool(FakeScorer.calls), timeout=TIMEOUT)  # the scorer is at work
    timer.start()
    qtbot.waitUntil(lambda: sum(ticks) >= 5, timeout=5000)  # ...and the GUI timer ticks
    assert "scoring 0 / 8" in window.annotate.loop_status.text()
    press(window, qtbot, Qt.Key.Key_Right)  # the person moves on meanwhile
    assert window.annotate.annotator.document_id == project.document_ids()[1]
    with qtbot.waitSignal(window.active_loop.scoring_finished, timeout=TIMEOUT) as done:
        FakeScorer.gate.set()
    timer.stop()
    assert done.args == [N_NEW]
    assert "scoring" not in window.annotate.loop_status.text()
    scores = project.document_scores("mnlp", project.document_ids(status="new"))
    assert scores == {i: fake_score({"id": i}) for i in project.document_ids(status="new")}


def test_suggestions_are_refreshed_on_the_next_useful_documents(window, qtbot, tmp_path) -> None:
    project = active_project(tmp_path)
    open_project(window, qtbot, project)
    expected = useful_order(project)
    with_suggestions = [i for i in expected if project.spans(i, origin="model")]
    assert with_suggestions == expected[: active_loop.SUGGEST_NEXT]


def set_loop_settings(window, qtbot, every: int | None = None, strategy: str | None = None):
    """Annotate ▸ Model in the loop…: type the settings in the dialog and press OK."""

    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        assert dialog is not None and dialog.windowTitle() == "Model in the loop"
        if every is not None:
            dialog.findChild(QSpinBox).setValue(every)
        if strategy is not None:
            dialog.strategy.setCurrentIndex(dialog.strategy.findData(strategy))
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        QTest.mouseClick(ok, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, fill)
    menu_action(window, "Model in the loop…").trigger()


def test_retrain_every_is_set_in_the_dialog(window, qtbot, tmp_path) -> None:
    project = active_project(tmp_path)
    open_project(window, qtbot, project)
    set_loop_settings(window, qtbot, every=0)
    assert project.retrain_every() == 0
    assert "off" in window.annotate.loop_status.text()
    set_loop_settings(window, qtbot, every=3)
    assert project.retrain_every() == 3


def test_another_strategy_rescores_the_pool(window, qtbot, tmp_path) -> None:
    project = active_project(tmp_path)
    open_project(window, qtbot, project)
    with qtbot.waitSignal(window.active_loop.scoring_finished, timeout=TIMEOUT):
        set_loop_settings(window, qtbot, strategy="entropy")
    assert project.strategy() == "entropy"
    assert FakeScorer.calls[-1][1] == "entropy"


def fake_trainer(monkeypatch, final: str = "done") -> list:
    """Replace the trainer by one that ends at once; returns the plans it was given."""
    plans = []

    def train_events(plan, should_stop):
        plans.append(plan)
        if final == "failed":
            yield Failed(error="out of memory (a test)")
            return
        Path(plan.output_dir).mkdir(parents=True, exist_ok=True)
        metrics = {
            "f1": 0.8,
            "train_documents": len(plan.data["train"]),
            "dev_documents": len(plan.data["dev"]),
        }
        yield Done(output_dir=str(plan.output_dir), metrics=metrics, seconds=0.1)

    monkeypatch.setattr(training_queue, "train_events", train_events)
    return plans


def annotate_next(window, qtbot, n: int) -> None:
    for _ in range(n):
        press(window, qtbot, Qt.Key.Key_Return)


def test_n_annotations_queue_a_warm_start_retrain_then_rescore(
    window, qtbot, tmp_path, monkeypatch
) -> None:
    plans = fake_trainer(monkeypatch)
    project = active_project(tmp_path)
    project.set_setting("retrain_every", "2")
    open_project(window, qtbot, project)
    first_model = FakeScorer.calls[-1][0]
    window.annotate.documents.set_order("useful")
    press(window, qtbot, Qt.Key.Key_Right)
    annotate_next(window, qtbot, 1)
    QTest.qWait(0)  # let the re-train check run: one is not enough
    assert plans == [] and window.train.queue.jobs() == []
    loop = window.active_loop
    with qtbot.waitSignals([loop.retrain_queued, loop.scoring_finished], timeout=TIMEOUT):
        annotate_next(window, qtbot, 1)
    assert len(plans) == 1
    config = plans[0].config
    assert config.warm_start == first_model  # the newest finished run's model folder
    assert config.epochs == 0 and config.time_budget_s == active_loop.RETRAIN_BUDGET_S
    latest = project.latest_run()
    assert latest["id"] == 2 and latest["status"] == "done"
    assert FakeScorer.calls[-1][0] == latest["output_dir"]  # the new model scored
    assert project.scoring_state("mnlp")["run_id"] == 2
    assert "run 2" in window.annotate.loop_status.text()
    # The Results tab's learning curve has a dot for each model.
    assert window.results.learning_curve.points() == [(24, 0.71, 1), (26, 0.8, 2)]


def test_a_failed_retrain_leaves_the_previous_model(window, qtbot, tmp_path, monkeypatch) -> None:
    fake_trainer(monkeypatch, final="failed")
    project = active_project(tmp_path)
    project.set_setting("retrain_every", "2")
    open_project(window, qtbot, project)
    calls = len(FakeScorer.calls)
    window.annotate.documents.set_order("useful")
    press(window, qtbot, Qt.Key.Key_Right)
    with qtbot.waitSignal(window.train.queue.run_finished, timeout=TIMEOUT):
        annotate_next(window, qtbot, 2)
    assert project.latest_run()["id"] == 1  # the newest finished run is still run 1
    assert len(FakeScorer.calls) == calls  # nothing was rescored
    assert project.scoring_state("mnlp")["run_id"] == 1
    text = window.annotate.loop_status.text()
    assert "run 1" in text and "previous model" in text, text
    # One more annotation does not retry at once: the next try waits for N more.
    annotate_next(window, qtbot, 1)
    QTest.qWait(0)
    assert window.train.queue.jobs() == []
    # Nor after the project is opened again (the wait is kept across restarts).
    path = project.path
    window.controller.close_project()
    open_project(window, qtbot, Project.open(path), scores=False)
    text = window.annotate.loop_status.text()
    assert "re-train due" not in text and "re-trains after 1 more" in text, text
    press(window, qtbot, Qt.Key.Key_Right)
    QTest.qWait(0)
    assert window.train.queue.jobs() == []


def test_a_trained_model_scores_and_suggests(
    window, qtbot, tmp_path, tmp_path_factory, monkeypatch
) -> None:
    monkeypatch.setattr(active_loop, "load_scorer", REAL_SCORER)
    monkeypatch.setattr(active_loop, "suggestion_job", REAL_SUGGESTIONS)
    project = trained_project(tmp_path_factory, tmp_path / "trained.spanlab")
    new = project.document_ids(status="new")
    open_project(window, qtbot, project)
    scores = project.document_scores("mnlp", new)
    assert sorted(scores) == new and all(v >= 0 for v in scores.values())
    assert len(set(scores.values())) > 1  # the documents are told apart
    window.annotate.documents.set_order("useful")
    press(window, qtbot, Qt.Key.Key_Right)
    top = max(new, key=lambda i: (scores[i], -i))
    assert window.annotate.annotator.document_id == top
    shown = window.annotate.annotator.document_id
    assert any(project.spans(i, origin="model") for i in new if i != shown)


def test_learning_curve_points_leave_out_runs_that_did_not_count_documents() -> None:
    from desktop.learning_curve import best_per_size, curve_points

    runs = [
        {"id": 4, "status": "done", "metrics": {"f1": 0.62, "train_documents": 100}},
        {"id": 3, "status": "failed", "metrics": None},
        {"id": 2, "status": "done", "metrics": {"f1": 0.55, "train_documents": 100}},
        {"id": 1, "status": "done", "metrics": {"f1": 0.4}},  # from before runs counted
        {"id": 5, "status": "done", "metrics": {"f1": 0.3, "train_documents": 50}},
    ]
    assert curve_points(runs) == [(50, 0.3, 5), (100, 0.55, 2), (100, 0.62, 4)]
    assert best_per_size(curve_points(runs)) == [(50, 0.3), (100, 0.62)]
