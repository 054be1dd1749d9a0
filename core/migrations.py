"""The project file's schema, as an ordered list of forward migrations.

Migration ``n`` (1-based) takes a project from schema version ``n - 1`` to ``n``; the
version lives in ``PRAGMA user_version`` and the file is marked as a Spanlab project by
``PRAGMA application_id``. A migration never changes once it has shipped: a new schema
is a new function appended to ``MIGRATIONS``. The DDL is spelled out rather than built
by sqlite-utils so that a new sqlite-utils can never change what an old migration did.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

from sqlite_utils import Database

from core.scripts import CJK_CLASS, HANGUL_JAMO_CLASS

#: ``PRAGMA application_id`` of every Spanlab project ("Span" in ASCII).
APPLICATION_ID = 0x5370616E

# Every character the tokenizer makes a token of its own, and conjoining jamo: the
# full-text index sees each as a word of its own, because these scripts do not put
# spaces between words (core.scripts says which they are).
_CJK = re.compile(f"([{CJK_CLASS}{HANGUL_JAMO_CLASS}])")


def search_text(text: str) -> str:
    """The text the full-text index holds for a document: CJK characters spaced apart.

    The index is contentless, so deleting a row means repeating exactly what was
    indexed: this function is part of the schema and must not change without a
    migration that rebuilds ``documents_fts`` (as ``m004_search_text_ranges`` did).
    """
    if text.isascii():
        return text
    return _CJK.sub(r" \1 ", text)


def m001_create_tables(db: Database) -> None:
    """Labels, documents, spans, runs and run events, with the indexes the lists use.

    The CHECKs on hot columns are written with OR: SQLite evaluates ``x IN (...)``
    through a temporary index on every row, which made bulk imports three times slower.
    """
    db.executescript(
        """
        CREATE TABLE labels (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            colour TEXT NOT NULL,
            shortcut TEXT UNIQUE,
            position INTEGER NOT NULL
        );
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            text TEXT NOT NULL,
            tokens TEXT NOT NULL,
            split TEXT NOT NULL DEFAULT 'unassigned'
                CHECK (split = 'train' OR split = 'dev' OR split = 'test' OR split = 'unassigned'),
            status TEXT NOT NULL DEFAULT 'new'
                CHECK (status = 'new' OR status = 'annotated' OR status = 'skipped'),
            source TEXT NOT NULL DEFAULT '',
            meta TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE INDEX documents_split ON documents (split, id);
        CREATE INDEX documents_status ON documents (status, id);
        -- Span ids may be reused after the newest span is deleted: AUTOINCREMENT cost a
        -- fifth of a bulk import, and restore_span copes with a reused id.
        CREATE TABLE spans (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            "start" INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            label_id INTEGER NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
            origin TEXT NOT NULL DEFAULT 'human' CHECK (origin = 'human' OR origin = 'model'),
            score REAL,
            CHECK ("start" >= 0 AND "end" > "start")
        );
        -- Covering for per-document counts and stats; (label, document) for the
        -- has-label filter; model spans are few, so their index is partial (and an
        -- import of human spans never touches it).
        CREATE INDEX spans_document ON spans (document_id, origin, label_id);
        CREATE INDEX spans_label ON spans (label_id, document_id);
        CREATE INDEX spans_model ON spans (document_id) WHERE origin = 'model';
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            config TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
            created TEXT NOT NULL,
            started TEXT,
            finished TEXT,
            base_model TEXT NOT NULL,
            output_dir TEXT,
            metrics TEXT,
            error TEXT
        );
        CREATE INDEX runs_status ON runs (status, id);
        CREATE TABLE run_events (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            time TEXT NOT NULL,
            kind TEXT NOT NULL,
            step INTEGER,
            epoch REAL,
            loss REAL,
            lr REAL,
            throughput REAL,
            data TEXT
        );
        CREATE INDEX run_events_run ON run_events (run_id, id);
        """
    )


def m002_full_text_search(db: Database) -> None:
    """A contentless FTS5 index over documents.text, kept in step by the store's writes.

    Contentless (rather than triggers on an external-content table) so that CJK text
    can be indexed one character per word, and so a bulk import can feed the index
    in the same pass that inserts the rows.
    """
    db.execute("CREATE VIRTUAL TABLE documents_fts USING fts5 (text, content='')")
    rows = db.conn.execute("SELECT id, text FROM documents")
    db.conn.executemany(
        "INSERT INTO documents_fts (rowid, text) VALUES (?, ?)",
        ((doc_id, search_text(text)) for doc_id, text in rows),
    )


def m003_run_owner(db: Database) -> None:
    """Which process runs a run (JSON: host, pid, process start time).

    So that a run whose process was killed is not shown as running forever: the next
    open sees the process gone and closes the run. NULL for runs recorded before.
    """
    db.execute("ALTER TABLE runs ADD COLUMN owner TEXT")


def m004_search_text_ranges(db: Database) -> None:
    """Rebuild the full-text index with the CJK ranges of the tokenizer.

    Before this, ``search_text`` spaced apart a shorter list of CJK ranges than the
    tokenizer makes one-character tokens of: CJK punctuation, Kanbun, enclosed CJK,
    half-width forms, the kana supplements (hentaigana) and the newest Han extensions
    were indexed as parts of longer words, so a search for one such character found
    nothing. Both now read ``core.scripts``. The index is contentless, so a row can
    only be deleted by repeating what was indexed: every row is indexed again with the
    new ``search_text``.
    """
    db.execute("DROP TABLE documents_fts")
    db.execute("CREATE VIRTUAL TABLE documents_fts USING fts5 (text, content='')")
    rows = db.conn.execute("SELECT id, text FROM documents")
    db.conn.executemany(
        "INSERT INTO documents_fts (rowid, text) VALUES (?, ?)",
        ((doc_id, search_text(text)) for doc_id, text in rows),
    )


def m005_document_groups_and_settings(db: Database) -> None:
    """Documents remember the group they came in; a table of per-project settings.

    News, clinical notes and contracts arrive as documents cut into sentences, and the
    neighbouring sentences carry evidence a model can read as context. ``group_key``
    names the group (a CoNLL ``-DOCSTART-`` section, the sentences of one source
    document); NULL is a document of its own. Within a group, documents follow their
    ids, the order they were imported in.

    ``settings`` holds choices that belong to a project rather than to a run, such as
    which word tokenizer new text gets. A project that existed before this migration
    keeps the tokenizer its stored tokens were made with.
    """
    db.executescript(
        """
        ALTER TABLE documents ADD COLUMN group_key TEXT;
        CREATE INDEX documents_group ON documents (group_key, id) WHERE group_key IS NOT NULL;
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """
    )
    if db.conn.execute("SELECT count(*) FROM documents").fetchone()[0]:
        db.conn.execute("INSERT INTO settings (key, value) VALUES ('tokenizer', 'basic')")


def m006_scores(db: Database) -> None:
    """Each ``new`` document's usefulness score per strategy, and its place in the order.

    Scoring a large pool takes minutes, so the scores are kept: reopening a project keeps
    its "most useful first" order, and only documents whose text or model changed are
    scored again. ``model_key`` names the model that scored ("run-7", or a model folder
    with its modification time); ``text_hash`` the text and tokens it read. ``rank`` is
    the document's place in the order, with the diversity rules applied (so the order
    is one indexed read, not a sort of every score).
    """
    db.executescript(
        """
        CREATE TABLE scores (
            document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            strategy TEXT NOT NULL,
            run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
            model_key TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            score REAL NOT NULL,
            rank INTEGER,
            PRIMARY KEY (document_id, strategy)
        );
        CREATE INDEX scores_rank ON scores (strategy, rank);
        """
    )


def m007_run_study(db: Database) -> None:
    """The study and trial number of a run that a hyper-parameter search made.

    A search's trials are ordinary runs; ``study`` names the Optuna study (its storage
    holds the rest) and ``trial`` the trial's number in it. A run trained with a study's
    best settings carries the study and no trial. NULL for every other run.
    """
    db.executescript(
        """
        ALTER TABLE runs ADD COLUMN study TEXT;
        ALTER TABLE runs ADD COLUMN trial INTEGER;
        CREATE INDEX runs_study ON runs (study, trial) WHERE study IS NOT NULL;
        """
    )


def m008_reviews(db: Database) -> None:
    """The likely annotation mistakes a person looked at and kept as annotated.

    A review (``core.insight.review``) hides them from later reviews. ``key`` is the
    suspect's identity as text (its kind, the annotated span and the suggestion, see
    ``core.insight.suspects.suspect_key``): once the annotation or the suggestion is
    different, it is another suspect. Deleting a document deletes its rows.
    """
    db.executescript(
        """
        CREATE TABLE reviews (
            document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            kind TEXT NOT NULL,
            reviewed_at TEXT NOT NULL,
            PRIMARY KEY (document_id, key)
        );
        """
    )


#: Applied in order; ``MIGRATIONS[n - 1]`` brings a project to schema version ``n``.
MIGRATIONS: list[Callable[[Database], None]] = [
    m001_create_tables,
    m002_full_text_search,
    m003_run_owner,
    m004_search_text_ranges,
    m005_document_groups_and_settings,
    m006_scores,
    m007_run_study,
    m008_reviews,
]

#: The schema version this code writes.
LATEST = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The file's schema version (``PRAGMA user_version``)."""
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: Database) -> int:
    """Apply the pending migrations, each in its own transaction; return the new version.

    The caller has checked that the file is a Spanlab project no newer than ``LATEST``.
    ``BEGIN IMMEDIATE`` takes the write lock before the version is read, so two
    processes opening one old project cannot both migrate it.
    """
    conn = db.conn
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(conn)
            if version >= LATEST:
                conn.execute("COMMIT")
                return version
            MIGRATIONS[version](db)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
