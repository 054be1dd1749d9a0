"""Spans: a person's annotations and a model's suggestions, as character offsets.

Every write checks the span against the document's tokens and its other spans through
``core.spancheck``; a model's suggestions never overwrite a person's spans.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.domain import ORIGINS
from core.errors import NotFoundError, SpanAlignmentError
from core.spancheck import (
    SpanLike,
    check_no_overlap,
    check_overlaps,
    check_span,
    span_fields,
)
from core.store.documents import SPAN_SELECT, Documents
from core.store.values import check_choice


class Spans(Documents):
    """Reading and changing a document's spans."""

    def spans(self, doc_id: int, origin: str | None = None) -> list[dict]:
        """A document's spans sorted by start: ``{id, document_id, start, end, label,
        origin, score}``."""
        if origin is None:
            return self._rows(
                f'{SPAN_SELECT} WHERE s.document_id = ? ORDER BY s."start", s.id', [doc_id]
            )
        check_choice("origin", origin, ORIGINS)
        return self._rows(
            f'{SPAN_SELECT} WHERE s.document_id = ? AND s.origin = ? ORDER BY s."start", s.id',
            [doc_id, origin],
        )

    def get_span(self, span_id: int) -> dict:
        """One span by id (NotFoundError when there is none)."""
        row = self._one(f"{SPAN_SELECT} WHERE s.id = ?", [span_id])
        if row is None:
            raise NotFoundError(f"There is no span {span_id}.")
        return row

    def add_span(
        self,
        doc_id: int,
        start: int,
        end: int,
        label: str,
        origin: str = "human",
        score: float | None = None,
        snap: bool = False,
    ) -> dict:
        """Add a span after checking its label, its token alignment and overlaps.

        With ``snap`` a span that cuts a token grows to the tokens it touches;
        otherwise it raises SpanAlignmentError. Overlaps raise OverlapError.
        """
        check_choice("origin", origin, ORIGINS)
        with self.atomic():
            label_id = self.get_label(label)["id"]
            tokens = self._tokens(doc_id)
            start, end = check_span(tokens, start, end, label, snap)
            check_no_overlap((start, end, label), self.spans(doc_id))
            cursor = self._conn.execute(
                'INSERT INTO spans (document_id, "start", "end", label_id, origin, score)'
                " VALUES (?, ?, ?, ?, ?, ?)",
                [doc_id, start, end, label_id, origin, score],
            )
            self._touch(doc_id)
            return self.get_span(cursor.lastrowid)

    def remove_span(self, span_id: int) -> dict:
        """Delete a span; returns its row so that ``restore_span`` can undo it."""
        with self.atomic():
            row = self.get_span(span_id)
            self._conn.execute("DELETE FROM spans WHERE id = ?", [span_id])
            self._touch(row["document_id"])
            return row

    def restore_span(self, row: dict) -> dict:
        """Put back a span removed by ``remove_span`` with the same values; returns it.

        The span keeps its id unless that id was given to a newer span meanwhile.
        """
        origin = row.get("origin", "human")
        check_choice("origin", origin, ORIGINS)
        with self.atomic():
            label_id = self.get_label(row["label"])["id"]
            tokens = self._tokens(row["document_id"])
            check_span(tokens, row["start"], row["end"], row["label"])
            others = [s for s in self.spans(row["document_id"]) if s["id"] != row["id"]]
            check_no_overlap((row["start"], row["end"], row["label"]), others)
            # The id is kept unless a newer span took it since (ids of the last span can
            # be reused); the caller gets the row back either way.
            taken = self._scalar("SELECT 1 FROM spans WHERE id = ?", [row["id"]])
            cursor = self._conn.execute(
                'INSERT INTO spans (id, document_id, "start", "end", label_id, origin,'
                " score) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    None if taken else row["id"],
                    row["document_id"],
                    row["start"],
                    row["end"],
                    label_id,
                    origin,
                    row.get("score"),
                ],
            )
            self._touch(row["document_id"])
            return self.get_span(cursor.lastrowid)

    def set_span_label(self, span_id: int, label: str) -> dict:
        """Give a span another label (its origin and score stay)."""
        with self.atomic():
            label_id = self.get_label(label)["id"]
            row = self.get_span(span_id)
            self._conn.execute("UPDATE spans SET label_id = ? WHERE id = ?", [label_id, span_id])
            self._touch(row["document_id"])
            return self.get_span(span_id)

    def replace_spans(
        self, doc_id: int, spans: Iterable[SpanLike], origin: str = "human"
    ) -> list[dict]:
        """Replace every span of a document (any origin) with ``spans``, all or nothing.

        Spans are ``(start, end, label)`` or dicts with those keys (and optionally
        ``score``). Returns the new rows.
        """
        check_choice("origin", origin, ORIGINS)
        with self.atomic():
            tokens = self._tokens(doc_id)
            label_ids = self._label_ids()
            rows, checked = [], []
            for start, end, label, score in (span_fields(span) for span in spans):
                if label not in label_ids:
                    raise NotFoundError(f"There is no label {label!r}. Add it first.")
                start, end = check_span(tokens, start, end, label)
                rows.append((doc_id, start, end, label_ids[label], origin, score))
                checked.append((start, end, label))
            check_overlaps(checked)
            self._conn.execute("DELETE FROM spans WHERE document_id = ?", [doc_id])
            self._conn.executemany(
                'INSERT INTO spans (document_id, "start", "end", label_id, origin, score)'
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._touch(doc_id)
            return self.spans(doc_id)

    def accept_span(self, span_id: int) -> dict:
        """Turn a model suggestion into a human span (the score is kept)."""
        with self.atomic():
            row = self.get_span(span_id)
            self._conn.execute("UPDATE spans SET origin = 'human' WHERE id = ?", [span_id])
            self._touch(row["document_id"])
            return self.get_span(span_id)

    def accept_all(self, doc_id: int) -> int:
        """Accept every model suggestion of a document; returns how many."""
        with self.atomic():
            self._require_documents([doc_id])
            n = self._conn.execute(
                "UPDATE spans SET origin = 'human' WHERE document_id = ? AND origin = 'model'",
                [doc_id],
            ).rowcount
            if n:
                self._touch(doc_id)
            return n

    def set_model_spans(self, doc_id: int, entities: Iterable[dict]) -> int:
        """Replace a document's model suggestions with ``entities`` (``{start, end, label,
        score}``); returns how many were stored.

        Human spans are never touched: a prediction overlapping one is skipped, as is
        one with a label the project does not have. Predictions that cut a token are
        snapped to whole tokens.
        """
        with self.atomic():
            tokens = self._tokens(doc_id)
            label_ids = self._label_ids()
            taken = [(s["start"], s["end"]) for s in self.spans(doc_id, origin="human")]
            rows = []
            predictions = sorted((span_fields(e) for e in entities), key=lambda p: p[:2])
            for start, end, label, score in predictions:
                if label not in label_ids:
                    continue
                try:
                    start, end = check_span(tokens, start, end, label, snap=True)
                except SpanAlignmentError:
                    continue
                if any(start < t_end and t_start < end for t_start, t_end in taken):
                    continue
                taken.append((start, end))
                rows.append((doc_id, start, end, label_ids[label], score))
            self._conn.execute(
                "DELETE FROM spans WHERE document_id = ? AND origin = 'model'", [doc_id]
            )
            self._conn.executemany(
                'INSERT INTO spans (document_id, "start", "end", label_id, origin, score)'
                " VALUES (?, ?, ?, ?, 'model', ?)",
                rows,
            )
            return len(rows)
