"""The undoable edits of the project controller.

Each command is pushed after its edit was already applied (and committed) by core, so
its first ``redo`` does nothing; undo and redo call core again. A refusal from core
there (the data moved on since) is shown, never raised.

The commands depend only on :class:`EditTarget`, the little they need of the
controller (the project, an error sink, and the "something changed" notifiers), so this
module does not import the controller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtGui import QUndoCommand

from core.store import Project


class EditTarget(Protocol):
    """What an undo command needs of the controller that pushed it."""

    current_document_id: int | None

    @property
    def project(self) -> Project | None: ...

    def show_error(self, exc: BaseException | str) -> None: ...

    def open_document(self, doc_id: int, select: tuple[int, int] | None = None) -> None: ...

    def notify_document_changed(self, doc_id: int) -> None: ...

    def notify_spans_changed(self, doc_id: int) -> None: ...

    def notify_documents_changed(self) -> None: ...

    def refresh_labels(self) -> None: ...


class Command(QUndoCommand):
    """An edit already applied once: the first ``redo`` (from ``push``) does nothing.

    Undo / redo call core again; a SpanlabError there (the data moved on) is shown, not
    raised, and the panels are told to reload what the command touched.
    """

    def __init__(self, controller: EditTarget, text: str) -> None:
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

    def _guard(self, fn: Callable[[Project], None]) -> None:
        project = self.c.project
        if project is None:  # the stack is cleared when a project closes: cannot happen
            raise RuntimeError("an undo command ran with no project open")
        try:
            with project.atomic():
                fn(project)
        except Exception as exc:  # the data moved on since: show it, never crash
            self.c.show_error(exc)
        self.reveal()
        self.notify()

    def reveal(self) -> None:
        """Show what an undo / redo changed (span edits open their document)."""

    def do(self, project: Project) -> None:
        raise NotImplementedError

    def undo_it(self, project: Project) -> None:
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
        self.c.notify_document_changed(self.doc_id)


class SpanCommand(DocumentCommand):
    def notify(self) -> None:
        self.c.notify_spans_changed(self.doc_id)


class AddSpan(SpanCommand):
    def __init__(self, controller: EditTarget, row: dict) -> None:
        super().__init__(controller, f"Add {row['label']} span")
        self.row = dict(row)
        self.doc_id = int(row["document_id"])

    def do(self, project: Project) -> None:
        project.restore_span(self.row)

    def undo_it(self, project: Project) -> None:
        project.remove_span(self.row["id"])


class RemoveSpan(AddSpan):
    def __init__(self, controller: EditTarget, row: dict) -> None:
        super().__init__(controller, row)
        self.setText(f"Delete {row['label']} span")

    def do(self, project: Project) -> None:
        project.remove_span(self.row["id"])

    def undo_it(self, project: Project) -> None:
        project.restore_span(self.row)


class ReplaceSpans(SpanCommand):
    """Spans removed and one new span stored over them; undo puts the old ones back."""

    def __init__(self, controller: EditTarget, old: list[dict], new: dict) -> None:
        super().__init__(controller, f"Replace with {new['label']} span")
        self.old = [dict(r) for r in old]
        self.new = dict(new)
        self.doc_id = int(new["document_id"])

    def do(self, project: Project) -> None:
        for row in self.old:
            project.remove_span(row["id"])
        self.new = project.restore_span(self.new)  # its id may change

    def undo_it(self, project: Project) -> None:
        project.remove_span(self.new["id"])
        self.old = [project.restore_span(row) for row in self.old]


class SetSpanLabel(SpanCommand):
    def __init__(self, controller: EditTarget, before: dict, after: dict) -> None:
        super().__init__(controller, f"Label span {after['label']}")
        self.span_id = before["id"]
        self.old, self.new = before["label"], after["label"]
        self.doc_id = int(before["document_id"])

    def do(self, project: Project) -> None:
        project.set_span_label(self.span_id, self.new)

    def undo_it(self, project: Project) -> None:
        project.set_span_label(self.span_id, self.old)


class AcceptSpans(SpanCommand):
    """Accept model spans; undo puts the model rows back as they were (origin, score)."""

    def __init__(self, controller: EditTarget, doc_id: int, rows: list[dict], text: str) -> None:
        super().__init__(controller, text)
        self.doc_id = int(doc_id)
        self.rows = [dict(r) for r in rows]

    def do(self, project: Project) -> None:
        for row in self.rows:
            project.accept_span(row["id"])

    def undo_it(self, project: Project) -> None:
        for row in self.rows:
            project.remove_span(row["id"])
            project.restore_span(row)


class SetField(DocumentCommand):
    """Set a document's status or split."""

    def __init__(self, controller: EditTarget, doc_id: int, field: str, old: str, new: str) -> None:
        text = f"Mark document {new}" if field == "status" else f"Move document to {new}"
        super().__init__(controller, text)
        self.doc_id, self.field, self.old, self.new = int(doc_id), field, old, new

    def _set(self, project: Project, value: str) -> None:
        if self.field == "status":
            project.set_status(self.doc_id, value)
        else:
            project.set_split(self.doc_id, value)

    def do(self, project: Project) -> None:
        self._set(project, self.new)

    def undo_it(self, project: Project) -> None:
        self._set(project, self.old)


class AddLabel(Command):
    def __init__(self, controller: EditTarget, row: dict) -> None:
        super().__init__(controller, f"Add label {row['name']}")
        self.row = dict(row)

    def do(self, project: Project) -> None:
        project.add_label(
            self.row["name"], colour=self.row["colour"], shortcut=self.row["shortcut"]
        )

    def undo_it(self, project: Project) -> None:
        project.delete_label(self.row["name"])

    def notify(self) -> None:
        self.c.refresh_labels()


class LabelEdit(Command):
    """Rename / recolour / re-key a label; ``old`` is what undo restores."""

    def __init__(
        self,
        controller: EditTarget,
        text: str,
        kind: str,
        name: str,
        new: Any,
        old: Any = None,
    ) -> None:
        super().__init__(controller, text)
        self.kind, self.name, self.new, self.old = kind, name, new, old

    def do(self, project: Project) -> None:
        self._apply(project, self.new, self.old)

    def undo_it(self, project: Project) -> None:
        self._apply(project, self.old, self.new)

    def _apply(self, project: Project, value: Any, previous: Any) -> None:
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
            self.c.notify_documents_changed()
