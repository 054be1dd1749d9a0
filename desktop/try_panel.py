"""The "Try it" section: type text, see a trained model's entities, pre-annotate documents.

Prediction never runs on the GUI thread: typing restarts a 250 ms timer; when it fires,
the text goes to a worker (which also loads the model the first time). One prediction
is in flight at a time; a result for text that has changed since is dropped and the
newest text is predicted next.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.training.assist import SuggestionBatch, store_suggestions, suggestion_batches
from desktop.controller import ProjectController
from desktop.entity_text import EntityTextEdit, tooltip_text
from desktop.metrics_table import Column, RowsTable
from desktop.run_rows import micro_f1, split_report
from desktop.try_compare import CompareTextPane
from desktop.workers import Worker, start_worker

DEBOUNCE_MS = 250

ENTITY_COLUMNS = (
    Column("text", "Text"),
    Column("label", "Label", swatch=True),
    Column("start", "Start", align_right=True),
    Column("end", "End", align_right=True),
    Column("score", "Confidence", lambda v: "" if v is None else f"{float(v):.2f}", True),
)


def predict_text(model: Any, text: str) -> tuple[Any, str, list[dict]]:
    """Worker job: load the model if given a folder, predict one text.

    Returns the loaded predictor so the GUI thread can keep it for the next call.
    """
    from core.training.predict import Predictor

    predictor = Predictor(str(model)) if isinstance(model, str) else model
    entities = predictor.predict([text])[0] if text.strip() else []
    return predictor, text, entities


def pre_annotate_job(
    project_path: str, model_dir: str, doc_ids: list[int], should_stop: Callable[[], bool]
) -> Generator[SuggestionBatch, None, str]:
    """Worker job: predict documents in batches on their stored tokens (see
    :mod:`core.training.assist`); yields a ``SuggestionBatch`` for each.

    Reads the documents through a read-only connection of its own (a connection belongs
    to one thread, and this one never takes the write lock); the GUI thread writes the
    spans.
    """
    from core.store import Project
    from core.training.predict import Predictor

    predictor = Predictor(model_dir)
    project = Project.open(project_path, readonly=True)
    try:
        yield from suggestion_batches(project, predictor, doc_ids, should_stop)
    finally:
        project.close()
    return "cancelled" if should_stop() else "done"


class TryPanel(QWidget):
    """Try a trained model on typed text; pre-annotate documents with it."""

    predicted = Signal(object)  # the entities now shown (after a fresh prediction)
    pre_annotated = Signal(int)  # documents that received model spans
    pre_worker_finished = Signal()  # the predictions are made (some may wait to be stored)

    def __init__(self, controller: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._predictors: dict[str, Any] = {}  # model folder -> loaded Predictor
        self._in_flight = False
        self._pre_worker: Worker | None = None
        self._pre_count = 0
        #: Predicted batches not stored yet: an import was writing when they came.
        self._pending: list[SuggestionBatch] = []
        self._pre_active = False  # from Pre-annotate until the last batch is stored
        self._user_picked = False
        self._exported: list[tuple[str, str]] = []  # (name, folder): exports offered too
        self._shown_key: tuple[str | None, str] = (None, "")  # (model, text) now shown
        self._failed_key: tuple[str | None, str] | None = None  # do not retry it
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)
        self.debounce.timeout.connect(self._predict_now)
        self._build()
        controller.project_changed.connect(self._on_project_changed)
        controller.runs_changed.connect(self.refresh_models)
        controller.labels_changed.connect(lambda: self._show(self.editor.entities()))
        controller.labels_changed.connect(lambda: self.compare_pane.recolour())
        controller.writes_unblocked.connect(self._store_pending)
        self.refresh_models()

    def _build(self) -> None:
        self.model_combo = QComboBox(self)
        self.model_combo.setMinimumContentsLength(30)
        self.model_combo.activated.connect(self._on_model_picked)
        self.status = QLabel("", self)
        self.status.setStyleSheet("color: #5f6368;")
        top = QHBoxLayout()
        top.addWidget(QLabel("Model:", self))
        top.addWidget(self.model_combo, 1)
        top.addWidget(self.status)
        self.compare_combo = QComboBox(self)
        self.compare_combo.setToolTip("Show another run's entities on the same text, below")
        self.compare_combo.activated.connect(self._on_compare_picked)
        top.addWidget(QLabel("Compare with:", self))
        top.addWidget(self.compare_combo)

        self.editor = EntityTextEdit(self)
        font = self.editor.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.editor.setFont(font)
        self.editor.setPlaceholderText(
            "Type or paste text: the model's entities light up as you type."
        )
        self.editor.textChanged.connect(self._on_text_changed)
        self.compare_pane = CompareTextPane(
            self._predictors,
            lambda model, text: predict_text(model, text),  # looked up when called
            self._colour,
            self.controller.show_error,
            self,
        )
        self.compare_pane.view.setFont(font)
        self.table = RowsTable("Entities", ENTITY_COLUMNS, self, stretch="text")
        self.table.copy_button.hide()  # JSON is the useful copy here
        self.copy_json_button = QPushButton("Copy as JSON", self)
        self.copy_json_button.clicked.connect(self.copy_json)
        self.table.layout().itemAt(0).layout().addWidget(self.copy_json_button)

        self.pre_scope = QComboBox(self)
        self.pre_scope.addItem("all new documents", "new")
        self.pre_scope.addItem("documents selected in the list", "selected")
        self.pre_button = QPushButton("Pre-annotate", self)
        self.pre_button.setToolTip(
            "Store the model's entities as suggestions (origin 'model') to accept or fix"
        )
        self.pre_button.clicked.connect(lambda: self.pre_annotate())
        self.pre_progress = QProgressBar(self)
        self.pre_progress.setMaximumWidth(220)
        self.pre_progress.hide()
        self.pre_status = QLabel("", self)
        bottom = QHBoxLayout()
        bottom.addWidget(self.pre_button)
        bottom.addWidget(self.pre_scope)
        bottom.addWidget(self.pre_progress)
        bottom.addWidget(self.pre_status, 1)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.editor)
        splitter.addWidget(self.compare_pane)  # the second model, under the first
        splitter.addWidget(self.table)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)

    # -- models -----------------------------------------------------------------------
    def refresh_models(self) -> None:
        """List the finished runs; follow the newest unless the user picked one."""
        project = self.controller.project
        current = self.model_dir()
        runs = [r for r in (project.runs() if project is not None else []) if r["status"] == "done"]
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for run in runs:
            if not run["output_dir"]:
                continue
            f1 = micro_f1(split_report(run["metrics"], "dev"))
            text = f"Run {run['id']}" + (f" — dev F1 {f1:.3f}" if f1 is not None else "")
            self.model_combo.addItem(text, str(run["output_dir"]))
        for name, folder in self._exported:  # ONNX exports run on ONNX Runtime (faster)
            self.model_combo.addItem(name, folder)
        index = self.model_combo.findData(current) if self._user_picked and current else -1
        self.model_combo.setCurrentIndex(index if index >= 0 else 0)
        self.model_combo.blockSignals(False)
        self._refresh_compare_choices()
        has_model = self.model_combo.count() > 0
        self.pre_button.setEnabled(has_model and not self._pre_active)
        self.editor.setEnabled(True)
        if not has_model:
            self.status.setText("Train a model first (Train tab).")
        elif self.model_dir() != current:
            self.status.setText("")
            self._schedule()

    def _on_project_changed(self) -> None:
        self._user_picked = False  # another project: follow its newest model
        self._exported.clear()
        self.compare_combo.setCurrentIndex(0)
        self.compare_pane.set_model(None)
        self.refresh_models()

    def add_model_folder(self, folder: str, name: str) -> None:
        """Offer a model folder that is no run's own (an export) in the model chooser."""
        if all(known != folder for _, known in self._exported):
            self._exported.append((name, folder))
        self.refresh_models()

    def model_dir(self) -> str | None:
        return self.model_combo.currentData()

    def set_model(self, model_dir: str) -> None:
        """Choose a model as the user would."""
        index = self.model_combo.findData(str(model_dir))
        if index >= 0:
            self.model_combo.setCurrentIndex(index)
            self._on_model_picked(index)

    def _on_model_picked(self, _index: int) -> None:
        self._user_picked = True
        self._schedule()

    def _refresh_compare_choices(self) -> None:
        """The compare chooser: no comparison, or any of the finished runs."""
        current = self.compare_combo.currentData()
        self.compare_combo.blockSignals(True)
        self.compare_combo.clear()
        self.compare_combo.addItem("no other run", None)
        for i in range(self.model_combo.count()):
            self.compare_combo.addItem(self.model_combo.itemText(i), self.model_combo.itemData(i))
        index = self.compare_combo.findData(current) if current else 0
        self.compare_combo.setCurrentIndex(max(index, 0))
        self.compare_combo.blockSignals(False)
        if self.compare_combo.currentData() != self.compare_pane.model_dir():
            self._on_compare_picked(self.compare_combo.currentIndex())

    def set_compare_model(self, model_dir: str | None) -> None:
        """Compare with a run's model (None: no comparison), as choosing it would."""
        index = max(self.compare_combo.findData(model_dir), 0)
        self.compare_combo.setCurrentIndex(index)
        self._on_compare_picked(index)

    def _on_compare_picked(self, index: int) -> None:
        model_dir = self.compare_combo.itemData(index)
        if model_dir != self.compare_pane.model_dir():
            self.compare_pane.set_model(
                model_dir, f"Compared: {self.compare_combo.itemText(index)}"
            )
        self.compare_pane.request(self.editor.toPlainText())

    # -- prediction -------------------------------------------------------------------
    def _colour(self, label: str) -> str:
        return self.controller.label_colour(label)

    def _on_text_changed(self) -> None:
        self.editor.keep_matching(self._colour)
        self.compare_pane.mirror(self.editor.toPlainText())
        self._schedule()

    def _schedule(self) -> None:
        self.debounce.start()

    def _predict_now(self) -> None:
        model_dir = self.model_dir()
        if model_dir is None:
            return
        self.compare_pane.request(self.editor.toPlainText())  # on its own worker
        if self._in_flight:
            return  # the result handler starts the next one for the newest text
        text = self.editor.toPlainText()
        if not text.strip():  # nothing to predict: no need to load a model either
            self.status.setText("")
            self._show([])
            return
        model = self._predictors.get(model_dir, model_dir)
        self._in_flight = True
        if model is model_dir:
            self.status.setText("Loading the model…")
        worker = start_worker(predict_text, model, text)
        worker.returned.connect(lambda result, m=model_dir: self._on_predicted(m, result))
        worker.errored.connect(self._on_predict_error)
        worker.finished.connect(self._on_predict_finished)

    def _on_predicted(self, model_dir: str, result: tuple[Any, str, list[dict]]) -> None:
        predictor, text, entities = result
        self._predictors[model_dir] = predictor
        if model_dir != self.model_dir() or text != self.editor.toPlainText():
            return  # stale: the text or the model changed meanwhile
        self._failed_key = None
        self.status.setText(f"{len(entities)} entities" if text.strip() else "")
        self._show(entities)
        self.predicted.emit(entities)

    def _on_predict_error(self, exc: object) -> None:
        self._failed_key = self._current_key()
        self.status.setText("Prediction failed.")
        self.controller.show_error(exc if isinstance(exc, BaseException) else str(exc))

    def _on_predict_finished(self) -> None:
        self._in_flight = False
        key = self._current_key()
        if key not in (self._shown_key, self._failed_key) and not self.debounce.isActive():
            self._predict_now()  # the text changed while the model was busy

    def _current_key(self) -> tuple[str | None, str]:
        return self.model_dir(), self.editor.toPlainText()

    def _show(self, entities: list[dict]) -> None:
        self._shown_key = self._current_key()
        self.editor.set_entities(entities, self._colour)
        self.table.set_rows(
            [dict(e, _colour=self._colour(e["label"]), _tooltip=tooltip_text(e)) for e in entities]
        )

    def entities_json(self) -> str:
        """The text and its entities as JSON (what "Copy as JSON" copies)."""
        entities = [
            {k: e.get(k) for k in ("start", "end", "label", "score", "text")}
            for e in self.editor.entities()
        ]
        return json.dumps(
            {"text": self.editor.toPlainText(), "entities": entities}, ensure_ascii=False, indent=2
        )

    def copy_json(self) -> None:
        QGuiApplication.clipboard().setText(self.entities_json())

    # -- pre-annotation ---------------------------------------------------------------
    def pre_annotate(self, doc_ids: list[int] | None = None) -> None:
        """Predict documents on a worker and store the spans as model suggestions.

        ``doc_ids`` None: the scope the user chose (all new documents by default).
        """
        project, model_dir = self.controller.project, self.model_dir()
        if project is None or model_dir is None or self._pre_active:
            return
        if doc_ids is None:
            if self.pre_scope.currentData() == "selected":
                doc_ids = list(self.controller.selected_document_ids())
            else:
                doc_ids = list(project.document_ids(status="new"))
        if not doc_ids:
            self.pre_status.setText(
                "No documents to pre-annotate: select some in the document list"
                if self.pre_scope.currentData() == "selected"
                else "No new documents to pre-annotate."
            )
            return
        self._pre_count = 0
        self._pre_active = True
        self.pre_button.setEnabled(False)
        self.pre_progress.setRange(0, len(doc_ids))
        self.pre_progress.setValue(0)
        self.pre_progress.show()
        self.pre_status.setText("Loading the model…")
        worker = start_worker(pre_annotate_job, str(project.path), model_dir, doc_ids)
        self._pre_worker = worker
        worker.yielded.connect(self._on_pre_batch)
        worker.errored.connect(self._on_predict_error)
        worker.finished.connect(self._on_pre_finished)

    def _on_pre_batch(self, batch: SuggestionBatch) -> None:
        """Store a batch now, or keep it until the import that writes has finished."""
        self._pending.append(batch)
        reason = self.controller.write_block_reason()
        if reason is None:
            self._store_pending()
        else:
            self.pre_status.setText(
                f"{batch.done} / {batch.total} documents predicted; stored when "
                f"{reason[0].lower()}{reason[1:]} has finished."
            )

    def _store_pending(self) -> None:
        while self._pending and self.controller.write_block_reason() is None:
            batch = self._pending.pop(0)
            try:
                stored = store_suggestions(self.controller.project, batch)
            except Exception as exc:  # shown; the next batches are still stored
                self.controller.show_error(exc)
                continue
            self._pre_count += sum(1 for n in stored.values() if n)
            for doc_id in stored:
                self.controller.notify_spans_changed(doc_id)
            self.pre_progress.setValue(batch.done)
            self.pre_status.setText(f"{batch.done} / {batch.total} documents")
        if self._pre_worker is None and not self._pending:
            self._pre_annotation_done()

    def _on_pre_finished(self) -> None:
        self._pre_worker = None
        self.pre_worker_finished.emit()
        if not self._pending:
            self._pre_annotation_done()

    def _pre_annotation_done(self) -> None:
        if not self._pre_active:
            return
        self._pre_active = False
        self.pre_progress.hide()
        self.pre_button.setEnabled(self.model_combo.count() > 0)
        self.pre_status.setText(f"Model suggestions stored in {self._pre_count} documents.")
        self.controller.notify_documents_changed()
        self.pre_annotated.emit(self._pre_count)

    def cancel_pre_annotate(self) -> None:
        if self._pre_worker is not None:
            self._pre_worker.quit()
