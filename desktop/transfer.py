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

from core.domain import IMPORT_SCHEMES, SPLITS
from core.formats import ImportResult, export_file, import_file
from core.store import Project
from desktop.controller import ProjectController
from desktop.workers import Worker, WorkerState, start_worker

IMPORT_FORMATS = (
    ("Guess from the file name", None),
    ("CoNLL (one token a line, IOB / BIOES tags)", "conll"),
    ("JSON lines (spaCy / Prodigy spans or doccano)", "jsonl"),
    ("Plain text (one document a line)", "text"),
)
EXPORT_FORMATS = (
    ("CoNLL, IOB2 tags", "conll"),
    ("CoNLL, BIOES tags", "conll-bioes"),
    ("JSON lines (spaCy / Prodigy spans)", "jsonl"),
    ("JSON lines (doccano)", "doccano"),
)
EXPORT_SUFFIX = {"conll": ".conll", "conll-bioes": ".conll", "jsonl": ".jsonl", "doccano": ".jsonl"}
SPLIT_CHOICES = (("as in the file", None), *((s, s) for s in SPLITS))
EXPORT_SPLITS = (("all documents", None), *((s, s) for s in SPLITS))


def _combo(choices: tuple[tuple[str, Any], ...]) -> QComboBox:
    combo = QComboBox()
    for text, value in choices:
        combo.addItem(text, value)
    return combo


class _PathRow(QWidget):
    """A file path box with a Browse button."""

    def __init__(self, browse: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit()
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(button)


class ImportDialog(QDialog):
    """File, format, split, tag scheme and label locking for one import."""

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
        form.addRow("Tag scheme (CoNLL):", self.scheme)
        form.addRow("", self.lock_labels)
        form.addRow(buttons)
        self.resize(560, self.sizeHint().height())

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import documents",
            self.file.edit.text(),
            "Annotated text (*.conll *.iob *.bio *.txt *.jsonl *.json);;All files (*)",
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
        }


class ExportDialog(QDialog):
    """File, format and split for one export."""

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
        self.resize(560, self.sizeHint().height())

    def _browse(self) -> None:
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
        """A typed ``.jsonl`` name picks a JSON lines format, ``.conll`` a CoNLL one."""
        suffix = Path(text.strip()).suffix.lower()
        kind = {".jsonl": ".jsonl", ".json": ".jsonl", ".conll": ".conll", ".iob": ".conll"}
        wanted = kind.get(suffix)
        if wanted is None or EXPORT_SUFFIX[self.format.currentData()] == wanted:
            return
        fmt = "jsonl" if wanted == ".jsonl" else "conll"
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
        else:
            self.finished.emit(f"Imported {result.documents} documents.")

    def _done(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
        self.progress = None
        self.worker = None
