"""The annotation view: one document, its spans, and the keys that edit them.

Select words (drag, or double-click one), then press a label's key or click its button:
the selection becomes a span, stored at once. Click a span to select it; a label key
relabels it, Delete removes it, Enter accepts a model suggestion. A new span over a
model suggestion replaces it; over a person's span, the hint line says in words what
overlaps what and offers to replace it. Every edit goes through the controller, so it
is saved immediately and can be undone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.domain import SPLITS
from core.errors import NotFoundError
from desktop.controller import ProjectController
from desktop.document_list import STATUS_COLOURS
from desktop.label_bar import LabelBar
from desktop.span_view import SpanView

HINT_IDLE = "Drag across words or double-click one, then press a label key or button."
HINT_SPAN = "{what} — a label key relabels it, Delete removes it{accept}."
HINT_OVERLAP = "{new} overlaps {old}: a word has one label. Replace {it}? {how}"
QUOTE_MAX = 40


def quote_span(text: str, span: dict) -> str:
    """A span in words, e.g. “Paris” (LOC), or “Tom” (PER, suggested)."""
    words = text[span["start"] : span["end"]]
    if len(words) > QUOTE_MAX:
        words = words[: QUOTE_MAX - 1] + "…"
    suggested = ", suggested" if span.get("origin") == "model" else ""
    return f"“{words}” ({span['label']}{suggested})"


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class Annotator(QWidget):
    """Shows the current document; emits ``document_opened(int)`` when it changes."""

    document_opened = Signal(int)

    def __init__(self, controller: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.doc: dict | None = None
        self._filters: Callable[[], dict[str, Any]] = dict
        self._from_top = False  # the order changed: "next" starts at its first document

        self.title = QLabel("No document")
        self.title.setObjectName("documentTitle")
        self.status_badge = QLabel()
        self.split = QComboBox()
        self.split.addItems(list(SPLITS))
        self.split.setToolTip("The split this document belongs to")
        self.label_bar = LabelBar()
        self.view = SpanView()
        self.hint = QLabel(HINT_IDLE)
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        self.replace_button = QPushButton("Replace")
        self.replace_button.setToolTip(
            "Replace the overlapping span with the new one (Ctrl+Z undoes)"
        )
        self.replace_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys keep going to the text
        self.replace_button.hide()
        #: A refused label waiting for "Replace": (doc_id, start, end, label), or None.
        self._offer: tuple[int, int, int, str] | None = None

        self.actions_by_name = self._make_actions()
        buttons = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for name in ("prev", "skip", "accept_all", "accept_doc", "next"):
            action = self.actions_by_name[name]
            button = QPushButton(action.text().replace("&", ""))
            button.setToolTip(f"{action.toolTip()} ({action.shortcut().toString()})")
            button.clicked.connect(action.trigger)
            button.setObjectName(f"button_{name}")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys keep going to the text
            if name == "accept_doc":
                button.setDefault(True)
            buttons.addWidget(button)
            self.buttons[name] = button
            if name == "prev":
                buttons.addStretch(1)
        self.accept_all_button = self.buttons["accept_all"]

        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.status_badge)
        header.addStretch(1)
        header.addWidget(QLabel("Split:"))
        header.addWidget(self.split)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.label_bar)
        layout.addWidget(self.view, 1)
        hint_row = QHBoxLayout()
        hint_row.addWidget(self.hint, 1)
        hint_row.addWidget(self.replace_button)
        layout.addLayout(hint_row)
        layout.addLayout(buttons)
        self._update_buttons()

        self.label_bar.label_clicked.connect(self.apply_label)
        self.view.label_key_pressed.connect(self._on_label_key)
        self.view.delete_pressed.connect(self.delete_selected_span)
        self.view.accept_pressed.connect(self.accept_selected_span)
        self.view.span_selected.connect(self._show_hint)
        self.view.selection_changed.connect(self._on_selection_changed)
        self.replace_button.clicked.connect(self.replace_offered)
        self.view.context_menu_requested.connect(self._context_menu)
        self.split.activated.connect(self._on_split_chosen)
        controller.labels_changed.connect(self._on_labels)
        controller.spans_changed.connect(self._on_spans_changed)
        controller.document_changed.connect(self._on_document_changed)
        controller.project_changed.connect(self._on_project)
        controller.documents_changed.connect(self._on_documents_changed)
        controller.open_document_requested.connect(self._on_open_requested)
        self._on_labels()
        if controller.project is not None:
            self._on_project()

    # -- actions (the main window puts them in its Annotate menu) ------------------------

    def _make_actions(self) -> dict[str, QAction]:
        specs = [
            ("prev", "&Previous document", "Ctrl+Left", "Go to the previous document",
             lambda: self.go(-1)),
            ("next", "&Next document", "Ctrl+Right", "Go to the next document",
             lambda: self.go(+1)),
            ("accept_doc", "&Done — mark annotated, next", "Ctrl+Return",
             "Mark this document annotated and go to the next", self.accept_document),
            ("skip", "&Skip", "Ctrl+Shift+Right", "Mark this document skipped and go to the next",
             self.skip_document),
            ("accept_all", "Accept &all suggestions", "Ctrl+Shift+A",
             "Accept every model suggestion in this document", self.accept_all),
            ("accept_span", "A&ccept suggestion", "Return",
             "Accept the selected model suggestion", self.accept_selected_span),
            ("delete_span", "&Delete span", "Delete", "Delete the selected span",
             self.delete_selected_span),
        ]  # fmt: skip
        actions: dict[str, QAction] = {}
        for name, text, key, tip, slot in specs:
            action = QAction(text, self)
            action.setShortcut(QKeySequence(key))
            action.setToolTip(tip)
            action.triggered.connect(slot)
            if name in ("accept_span", "delete_span"):
                # Only while the text has focus: Return and Delete mean other things elsewhere.
                action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
                self.view.addAction(action)
            else:
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
                self.addAction(action)
            actions[name] = action
        return actions

    def set_filters_provider(self, provider: Callable[[], dict[str, Any]]) -> None:
        """Where next / previous take their filters and order from (the document list)."""
        self._filters = provider

    def restart_order(self) -> None:
        """The list's order changed: the next document is the first one of the new order
        (after choosing "most useful first", next serves the most useful document)."""
        self._from_top = True

    # -- documents -----------------------------------------------------------------------

    @property
    def document_id(self) -> int | None:
        """The id of the document shown, or None."""
        return self.doc["id"] if self.doc else None

    def open_document(self, doc_id: int, select: tuple[int, int] | None = None) -> bool:
        """Show a document (and select a range in it); False if it cannot be read."""
        project = self.controller.project
        if project is None:
            return False
        try:
            doc = project.get_document(doc_id)
            spans = project.spans(doc_id)
        except Exception as exc:
            self.controller.show_error(exc)
            return False
        self.doc = doc
        self._from_top = False
        self.controller.current_document_id = doc_id
        self.view.set_document(doc["text"], doc["tokens"], spans)
        self._show_header()
        if select is not None and select[0] >= 0:
            self.view.select_range(*select)
        self._show_hint(None)
        self._update_buttons()
        self.view.setFocus()
        self.document_opened.emit(doc_id)
        return True

    def clear(self) -> None:
        """Show no document."""
        self.doc = None
        self.controller.current_document_id = None
        self.view.set_document("", [], [])
        self.title.setText("No document")
        self.status_badge.clear()
        self._update_buttons()

    def go(self, step: int) -> bool:
        """Open the next (+1) or previous (-1) document under the list's filters."""
        project = self.controller.project
        if project is None:
            return False
        filters = self._filters()
        try:
            if self.doc is None or (self._from_top and step > 0):
                first = project.list_documents(**filters, limit=2)
                ids = [row["id"] for row in first if row["id"] != self.document_id]
                target = ids[0] if ids else None
            else:
                target = project.neighbour_document(self.doc["id"], step, **filters)
        except Exception as exc:
            self.controller.show_error(exc)
            return False
        if target is None:
            self.hint.setText("No more documents this way (under the list's filters).")
            return False
        return self.open_document(target)

    def accept_document(self) -> None:
        """Mark the document annotated and go to the next one."""
        self._mark_and_next("annotated")

    def skip_document(self) -> None:
        """Mark the document skipped and go to the next one."""
        self._mark_and_next("skipped")

    def _mark_and_next(self, status: str) -> None:
        if self.doc is None:
            return
        doc_id = self.doc["id"]
        moved = False
        if status == "annotated" and self._filters().get("order") == "useful":
            # Served by the model to train on: an unassigned document goes to train.
            moved = self.doc.get("split") == "unassigned"
            done = self.controller.mark_annotated_for_training(doc_id)
        else:
            done = self.controller.set_status(doc_id, status)
        if done and self.go(+1) and moved:
            self.hint.setText(
                f"Document {doc_id} went to the train split: a document the model chose is "
                "annotated to train on (Ctrl+Z undoes both)."
            )

    # -- span edits ----------------------------------------------------------------------

    def apply_label(self, name: str) -> None:
        """Label the selected words, or relabel the selected span."""
        if self.doc is None:
            return
        selection = self.view.selected_range()
        span = self.view.selected_span
        if selection is not None:
            self._label_words(selection[0], selection[1], name)
        elif span is not None:
            self.controller.set_span_label(span, name)
        else:
            self.hint.setText(f"Select some words first, then press {name}'s key.")

    def _label_words(self, start: int, end: int, name: str) -> None:
        """Store ``[start, end)`` as a ``name`` span.

        Over a model suggestion the new span replaces it. Over a person's span it is
        not stored at once: the hint line says what overlaps what and offers to replace
        (the same key again, or the Replace button).
        """
        doc_id = self.doc["id"]
        clashes = self.controller.overlapping_spans(doc_id, start, end)
        humans = [s for s in clashes if s["origin"] == "human"]
        if len(clashes) == 1 and humans and (humans[0]["start"], humans[0]["end"]) == (start, end):
            self.view.clear_selection()  # the very words of a span: relabel it
            row = self.controller.set_span_label(humans[0], name)
            if row:
                self.view.select_span(self.view.span_by_id(row["id"]))
            return
        offer = (doc_id, start, end, name)
        if humans and self._offer != offer:
            self._offer_replace(offer, clashes)
            return
        if clashes:
            row = self.controller.replace_spans(doc_id, clashes, start, end, name)
        else:
            row = self.controller.add_span(doc_id, start, end, name)
        if not row:
            return
        self.view.clear_selection()
        self.view.select_span(self.view.span_by_id(row["id"]))
        if clashes:
            old = _and([quote_span(self.view.text, s) for s in clashes])
            self.hint.setText(
                f"Replaced {old} with {quote_span(self.view.text, row)} — Ctrl+Z undoes."
            )

    def _offer_replace(self, offer: tuple[int, int, int, str], clashes: list[dict]) -> None:
        _, start, end, name = offer
        key = next((r.get("shortcut") for r in self.controller.labels() if r["name"] == name), None)
        how = f"Press {key} again or click Replace." if key else "Click Replace."
        new = quote_span(self.view.text, {"start": start, "end": end, "label": name})
        old = _and([quote_span(self.view.text, s) for s in clashes])
        it = "it" if len(clashes) == 1 else "them"
        self.hint.setText(HINT_OVERLAP.format(new=new, old=old, it=it, how=how))
        self._offer = offer
        self.replace_button.show()

    def _drop_offer(self) -> None:
        self._offer = None
        self.replace_button.hide()

    def replace_offered(self) -> None:
        """Store the refused span, replacing what it overlaps (one undoable edit)."""
        offer = self._offer
        if offer is None or self.doc is None or offer[0] != self.doc["id"]:
            self._drop_offer()
            return
        self._label_words(*offer[1:])
        self._drop_offer()

    def _on_selection_changed(self, start: int, end: int) -> None:
        if self._offer is not None and (start, end) != self._offer[1:3]:
            self._drop_offer()
            self._show_hint(self.view.selected_span)

    def delete_selected_span(self) -> None:
        """Remove the selected span."""
        span = self.view.selected_span
        if span is not None:
            self.controller.remove_span(span)

    def accept_selected_span(self) -> None:
        """Accept the selected model suggestion (it becomes a human span)."""
        span = self.view.selected_span
        if span is not None and span.get("origin") == "model":
            self.controller.accept_span(span)

    def accept_all(self) -> None:
        """Accept every model suggestion of the document."""
        if self.doc is not None:
            n = self.controller.accept_all(self.doc["id"])
            self.hint.setText(f"Accepted {n} suggestion{'s' if n != 1 else ''}.")

    def _on_label_key(self, key: str) -> None:
        for row in self.controller.labels():
            if (row.get("shortcut") or "").lower() == key:
                self.apply_label(row["name"])
                return
        self.hint.setText(
            f"No label has the key {key}: add a label, or give one this key, in the Labels panel."
        )

    def _context_menu(self, span: dict | None, global_pos: QPoint) -> None:
        menu = QMenu(self)
        if span is not None:
            relabel = menu.addMenu("Change label")
            for row in self.controller.labels():
                action = relabel.addAction(row["name"])
                action.setEnabled(row["name"] != span["label"])
                action.triggered.connect(lambda _=False, n=row["name"]: self.apply_label(n))
            if span.get("origin") == "model":
                menu.addAction(self.actions_by_name["accept_span"])
            menu.addAction(self.actions_by_name["delete_span"])
        elif self.view.selected_range() is not None:
            for row in self.controller.labels():
                action = menu.addAction(f"Label as {row['name']}")
                action.triggered.connect(lambda _=False, n=row["name"]: self.apply_label(n))
        if self.doc is not None and any(s["origin"] == "model" for s in self.view.spans):
            menu.addAction(self.actions_by_name["accept_all"])
        if not menu.isEmpty():
            menu.popup(global_pos)

    # -- reacting to the controller ------------------------------------------------------

    def _on_labels(self) -> None:
        labels = self.controller.labels()
        self.label_bar.set_labels(labels)
        keys = {(row.get("shortcut") or "").lower() for row in labels} - {""}
        self.view.set_label_style(self.controller.label_colour, keys)
        if self.doc is not None:
            self._reload_spans()

    def _on_spans_changed(self, doc_id: int) -> None:
        if self.doc is not None and doc_id == self.doc["id"]:
            self._reload_spans()

    def _on_document_changed(self, doc_id: int) -> None:
        if self.doc is None or doc_id != self.doc["id"]:
            return
        project = self.controller.project
        try:
            self.doc = project.get_document(doc_id) if project is not None else None
        except NotFoundError:
            self.doc = None
        if self.doc is None:
            self.clear()
            return
        self._show_header()

    def _on_open_requested(self, doc_id: int, start: int, end: int) -> None:
        self.open_document(doc_id, (start, end) if start >= 0 else None)

    def _on_project(self) -> None:
        self.clear()
        self.go(+1)

    def _on_documents_changed(self) -> None:
        if self.doc is None:
            self.go(+1)
            return
        project = self.controller.project
        try:
            if project is None:
                raise NotFoundError("no project is open")
            self.doc = project.get_document(self.doc["id"])
        except NotFoundError:  # deleted meanwhile: show no document
            self.clear()
            return
        self._show_header()  # its split or status may have changed with the others
        self._reload_spans()

    def _reload_spans(self) -> None:
        project = self.controller.project
        if project is None or self.doc is None:
            return
        try:
            spans = project.spans(self.doc["id"])
        except Exception as exc:
            self.controller.show_error(exc)
            return
        self.view.set_spans(spans)
        self._show_hint(self.view.selected_span)
        self._update_buttons()

    # -- display -------------------------------------------------------------------------

    def _show_header(self) -> None:
        doc = self.doc or {}
        self.title.setText(f"<b>Document {doc.get('id', '')}</b>")
        status = doc.get("status", "")
        self.status_badge.setText(
            f"<span style='color:{STATUS_COLOURS.get(status, '#000')}'>● {status}</span>"
        )
        self.split.setCurrentText(doc.get("split", "unassigned"))

    def _show_hint(self, span: dict | None) -> None:
        self._drop_offer()
        if span is None:
            self.hint.setText(HINT_IDLE)
            return
        words = self.view.text[span["start"] : span["end"]]
        what = f"{span['label']} “{words}”"
        accept = ""
        if span.get("origin") == "model":
            score = span.get("score")
            what += f" (suggested{f', {score:.2f}' if score is not None else ''})"
            accept = ", Enter accepts it"
        self.hint.setText(HINT_SPAN.format(what=what, accept=accept))

    def _update_buttons(self) -> None:
        has_doc = self.doc is not None
        n_model = sum(1 for s in self.view.spans if s.get("origin") == "model")
        for name, action in self.actions_by_name.items():
            action.setEnabled(has_doc or name in ("next", "prev"))
        self.actions_by_name["accept_all"].setEnabled(has_doc and n_model > 0)
        self.accept_all_button.setText(
            f"Accept all suggestions ({n_model})" if n_model else "Accept all suggestions"
        )
        for name, button in self.buttons.items():
            button.setEnabled(self.actions_by_name[name].isEnabled())
        self.split.setEnabled(has_doc)

    def _on_split_chosen(self, _index: int) -> None:
        if self.doc is not None and not self.controller.set_split(
            self.doc["id"], self.split.currentText()
        ):
            self._show_header()  # refused: show the split the document still has
