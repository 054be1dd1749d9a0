"""The open project, its undo stack, and the signals every panel listens to.

:class:`ProjectController` owns the one ``core.store.Project`` of the window: its SQLite
connection belongs to the GUI thread and is the process's one writer. Every edit goes
through a method here, which calls core (core commits each edit at once, so killing the
app loses nothing) and pushes an undoable command onto
:attr:`ProjectController.undo_stack`.

Long write jobs are explicit. An import writes its one all-or-nothing transaction
through a connection of its own on a worker; while it runs it holds the file's write
lock, so the transfer tells the controller (:meth:`begin_write_job` /
:meth:`end_write_job`). Meanwhile :meth:`write_block_reason` says why writes wait,
every edit the person makes is refused at once with a message in the status line (never
a freeze on the lock), and writers that can wait (the run recorder, pre-annotation)
buffer their rows and flush them when ``writes_unblocked`` fires.

Signals (all emitted on the GUI thread):

- ``project_changed()``: another project was opened or created (reload everything);
- ``labels_changed()``: a label was added, renamed, recoloured, re-keyed or deleted;
- ``documents_changed()``: documents were added or removed in bulk (import, pre-annotate);
- ``document_changed(int doc_id)``: one document's status, split or text changed;
- ``spans_changed(int doc_id)``: the spans of one document changed;
- ``runs_changed()``: a training run was created or updated;
- ``open_document_requested(int doc_id, int start, int end)``: show a document in the
  annotator, selecting ``[start, end)`` (``-1, -1`` for no selection);
- ``error(object)``: an exception or a message for the user (the main window shows it
  in a dialog; an unexpected exception keeps its traceback under Details);
- ``status_message(str)``: a short note for the status line (an edit refused while a
  long job writes);
- ``writes_blocked(str reason)`` / ``writes_unblocked()``: a long write job began / ended.

Edits (each saved at once and undoable): :meth:`add_span`, :meth:`remove_span`,
:meth:`set_span_label`, :meth:`replace_spans`, :meth:`accept_span`, :meth:`accept_all`,
:meth:`set_status`, :meth:`set_split`, :meth:`add_label`, :meth:`rename_label`,
:meth:`recolour_label`, :meth:`set_label_shortcut`, :meth:`add_document`;
:meth:`delete_label` is confirmed by the user instead and clears the undo history. An
edit that core refuses shows its message and returns None (or False / 0); nothing is
raised to the caller.

Not undoable, for the model in the loop (same refusals): :meth:`set_project_setting`,
:meth:`save_scores`, :meth:`rank_documents`; for a review: :meth:`mark_reviewed`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from core.errors import SpanlabError
from core.store import Project
from desktop import undo_commands as commands

log = logging.getLogger(__name__)

FALLBACK_COLOUR = "#9e9e9e"
NO_PROJECT = "Open or create a project first (File ▸ Open)."
#: How often the controller looks whether another process changed the project.
OUTSIDE_CHECK_MS = 2000


def blocked_message(reason: str, what: str = "this edit was not made") -> str:
    """What the person reads when a write is refused while a long job writes."""
    return f"{reason} is writing to the project: {what}. Try again when it has finished."


class _Refused(Exception):
    """An edit that was not made; its message has already been shown."""


class ProjectController(QObject):
    """Holds the open project and turns user edits into undoable, saved core calls."""

    project_changed = Signal()
    labels_changed = Signal()
    documents_changed = Signal()
    document_changed = Signal(int)
    spans_changed = Signal(int)
    runs_changed = Signal()
    open_document_requested = Signal(int, int, int)
    error = Signal(object)
    status_message = Signal(str)
    writes_blocked = Signal(str)
    writes_unblocked = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._project: Project | None = None
        self._labels: list[dict] = []
        self._colours: dict[str, str] = {}
        self._write_job: str | None = None
        self.undo_stack = QUndoStack(self)
        self._selection_provider: Callable[[], list[int]] = list
        #: The document the annotator shows (set by the annotator), or None.
        self.current_document_id: int | None = None
        self._data_version = 0
        self._outside = QTimer(self)
        self._outside.setInterval(OUTSIDE_CHECK_MS)
        self._outside.timeout.connect(self._look_for_outside_changes)

    # -- the project --------------------------------------------------------------------

    @property
    def project(self) -> Project | None:
        """The open ``core.store.Project`` (GUI thread only), or None."""
        return self._project

    @property
    def path(self) -> Path | None:
        """The open project's file, or None."""
        return Path(self._project.path) if self._project is not None else None

    def set_project(self, project: Project) -> None:
        """Adopt an open ``Project`` (closing the previous one) and tell every panel."""
        old, self._project = self._project, project
        if old is not None and old is not project:
            old.close()
        self._data_version = project.data_version()
        self._outside.start()
        self.undo_stack.clear()
        self._reload_labels()
        self.project_changed.emit()
        self.labels_changed.emit()

    def open_project(self, path: str | Path) -> bool:
        """Open an existing project file; errors are shown, False returned."""
        return self._adopt(lambda: Project.open(Path(path)))

    def create_project(self, path: str | Path, labels: list[str] | None = None) -> bool:
        """Create a new, empty project file and open it."""
        return self._adopt(lambda: Project.create(Path(path), labels=labels))

    def close_project(self) -> None:
        """Close the open project (when the window closes)."""
        if self._project is not None:
            self._outside.stop()
            self.undo_stack.clear()
            self._project.close()
            self._project = None

    def _look_for_outside_changes(self) -> None:
        """Re-read the lists when another process (``spanlab import``, a second window)
        committed to the project; a cheap check of SQLite's data version every
        ``OUTSIDE_CHECK_MS``. While our own import writes, its end refreshes anyway."""
        if self._project is None or self._write_job is not None:
            return
        try:
            version = self._project.data_version()
        except (SpanlabError, sqlite3.Error):
            return  # the file went away or is damaged: the next edit says so
        if version != self._data_version:
            self._data_version = version
            self._reload_labels()
            self.labels_changed.emit()
            self.documents_changed.emit()
            self.runs_changed.emit()

    def _adopt(self, opener: Callable[[], Project]) -> bool:
        try:
            project = opener()
        except (SpanlabError, OSError) as exc:
            self.show_error(exc)
            return False
        self.set_project(project)
        return True

    # -- long write jobs ----------------------------------------------------------------

    def write_block_reason(self) -> str | None:
        """Why writes must wait now (e.g. "The import of train.conll"), or None."""
        return self._write_job

    def begin_write_job(self, reason: str) -> None:
        """A long job (an import) starts writing through its own connection."""
        if self._write_job is not None:
            raise RuntimeError(f"{self._write_job} is already writing to the project")
        self._write_job = reason
        self.writes_blocked.emit(reason)

    def end_write_job(self) -> None:
        """The long write job ended: writes may go on; ``writes_unblocked`` fires."""
        if self._write_job is None:
            return
        self._write_job = None
        self.writes_unblocked.emit()

    def refuse_write(self, what: str = "this edit was not made") -> bool:
        """True (and the reason shown in the status line) if a long job writes now."""
        if self._write_job is None:
            return False
        self.status_message.emit(blocked_message(self._write_job, what))
        return True

    # -- for every panel ----------------------------------------------------------------

    def labels(self) -> list[dict]:
        """The project's labels (cached; refreshed on ``labels_changed``)."""
        return self._labels

    def label_colour(self, name: str) -> str:
        """The colour of a label, or a neutral grey for an unknown one."""
        return self._colours.get(name) or FALLBACK_COLOUR

    def show_error(self, exc: BaseException | str) -> None:
        """Report an error to the user through the ``error`` signal (never raises)."""
        self.error.emit(exc)

    def open_document(self, doc_id: int, select: tuple[int, int] | None = None) -> None:
        """Ask the annotator to show a document, optionally selecting a character range."""
        start, end = select if select is not None else (-1, -1)
        self.open_document_requested.emit(int(doc_id), int(start), int(end))

    def selected_document_ids(self) -> list[int]:
        """Ids of the documents selected in the document list (may be empty)."""
        return list(self._selection_provider())

    def set_selection_provider(self, provider: Callable[[], list[int]]) -> None:
        """Where :meth:`selected_document_ids` asks (the document list registers itself)."""
        self._selection_provider = provider

    def notify_documents_changed(self) -> None:
        """Tell the panels that documents were added or removed outside the controller."""
        self.documents_changed.emit()

    def notify_document_changed(self, doc_id: int) -> None:
        """Tell the panels that one document's status, split or text changed."""
        self.document_changed.emit(int(doc_id))

    def notify_spans_changed(self, doc_id: int) -> None:
        """Tell the panels that one document's spans changed outside the controller."""
        self.spans_changed.emit(int(doc_id))

    def notify_runs_changed(self) -> None:
        """Tell the panels that runs were created or updated."""
        self.runs_changed.emit()

    def reload(self) -> None:
        """Re-read labels and documents after another connection wrote (e.g. an import)."""
        self._reload_labels()
        self.labels_changed.emit()
        self.documents_changed.emit()

    def refresh_labels(self) -> None:
        """Re-read the labels and emit ``labels_changed``."""
        self._reload_labels()
        self.labels_changed.emit()

    def _reload_labels(self) -> None:
        self._labels = list(self._project.labels()) if self._project is not None else []
        self._colours = {row["name"]: row["colour"] for row in self._labels}

    # -- reads that may fail ------------------------------------------------------------

    def overlapping_spans(self, doc_id: int, start: int, end: int) -> list[dict]:
        """The spans of a document (any origin) that share a character with ``[start, end)``."""
        try:
            with self._reading() as project:
                rows = project.spans(doc_id)
        except _Refused:
            return []
        return [s for s in rows if s["start"] < end and start < s["end"]]

    def count_label_spans(self, name: str, origin: str | None = None) -> int:
        """How many spans carry a label: human or model ones, or both (``origin`` None)."""
        if self._project is None:
            return 0
        try:
            with self._reading() as project:
                return project.count_label_spans(name, origin)
        except _Refused:
            return 0

    # -- span edits (undoable) ----------------------------------------------------------

    def add_span(self, doc_id: int, start: int, end: int, label: str) -> dict | None:
        """Store a human span; returns its row, or None (error shown) if core refused it."""
        try:
            with self._writing() as project:
                row = project.add_span(doc_id, start, end, label)
        except _Refused:
            return None
        self._push(commands.AddSpan(self, row))
        return row

    def replace_spans(
        self, doc_id: int, old: list[dict], start: int, end: int, label: str
    ) -> dict | None:
        """Remove the spans ``old`` and store a human span in their place, as one edit
        (one undo puts them back); returns the new row, or None (error shown)."""
        try:
            with self._writing() as project, project.atomic():
                removed = [project.remove_span(s["id"]) for s in old]
                row = project.add_span(doc_id, start, end, label)
        except _Refused:
            return None
        self._push(commands.ReplaceSpans(self, removed, row))
        return row

    def remove_span(self, span: dict) -> None:
        """Delete a span (human or model)."""
        try:
            with self._writing() as project:
                row = project.remove_span(span["id"])
        except _Refused:
            return
        self._push(commands.RemoveSpan(self, row))

    def set_span_label(self, span: dict, label: str) -> dict | None:
        """Give a span another label; returns the updated row."""
        if span["label"] == label:
            return span
        try:
            with self._writing() as project:
                row = project.set_span_label(span["id"], label)
        except _Refused:
            return None
        self._push(commands.SetSpanLabel(self, span, row))
        return row

    def accept_span(self, span: dict) -> None:
        """Turn one model span into a human one."""
        try:
            with self._writing() as project:
                project.accept_span(span["id"])
        except _Refused:
            return
        self._push(commands.AcceptSpans(self, span["document_id"], [span], "Accept span"))

    def accept_all(self, doc_id: int) -> int:
        """Accept every model span of a document; returns how many."""
        try:
            with self._writing() as project:
                rows = project.spans(doc_id, origin="model")
                if rows:
                    project.accept_all(doc_id)
        except _Refused:
            return 0
        if not rows:
            return 0
        self._push(commands.AcceptSpans(self, doc_id, rows, f"Accept {len(rows)} spans"))
        return len(rows)

    def set_status(self, doc_id: int, status: str) -> bool:
        """Mark a document new / annotated / skipped; False if the edit was refused."""
        return self._set_field(doc_id, "status", status)

    def mark_annotated_for_training(self, doc_id: int) -> bool:
        """Mark a document annotated and, if it has no split yet, put it in train: one
        undoable edit (a document a model chose is annotated to train on)."""
        try:
            with self._reading() as project:
                split = project.get_document(doc_id)["split"]
        except _Refused:
            return False
        if split != "unassigned":
            return self.set_status(doc_id, "annotated")
        self.undo_stack.beginMacro("Mark annotated, into train")
        try:
            done = self.set_split(doc_id, "train") and self.set_status(doc_id, "annotated")
        finally:
            self.undo_stack.endMacro()
        return done

    def set_split(self, doc_id: int, split: str) -> bool:
        """Put a document in train / dev / test / unassigned; False if refused."""
        return self._set_field(doc_id, "split", split)

    def _set_field(self, doc_id: int, field: str, value: str) -> bool:
        try:
            with self._writing() as project:
                old = project.get_document(doc_id)[field]
                if old == value:
                    return True
                if field == "status":
                    project.set_status(doc_id, value)
                else:
                    project.set_split(doc_id, value)
        except _Refused:
            return False
        self._push(commands.SetField(self, doc_id, field, old, value))
        return True

    # -- documents ----------------------------------------------------------------------

    def assign_splits(
        self, train: float, dev: float, test: float, only_unassigned: bool = True
    ) -> dict[str, int] | None:
        """Shuffle documents into train / dev / test by ratio (seeded); the counts, or
        None when refused (shown). Not an undo step: it can move a million documents."""
        try:
            with self._writing("the splits were not changed") as project:
                counts = project.assign_splits(train, dev, test, only_unassigned=only_unassigned)
        except _Refused:
            return None
        self.documents_changed.emit()
        return counts

    def add_document(self, text: str, source: str = "typed") -> int | None:
        """Store a typed document and tell the panels; returns its id, or None (shown)."""
        try:
            with self._writing("the document was not added") as project:
                doc_id = project.add_document(text, source=source)
        except _Refused:
            return None
        self.documents_changed.emit()
        return doc_id

    # -- project settings and acquisition scores -----------------------------------------

    def set_project_setting(self, key: str, value: str) -> bool:
        """Change one of the project's settings (not an undo step); False if refused."""
        try:
            with self._writing("the setting was not changed") as project:
                project.set_setting(key, value)
        except _Refused:
            return False
        return True

    def save_scores(
        self, strategy: str, model_key: str, run_id: int | None, rows: list[tuple[int, float, str]]
    ) -> int | None:
        """Store acquisition scores ``(doc_id, score, text_hash)`` made by a model on a
        worker; how many were stored, or None when refused (shown)."""
        try:
            with self._writing("the scores were not stored") as project:
                return project.save_scores(strategy, model_key, run_id, rows)
        except _Refused:
            return None

    def mark_reviewed(self, doc_id: int, key: str, kind: str) -> bool:
        """Remember a suspect of a review as kept (not an undo step: it only hides the
        suspect from later reviews); False if refused (shown)."""
        try:
            with self._writing("the suspect was not marked reviewed") as project:
                project.mark_reviewed(doc_id, key, kind)
        except _Refused:
            return False
        return True

    def rank_documents(self, strategy: str) -> int | None:
        """Recompute the "most useful first" order from the stored scores and tell the
        panels (``documents_changed``); how many documents are ranked, or None."""
        try:
            with self._writing("the order was not updated") as project:
                ranked = project.rank_documents(strategy)
        except _Refused:
            return None
        self.documents_changed.emit()
        return ranked

    # -- label edits --------------------------------------------------------------------

    def add_label(
        self, name: str, colour: str | None = None, shortcut: str | None = None
    ) -> dict | None:
        """Add a label (undoable); returns its row or None."""
        try:
            with self._writing() as project:
                row = project.add_label(name, colour=colour, shortcut=shortcut)
        except _Refused:
            return None
        self._push(commands.AddLabel(self, row))
        return row

    def rename_label(self, old: str, new: str) -> bool:
        """Rename a label; its spans follow (undoable)."""
        if old == new:
            return True
        try:
            with self._writing() as project:
                project.rename_label(old, new)
        except _Refused:
            return False
        self._push(commands.LabelEdit(self, f"Rename label {old} to {new}", "rename", old, new))
        return True

    def recolour_label(self, name: str, colour: str) -> bool:
        """Change a label's colour (undoable)."""
        before = self._label_row(name)
        try:
            with self._writing() as project:
                project.recolour_label(name, colour)
        except _Refused:
            return False
        old = before["colour"] if before else None
        self._push(commands.LabelEdit(self, f"Recolour {name}", "recolour", name, colour, old))
        return True

    def set_label_shortcut(self, name: str, key: str | None) -> bool:
        """Set or clear a label's shortcut key (undoable)."""
        before = self._label_row(name)
        try:
            with self._writing() as project:
                project.set_label_shortcut(name, key)
        except _Refused:
            return False
        old = before["shortcut"] if before else None
        self._push(commands.LabelEdit(self, f"Shortcut of {name}", "shortcut", name, key, old))
        return True

    def delete_label(self, name: str) -> int:
        """Delete a label and its spans. Not undoable: the undo history is cleared."""
        try:
            with self._writing("the label was not deleted") as project:
                removed = project.delete_label(name)
        except _Refused:
            return 0
        self.undo_stack.clear()
        self.refresh_labels()
        self.documents_changed.emit()
        return int(removed)

    def _label_row(self, name: str) -> dict | None:
        return next((row for row in self._labels if row["name"] == name), None)

    # -- undo / redo --------------------------------------------------------------------

    def undo(self) -> None:
        """Undo the last edit, unless a long job writes now (then say so)."""
        if self.undo_stack.canUndo() and not self.refuse_write("nothing was undone"):
            self.undo_stack.undo()

    def redo(self) -> None:
        """Redo the last undone edit, unless a long job writes now (then say so)."""
        if self.undo_stack.canRedo() and not self.refuse_write("nothing was redone"):
            self.undo_stack.redo()

    # -- plumbing -----------------------------------------------------------------------

    @contextmanager
    def _writing(self, what: str = "this edit was not made") -> Iterator[Project]:
        """The project to write to; raises ``_Refused`` (already shown) if there is none,
        a long job writes now, or core refused the edit."""
        if self.refuse_write(what):
            raise _Refused
        with self._reading() as project:
            yield project

    @contextmanager
    def _reading(self) -> Iterator[Project]:
        """The project to read from; raises ``_Refused`` (already shown) if there is none
        or core raised. Anything besides SpanlabError is shown with its traceback: an
        edit that fails never crashes the app."""
        if self._project is None:
            self.show_error(NO_PROJECT)
            raise _Refused
        try:
            yield self._project
        except _Refused:
            raise
        except Exception as exc:
            self.show_error(exc)
            raise _Refused from exc

    def _push(self, command: QUndoCommand) -> None:
        self.undo_stack.push(command)
