"""Import and export: option dialogs, then core.formats on a worker with a progress bar.

An import is the one long write job: its worker opens its own ``Project`` on the same
file for the one all-or-nothing transaction of ``core.formats.import_file`` (a bad
line, or Cancel, leaves the project as it was), and holds the file's write lock while
it runs. So the import is announced to the controller (``begin_write_job``) before it
starts and ended when the worker has finished: meanwhile the GUI refuses or buffers its
own writes instead of waiting on the lock. Then the GUI re-reads. An export only reads
(``readonly=True``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QWidget,
)

from core.domain import FOLDER_FORMATS, IMPORT_SCHEMES, SPLITS
from core.formats import ImportResult, export_file, import_file
from core.formats.interchange import describe_skipped
from core.store import Project
from desktop.controller import ProjectController
from desktop.workers import Worker, WorkerState, start_worker

IMPORT_FORMATS = (
    ("Guess from the file or folder", None),
    ("CoNLL (one token a line, IOB / BIOES tags)", "conll"),
    ("JSON lines (spaCy / Prodigy spans or doccano)", "jsonl"),
    ("Plain text (one document a line)", "text"),
    ("Label Studio JSON export", "label-studio"),
    ("brat standoff (a folder of .txt and .ann files)", "brat"),
    ("Hugging Face dataset (a save_to_disk or Parquet folder)", "hf-dataset"),
)
_SPACY = "" if importlib.util.find_spec("spacy") else " — needs pip install 'spanlab[spacy]'"
EXPORT_FORMATS = (
    ("CoNLL, IOB2 tags", "conll"),
    ("CoNLL, BIOES tags", "conll-bioes"),
    ("JSON lines (spaCy / Prodigy spans)", "jsonl"),
    ("JSON lines (doccano)", "doccano"),
    ("Label Studio JSON (annotations and predictions)", "label-studio"),
    ("brat standoff (a folder of .txt and .ann files)", "brat"),
    (f"spaCy DocBin (.spacy, for spacy train){_SPACY}", "spacy"),
    ("Hugging Face dataset (save_to_disk folder)", "hf-dataset"),
    ("Hugging Face dataset (Parquet folder)", "hf-parquet"),
)
#: The name ending each export format gets ("": a folder).
EXPORT_SUFFIX = {
    "conll": ".conll", "conll-bioes": ".conll", "jsonl": ".jsonl", "doccano": ".jsonl",
    "label-studio": ".json", "spacy": ".spacy", **dict.fromkeys(FOLDER_FORMATS, ""),
}  # fmt: skip
#: A typed name ending -> the format it picks.
_TYPED_SUFFIX = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "label-studio", ".conll": "conll",
    ".iob": "conll", ".spacy": "spacy",
}  # fmt: skip
SPLIT_CHOICES = (("as in the file", None), *((s, s) for s in SPLITS))
EXPORT_SPLITS = (("all documents", None), *((s, s) for s in SPLITS))


def _combo(choices: tuple[tuple[str, Any], ...]) -> QComboBox:
    combo = QComboBox()
    for text, value in choices:
        combo.addItem(text, value)
    return combo


def _name_the_path_row(form: QFormLayout, dialog: Any) -> None:
    """Call the path row "Folder:" where the chosen format is a folder, else "File:"."""
    label = form.labelForField(dialog.file)
    folder = dialog.format.currentData() in FOLDER_FORMATS
    label.setText("Folder:" if folder else "File:")
    dialog.file.browse.setText("Choose folder…" if folder else "Browse…")


class _PathRow(QWidget):
    """A file path box with a Browse button."""

    def __init__(self, browse: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit()
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse)


class ImportDialog(QDialog):
    """File (or folder), format, split, tag scheme, text field and label locking for one
    import; Browse chooses a folder where the format is one."""

    def __init__(self, parent: QWidget | None = None, path: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Import documents")
        self.file = _PathRow(self._browse)
        self.file.edit.setText(path)
        self.format = _combo(IMPORT_FORMATS)
        self.split = _combo(SPLIT_CHOICES)
        self.scheme = QComboBox()
        self.scheme.addItems(list(IMPORT_SCHEMES))
        self.lock_labels = QCheckBox("Only the project's labels (reject unknown ones)")
        self.text_key = QLineEdit()
        self.text_key.setPlaceholderText("text, or the only text field")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("File:", self.file)
        form.addRow("Format:", self.format)
        form.addRow("Put into split:", self.split)
        form.addRow("Tag scheme (CoNLL, datasets):", self.scheme)
        form.addRow("Text field (Label Studio):", self.text_key)
        form.addRow("", self.lock_labels)
        form.addRow(buttons)
        self.format.currentIndexChanged.connect(lambda: _name_the_path_row(form, self))
        self.resize(560, self.sizeHint().height())

    def _browse(self) -> None:
        start = self.file.edit.text()
        if self.format.currentData() in FOLDER_FORMATS:
            path = QFileDialog.getExistingDirectory(self, "Import documents from a folder", start)
        else:
            path, _ = QFileDialog.getOpenFileName(
                self,
                "Import documents",
                start,
                "Annotated text (*.conll *.iob *.bio *.txt *.jsonl *.json *.parquet);;"
                "All files (*)",
            )
        if path:
            self.file.edit.setText(path)

    def path(self) -> str:
        """The chosen file."""
        return self.file.edit.text().strip()

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``core.formats.import_file``."""
        return {
            "format": self.format.currentData(),
            "split": self.split.currentData(),
            "scheme": self.scheme.currentText(),
            "lock_labels": self.lock_labels.isChecked(),
            "text_key": self.text_key.text().strip() or None,
        }


