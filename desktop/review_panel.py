"""Review: the annotations most likely to be wrong, and one key to fix or keep each.

A window beside the annotator (Annotate ▸ Review likely mistakes…). "Find likely
mistakes" runs ``core.insight.review`` on a worker with the Train tab's settings:
progress per fold, Cancel keeps what the finished folds found. The list is most
suspicious first; choosing a row opens its document in the annotator at the span.
**A** accepts the model's suggestion as an ordinary undoable edit (Ctrl+Z here or in the
main window undoes it); **K** keeps the annotation and marks the suspect reviewed, so no
later review lists it again. A row follows its document's spans: it reads "accepted"
once the annotation is as the model suggested, "edited" if it changed some other way.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.errors import SpanlabError
from core.insight.review import (
    DEFAULT_FOLDS,
    REVIEW_SPLITS,
    Fit,
    FoldDone,
    FoldStarted,
    ReviewResult,
    open_suspects,
    prepare_review,
    review_events,
)
from core.insight.suspects import KIND_NAMES, Suspect, snippet, suspect_state
from core.training.config import TrainConfig
from core.training.events import Step
from desktop.controller import NO_PROJECT, ProjectController
from desktop.workers import Worker, start_worker

COLUMNS = ("Score", "Kind", "Annotated", "Suggested", "Text")
STEPS_PER_FOLD = 1000
STATE_TEXT = {"accepted": "accepted", "changed": "edited since"}


class ReviewPanel(QWidget):
    """The Review window (see the module docstring)."""

    def __init__(
        self,
        controller: ProjectController,
        base_config: Callable[[], TrainConfig],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Review likely mistakes")
        self.controller = controller
        self.base_config = base_config
        #: How fold models are trained (None: the normal trainer).
        self.fit: Fit | None = None
        self.worker: Worker | None = None
        self.suspects: list[Suspect] = []
        self.texts: dict[int, str] = {}
        self._fold = 0  # the fold being trained, for the progress bar

        self.folds = QSpinBox()
        self.folds.setRange(2, 10)
        self.folds.setValue(DEFAULT_FOLDS)
        self.split = QComboBox()
        self.split.addItems(list(REVIEW_SPLITS))
        self.run_button = QPushButton("Find likely mistakes")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        controls = QHBoxLayout()
        for widget in (QLabel("Folds"), self.folds, QLabel("Split"), self.split):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.run_button)
        controls.addWidget(self.cancel_button)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel(
            "Each fold's model is trained on the other folds with the Train tab's settings "
            "and predicts documents it never saw; disagreements are listed, surest first."
        )
        self.status.setWordWrap(True)

        self.list = QTreeWidget()
        self.list.setHeaderLabels(list(COLUMNS))
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        self.list.setAllColumnsShowFocus(True)
        self.list.currentItemChanged.connect(lambda item, _old: self._open(item))
        self.list.itemClicked.connect(self._open)

        self.accept_action = self._action("&Accept suggestion", "A", self.accept_current)
        self.keep_action = self._action("&Keep annotation", "K", self.keep_current)
        self.undo_action = self._action("Undo", "Ctrl+Z", controller.undo)
        buttons = QHBoxLayout()
        for action in (self.accept_action, self.keep_action):
            button = QPushButton(
                f"{action.text().replace('&', '')} ({action.shortcut().toString()})"
            )
            button.clicked.connect(action.trigger)
            buttons.addWidget(button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.resize(900, 520)

        controller.spans_changed.connect(self._follow_document)
        controller.project_changed.connect(self._clear)

    def _action(self, text: str, key: str, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    # -- running a review ---------------------------------------------------------------

    def start(self) -> None:
        """Find likely mistakes: prepare here (the store's thread), train on a worker."""
        project = self.controller.project
        if project is None:
            self.controller.show_error(NO_PROJECT)
            return
        if self.worker is not None:
            return
        try:
            plan = prepare_review(
                project, self.base_config(), self.folds.value(), self.split.currentText()
            )
        except SpanlabError as exc:
            self.controller.show_error(exc)
            return
        self.texts = plan.texts()
        self._clear()
        self.progress.setRange(0, plan.k * STEPS_PER_FOLD)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.status.setText(f"Training {plan.k} fold models on {len(plan.documents):,} documents…")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._fold = 0
        self.worker = start_worker(review_events, plan, fit=self.fit)
        self.worker.yielded.connect(self._on_event)
        self.worker.returned.connect(self._on_result)
        self.worker.errored.connect(self.controller.show_error)
        self.worker.finished.connect(self._on_finished)

    def cancel(self) -> None:
        """Stop after the current step; the finished folds' suspects are listed."""
        if self.worker is not None:
            self.worker.quit()
            self.status.setText("Stopping…")

    def _on_event(self, event: object) -> None:
        if isinstance(event, FoldStarted):
            self._fold = event.fold
            self.progress.setValue(event.fold * STEPS_PER_FOLD)
            self.status.setText(
                f"Fold {event.fold + 1} of {event.folds}: training on "
                f"{event.train_documents:,} documents, then predicting {event.predict_documents:,}…"
            )
        elif isinstance(event, Step):
            done = event.step / max(event.total_steps, 1)
            self.progress.setValue(int((self._fold + done) * STEPS_PER_FOLD))
        elif isinstance(event, FoldDone):
            self.progress.setValue((event.fold + 1) * STEPS_PER_FOLD)

    def _on_result(self, result: ReviewResult) -> None:
        project = self.controller.project
        if project is None:
            return
        self.suspects = open_suspects(project, result.suspects)
        hidden = len(result.suspects) - len(self.suspects)
        text = f"{len(self.suspects):,} likely mistakes in {result.documents:,} documents"
        if hidden:
            text += f" ({hidden:,} reviewed before, not shown)"
        if result.cancelled:
            text = f"Stopped after {result.folds_done} of {result.folds} folds: " + text
        self.status.setText(text + ". A: accept the suggestion · K: keep the annotation.")
        self._fill()

    def _on_finished(self) -> None:
        self.worker = None
        self.progress.setVisible(False)
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    # -- the list -------------------------------------------------------------------------

    def _fill(self) -> None:
        self.list.clear()
        for index, suspect in enumerate(self.suspects):
            item = QTreeWidgetItem(
                [
                    f"{suspect.score:.2f}",
                    KIND_NAMES[suspect.kind],
                    suspect.label or "—",
                    suspect.suggested or "—",
                    snippet(self.texts[suspect.doc_id], suspect),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, index)
            item.setToolTip(
                0,
                f"The model's margin {suspect.margin:.2f}, weighed by how rare "
                f'"{KIND_NAMES[suspect.kind]}" disagreements are in this review.',
            )
            for column, label in ((2, suspect.label), (3, suspect.suggested)):
                if label:  # the label's colour, as on its button in the annotator
                    item.setBackground(column, QBrush(QColor(self.controller.label_colour(label))))
                    item.setForeground(column, QBrush(QColor("black")))
            self.list.addTopLevelItem(item)
        for column in range(len(COLUMNS) - 1):
            self.list.resizeColumnToContents(column)
        if self.suspects:
            self.list.setCurrentItem(self.list.topLevelItem(0))
            self.list.setFocus()

    def _clear(self) -> None:
        self.suspects = []
        self.list.clear()

    def current_suspect(self) -> Suspect | None:
        """The suspect of the chosen row, or None."""
        item = self.list.currentItem()
        return self._suspect(item) if item is not None else None

    def _suspect(self, item: QTreeWidgetItem) -> Suspect:
        return self.suspects[int(item.data(0, Qt.ItemDataRole.UserRole))]

    def _open(self, item: QTreeWidgetItem | None) -> None:
        if item is not None:
            suspect = self._suspect(item)
            self.controller.open_document(suspect.doc_id, (suspect.start, suspect.end))

    def row_state(self, index: int) -> str:
        """``open``, ``accepted`` or ``changed`` (see ``core.insight.suspects``)."""
        item = self.list.topLevelItem(index)
        return str(item.data(1, Qt.ItemDataRole.UserRole) or "open")

    def _follow_document(self, doc_id: int) -> None:
        """Re-read where the rows of a document stand after its spans changed."""
        project = self.controller.project
        rows = [i for i, s in enumerate(self.suspects) if s.doc_id == doc_id]
        if project is None or not rows:
            return
        try:
            spans = project.spans(doc_id, origin="human")
        except SpanlabError:
            spans = []  # the document is gone: every row of it is "edited since"
        for index in rows:
            state = suspect_state(self.suspects[index], spans)
            item = self.list.topLevelItem(index)
            item.setData(1, Qt.ItemDataRole.UserRole, state)
            item.setText(1, STATE_TEXT.get(state, KIND_NAMES[self.suspects[index].kind]))
            for column in range(len(COLUMNS)):
                font = item.font(column)
                font.setStrikeOut(state != "open")
                item.setFont(column, font)

    # -- accept, keep ---------------------------------------------------------------------

    def accept_current(self) -> None:
        """Make the annotation what the model suggests (one undoable edit), go on."""
        suspect = self.current_suspect()
        if suspect is None:
            return
        index = self.suspects.index(suspect)
        if self.row_state(index) != "open":
            self.controller.status_message.emit(
                "This suspect was already dealt with: the annotation changed since the review."
            )
            return
        if self._apply(suspect):
            self._next(index)

    def _apply(self, suspect: Suspect) -> bool:
        c = self.controller
        low = min(suspect.start, suspect.suggested_start or suspect.start)
        high = max(suspect.end, suspect.suggested_end or suspect.end)
        here = c.overlapping_spans(suspect.doc_id, low, high)
        annotated = next(
            (
                s
                for s in here
                if (s["start"], s["end"], s["label"]) == (suspect.start, suspect.end, suspect.label)
            ),
            None,
        )
        if suspect.kind == "wrong_type" and annotated is not None:
            return c.set_span_label(annotated, str(suspect.suggested)) is not None
        if suspect.kind == "missed" and annotated is not None:
            c.remove_span(annotated)
            return True
        if suspect.suggested is None or suspect.suggested_start is None:
            return False
        start, end = suspect.suggested_start, int(suspect.suggested_end or 0)
        old = [s for s in here if (s["start"] < end and start < s["end"]) or s is annotated]
        if old:
            return c.replace_spans(suspect.doc_id, old, start, end, suspect.suggested) is not None
        return c.add_span(suspect.doc_id, start, end, suspect.suggested) is not None

    def keep_current(self) -> None:
        """Keep the annotation: the suspect is stored as reviewed and leaves the list."""
        suspect = self.current_suspect()
        if suspect is None:
            return
        if not self.controller.mark_reviewed(suspect.doc_id, suspect.key(), suspect.kind):
            return
        index = self.suspects.index(suspect)
        del self.suspects[index]
        self.list.blockSignals(True)  # the row's neighbour is chosen below, and opened
        self.list.takeTopLevelItem(index)
        for i in range(index, self.list.topLevelItemCount()):
            self.list.topLevelItem(i).setData(0, Qt.ItemDataRole.UserRole, i)
        self.list.blockSignals(False)
        self._next(index - 1)

    def _next(self, index: int) -> None:
        """Choose the next open row after ``index`` and open its document."""
        for i in range(index + 1, len(self.suspects)):
            if self.row_state(i) == "open":
                item = self.list.topLevelItem(i)
                if self.list.currentItem() is item:
                    self._open(item)
                else:
                    self.list.setCurrentItem(item)
                return
