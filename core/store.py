"""A Spanlab project: one SQLite file holding labels, documents, spans and training runs.

``Project`` is the only code that writes SQL. One connection per ``Project``, owned by
the thread that opened it (the GUI thread or the CLI); workers get plain data from it
and hand plain results back. Every public method that writes is one committed
transaction; ``atomic()`` groups several into one. Rows come back as plain dicts.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import sqlite3
import stat
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from core import migrations, project_file, run_owner
from core.errors import (
    NotFoundError,
    OverlapError,
    ProjectBusyError,
    ProjectFileError,
    SpanAlignmentError,
    ValidationError,
)
from core.tagging import align_spans, check_overlaps, snap_span
from core.tokenize import tokenize

SPLITS = ("train", "dev", "test", "unassigned")
STATUSES = ("new", "annotated", "skipped")
ORIGINS = ("human", "model")
RUN_STATUSES = ("queued", "running", "done", "failed", "cancelled")

#: Label colours, handed out in order. Drawn from qualitative palettes meant for
#: categories (ColorBrewer Set3 and Pastel, the light half of Tableau 20, Kelly's colours
#: with the dark ones lightened), ordered farthest-first in CIELAB: each one is as unlike
#: the colours before it as the rest allow, so the first labels differ most. All keep a
#: contrast of at least 7:1 with black text. ``tests/test_store_labels.py`` checks this.
PALETTE = (
    "#8dd3c7",
    "#f38400",
    "#8db600",
    "#c084c1",
    "#fdcdac",
    "#fb8072",
    "#98df8a",
    "#f3c300",
    "#decbe4",
    "#6ba7cb",
    "#fdb462",
    "#ffffb3",
    "#ffed6f",
    "#e0859d",
    "#c4968b",
    "#ccebc5",
    "#a69cc5",
    "#57b08f",
    "#b3de69",
    "#f6a600",
)
#: Two label colours closer than this (CIE76 distance in CIELAB) look alike side by side:
#: two oranges, say, even when one is lighter.
DISTINCT_COLOURS = 30.0
#: Labels are entity types (PER, ORG…): a project with more is a misread file.
MAX_LABELS = 1000
#: The longest label name: it is shown in menus, buttons and tables.
MAX_LABEL_CHARS = 100
AUTO_SHORTCUTS = tuple("123456789")
_SPLIT_SET = frozenset(SPLITS)
_STATUS_SET = frozenset(STATUSES)
PREVIEW_CHARS = 160
_BULK_CHUNK = 5000
# Above this many matching spans a label/origin filter is probed per document (EXISTS);
# below it the matching ids are collected first (IN). Where the two cost the same for
# a page of 100 out of a million documents.
_COMMON_SPANS = 20000
_RUN_FIELDS = ("status", "started", "finished", "output_dir", "metrics", "error", "base_model")
_EVENT_FIELDS = ("kind", "step", "epoch", "loss", "lr", "throughput")

SpanLike = Sequence[Any] | dict[str, Any]


class ReaderDocument(dict):
    """A document from an import reader that built its tokens and spans itself.

    The reader guarantees what ``add_documents`` would otherwise re-check for every
    document: ``tokens`` is a list of ``(start, end)`` int tuples, in order, non-empty
    and inside the text; ``spans`` is a list of ``(start, end, label)`` tuples that
    start and end on those tokens' edges, sorted and not overlapping. The store skips
    those checks (about a fifth of a CoNLL import's time) and still checks the rest:
    text, split, status and labels. Anything else (JSONL, the public API) is a plain dict
    and is checked in full.
    """

    __slots__ = ()


def now() -> str:
    """The current UTC time as an ISO 8601 string (how every timestamp is stored)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Project:
    """An open Spanlab project file. Create with ``create``/``open``/``open_or_create``."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._conn = conn
        self._db = Database(conn)

    # -- opening and closing -------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, labels: list[str] | None = None) -> Project:
        """Create a new project file at ``path`` (which must not exist yet)."""
        path = Path(path)
        if path.exists():
            raise ProjectFileError(
                f"{path} already exists. Open it instead, or choose another file name."
            )
        if not path.parent.is_dir():
            raise ProjectFileError(
                f"Cannot create {path}: the folder {path.parent} does not exist."
            )
        conn = None
        try:
            conn = project_file.connect(path, create=True)
            project = cls._setup(path, conn, version=0)
            if labels:
                with project.atomic():
                    for name in labels:
                        project.add_label(name)
        except BaseException as error:
            # Leave no half-made project behind (a bad label name, a full disk...).
            if conn is not None:
                conn.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            if isinstance(error, sqlite3.Error):
                raise ProjectFileError(f"Cannot create {path}: {error}.") from error
            raise
        return project

    @classmethod
    def open(cls, path: str | Path, readonly: bool = False) -> Project:
        """Open an existing project.

        For writing (the default) the file is checked with ``PRAGMA quick_check``, an
        older schema is migrated forward and runs whose process has gone are marked
        interrupted. ``readonly=True`` opens with ``mode=ro``: no lock is taken beyond
        reading, so it works while another process writes (an import, say) and on a
        file or folder that is write-protected.

        Raises ProjectFileError (ProjectDamagedError for a damaged file), without
        writing anything, when the file is missing, not a Spanlab project, damaged,
        from a newer version of Spanlab, or write-protected when opened for writing.
        """
        path = Path(path)
        project_file.check_path(path)
        if not readonly:
            project_file.check_writable(path)
        conn = project_file.connect(path, readonly=readonly)
        try:
            version = project_file.check_schema(conn, path)
            if version == 0:
                raise ProjectFileError(
                    f"{path} is an empty SQLite file, not a Spanlab project. Choose a "
                    ".spanlab file, or create a new project."
                )
            if readonly and version < migrations.LATEST:
                raise ProjectFileError(
                    f"{path} was saved by an older version of Spanlab (project format "
                    f"{version}). Open it once for writing (in the app, or with any command "
                    "that changes it) to bring it up to date."
                )
            if not readonly:
                project_file.quick_check(conn, path)
        except BaseException:
            conn.close()
            raise
        if readonly:
            return cls(path, conn, readonly=True)
        return cls._setup(path, conn, version)

    @classmethod
    def open_or_create(cls, path: str | Path) -> Project:
        """Open the project at ``path``, or create it when there is no file there."""
        path = Path(path)
        return cls.open(path) if path.exists() else cls.create(path)

    @classmethod
    def _setup(cls, path: Path, conn: sqlite3.Connection, version: int) -> Project:
        """Settings, migrations and recovery of a connection opened for writing."""
        project = cls(path, conn)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_size_limit = 67108864")
            conn.execute("PRAGMA cache_size = -32000")
            # Migrate first: a new file is still in rollback-journal mode, so its schema,
            # version and application id land in the file itself, not in the WAL, and a
            # second connection can recognise it straight away. An up-to-date file takes
            # no write lock here, so opening never waits for another writer.
            if version < migrations.LATEST:
                migrations.migrate(project._db)
            project._db.enable_wal()
            run_owner.recover_runs(project)
        except sqlite3.OperationalError as error:
            conn.close()
            if "locked" in str(error) or "busy" in str(error):
                raise _busy_error(path, error) from error
            raise ProjectFileError(f"Cannot open {path}: {error}.") from error
        except sqlite3.Error as error:
            conn.close()
            raise ProjectFileError(f"Cannot open {path}: {error}.") from error
        except BaseException:
            conn.close()
            raise
        return project

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed when the last one closes)."""
        if not self.readonly:
            with suppress(sqlite3.Error):
                # Bounded, so closing a project of a million documents stays instant.
                self._conn.execute("PRAGMA analysis_limit = 400")
                self._conn.execute("PRAGMA optimize")
        self._conn.close()

    def backup(self, target: str | Path | None = None) -> Path:
        """Write a consistent copy of the project (default ``NAME.spanlab.bak``)."""
        target = Path(target) if target else project_file.backup_path(self.path)
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
            return project_file.write_backup(self._conn, target, mode)
        except (OSError, sqlite3.Error) as error:
            raise ProjectFileError(f"Cannot write the backup {target}: {error}.") from error

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Project {self.path}>"

    @property
    def models_dir(self) -> Path:
        """Folder beside the project file, named after it, where runs keep their models."""
        stem = self.path.with_suffix("")
        if stem == self.path:
            return self.path.with_name(self.path.name + "-models")
        return stem

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        return migrations.schema_version(self._conn)

    @contextmanager
    def atomic(self) -> Iterator[Project]:
        """One transaction around the block; a nested block joins the outer transaction.

        A nested block is a savepoint: if it raises, only its own writes are undone.
        ``BEGIN IMMEDIATE`` takes the write lock up front, so a second connection to the
        file waits (up to the busy timeout) instead of failing half-way through.
        """
        conn = self._conn
        if self.readonly:
            raise ProjectFileError(
                f"{self.path} is open for reading only; open it for writing to change it."
            )
        if conn.in_transaction:
            conn.execute("SAVEPOINT spanlab_nested")
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO spanlab_nested")
                    conn.execute("RELEASE spanlab_nested")
                raise
            conn.execute("RELEASE spanlab_nested")
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise _busy_error(self.path, error) from error
        try:
            yield self
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- small query helpers ---------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict]:
        cursor = self._conn.execute(sql, params)
        keys = [column[0] for column in cursor.description]
        return [dict(zip(keys, row, strict=True)) for row in cursor]

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return row[0] if row else None

    # -- labels ------------------------------------------------------------------------

    def labels(self) -> list[dict]:
        """All labels in display order: ``{id, name, colour, shortcut, position}``."""
        return self._rows(
            "SELECT id, name, colour, shortcut, position FROM labels ORDER BY position, id"
        )

    def get_label(self, name: str) -> dict:
        """One label by name (NotFoundError when there is none)."""
        row = self._one(
            "SELECT id, name, colour, shortcut, position FROM labels WHERE name = ?", [name]
        )
        if row is None:
            raise NotFoundError(f"There is no label {name!r}. Add it first.")
        return row

    def add_label(self, name: str, colour: str | None = None, shortcut: str | None = None) -> dict:
        """Add a label; colour and shortcut key are picked automatically when not given."""
        name = _check_label_name(name)
        conn = self._conn
        with self.atomic():
            if self._label_id(name) is not None:
                raise ValidationError(f"There is already a label {_shown(name)}.")
            # Aggregates in SQL, not a row dict per label: an import creates its labels
            # one by one, and reading them all back each time made that quadratic.
            count, top = conn.execute("SELECT count(*), max(position) FROM labels").fetchone()
            if count >= MAX_LABELS:
                raise ValidationError(
                    f"A project holds at most {MAX_LABELS:,} labels, so {_shown(name)} cannot "
                    "be added. Labels are entity types such as PER or ORG: if a file brought "
                    "this many, its tag column is probably not the last one."
                )
            if colour:
                colour = _check_colour(colour)
            else:
                rows = conn.execute("SELECT colour, count(*) FROM labels GROUP BY colour")
                colour = _free_colour(dict(rows.fetchall()))
            if shortcut is None:
                rows = conn.execute("SELECT shortcut FROM labels WHERE shortcut IS NOT NULL")
                taken = {row[0] for row in rows}
                shortcut = next((key for key in AUTO_SHORTCUTS if key not in taken), None)
            else:
                shortcut = self._check_shortcut(shortcut)
            position = (-1 if top is None else top) + 1
            conn.execute(
                "INSERT INTO labels (name, colour, shortcut, position) VALUES (?, ?, ?, ?)",
                [name, colour, shortcut, position],
            )
            return self.get_label(name)

    def rename_label(self, old: str, new: str) -> dict:
        """Rename a label; its spans keep it (they refer to the label, not its name)."""
        new = _check_label_name(new)
        with self.atomic():
            label = self.get_label(old)
            if new != old and self._label_id(new) is not None:
                raise ValidationError(f"There is already a label {new!r}; choose another name.")
            self._conn.execute("UPDATE labels SET name = ? WHERE id = ?", [new, label["id"]])
            return self.get_label(new)

    def recolour_label(self, name: str, colour: str) -> dict:
        """Give a label another colour (``#rrggbb``)."""
        colour = _check_colour(colour)
        with self.atomic():
            label = self.get_label(name)
            self._conn.execute("UPDATE labels SET colour = ? WHERE id = ?", [colour, label["id"]])
            return self.get_label(name)

    def set_label_shortcut(self, name: str, key: str | None) -> dict:
        """Set (or with None, clear) a label's one-character shortcut key."""
        with self.atomic():
            label = self.get_label(name)
            if key is not None and key != label["shortcut"]:
                key = self._check_shortcut(key)
            self._conn.execute("UPDATE labels SET shortcut = ? WHERE id = ?", [key, label["id"]])
            return self.get_label(name)

    def move_label(self, name: str, position: int) -> list[dict]:
        """Move a label to ``position`` (0-based) in the display order; returns all labels."""
        with self.atomic():
            names = [row["name"] for row in self.labels()]
            if name not in names:
                raise NotFoundError(f"There is no label {name!r}.")
            names.remove(name)
            names.insert(max(0, min(position, len(names))), name)
            self._conn.executemany(
                "UPDATE labels SET position = ? WHERE name = ?", list(enumerate(names))
            )
            return self.labels()

    def count_label_spans(self, name: str, origin: str | None = None) -> int:
        """How many spans carry this label: of one origin (human / model), or of both
        when ``origin`` is None (what deleting the label removes)."""
        label = self.get_label(name)
        if origin is None:
            return self._scalar("SELECT count(*) FROM spans WHERE label_id = ?", [label["id"]])
        _check_choice("origin", origin, ORIGINS)
        return self._scalar(
            "SELECT count(*) FROM spans WHERE label_id = ? AND origin = ?", [label["id"], origin]
        )

    def delete_label(self, name: str) -> int:
        """Delete a label and every span that carries it; returns how many spans went."""
        with self.atomic():
            label = self.get_label(name)
            removed = self._conn.execute(
                "DELETE FROM spans WHERE label_id = ?", [label["id"]]
            ).rowcount
            self._conn.execute("DELETE FROM labels WHERE id = ?", [label["id"]])
            return removed

    def _label_id(self, name: str) -> int | None:
        return self._scalar("SELECT id FROM labels WHERE name = ?", [name])

    def _label_ids(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT name, id FROM labels"))

    def _check_shortcut(self, key: str) -> str:
        if not isinstance(key, str) or len(key) != 1 or key.isspace():
            raise ValidationError(f"A shortcut is one key, such as '1' or 'p' (got {key!r}).")
        owner = self._scalar("SELECT name FROM labels WHERE shortcut = ?", [key])
        if owner is not None:
            raise ValidationError(
                f"The key {key!r} is already the shortcut of {owner!r}; clear that one first."
            )
        return key

    # -- documents ---------------------------------------------------------------------

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
    ) -> int:
        """Add one document and its spans; returns its id.

        Tokens are computed when not given. Spans are checked against the tokens and
        each other; their labels are created unless ``lock_labels`` is set.
        """
        doc = {
            "text": text,
            "tokens": tokens,
            "split": split,
            "status": status,
            "source": source,
            "meta": meta,
            "spans": spans,
        }
        with self.atomic():
            doc_id = self._next_document_id()
            self._insert_documents([doc], lock_labels, number_errors=False)
            return doc_id

    def add_documents(self, docs: Iterable[dict], lock_labels: bool = False) -> int:
        """Add many documents in one transaction, streaming; returns how many were added.

        ``docs`` yields dicts with add_document's arguments as keys. The iterator is
        consumed in chunks, so memory stays flat however many there are. Nothing is
        written if any document is bad (ValidationError naming its 1-based number).
        A ``ReaderDocument`` (from an import reader) skips the token and span checks.
        """
        return self._insert_documents(docs, lock_labels, number_errors=True)

    def _insert_documents(
        self, docs: Iterable[dict], lock_labels: bool, number_errors: bool
    ) -> int:
        conn = self._conn
        added = 0
        with self._bulk_settings(), self.atomic():
            label_ids = self._label_ids()
            next_id = self._next_document_id()
            numbered = enumerate(docs, start=1)
            token_json = _TokenJson()
            while chunk := list(itertools.islice(numbered, _BULK_CHUNK)):
                stamp = now()
                doc_rows, span_rows = [], []
                for number, doc in chunk:
                    try:
                        if type(doc) is ReaderDocument:
                            row, spans = _reader_document_row(doc, token_json)
                        else:
                            row, spans = _document_row(doc)
                        for start, end, label in spans:
                            label_id = label_ids.get(label)
                            if label_id is None:
                                label_id = label_ids[label] = self._import_label(label, lock_labels)
                            span_rows.append((next_id, start, end, label_id))
                    except ValidationError as error:
                        if number_errors:
                            error.args = (f"Document {number}: {error}",)
                        raise
                    doc_rows.append((next_id, *row, stamp))
                    next_id += 1
                conn.executemany(
                    "INSERT INTO documents (id, text, tokens, split, status, source, meta,"
                    " created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                    doc_rows,
                )
                conn.executemany(
                    'INSERT INTO spans (document_id, "start", "end", label_id, origin)'
                    " VALUES (?, ?, ?, ?, 'human')",
                    span_rows,
                )
                # Fed per chunk, from the rows just written. ASCII text is indexed as it
                # is (search_text returns it unchanged), without a call back into Python.
                ascii_only = all(row[1].isascii() for row in doc_rows)
                conn.execute(
                    "INSERT INTO documents_fts (rowid, text)"
                    f" SELECT id, {'text' if ascii_only else 'spanlab_search_text(text)'}"
                    " FROM documents WHERE id >= ?",
                    [doc_rows[0][0]],
                )
                added += len(doc_rows)
        return added

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

    def _import_label(self, name: Any, lock_labels: bool) -> int:
        """Create a label met in imported spans, unless the label set is locked."""
        if lock_labels:
            raise ValidationError(
                f"Unknown label {_shown(name)}: the label set is locked. Add the label first, "
                "or import without locking labels."
            )
        known = self._label_id(_check_label_name(name))  # "PER " is the label PER
        return known if known is not None else self.add_label(name)["id"]

    def get_document(self, doc_id: int) -> dict:
        """One document: ``{id, text, tokens, split, status, source, meta, created, updated}``."""
        row = self._one(
            "SELECT id, text, tokens, split, status, source, meta, created, updated"
            " FROM documents WHERE id = ?",
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
        _check_text(text)
        with self.atomic():
            old = self.get_document(doc_id)
            new_tokens = _check_tokens(text, tokens) if tokens is not None else tokenize(text)
            moved, invalid = _move_spans(old["text"], text, new_tokens, self.spans(doc_id))
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
                [text, _encode_tokens(text, new_tokens), now(), doc_id],
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
        _check_choice("split", split, SPLITS)
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
        _check_choice("status", status, STATUSES)
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

    # -- listing -------------------------------------------------------------------------

    def list_documents(
        self,
        status: str | None = None,
        split: str | None = None,
        label: str | None = None,
        origin: str | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[dict]:
        """One page of documents in id order: ``{id, preview, split, status, n_spans,
        n_model_spans}`` (n_spans counts human spans, n_model_spans the model's).

        Filters combine: ``label`` keeps documents with a span of that label, ``origin``
        those with a span of that origin, ``search`` is full-text (all words must occur).
        """
        source, where, params, key = self._filter_sql(
            status, split, label, origin, search, page=True
        )
        sql = (
            f"SELECT d.id, substr(d.text, 1, {PREVIEW_CHARS}) AS preview, d.split, d.status,"
            " (SELECT count(*) FROM spans s WHERE s.document_id = d.id"
            "  AND s.origin = 'human') AS n_spans,"
            " (SELECT count(*) FROM spans s WHERE s.document_id = d.id"
            "  AND s.origin = 'model') AS n_model_spans"
            f" FROM {source}{where} ORDER BY {key} LIMIT ? OFFSET ?"
        )
        return self._rows(sql, [*params, max(0, int(limit)), max(0, int(offset))])

    def count_documents(
        self,
        status: str | None = None,
        split: str | None = None,
        label: str | None = None,
        origin: str | None = None,
        search: str | None = None,
    ) -> int:
        """How many documents match the filters (kept apart from list_documents: a count
        over a large project costs more than a page)."""
        source, where, params, _ = self._filter_sql(status, split, label, origin, search)
        return self._scalar(f"SELECT count(*) FROM {source}{where}", params)

    def document_ids(
        self,
        status: str | None = None,
        split: str | None = None,
        label: str | None = None,
        origin: str | None = None,
        search: str | None = None,
    ) -> list[int]:
        """The ids of every document matching the filters, in list order."""
        source, where, params, key = self._filter_sql(status, split, label, origin, search)
        cursor = self._conn.execute(f"SELECT d.id FROM {source}{where} ORDER BY {key}", params)
        return [row[0] for row in cursor]

    def neighbour_document(self, doc_id: int, step: int = 1, **filters: Any) -> int | None:
        """The id ``step`` places after (or, negative, before) ``doc_id`` in the filtered
        list; None past either end. ``doc_id`` itself need not match the filters."""
        if step == 0:
            return doc_id
        source, where, params, key = self._filter_sql(**filters, page=True)
        comparison, order = (">", "ASC") if step > 0 else ("<", "DESC")
        where = f"{where} AND {key} {comparison} ?" if where else f" WHERE {key} {comparison} ?"
        return self._scalar(
            f"SELECT d.id FROM {source}{where} ORDER BY {key} {order} LIMIT 1 OFFSET ?",
            [*params, doc_id, abs(step) - 1],
        )

    def _filter_sql(
        self,
        status: str | None = None,
        split: str | None = None,
        label: str | None = None,
        origin: str | None = None,
        search: str | None = None,
        page: bool = False,
    ) -> tuple[str, str, list[Any], str]:
        """FROM clause, WHERE clause, parameters and the id column to order by.

        ``page`` says the query stops after one page in id order: then a label or
        origin found on many documents is tested per document (EXISTS), which finds a
        page after a few hundred probes; a rare one, and every full count, collects
        the matching ids from the index first (IN), which costs what the matches cost.
        """
        source, key = "documents d", "d.id"
        clauses: list[str] = []
        params: list[Any] = []
        query = _fts_query(search) if search else ""
        if query:
            # The FTS table drives the loop and the order: it yields rowids in order, so
            # a page of a common word stops after ``limit`` rows instead of sorting them all.
            source, key = "documents_fts f CROSS JOIN documents d ON d.id = f.rowid", "f.rowid"
            clauses.append("documents_fts MATCH ?")
            params.append(query)
        if status is not None:
            _check_choice("status", status, STATUSES)
            clauses.append("d.status = ?")
            params.append(status)
        if split is not None:
            _check_choice("split", split, SPLITS)
            clauses.append("d.split = ?")
            params.append(split)
        if label is not None:
            label_id = self._label_id(label) or 0
            if page and self._common("label_id = ?", [label_id]):
                clauses.append(
                    "EXISTS (SELECT 1 FROM spans s WHERE s.label_id = ? AND s.document_id = d.id)"
                )
            else:
                clauses.append("d.id IN (SELECT document_id FROM spans WHERE label_id = ?)")
            params.append(label_id)
        if origin is not None:
            _check_choice("origin", origin, ORIGINS)
            if origin == "human" or (page and self._common("origin = 'model'", [])):
                clauses.append(
                    "EXISTS (SELECT 1 FROM spans s WHERE s.document_id = d.id AND s.origin = ?)"
                )
            else:
                clauses.append("d.id IN (SELECT document_id FROM spans WHERE origin = ?)")
            params.append(origin)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return source, where, params, key

    def _common(self, condition: str, params: list[Any]) -> bool:
        """Whether at least _COMMON_SPANS spans meet ``condition`` (an indexed probe)."""
        sql = f"SELECT count(*) FROM (SELECT 1 FROM spans WHERE {condition} LIMIT {_COMMON_SPANS})"
        return self._scalar(sql, params) >= _COMMON_SPANS

    # -- statistics and splits ---------------------------------------------------------

    def stats(self) -> dict:
        """Documents, annotated documents and human entities per label, per split.

        Counted from indexes: totals from whole-index scans, the smaller splits one by
        one, and the largest split as the totals less the others, so its documents and
        spans are never visited one by one. Right after an import, with every document
        in one split, that is three index scans: 0.25 s for a million documents and
        2.4 million spans, where joining every span to its document took 2.5 s.
        """
        conn = self._conn
        labels = self.labels()
        names = {lb["id"]: lb["name"] for lb in labels}
        splits = {
            split: {"documents": 0, "annotated": 0, "entities": {lb["name"]: 0 for lb in labels}}
            for split in SPLITS
        }
        for split, n in conn.execute("SELECT split, count(*) FROM documents GROUP BY split"):
            splits[split]["documents"] = n
        annotated = self._scalar("SELECT count(*) FROM documents WHERE status = 'annotated'")
        # Human spans per label: all spans (a scan of spans_label) less the few model
        # spans (through their partial index, which the planner would not pick itself).
        human = dict.fromkeys(names, 0)
        for label_id, n in conn.execute("SELECT label_id, count(*) FROM spans GROUP BY label_id"):
            human[label_id] += n
        for label_id, n in conn.execute(
            "SELECT label_id, count(*) FROM spans INDEXED BY spans_model"
            " WHERE origin = 'model' GROUP BY label_id"
        ):
            human[label_id] -= n
        largest = max(SPLITS, key=lambda split: splits[split]["documents"])
        for split in SPLITS:
            entry = splits[split]
            if split == largest or not entry["documents"]:
                continue
            entry["annotated"] = self._scalar(
                "SELECT count(*) FROM documents WHERE split = ? AND status = 'annotated'",
                [split],
            )
            annotated -= entry["annotated"]
            # Documents first (CROSS JOIN fixes the order): the split's ids from
            # documents_split, then each one's spans from the covering spans_document.
            for label_id, n in conn.execute(
                "SELECT s.label_id, count(*) FROM documents d"
                " CROSS JOIN spans s ON s.document_id = d.id"
                " WHERE d.split = ? AND s.origin = 'human' GROUP BY s.label_id",
                [split],
            ):
                entry["entities"][names[label_id]] = n
                human[label_id] -= n
        splits[largest]["annotated"] = annotated
        for label_id, n in human.items():
            splits[largest]["entities"][names[label_id]] = n
        total = sum(entry["documents"] for entry in splits.values())
        return {"splits": splits, "labels": labels, "documents": total}

    def assign_splits(
        self,
        train: float = 0.8,
        dev: float = 0.1,
        test: float = 0.1,
        seed: int = 13,
        only_unassigned: bool = True,
    ) -> dict[str, int]:
        """Shuffle documents (reproducibly, by ``seed``) into train/dev/test by ratio.

        Only unassigned documents move unless ``only_unassigned`` is False. Returns
        how many went to each split.
        """
        ratios = {"train": train, "dev": dev, "test": test}
        if any(r < 0 for r in ratios.values()) or sum(ratios.values()) <= 0:
            raise ValidationError("Split ratios must be zero or more, and not all zero.")
        with self.atomic():
            where = " WHERE split = 'unassigned'" if only_unassigned else ""
            ids = [r[0] for r in self._conn.execute(f"SELECT id FROM documents{where} ORDER BY id")]
            random.Random(seed).shuffle(ids)
            counts = _split_counts(len(ids), ratios)
            stamp = now()
            position = 0
            for split, n in counts.items():
                self._conn.executemany(
                    "UPDATE documents SET split = ?, updated = ? WHERE id = ?",
                    [(split, stamp, doc_id) for doc_id in ids[position : position + n]],
                )
                position += n
        return counts

    # -- spans -------------------------------------------------------------------------

    _SPAN_SELECT = (
        'SELECT s.id, s.document_id, s."start", s."end", l.name AS label, s.origin, s.score'
        " FROM spans s JOIN labels l ON l.id = s.label_id"
    )

    def spans(self, doc_id: int, origin: str | None = None) -> list[dict]:
        """A document's spans sorted by start: ``{id, document_id, start, end, label,
        origin, score}``."""
        if origin is None:
            return self._rows(
                f'{self._SPAN_SELECT} WHERE s.document_id = ? ORDER BY s."start", s.id', [doc_id]
            )
        _check_choice("origin", origin, ORIGINS)
        return self._rows(
            f'{self._SPAN_SELECT} WHERE s.document_id = ? AND s.origin = ? ORDER BY s."start", s.id',
            [doc_id, origin],
        )

    def get_span(self, span_id: int) -> dict:
        """One span by id (NotFoundError when there is none)."""
        row = self._one(f"{self._SPAN_SELECT} WHERE s.id = ?", [span_id])
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
        _check_choice("origin", origin, ORIGINS)
        with self.atomic():
            label_id = self.get_label(label)["id"]
            tokens = self._tokens(doc_id)
            start, end = _align(tokens, start, end, label, snap)
            _check_no_overlap((start, end, label), self.spans(doc_id))
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
        _check_choice("origin", origin, ORIGINS)
        with self.atomic():
            label_id = self.get_label(row["label"])["id"]
            tokens = self._tokens(row["document_id"])
            _align(tokens, row["start"], row["end"], row["label"], False)
            others = [s for s in self.spans(row["document_id"]) if s["id"] != row["id"]]
            _check_no_overlap((row["start"], row["end"], row["label"]), others)
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
        _check_choice("origin", origin, ORIGINS)
        with self.atomic():
            tokens = self._tokens(doc_id)
            label_ids = self._label_ids()
            rows, checked = [], []
            for start, end, label, score in (_span_tuple(span) for span in spans):
                if label not in label_ids:
                    raise NotFoundError(f"There is no label {label!r}. Add it first.")
                start, end = _align(tokens, start, end, label, False)
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
            predictions = sorted((_span_tuple(e) for e in entities), key=lambda p: p[:2])
            for start, end, label, score in predictions:
                if label not in label_ids:
                    continue
                try:
                    start, end = _align(tokens, start, end, label, True)
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

    def _tokens(self, doc_id: int) -> list[list[int]]:
        tokens = self._scalar("SELECT tokens FROM documents WHERE id = ?", [doc_id])
        if tokens is None:
            raise NotFoundError(f"There is no document {doc_id}.")
        return json.loads(tokens)

    # -- training data -------------------------------------------------------------------

    def examples(self, split: str | None = None) -> list[dict]:
        """Annotated documents with their human spans, as plain data for training:
        ``{id, text, tokens, split, spans: [(start, end, label), ...]}``."""
        params: list[Any] = []
        where = "d.status = 'annotated'"
        if split is not None:
            _check_choice("split", split, SPLITS)
            where += " AND d.split = ?"
            params.append(split)
        examples: dict[int, dict] = {}
        for doc_id, text, tokens, doc_split in self._conn.execute(
            f"SELECT d.id, d.text, d.tokens, d.split FROM documents d WHERE {where} ORDER BY d.id",
            params,
        ):
            examples[doc_id] = {
                "id": doc_id,
                "text": text,
                "tokens": json.loads(tokens),
                "split": doc_split,
                "spans": [],
            }
        for doc_id, start, end, label in self._conn.execute(
            'SELECT s.document_id, s."start", s."end", l.name FROM spans s'
            " JOIN labels l ON l.id = s.label_id JOIN documents d ON d.id = s.document_id"
            f" WHERE s.origin = 'human' AND {where} ORDER BY s.document_id, s.\"start\"",
            params,
        ):
            examples[doc_id]["spans"].append((start, end, label))
        return list(examples.values())

    # -- training runs -------------------------------------------------------------------

    def create_run(self, config: dict, base_model: str, status: str = "queued") -> int:
        """Record a new training run; returns its id."""
        _check_choice("run status", status, RUN_STATUSES)
        with self.atomic():
            cursor = self._conn.execute(
                "INSERT INTO runs (config, status, created, base_model, owner)"
                " VALUES (?, ?, ?, ?, ?)",
                [_json(config), status, now(), base_model, run_owner.this_process()],
            )
            return cursor.lastrowid

    def update_run(self, run_id: int, **fields: Any) -> dict:
        """Set some of a run's fields: status, started, finished, output_dir, metrics
        (a dict), error, base_model. Timestamps may be datetimes or ISO strings."""
        unknown = set(fields) - set(_RUN_FIELDS)
        if unknown:
            raise TypeError(f"update_run() got unknown fields: {', '.join(sorted(unknown))}")
        if "status" in fields:
            _check_choice("run status", fields["status"], RUN_STATUSES)
        values = {key: _run_value(key, value) for key, value in fields.items()}
        if fields.get("status") == "running":  # whoever starts it is the one running it
            values["owner"] = run_owner.this_process()
        with self.atomic():
            self.get_run(run_id)
            if values:
                assignments = ", ".join(f"{key} = ?" for key in values)
                self._conn.execute(
                    f"UPDATE runs SET {assignments} WHERE id = ?", [*values.values(), run_id]
                )
            return self.get_run(run_id)

    def add_run_events(self, run_id: int, events: Iterable[dict]) -> int:
        """Append events to a run's log. Known keys (kind, step, epoch, loss, lr,
        throughput, time) become columns; ``data`` and any other keys are kept as JSON."""
        with self.atomic():
            self.get_run(run_id)
            rows = [_event_row(run_id, event) for event in events]
            self._conn.executemany(
                "INSERT INTO run_events (run_id, time, kind, step, epoch, loss, lr, throughput,"
                " data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return len(rows)

    def runs(self) -> list[dict]:
        """Every run, newest first."""
        return [self._run_view(row) for row in self._rows("SELECT * FROM runs ORDER BY id DESC")]

    def get_run(self, run_id: int) -> dict:
        """One run (NotFoundError when there is none)."""
        row = self._one("SELECT * FROM runs WHERE id = ?", [run_id])
        if row is None:
            raise NotFoundError(f"There is no training run {run_id}.")
        return self._run_view(row)

    def _run_view(self, row: dict) -> dict:
        """A run as a dict; one whose process is gone shows as it will be recorded.

        A project opened for writing has already recorded that on open; a read-only
        one (``spanlab runs`` beside a writer) only shows it.
        """
        fields = run_owner.interrupted_fields(row, self.models_dir)
        if fields is not None:
            row = {**row, **{key: _run_value(key, value) for key, value in fields.items()}}
        return _run_dict(row)

    def run_events(self, run_id: int) -> list[dict]:
        """A run's events in the order they were added."""
        self.get_run(run_id)
        rows = self._rows(
            "SELECT id, run_id, time, kind, step, epoch, loss, lr, throughput, data"
            " FROM run_events WHERE run_id = ? ORDER BY id",
            [run_id],
        )
        for row in rows:
            row["data"] = json.loads(row["data"]) if row["data"] else {}
        return rows

    def latest_run(self, status: str | None = "done") -> dict | None:
        """The newest run with this status (any status when None), or None."""
        if status is None:
            row = self._one("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
        else:
            _check_choice("run status", status, RUN_STATUSES)
            row = self._one(
                "SELECT * FROM runs WHERE status = ? ORDER BY id DESC LIMIT 1", [status]
            )
        return self._run_view(row) if row else None

    def delete_run(self, run_id: int) -> None:
        """Forget a run and its events (its model folder on disk is left alone)."""
        with self.atomic():
            self.get_run(run_id)
            self._conn.execute("DELETE FROM runs WHERE id = ?", [run_id])


def _busy_error(path: Path, error: Exception) -> ProjectBusyError:
    return ProjectBusyError(
        f"The project {path.name} is busy: another window or process (an import, or a "
        f"training run) is writing to it ({error}). Try again when it has finished."
    )


# -- checks on values ----------------------------------------------------------------------


def _check_choice(what: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValidationError(f"Unknown {what} {value!r}; use one of: {', '.join(allowed)}.")


def _check_label_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("A label needs a name.")
    name = name.strip()
    if " " in name or not name.isprintable():  # a space, a control, an invisible character
        pieces = "".join(ch if _visible(ch) else " " for ch in name).split()
        bad = next(ch for ch in name if not _visible(ch))
        tries = " or ".join(dict.fromkeys(_shown(s) for s in ("_".join(pieces), "".join(pieces))))
        raise ValidationError(
            f"Label names cannot contain spaces or invisible characters: {_shown(name)} "
            f"contains {_char_name(bad)}; try {tries}."
        )
    if name == "O":
        raise ValidationError("'O' means 'outside any entity' in tags; choose another label name.")
    if len(name) > MAX_LABEL_CHARS:
        raise ValidationError(
            f"The label name {_shown(name, 40)} is too long: a label is an entity type such "
            f"as PER or ORG, at most {MAX_LABEL_CHARS} characters."
        )
    return name


def _check_colour(colour: Any) -> str:
    text = str(colour).strip().lower()
    valid = len(text) == 7 and text[0] == "#" and all(c in "0123456789abcdef" for c in text[1:])
    if not valid:
        raise ValidationError(f"A colour is written #rrggbb, for example #8dd3c7 (got {colour!r}).")
    return text


def _visible(ch: str) -> bool:
    return ch != " " and ch.isprintable()


def _char_name(ch: str) -> str:
    """``a no-break space (U+00A0)``: an invisible character, named so a person can find it."""
    name = _CONTROL_NAMES.get(ch) or unicodedata.name(ch, "").lower() or "an invisible character"
    article = "an" if name[0] in "aeiou" else "a"
    return f"{article} {name} (U+{ord(ch):04X})"


_CONTROL_NAMES = {
    "\t": "tab",
    "\n": "line break",
    "\r": "carriage return",
    "\v": "vertical tab",
    "\f": "form feed",
    "\x85": "next-line character",
    **{chr(c): "information separator" for c in range(0x1C, 0x20)},
}


def _shown(name: Any, limit: int = 100) -> str:
    """``repr`` of a name for a message, cut to ``limit`` characters (imports can be huge)."""
    if isinstance(name, str) and len(name) > limit:
        return f"{name[:limit]!r}… ({len(name):,} characters)"
    text = repr(name)
    return text if len(text) <= limit + 20 else text[:limit] + "…"


def _free_colour(used: dict[str, int]) -> str:
    """The first palette colour unlike every colour in use (custom ones too: a label
    coloured #f4a259 rules out the palette's oranges); else the unused palette colour
    least like them; once all are used, the one fewest labels have, so colours repeat
    evenly.

    ``used`` maps each colour in use to how many labels have it.
    """
    used_lab = [_lab(colour) for colour in used]

    def nearest(colour: str) -> float:
        lab = _lab(colour)
        return min((_distance(lab, other) for other in used_lab), default=float("inf"))

    unused = [colour for colour in PALETTE if colour not in used]
    for colour in unused:
        if nearest(colour) >= DISTINCT_COLOURS:
            return colour
    if unused:
        return max(unused, key=nearest)
    return min(PALETTE, key=lambda colour: used.get(colour, 0))


@functools.lru_cache(maxsize=256)
def _lab(colour: str) -> tuple[float, float, float]:
    """CIELAB (D65) coordinates of ``#rrggbb``: distances there follow what eyes see."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16) / 255) for i in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _distance(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    return sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) ** 0.5


def _check_text(text: Any) -> None:
    if not isinstance(text, str):
        raise ValidationError(f"A document's text must be a string, not {type(text).__name__}.")
    if not text:
        raise ValidationError("A document cannot be empty.")


def _check_tokens(text: str, tokens: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Tokens as (start, end) pairs, checked to be in order, non-empty and inside the text."""
    checked = []
    previous_end = 0
    for token in tokens:
        try:
            start, end = token
        except (TypeError, ValueError):
            raise ValidationError(f"A token is a [start, end] pair (got {token!r}).") from None
        if not (isinstance(start, int) and isinstance(end, int)):
            raise ValidationError(f"Token offsets must be whole numbers (got {token!r}).")
        if start < previous_end or end <= start or end > len(text):
            raise ValidationError(
                f"Token {[start, end]} is out of order, empty or past the end of the text "
                f"({len(text)} characters)."
            )
        checked.append((start, end))
        previous_end = end
    return checked


def _span_tuple(span: SpanLike) -> tuple[int, int, str, float | None]:
    """(start, end, label, score) from a span tuple or dict."""
    if isinstance(span, dict):
        try:
            return span["start"], span["end"], span["label"], span.get("score")
        except KeyError as error:
            raise ValidationError(f"A span needs start, end and label (missing {error}).") from None
    try:
        start, end, label, *rest = span
    except (TypeError, ValueError):
        raise ValidationError(f"A span is (start, end, label) (got {span!r}).") from None
    return start, end, label, (rest[0] if rest else None)


def _align(
    tokens: Sequence[Sequence[int]], start: int, end: int, label: str, snap: bool
) -> tuple[int, int]:
    """Check that a span starts and ends on token edges; with ``snap``, grow it to them."""
    if type(start) is not int or type(end) is not int or start < 0 or end <= start:
        raise ValidationError(
            f"Span {(start, end, label)} has bad offsets: they must be whole numbers with "
            "0 <= start < end."
        )
    span = (start, end, label)
    if snap:
        return snap_span(tokens, span)[:2]
    if align_spans(tokens, [span])[1]:
        try:
            hint = f"the enclosing words are {snap_span(tokens, span)[:2]}"
        except SpanAlignmentError:
            hint = "it covers no word"
        raise SpanAlignmentError(
            f"Span {span} does not start and end on word boundaries ({hint}). Select "
            "whole words, or snap the span to them.",
            spans=[span],
        )
    return start, end


def _check_no_overlap(span: tuple[int, int, str], others: list[dict]) -> None:
    start, end, label = span
    for other in others:
        if start < other["end"] and other["start"] < end:
            raise OverlapError(
                f"Span {(start, end, label)} overlaps the {other['origin']} span "
                f"{(other['start'], other['end'], other['label'])}; a word can have only one "
                "label. Remove that span first."
            )


def _split_and_status(doc: dict) -> tuple[str, str]:
    """An incoming document's split and status, defaulted and checked."""
    split = doc.get("split") or "unassigned"
    if split not in _SPLIT_SET:
        _check_choice("split", split, SPLITS)
    status = doc.get("status") or "new"
    if status not in _STATUS_SET:
        _check_choice("status", status, STATUSES)
    return split, status


def _document_row(doc: dict) -> tuple[tuple, Sequence[tuple[int, int, str]]]:
    """Check one incoming document; return its column values and its spans.

    This runs once per imported sentence, so the common case is kept to plain loops
    and set lookups; the slower checks only run to explain what is wrong.
    """
    if not isinstance(doc, dict):
        raise ValidationError(f"A document is a dict with a 'text' key, not {type(doc).__name__}.")
    text = doc.get("text")
    if type(text) is not str or not text:
        _check_text(text)
    tokens = doc.get("tokens")
    if tokens is None:
        tokens = tokenize(text)
    tokens_json = _encode_tokens(text, tokens)
    split, status = _split_and_status(doc)
    spans = doc.get("spans")
    checked = _check_document_spans(tokens, spans) if spans else ()
    meta = doc.get("meta")
    row = (text, tokens_json, split, status, doc.get("source") or "", _json(meta) if meta else None)
    return row, checked


def _reader_document_row(
    doc: ReaderDocument, token_json: _TokenJson
) -> tuple[tuple, Sequence[tuple[int, int, str]]]:
    """``_document_row`` for a reader's document: tokens and spans are not re-checked."""
    text = doc["text"]
    if type(text) is not str or not text:
        _check_text(text)
    split, status = _split_and_status(doc)
    meta = doc.get("meta")
    tokens_json = "[" + ",".join(map(token_json.__getitem__, doc["tokens"])) + "]"
    row = (text, tokens_json, split, status, doc.get("source") or "", _json(meta) if meta else None)
    return row, doc["spans"]


class _TokenJson(dict):
    """``(start, end)`` -> ``"[start,end]"``, remembered: one import meets the same few
    thousand offsets again and again, and formatting each one was a sixth of its time."""

    __slots__ = ()

    def __missing__(self, token: tuple[int, int]) -> str:
        if len(self) > 100_000:  # long documents: keep the memory bounded
            self.clear()
        text = self[token] = f"[{token[0]},{token[1]}]"
        return text


def _encode_tokens(text: str, tokens: Sequence[Sequence[int]]) -> str:
    """Tokens as compact JSON, checked on the way: in order, non-empty, inside the text."""
    parts = []
    previous_end = 0
    try:
        for start, end in tokens:
            if (
                type(start) is not int
                or type(end) is not int
                or start < previous_end
                or end <= start
            ):
                break
            parts.append(f"[{start},{end}]")
            previous_end = end
        else:
            if previous_end <= len(text):
                return "[" + ",".join(parts) + "]"
    except (TypeError, ValueError):
        pass
    _check_tokens(text, tokens)  # raises with the details
    raise AssertionError("unreachable")


def _check_document_spans(
    tokens: Sequence[Sequence[int]], spans: Iterable[SpanLike]
) -> list[tuple[int, int, str]]:
    """Spans of an incoming document as (start, end, label), checked against its tokens.

    The same rules as ``core.tagging.align_spans`` and ``check_overlaps``, inlined for
    imports (a million documents); those functions explain anything that fails.
    """
    starts = {t[0] for t in tokens}
    ends = {t[1] for t in tokens}
    checked = []
    for span in spans:
        if type(span) is tuple and len(span) == 3:
            start, end, label = span
        else:
            start, end, label, _ = _span_tuple(span)
        if start not in starts or end not in ends or end <= start:
            _align(tokens, start, end, label, False)  # raises with the details
        checked.append((start, end, label))
    if len(checked) > 1:
        checked.sort()
        if any(b[0] < a[1] for a, b in itertools.pairwise(checked)):
            check_overlaps(checked)  # raises with the details
    return checked


def _move_spans(
    old_text: str, new_text: str, tokens: Sequence[Sequence[int]], spans: list[dict]
) -> tuple[list[dict], list[dict]]:
    """Carry spans across a text edit: those after the changed stretch shift with it.

    Returns (moved spans with new offsets, spans that no longer fit).
    """
    prefix = 0
    limit = min(len(old_text), len(new_text))
    while prefix < limit and old_text[prefix] == new_text[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old_text[-1 - suffix] == new_text[-1 - suffix]:
        suffix += 1
    old_end = len(old_text) - suffix
    delta = len(new_text) - len(old_text)
    starts = {t[0] for t in tokens}
    ends = {t[1] for t in tokens}
    moved, invalid = [], []
    for span in spans:
        start, end = span["start"], span["end"]
        new_start = start if start < prefix else start + delta if start >= old_end else None
        new_end = end if end <= prefix else end + delta if end >= old_end else None
        fits = (
            new_start is not None
            and new_end is not None
            and new_start < new_end
            and new_start in starts
            and new_end in ends
        )
        if not fits:
            invalid.append(span)
        elif (new_start, new_end) != (start, end):
            moved.append({**span, "start": new_start, "end": new_end})
    return moved, invalid


def _split_counts(n: int, ratios: dict[str, float]) -> dict[str, int]:
    """Whole numbers of documents per split, in proportion, adding up to ``n``."""
    total = sum(ratios.values())
    counts = {split: int(n * ratio / total) for split, ratio in ratios.items()}
    # Hand out what rounding down left over, largest remainder first.
    remainders = sorted(ratios, key=lambda s: n * ratios[s] / total - counts[s], reverse=True)
    for split in remainders[: n - sum(counts.values())]:
        counts[split] += 1
    return counts


# -- runs ------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    """Make numpy / torch scalars and paths JSON-friendly."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (Path, datetime)):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot be stored as JSON")


def _json(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _run_value(key: str, value: Any) -> Any:
    if key == "metrics":
        return None if value is None else _json(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    if isinstance(value, Path):
        return str(value)
    return value


def _run_dict(row: dict) -> dict:
    row["config"] = json.loads(row["config"]) if row["config"] else {}
    row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else None
    return row


def _event_row(run_id: int, event: dict) -> tuple:
    if not event.get("kind"):
        raise ValidationError(f"A run event needs a kind (got {event!r}).")
    data = dict(event.get("data") or {})
    for key, value in event.items():
        if key not in (*_EVENT_FIELDS, "data", "time"):
            data[key] = value
    time = event.get("time") or now()
    if isinstance(time, datetime):
        time = time.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return (
        run_id,
        time,
        event["kind"],
        *(_plain_number(event.get(key)) for key in _EVENT_FIELDS[1:]),
        _json(data) if data else None,
    )


def _plain_number(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _fts_query(search: str) -> str:
    """A safe FTS5 query from what a person typed: every word must occur, in any order.

    Each word is quoted, so punctuation and FTS operators in the input are just text.
    """
    phrases = (" ".join(migrations.search_text(word).split()) for word in search.split())
    return " ".join('"' + phrase.replace('"', '""') + '"' for phrase in phrases)