class ExportDialog(QDialog):
    """File (or folder), format and split for one export; Browse chooses a folder where
    the format is one."""

    def __init__(self, parent: QWidget | None = None, path: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Export annotations")
        self.file = _PathRow(self._browse)
        self.file.edit.setText(path)
        self.format = _combo(EXPORT_FORMATS)
        self.split = _combo(EXPORT_SPLITS)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.format.currentIndexChanged.connect(self._fix_suffix)
        self.file.edit.textEdited.connect(self._follow_suffix)
        form = QFormLayout(self)
        form.addRow("File:", self.file)
        form.addRow("Format:", self.format)
        form.addRow("Documents:", self.split)
        form.addRow(buttons)
        self.format.currentIndexChanged.connect(lambda: _name_the_path_row(form, self))
        self.resize(560, self.sizeHint().height())

    def _browse(self) -> None:
        if self.format.currentData() in FOLDER_FORMATS:
            path = QFileDialog.getExistingDirectory(
                self, "Export annotations to a folder (a new or empty one)", self.file.edit.text()
            )
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export annotations", self.file.edit.text())
        if path:
            self.file.edit.setText(path)
            self._fix_suffix()

    def _fix_suffix(self) -> None:
        text = self.path()
        if text:
            suffix = EXPORT_SUFFIX[self.format.currentData()]
            self.file.edit.setText(str(Path(text).with_suffix(suffix)))

    def _follow_suffix(self, text: str) -> None:
        """A typed ``.jsonl`` name picks a JSON lines format, ``.conll`` a CoNLL one,
        ``.json`` Label Studio and ``.spacy`` spaCy."""
        fmt = _TYPED_SUFFIX.get(Path(text.strip()).suffix.lower())
        if fmt is None or EXPORT_SUFFIX[self.format.currentData()] == EXPORT_SUFFIX[fmt]:
            return
        self.format.blockSignals(True)  # keep the name as typed
        self.format.setCurrentIndex(self.format.findData(fmt))
        self.format.blockSignals(False)

    def path(self) -> str:
        """The chosen file."""
        return self.file.edit.text().strip()

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``core.formats.export_file``."""
        return {"format": self.format.currentData(), "split": self.split.currentData()}


# -- the jobs (worker thread: they open their own connection) ------------------------------


def import_job(
    project_path: str, path: str, options: dict[str, Any], state: WorkerState
) -> ImportResult:
    """Import a file into the project at ``project_path``; returns core's ImportResult.

    A project that has documents is backed up first (``NAME.spanlab.bak``), so there is
    always a copy from before the last bulk write to go back to.
    """
    with Project.open(project_path) as project:
        if project.count_documents():
            project.backup()
        return import_file(
            project,
            path,
            progress=lambda done, total: state.progress((done, total)),
            should_stop=state.should_stop,
            **options,
        )


def export_job(project_path: str, path: str, options: dict[str, Any], state: WorkerState) -> int:
    """Export the project at ``project_path`` to ``path``; returns the documents written."""
    with Project.open(project_path, readonly=True) as project:
        return export_file(
            project,
            path,
            progress=lambda done, total: state.progress((done, total)),
            should_stop=state.should_stop,
            **options,
        )


class Transfers(QObject):
    """Runs imports and exports for the main window; emits ``finished(str message)``."""

    finished = Signal(str)

    def __init__(self, controller: ProjectController, parent: QWidget) -> None:
        super().__init__(parent)
        self.controller = controller
        self._parent = parent
        self.worker: Worker | None = None
        self.progress: QProgressDialog | None = None

    # -- entry points (menus) ------------------------------------------------------------

    # Menu actions connect ``triggered(bool checked)`` to these: they take no argument,
    # so ``checked`` is never taken for one.

    def ask_import(self) -> None:
        """Show the import dialog, then import."""
        if self._busy():
            return
        dialog = ImportDialog(self._parent)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.path():
            self.start_import(dialog.path(), dialog.options())

    def ask_export(self) -> None:
        """Show the export dialog, then export."""
        if self._busy():
            return
        project_path = self.controller.path
        default = str(project_path.with_suffix(".conll")) if project_path else ""
        dialog = ExportDialog(self._parent, default)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.path():
            self.start_export(dialog.path(), dialog.options())

    def start_import(self, path: str, options: dict[str, Any] | None = None) -> Worker | None:
        """Import ``path`` on a worker; the GUI re-reads the project when it is done."""
        if self._busy() or self.controller.path is None:
            return None
        options = {k: v for k, v in (options or {}).items() if v is not None}
        self.controller.begin_write_job(f"The import of {Path(path).name}")
        worker = start_worker(import_job, str(self.controller.path), str(path), options)
        self._watch(worker, f"Importing {Path(path).name}…", self._imported, unit="bytes")
        worker.finished.connect(self.controller.end_write_job)
        return worker

    def start_export(self, path: str, options: dict[str, Any] | None = None) -> Worker | None:
        """Export to ``path`` on a worker."""
        if self._busy() or self.controller.path is None:
            return None
        options = {k: v for k, v in (options or {}).items() if v is not None}
        worker = start_worker(export_job, str(self.controller.path), str(path), options)
        self._watch(
            worker,
            f"Exporting to {Path(path).name}…",
            lambda n: self.finished.emit(f"Exported {n} documents to {path}."),
            unit="documents",
        )
        return worker

    # -- plumbing ------------------------------------------------------------------------

    def _busy(self) -> bool:
        if self.worker is not None:
            self.controller.show_error("An import or export is running; wait for it to end.")
            return True
        return False

    def _watch(self, worker: Worker, text: str, on_done: Any, unit: str) -> None:
        self.worker = worker
        dialog = QProgressDialog(text, "Cancel", 0, 0, self._parent)
        dialog.setWindowTitle("Spanlab")
        # Not modal: the person may go on reading and annotating; what would write while
        # an import does is refused by the controller, with a message, not frozen on a lock.
        dialog.setWindowModality(Qt.WindowModality.NonModal)
        dialog.setMinimumDuration(300)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(worker.quit)
        self.progress = dialog
        worker.yielded.connect(lambda value: self._on_progress(text, value, unit))
        worker.returned.connect(on_done)
        worker.errored.connect(self.controller.show_error)
        worker.finished.connect(self._done)

    def _on_progress(self, text: str, value: tuple[int, int], unit: str) -> None:
        """Show ``(done, total)`` as core's progress callback reported it."""
        if self.progress is None:
            return
        done, total = value
        if total:
            # QProgressDialog counts in int: show per mille of big byte counts
            self.progress.setMaximum(1000)
            self.progress.setValue(min(1000, int(1000 * done / total)))
        if unit == "bytes":
            shown = f"{done / 1e6:,.1f} MB" + (f" of {total / 1e6:,.1f} MB" if total else "")
        else:
            shown = f"{done:,}" + (f" of {total:,}" if total else "") + " documents"
        self.progress.setLabelText(f"{text}\n{shown}")

    def _imported(self, result: ImportResult) -> None:
        self.controller.reload()
        if result.cancelled:
            self.finished.emit("Import cancelled; the project is unchanged.")
            return
        message = f"Imported {result.documents} documents."
        if result.model_spans:
            message += f" {result.model_spans} predicted entities are suggestions."
        if result.skipped:
            message += f" Skipped: {describe_skipped(result.skipped)}."
        self.finished.emit(message)

    def _done(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
        self.progress = None
        self.worker = None
