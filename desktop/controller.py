"""The open project, its undo stack, and the signals every panel listens to.

:class:`ProjectController` owns the one ``core.store.Project`` of the window (its SQLite
connection belongs to the GUI thread; a worker that needs the store opens its own
``Project`` on ``controller.project.path``). Every edit goes through a method here, which
calls core (core commits each edit at once, so killing the app loses nothing) and pushes
an undoable command onto :attr:`ProjectController.undo_stack`.

Signals (all emitted on the GUI thread):

- ``project_changed()``: another project was opened or created (reload everything);
- ``labels_changed()``: a label was added, renamed, recoloured, re-keyed or deleted;
- ``documents_changed()``: documents were added or removed in bulk (import, pre-annotate);
- ``document_changed(int doc_id)``: one document's status, split or text changed;
- ``spans_changed(int doc_id)``: the spans of one document changed;
- ``runs_changed()``: a training run was created or updated (Train panel emits it via
  :meth:`notify_runs_changed`);
- ``open_document_requested(int doc_id, int start, int end)``: show a document in the
  annotator, selecting ``[start, end)`` (``-1, -1`` for no selection);
- ``error(str)``: a message for the user (the main window shows it in a dialog).

Methods other panels may use: :attr:`project`, :attr:`path`, :meth:`labels`,
:meth:`label_colour`, :meth:`show_error`, :meth:`open_document`,
:meth:`selected_document_ids` (the rows selected in the document list),
:meth:`notify_documents_changed`, :meth:`notify_spans_changed`,
:meth:`notify_runs_changed`, :meth:`reload` (after another connection wrote), and
:attr:`current_document_id` (what the annotator shows).

Edits (each saved at once and undoable): :meth:`add_span`, :meth:`remove_span`,
:meth:`set_span_label`, :meth:`replace_spans`, :meth:`accept_span`, :meth:`accept_all`, :meth:`set_status`,
:meth:`set_split`, :meth:`add_label`, :meth:`rename_label`, :meth:`recolour_label`,
:meth:`set_label_shortcut`; :meth:`delete_label` is confirmed by the user instead and
clears the undo history. An edit that core refuses shows its message and returns None
(or False / 0); nothing is raised to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from core.errors import SpanlabError
from core.store import Project
from desktop import undo_commands as commands
from desktop.errors import describe

log = logging.getLogger(__name__)

FALLBACK_COLOUR = "#9e9e9e"
NO_PROJECT = "Open or create a project first (File ▸ Open)."


class ProjectController(QObject):
    """Holds the open project and turns user edits into undoable, saved core calls."""

    project_changed = Signal()
    labels_changed = Signal()
    documents_changed = Signal()
    document_changed = Signal(int)
    spans_changed = Signal(int)
    runs_changed = Signal()
    open_document_requested = Signal(int, int, int)
    error = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._project: Project | None = None
        self._labels: list[dict] = []
        self._colours: dict[str, str] = {}
        self.undo_stack = QUndoStack(self)
        self._selection_provider: Callable[[], list[int]] = list
        #: The document the annotator shows (set by the annotator), or None.
        self.current_document_id: int | None = None

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
            self.undo_stack.clear()
            self._project.close()
            self._project = None

    def _adopt(self, opener: Callable[[], Any]) -> bool:
        try:
            project = opener()
        except (SpanlabError, OSError) as exc:
            self.show_error(exc)
            return False
        self.set_project(project)
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
        if isinstance(exc, BaseException) and not isinstance(exc, SpanlabError):
            log.error("unexpected error", exc_info=exc)
        self.error.emit(describe(exc))

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

    def _reload_labels(self) -> None:
        self._labels = list(self._project.labels()) if self._project is not None else []
        self._colours = {row["name"]: row["colour"] for row in self._labels}

    # -- span edits (undoable) ----------------------------------------------------------

    def add_span(self, doc_id: int, start: int, end: int, label: str) -> dict | None:
        """Store a human span; returns its row, or None (error shown) if core refused it."""
        row = self._call("add_span", doc_id, start, end, label)
        if not row:
            return None
        self._push(commands.AddSpan(self, row))
        return row

    def overlapping_spans(self, doc_id: int, start: int, end: int) -> list[dict]:
        """The spans of a document (any origin) that share a character with ``[start, end)``."""
        rows = self._call("spans", doc_id)
        return [s for s in rows or [] if s["start"] < end and start < s["end"]]

    def replace_spans(
        self, doc_id: int, old: list[dict], start: int, end: int, label: str
    ) -> dict | None:
        """Remove the spans ``old`` and store a human span in their place, as one edit
        (one undo puts them back); returns the new row, or None (error shown)."""
        project = self._project
        if project is None:
            self.show_error(NO_PROJECT)
            return None
        try:
            with project.atomic():
                removed = [project.remove_span(s["id"]) for s in old]
                row = project.add_span(doc_id, start, end, label)
        except Exception as exc:
            self.show_error(exc)
            return None
        self._push(commands.ReplaceSpans(self, removed, row))
        return row

    def remove_span(self, span: dict) -> None:
        """Delete a span (human or model)."""
        row = self._call("remove_span", span["id"])
        if row:
            self._push(commands.RemoveSpan(self, row))

    def set_span_label(self, span: dict, label: str) -> dict | None:
        """Give a span another label; returns the updated row."""
        if span["label"] == label:
            return span
        row = self._call("set_span_label", span["id"], label)
        if not row:
            return None
        self._push(commands.SetSpanLabel(self, span, row))
        return row

    def accept_span(self, span: dict) -> None:
        """Turn one model span into a human one."""
        if self._call("accept_span", span["id"]) is _FAILED:
            return
        self._push(commands.AcceptSpans(self, span["document_id"], [span], "Accept span"))

    def accept_all(self, doc_id: int) -> int:
        """Accept every model span of a document; returns how many."""
        rows = self._call("spans", doc_id, origin="model")
        if not rows:
            return 0
        if self._call("accept_all", doc_id) is _FAILED:
            return 0
        self._push(commands.AcceptSpans(self, doc_id, rows, f"Accept {len(rows)} spans"))
        return len(rows)

    def set_status(self, doc_id: int, status: str) -> None:
        """Mark a document new / annotated / skipped."""
        doc = self._call("get_document", doc_id)
        if not doc or doc["status"] == status:
            return
        if self._call("set_status", doc_id, status) is _FAILED:
            return
        self._push(commands.SetField(self, doc_id, "status", doc["status"], status))

    def set_split(self, doc_id: int, split: str) -> None:
        """Put a document in train / dev / test / unassigned."""
        doc = self._call("get_document", doc_id)
        if not doc or doc["split"] == split:
            return
        if self._call("set_split", doc_id, split) is _FAILED:
            return
        self._push(commands.SetField(self, doc_id, "split", doc["split"], split))

    # -- label edits --------------------------------------------------------------------

    def add_label(self, name: str, colour: str | None = None, shortcut: str | None = None):
        """Add a label (undoable); returns its row or None."""
        row = self._call("add_label", name, colour=colour, shortcut=shortcut)
        if not row:
            return None
        self._push(commands.AddLabel(self, row))
        return row

    def rename_label(self, old: str, new: str) -> bool:
        """Rename a label; its spans follow (undoable)."""
        if old == new:
            return True
        if self._call("rename_label", old, new) is _FAILED:
            return False
        self._push(commands.LabelEdit(self, f"Rename label {old} to {new}", "rename", old, new))
        return True

    def recolour_label(self, name: str, colour: str) -> bool:
        """Change a label's colour (undoable)."""
        before = self._label_row(name)
        if self._call("recolour_label", name, colour) is _FAILED:
            return False
        old = before["colour"] if before else None
        self._push(commands.LabelEdit(self, f"Recolour {name}", "recolour", name, colour, old))
        return True

    def set_label_shortcut(self, name: str, key: str | None) -> bool:
        """Set or clear a label's shortcut key (undoable)."""
        before = self._label_row(name)
        if self._call("set_label_shortcut", name, key) is _FAILED:
            return False
        old = before["shortcut"] if before else None
        self._push(commands.LabelEdit(self, f"Shortcut of {name}", "shortcut", name, key, old))
        return True

    def count_label_spans(self, name: str, origin: str | None = None) -> int:
        """How many spans carry a label: human or model ones, or both (``origin`` None)."""
        if self._project is None:
            return 0
        n = self._call("count_label_spans", name, origin)
        return n if isinstance(n, int) else 0

    def delete_label(self, name: str) -> int:
        """Delete a label and its spans. Not undoable: the undo history is cleared."""
        removed = self._call("delete_label", name)
        if removed is _FAILED or removed is None:
            return 0
        self.undo_stack.clear()
        self.refresh_labels()
        self.documents_changed.emit()
        return int(removed)

    def _label_row(self, name: str) -> dict | None:
        return next((row for row in self._labels if row["name"] == name), None)

    def refresh_labels(self) -> None:
        """Re-read the labels and emit ``labels_changed``."""
        self._reload_labels()
        self.labels_changed.emit()

    # -- plumbing -----------------------------------------------------------------------

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``project.<method>``; on an error show it and return ``_FAILED`` (falsy).

        Besides SpanlabError, anything else (a locked database while an import runs, say)
        is shown too, with its traceback logged: an edit that fails never crashes the app.
        """
        if self._project is None:
            self.show_error(NO_PROJECT)
            return _FAILED
        try:
            result = getattr(self._project, method)(*args, **kwargs)
        except Exception as exc:
            self.show_error(exc)
            return _FAILED
        return True if result is None else result

    def _push(self, command: QUndoCommand) -> None:
        self.undo_stack.push(command)


class _Failed:
    """Marker for a core call that raised (falsy, so ``if row:`` reads naturally)."""

    def __bool__(self) -> bool:
        return False


_FAILED: Any = _Failed()
