"""The Annotate tab: document list and labels on the left, the annotator beside them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QSplitter, QVBoxLayout, QWidget

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
        self.documents = DocumentList(controller)
        self.annotator = Annotator(controller)
        self.labels = LabelsPanel(controller)
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
        self.documents.document_activated.connect(self._open)
        self.annotator.document_opened.connect(self.documents.show_document)

    def _open(self, doc_id: int) -> None:
        if self.annotator.document_id != doc_id:
            self.annotator.open_document(doc_id)
