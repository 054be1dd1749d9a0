"""The undoable edits of :class:`desktop.controller.ProjectController`.

Each command is pushed after its edit was already applied (and committed) by core, so
its first ``redo`` does nothing; undo and redo call core again. A refusal from core
there (the data moved on since) is shown, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand

if TYPE_CHECKING:
    from desktop.controller import ProjectController


class Command(QUndoCommand):
    """An edit already applied once: the first ``redo`` (from ``push``) does nothing.

    Undo / redo call core again; a SpanlabError there (the data moved on) is shown, not
    raised, and the panels are told to reload what the command touched.
    """

    def __init__(self, controller: ProjectController, text: str) -> None:
        super().__init__(text)
        self.c = controller
        self._applied = True

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            self.notify()
            return
        self._guard(self.do)

    def undo(self) -> None:
        self._guard(self.undo_it)

    def _guard(self, fn: Callable[[], None]) -> None:
        project = self.c.project
        try:
            with project.atomic():
                fn()
        except Exception as exc:  # the data moved on since: show it, never crash
            self.c.show_error(exc)
        self.reveal()
        self.notify()

    def reveal(self) -> None:
        """Show what an undo / redo changed (span edits open their document)."""

    def do(self) -> None:
        raise NotImplementedError

    def undo_it(self) -> None:
        raise NotImplementedError

    def notify(self) -> None:
        raise NotImplementedError


class DocumentCommand(Command):
    """An edit of one document: undoing or redoing it shows that document."""

    doc_id: int

    def reveal(self) -> None:
        if self.c.current_document_id != self.doc_id:
            self.c.open_document(self.doc_id)

    def notify(self) -> None:
        self.c.document_changed.emit(self.doc_id)


class SpanCommand(DocumentCommand):
    def notify(self) -> None:
        self.c.spans_changed.emit(self.doc_id)


class AddSpan(SpanCommand):
    def __init__(self, controller: ProjectController, row: dict) -> None:
        super().__init__(controller, f"Add {row['label']} span")
        self.row = dict(row)
        self.doc_id = int(row["document_id"])

    def do(self) -> None:
        self.c.project.restore_span(self.row)

    def undo_it(self) -> None:
        self.c.project.remove_span(self.row["id"])


class RemoveSpan(AddSpan):
    def __init__(self, controller: ProjectController, row: dict) -> None:
        super().__init__(controller, row)
        self.setText(f"Delete {row['label']} span")

    def do(self) -> None:
        self.c.project.remove_span(self.row["id"])

    def undo_it(self) -> None:
        self.c.project.restore_span(self.row)


class ReplaceSpans(SpanCommand):
    """Spans removed and one new span stored over them; undo puts the old ones back."""

    def __init__(self, controller: ProjectController, old: list[dict], new: dict) -> None:
        super().__init__(controller, f"Replace with {new['label']} span")
        self.old = [dict(r) for r in old]
        self.new = dict(new)
        self.doc_id = int(new["document_id"])

    def do(self) -> None:
        project = self.c.project
        for row in self.old:
            project.remove_span(row["id"])
        self.new = project.restore_span(self.new)  # its id may change

    def undo_it(self) -> None:
        project = self.c.project
        project.remove_span(self.new["id"])
        self.old = [project.restore_span(row) for row in self.old]


class SetSpanLabel(SpanCommand):
    def __init__(self, controller: ProjectController, before: dict, after: dict) -> None:
        super().__init__(controller, f"Label span {after['label']}")
        self.span_id = before["id"]
        self.old, self.new = before["label"], after["label"]
        self.doc_id = int(before["document_id"])

    def do(self) -> None:
        self.c.project.set_span_label(self.span_id, self.new)

    def undo_it(self) -> None:
        self.c.project.set_span_label(self.span_id, self.old)


class AcceptSpans(SpanCommand):
    """Accept model spans; undo puts the model rows back as they were (origin, score)."""

    def __init__(
        self, controller: ProjectController, doc_id: int, rows: list[dict], text: str
    ) -> None:
        super().__init__(controller, text)
        self.doc_id = int(doc_id)
        self.rows = [dict(r) for r in rows]

    def do(self) -> None:
        for row in self.rows:
            self.c.project.accept_span(row["id"])

    def undo_it(self) -> None:
        for row in self.rows:
            self.c.project.remove_span(row["id"])
            self.c.project.restore_span(row)


class SetField(DocumentCommand):
    """Set a document's status or split."""

    def __init__(
        self, controller: ProjectController, doc_id: int, field: str, old: str, new: str
    ) -> None:
        text = f"Mark document {new}" if field == "status" else f"Move document to {new}"
        super().__init__(controller, text)
        self.doc_id, self.field, self.old, self.new = int(doc_id), field, old, new

    def _set(self, value: str) -> None:
        if self.field == "status":
            self.c.project.set_status(self.doc_id, value)
        else:
            self.c.project.set_split(self.doc_id, value)

    def do(self) -> None:
        self._set(self.new)

    def undo_it(self) -> None:
        self._set(self.old)


class AddLabel(Command):
    def __init__(self, controller: ProjectController, row: dict) -> None:
        super().__init__(controller, f"Add label {row['name']}")
        self.row = dict(row)

    def do(self) -> None:
        self.c.project.add_label(
            self.row["name"], colour=self.row["colour"], shortcut=self.row["shortcut"]
        )

    def undo_it(self) -> None:
        self.c.project.delete_label(self.row["name"])

    def notify(self) -> None:
        self.c.refresh_labels()


class LabelEdit(Command):
    """Rename / recolour / re-key a label; ``old`` is what undo restores."""

    def __init__(
        self,
        controller: ProjectController,
        text: str,
        kind: str,
        name: str,
        new: Any,
        old: Any = None,
    ) -> None:
        super().__init__(controller, text)
        self.kind, self.name, self.new, self.old = kind, name, new, old

    def do(self) -> None:
        self._apply(self.new, self.old)

    def undo_it(self) -> None:
        self._apply(self.old, self.new)

    def _apply(self, value: Any, previous: Any) -> None:
        project = self.c.project
        if self.kind == "rename":
            # name is the old name, new the new one; value/previous swap on undo
            src, dst = (self.name, self.new) if value == self.new else (self.new, self.name)
            project.rename_label(src, dst)
        elif self.kind == "recolour":
            project.recolour_label(self.name, value)
        elif self.kind == "shortcut":
            project.set_label_shortcut(self.name, value)

    def notify(self) -> None:
        self.c.refresh_labels()
        if self.kind == "rename":
            self.c.documents_changed.emit()
