"""Try it with a second model: the same text, that model's entities, shown under the first.

The pane mirrors the text of the Try-it editor as it is typed (highlights whose text is
still where it was are kept), and predicts it with the compared model on a worker when
the editor's own prediction starts. As in the editor, one prediction is in flight at a
time and a result for text that has changed since is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop.entity_text import EntityTextEdit
from desktop.workers import start_worker

#: ``job(model, text) -> (predictor, text, entities)``; ``model`` a folder or a Predictor.
PredictJob = Callable[[Any, str], tuple[Any, str, list[dict]]]


class CompareTextPane(QWidget):
    """A read-only copy of the Try-it text with another model's entities."""

    predicted = Signal(object)  # the compared model's entities now shown

    def __init__(
        self,
        predictors: dict[str, Any],
        job: PredictJob,
        colour_of: Callable[[str], str],
        show_error: Callable[[Any], None],
        parent: QWidget | None = None,
    ) -> None:
        """``predictors``: the loaded models by folder, shared with the Try-it panel."""
        super().__init__(parent)
        self._predictors = predictors
        self._job = job
        self._colour_of = colour_of
        self._show_error = show_error
        self._model: str | None = None
        self._name = ""
        self._in_flight = False
        self._wanted = False  # asked for while one was in flight
        self._shown: tuple[str | None, str] | None = None  # (model, text) predicted and shown
        self._failed: tuple[str | None, str] | None = None  # not retried
        self.title = QLabel("", self)
        self.view = EntityTextEdit(self)
        self.view.setReadOnly(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        self.hide()

    def model_dir(self) -> str | None:
        return self._model

    def shown_text(self) -> str | None:
        """The text whose prediction by the compared model is shown (None: none yet)."""
        if self._shown is None or self._shown[0] != self._model:
            return None
        return self._shown[1]

    def set_model(self, model_dir: str | None, name: str = "") -> None:
        """Compare with this model folder (None: no comparison, the pane hides)."""
        self._model, self._name = model_dir, name
        self._shown = self._failed = None
        self.view.set_entities([], self._colour_of)
        self.setVisible(model_dir is not None)
        self._title("")

    def mirror(self, text: str) -> None:
        """Show the editor's new text, keeping the highlights that still match."""
        if self.view.toPlainText() != text:
            self.view.setPlainText(text)
            self.view.keep_matching(self._colour_of)

    def recolour(self) -> None:
        self.view.set_entities(self.view.entities(), self._colour_of)

    def request(self, text: str) -> None:
        """Predict ``text`` with the compared model, unless it is already shown."""
        self.mirror(text)
        key = (self._model, text)
        if self._model is None or key in (self._shown, self._failed):
            return
        if self._in_flight:
            self._wanted = True  # predicted when the one in flight is done
            return
        if not text.strip():
            self.view.set_entities([], self._colour_of)
            self._shown = key
            self._title("")
            return
        model = self._predictors.get(self._model, self._model)
        self._in_flight = True
        if model is self._model:
            self._title("loading the model…")
        worker = start_worker(self._job, model, text)
        worker.returned.connect(lambda result, m=self._model: self._on_predicted(m, result))
        worker.errored.connect(lambda exc, k=key: self._on_error(k, exc))
        worker.finished.connect(self._on_finished)

    def _on_predicted(self, model_dir: str, result: tuple[Any, str, list[dict]]) -> None:
        predictor, text, entities = result
        self._predictors[model_dir] = predictor
        if (model_dir, text) != (self._model, self.view.toPlainText()):
            return  # stale: the text or the model changed meanwhile
        self._shown = (model_dir, text)
        self.view.set_entities(entities, self._colour_of)
        self._title(f"{len(entities)} entit{'y' if len(entities) == 1 else 'ies'}")
        self.predicted.emit(entities)

    def _on_error(self, key: tuple[str | None, str], exc: object) -> None:
        self._failed = key
        self._title("prediction failed")
        self._show_error(exc if isinstance(exc, BaseException) else str(exc))

    def _on_finished(self) -> None:
        self._in_flight = False
        if self._wanted:  # the text changed while the model was busy
            self._wanted = False
            self.request(self.view.toPlainText())

    def _title(self, status: str) -> None:
        tail = f" — {status}" if status else ""
        self.title.setText(f"<b>{self._name}</b>, on the same text{tail}")
