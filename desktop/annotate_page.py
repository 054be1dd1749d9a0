"""The Annotate tab: document list and labels on the left, the annotator beside them.

Under the list's order box a small line says which model orders the documents and when
it re-trains (see :mod:`desktop.active_loop`); its button opens the settings of the
model in the loop.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.domain import STRATEGIES
from desktop.active_loop import RETRAIN_BUDGET_S, ActiveLoop
from desktop.active_settings import ActiveSettingsDialog
from desktop.annotator import Annotator
from desktop.controller import ProjectController
from desktop.document_list import DocumentList
from desktop.labels_panel import LabelsPanel


def _boxed(title: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.addWidget(widget)
    return box


class AnnotatePage(QSplitter):
    """Wires the document list to the annotator: picking a row opens the document."""

    def __init__(self, controller: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.controller = controller
        self.loop: ActiveLoop | None = None
        self.documents = DocumentList(controller)
        self.annotator = Annotator(controller)
        self.labels = LabelsPanel(controller)
        self._build_loop_status()
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(_boxed("Documents", self.documents))
        side.addWidget(_boxed("Labels", self.labels))
        side.setStretchFactor(0, 3)
        side.setStretchFactor(1, 1)
        side.setSizes([560, 220])
        side.setChildrenCollapsible(False)
        self.addWidget(side)
        self.addWidget(self.annotator)
        self.setStretchFactor(0, 2)
        self.setStretchFactor(1, 5)
        self.setSizes([480, 880])
        self.setChildrenCollapsible(False)

        self.annotator.set_filters_provider(self.documents.filters)
        self.documents.order_changed.connect(lambda _order: self.annotator.restart_order())
        self.documents.document_activated.connect(self._open)
        self.annotator.document_opened.connect(self.documents.show_document)

    def _build_loop_status(self) -> None:
        #: Annotate ▸ Model in the loop…: the strategy and the re-train interval.
        self.loop_settings_action = QAction("&Model in the loop…", self)
        self.loop_settings_action.setToolTip(
            "How 'most useful first' chooses documents, and when the model re-trains"
        )
        self.loop_settings_action.triggered.connect(self.ask_loop_settings)
        self.loop_settings_action.setEnabled(False)
        self.loop_status = QLabel("")
        self.loop_status.setObjectName("loopStatus")
        self.loop_status.setWordWrap(True)
        self.loop_status.setTextFormat(Qt.TextFormat.PlainText)
        self.loop_status.setStyleSheet("color: #5f6368;")
        self.loop_button = QToolButton()
        self.loop_button.setText("⚙")
        self.loop_button.setToolTip(f"{self.loop_settings_action.toolTip()} (Annotate menu)")
        self.loop_button.setAutoRaise(True)
        self.loop_button.setEnabled(False)
        self.loop_button.clicked.connect(self.loop_settings_action.trigger)
        self.loop_settings_action.changed.connect(
            lambda: self.loop_button.setEnabled(self.loop_settings_action.isEnabled())
        )
        self.loop_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.loop_status, 1)
        row.addWidget(self.loop_button, 0, Qt.AlignmentFlag.AlignTop)
        self.documents.order_notes.addLayout(row)

    def set_active_loop(self, loop: ActiveLoop) -> None:
        """Show what the model in the loop does, and let the person set it up."""
        self.loop = loop
        loop.status_changed.connect(self.loop_status.setText)
        loop.scoring_finished.connect(self._on_new_ranking)
        self.loop_status.setText(loop.status)
        self.loop_settings_action.setEnabled(True)

    def _on_new_ranking(self, _scored: int) -> None:
        """The pool was ranked again: in the useful order, next serves the new top."""
        if self.documents.filters().get("order") == "useful":
            self.annotator.restart_order()
        if self.annotator.document_id is not None:  # keep the open document marked in the list
            self.documents.show_document(self.annotator.document_id)

    def ask_loop_settings(self) -> None:
        """Annotate ▸ Model in the loop…: choose the strategy and the re-train interval."""
        project, loop = self.controller.project, self.loop
        if project is None or loop is None:
            return
        dialog = ActiveSettingsDialog(
            STRATEGIES, loop.strategy(), project.retrain_every(), RETRAIN_BUDGET_S, self
        )
        if dialog.exec() != ActiveSettingsDialog.DialogCode.Accepted:
            return
        strategy, every = dialog.chosen()
        if every != project.retrain_every():
            loop.set_retrain_every(every)
        loop.set_strategy(strategy)

    def _open(self, doc_id: int) -> None:
        if self.annotator.document_id != doc_id:
            self.annotator.open_document(doc_id)
