"""Documents: adding them (one, or a million streamed), reading, editing, deleting them,
and keeping the full-text index in step with every write."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from core import migrations
from core.domain import SPLITS, STATUSES, ReaderDocument
from core.errors import NotFoundError, SpanAlignmentError, ValidationError
from core.spancheck import SpanLike, check_tokens
from core.store.connection import now
from core.store.document_rows import (
    CHUNK_DOCUMENTS,
    RowChunk,
    TokenJson,
    document_row,
    encode_tokens,
    move_spans,
    row_chunks,
    trusted_row,
)
from core.store.labels import Labels
from core.store.settings import Settings
from core.store.values import check_choice, check_text
from core.tokenize import tokenize

#: How many documents a bulk write inserts at a time (memory stays flat).
_BULK_CHUNK = CHUNK_DOCUMENTS

#: A document's spans, with their label names, as rows of the store's API.
SPAN_SELECT = (
    'SELECT s.id, s.document_id, s."start", s."end", l.name AS label, s.origin, s.score'
    " FROM spans s JOIN labels l ON l.id = s.label_id"
)


class Documents(Labels, Settings):
    """Writing and reading documents (their spans are ``Spans``' business)."""

    def add_document(
        self,
        text: str,
        tokens: Sequence[Sequence[int]] | None = None,
        split: str = "unassigned",
        status: str = "new",
        source: str = "",
        meta: dict | None = None,
        spans: Iterable[SpanLike] = (),
        lock_labels: bool = False,
        group: str | None = None,
    ) -> int:
        """Add one document and its spans; returns its id.

        Tokens are computed by the project's tokenizer when not given. Spans are checked against the tokens and
        each other; their labels are created unless ``lock_labels`` is set. ``group``
        names the document (a CoNLL ``-DOCSTART-`` section, a source text) this one is a
        sentence of; within a group, documents follow their ids.
        """
        doc = {
            "text": text,
            "tokens": tokens,
            "split": split,
            "status": status,
            "source": source,
            "meta": meta,
            "spans": spans,
            "group": group,
        }
        with self.atomic():
            doc_id = self._next_document_id()
            self._insert_documents([doc], lock_labels, number_errors=False, trusted=False)
            return doc_id

    def add_documents(self, docs: Iterable[dict], lock_labels: bool = False) -> int:
        """Add many documents in one transaction, streaming; returns how many were added.

        ``docs`` yields dicts with add_document's arguments as keys, each checked in
        full. The iterator is consumed in chunks, so memory stays flat however many
        there are. Nothing is written if any document is bad (ValidationError naming
        its 1-based number).
        """
        return self._insert_documents(docs, lock_labels, number_errors=True, trusted=False)

    def add_reader_documents(
        self, docs: Iterable[ReaderDocument], lock_labels: bool = False
    ) -> int:
        """``add_documents`` for an import reader's ``ReaderDocument``s (``core.formats``
        only): their tokens and spans are trusted, not checked again; text, split,
        status and labels still are.

        Anything that is not a ``ReaderDocument`` raises TypeError, so a plain dict
        cannot skip the checks by taking this door.
        """
        return self._insert_documents(docs, lock_labels, number_errors=True, trusted=True)

    def _insert_documents(
        self, docs: Iterable[dict], lock_labels: bool, number_errors: bool, trusted: bool
    ) -> int:
        if trusted:
            token_json = TokenJson()
            build = functools.partial(trusted_row, token_json=token_json)
        else:
            build = functools.partial(document_row, tokenizer=self.tokenizer())
        return self.add_prepared_rows(
            lambda first_id: row_chunks(docs, first_id, build, number_errors, _BULK_CHUNK),
            lock_labels,
            number_errors,
        )

    def add_prepared_rows(
        self,
        chunks: Callable[[int], Iterable[RowChunk]],
        lock_labels: bool = False,
        number_errors: bool = True,
    ) -> int:
        """Write rows prepared elsewhere (``core.store.document_rows.row_chunks``, run by
        a reader in another process) in one transaction; returns how many documents.

        ``chunks(first_id)`` gives the chunks, their documents numbered from
        ``first_id``. The rows are written as they are: only ``row_chunks`` makes them,
        from checked documents. Labels met in the span rows are created here unless
        ``lock_labels``; any error raised by ``chunks`` rolls everything back.
        """
        conn = self._conn
        added = 0
        with self._bulk_settings(), self.atomic():
            label_ids = self._label_ids()
            first_id = self._next_document_id()
            for doc_rows, span_rows, ascii_only in chunks(first_id):
                conn.executemany(
                    "INSERT INTO documents (id, text, tokens, split, status, source, meta,"
                    " group_key, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                    doc_rows,
                )
                conn.executemany(
                    'INSERT INTO spans (document_id, "start", "end", label_id, origin)'
                    " VALUES (?, ?, ?, ?, 'human')",
                    self._span_label_ids(
                        span_rows, label_ids, lock_labels, first_id, number_errors
                    ),
                )
                # Fed per chunk, from the rows just written. ASCII text is indexed as it
                # is (search_text returns it unchanged), without a call back into Python.
                conn.execute(
                    "INSERT INTO documents_fts (rowid, text)"
                    f" SELECT id, {'text' if ascii_only else 'spanlab_search_text(text)'}"
                    " FROM documents WHERE id >= ?",
                    [doc_rows[0][0]],
                )
                added += len(doc_rows)
        return added

    def _span_label_ids(
        self,
        span_rows: list[tuple[int, int, int, str]],
        label_ids: dict[str, int],
        lock_labels: bool,
        first_id: int,
        number_errors: bool,
    ) -> list[tuple[int, int, int, int]]:
        """Span rows with label ids for names; a new label is created (in document order)."""
        try:
            return [(doc, start, end, label_ids[label]) for doc, start, end, label in span_rows]
        except KeyError:  # a label met for the first time
            pass
        rows = []
        for doc, start, end, label in span_rows:
            label_id = label_ids.get(label)
            if label_id is None:
                try:
                    label_id = label_ids[label] = self._import_label(label, lock_labels)
                except ValidationError as error:
                    if number_errors:
                        error.args = (f"Document {doc - first_id + 1}: {error}",)
                    raise
            rows.append((doc, start, end, label_id))
        return rows

    @contextmanager
    def _bulk_settings(self) -> Iterator[None]:
        """No foreign-key lookups during one bulk write.

        Every span row refers to a document written by the same transaction and to a
        label read (or created) under its write lock, so the two lookups per span that
        the foreign keys cost cannot fail. They can only be switched off outside a
        transaction; inside one (a caller's ``atomic()``) they stay on. Durability is
        untouched: the import is still one transaction, committed or rolled back whole.
        """
        conn = self._conn
        keys_off = not conn.in_transaction and conn.execute("PRAGMA foreign_keys").fetchone()[0]
        if keys_off:
            conn.execute("PRAGMA foreign_keys = OFF")
        try:
            yield
        finally:
            if keys_off:
                conn.execute("PRAGMA foreign_keys = ON")

    def _next_document_id(self) -> int:
        """The id SQLite's AUTOINCREMENT would hand out next (ids are never reused)."""
        seq = self._scalar("SELECT seq FROM sqlite_sequence WHERE name = 'documents'") or 0
        top = self._scalar("SELECT max(id) FROM documents") or 0
        return max(seq, top) + 1

    def get_document(self, doc_id: int) -> dict:
        """One document: ``{id, text, tokens, split, status, source, meta, group, created,
        updated}`` (``group`` is None for a document of its own)."""
        row = self._one(
            'SELECT id, text, tokens, split, status, source, meta, group_key AS "group",'
            " created, updated FROM documents WHERE id = ?",
            [doc_id],
        )
        if row is None:
            raise NotFoundError(f"There is no document {doc_id}.")
        row["tokens"] = json.loads(row["tokens"])
        row["meta"] = json.loads(row["meta"]) if row["meta"] else {}
        return row

    def edit_text(
        self,
        doc_id: int,
        text: str,
        drop_invalid: bool = False,
        tokens: Sequence[Sequence[int]] | None = None,
    ) -> list[dict]:
        """Replace a document's text; spans move with the text around the edit.

        Spans that no longer fall on token boundaries (or now lie in text that was
        removed) raise SpanAlignmentError listing them, and nothing changes; with
        ``drop_invalid`` they are deleted instead and returned (for undo).
        """
        check_text(text)
        with self.atomic():
            old = self.get_document(doc_id)
            new_tokens = (
                check_tokens(text, tokens)
                if tokens is not None
                else tokenize(text, self.tokenizer())
            )
            spans = self._rows(
                f'{SPAN_SELECT} WHERE s.document_id = ? ORDER BY s."start", s.id', [doc_id]
            )
            moved, invalid = move_spans(old["text"], text, new_tokens, spans)
            if invalid and not drop_invalid:
                listed = ", ".join(
                    f"{s['label']} {old['text'][s['start'] : s['end']]!r}" for s in invalid
                )
                raise SpanAlignmentError(
                    f"The edit breaks {len(invalid)} span(s): {listed}. Fix the text, or "
                    "confirm to remove those spans.",
                    spans=invalid,
                )
            self._remove_fts(doc_id, old["text"])
            self._conn.execute(
                "UPDATE documents SET text = ?, tokens = ?, updated = ? WHERE id = ?",
                [text, encode_tokens(text, new_tokens), now(), doc_id],
            )
            self._conn.execute(
                "INSERT INTO documents_fts (rowid, text) VALUES (?, ?)",
                [doc_id, migrations.search_text(text)],
            )
            self._conn.executemany(
                'UPDATE spans SET "start" = ?, "end" = ? WHERE id = ?',
                [(s["start"], s["end"], s["id"]) for s in moved],
            )
            self._conn.executemany("DELETE FROM spans WHERE id = ?", [(s["id"],) for s in invalid])
            return invalid

    def delete_document(self, doc_id: int) -> None:
        """Delete a document with its spans."""
        with self.atomic():
            text = self.get_document(doc_id)["text"]
            self._remove_fts(doc_id, text)
            self._conn.execute("DELETE FROM documents WHERE id = ?", [doc_id])

    def _remove_fts(self, doc_id: int, text: str) -> None:
        self._conn.execute(
            "INSERT INTO documents_fts (documents_fts, rowid, text) VALUES ('delete', ?, ?)",
            [doc_id, migrations.search_text(text)],
        )

    def set_split(self, doc_ids: int | Iterable[int], split: str) -> int:
        """Put one or more documents in a split; returns how many were changed."""
        check_choice("split", split, SPLITS)
        ids = [doc_ids] if isinstance(doc_ids, int) else list(doc_ids)
        with self.atomic():
            self._require_documents(ids)
            stamp = now()
            self._conn.executemany(
                "UPDATE documents SET split = ?, updated = ? WHERE id = ?",
                [(split, stamp, doc_id) for doc_id in ids],
            )
        return len(ids)

    def set_status(self, doc_id: int, status: str) -> None:
        """Mark a document new, annotated or skipped."""
        check_choice("status", status, STATUSES)
        with self.atomic():
            self._require_documents([doc_id])
            self._conn.execute(
                "UPDATE documents SET status = ?, updated = ? WHERE id = ?",
                [status, now(), doc_id],
            )

    def _require_documents(self, ids: list[int]) -> None:
        missing = [
            doc_id
            for doc_id in ids
            if self._scalar("SELECT 1 FROM documents WHERE id = ?", [doc_id]) is None
        ]
        if missing:
            shown = ", ".join(map(str, missing[:10]))
            raise NotFoundError(f"There is no document {shown}.")

    def _touch(self, doc_id: int) -> None:
        self._conn.execute("UPDATE documents SET updated = ? WHERE id = ?", [now(), doc_id])

    def _tokens(self, doc_id: int) -> list[list[int]]:
        tokens = self._scalar("SELECT tokens FROM documents WHERE id = ?", [doc_id])
        if tokens is None:
            raise NotFoundError(f"There is no document {doc_id}.")
        return json.loads(tokens)
