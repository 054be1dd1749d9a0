"""Opening a project file safely: connections, checks, integrity and backups.

Only SQLite ever touches a project file while this process may hold a connection to
it. On POSIX, closing *any* descriptor of a file drops every ``fcntl`` lock the process
holds on it, and SQLite's WAL rests on those locks: a plain ``open()`` + ``close()`` of
the file (to read its header, say) lets another process believe it is the last
connection and delete the WAL this process is still writing into ("How To Corrupt An
SQLite Database File", §2.2). So the header is read through SQLite, whose own
connections share one descriptor per file and never drop each other's locks.

Reading never takes the write lock: a read-only connection is ``mode=ro`` and runs no
migration, so ``spanlab stats`` works while an import holds the write lock.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from core import migrations, scratch
from core.errors import ProjectDamagedError, ProjectFileError

BUSY_TIMEOUT_S = 5.0
CORE_TABLES = frozenset({"labels", "documents", "spans", "runs", "run_events"})
#: How many problems ``PRAGMA quick_check`` reports at most (the first is what we show).
_CHECK_ROWS = 5


def check_path(path: Path) -> None:
    """Refuse a missing path or a folder before SQLite sees it (``stat`` only, no ``open``)."""
    if not path.exists():
        raise ProjectFileError(f"There is no project at {path}.")
    if not path.is_file():
        raise ProjectFileError(f"{path} is a folder or a device, not a Spanlab project file.")


def check_writable(path: Path) -> None:
    """Refuse, before any write, a project that the file system will not let us change."""
    if not os.access(path, os.W_OK):
        raise ProjectFileError(
            f"{path} is read-only (file permissions). It can still be read (spanlab stats, "
            f"export, evaluate); to change it, make it writable (chmod u+w '{path}') or "
            "copy it to a folder you can write to."
        )
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ProjectFileError(
            f"The folder {folder} is read-only, and SQLite keeps its write-ahead log "
            f"beside the project there. {path.name} can still be read; to change it, copy "
            "it to a folder you can write to."
        )


def connect(path: Path, readonly: bool = False, create: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (``atomic()`` opens every transaction itself).

    Never creates the file: ``mode=rw`` opens an existing file for writing, ``mode=ro``
    for reading. A read-only open of a project in a folder we cannot write to (where
    SQLite cannot create its ``-shm`` file) falls back to ``immutable=1``: nothing can
    be writing it, since no writer could create the write-ahead log there either.
    """
    mode = "ro" if readonly else "rwc" if create else "rw"
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    try:
        conn = _connect_uri(uri)
        if readonly:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError as error:
        folder_locked = not os.access(path.parent, os.W_OK)
        if readonly and folder_locked and not Path(f"{path}-wal").exists():
            conn = _connect_uri(uri + "&immutable=1")
        elif isinstance(error, sqlite3.DatabaseError) and "not a database" in str(error):
            raise _not_project(path) from error
        else:
            raise ProjectFileError(f"Cannot open {path}: {error}.") from error
    except sqlite3.DatabaseError as error:
        if "malformed" in str(error):
            raise damaged(path, str(error)) from error
        raise _not_project(path, error) from error
    return conn


def _connect_uri(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.create_function("spanlab_search_text", 1, migrations.search_text, deterministic=True)
    return conn


def check_schema(conn: sqlite3.Connection, path: Path) -> int:
    """The project's schema version; ProjectFileError when it is not a Spanlab project.

    A file that SQLite recognises and that carries Spanlab's application id but cannot
    be read further is a damaged project, and is called so.
    """
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = migrations.schema_version(conn)
    except sqlite3.DatabaseError as error:
        if "malformed" in str(error):  # SQLite knew the file as its own, but cannot read it
            raise damaged(path, str(error)) from error
        raise _not_project(path, error) from error
    if app_id != migrations.APPLICATION_ID:
        if app_id == 0 and version == 0 and _is_empty(conn):
            return 0  # an empty SQLite file: Project.create's first step, still to migrate
        raise _not_project(path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as error:
        raise damaged(path, str(error)) from error
    if version and not tables >= CORE_TABLES:
        raise damaged(path, f"tables missing: {', '.join(sorted(CORE_TABLES - tables))}")
    if version > migrations.LATEST:
        raise newer_schema_error(path, version)
    return version


def _is_empty(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """Raise ProjectDamagedError unless ``PRAGMA quick_check`` finds the file sound.

    ``quick_check`` reads every page (O(file size), without the index cross-checks of
    ``integrity_check``); README's benchmark table gives its cost on a large project.
    """
    try:
        rows = [row[0] for row in conn.execute(f"PRAGMA quick_check({_CHECK_ROWS})")]
    except sqlite3.DatabaseError as error:
        raise damaged(path, str(error)) from error
    if rows != ["ok"]:
        raise damaged(path, rows[0] if rows else "no answer")


def damaged(path: Path, detail: str) -> ProjectDamagedError:
    backup = backup_path(path)
    restore = (
        f"Restore the backup Spanlab made before the last import: copy {backup} over it "
        "(keep the damaged file aside first)."
        if backup.exists()
        else "Restore it from a backup of yours, or open the file with the sqlite3 "
        "command's .recover to save what can be saved."
    )
    return ProjectDamagedError(
        f"{path} is damaged: SQLite's integrity check says “{detail}”. Nothing was "
        f"written to it. {restore}"
    )


def _not_project(path: Path, error: Exception | None = None) -> ProjectFileError:
    detail = f" (SQLite: {error})" if error is not None else ""
    return ProjectFileError(
        f"{path} is not a Spanlab project, or its first page is damaged{detail}. Choose a "
        ".spanlab file, or create a new project."
    )


def newer_schema_error(path: Path, version: int) -> ProjectFileError:
    return ProjectFileError(
        f"{path} was saved by a newer version of Spanlab (project format {version}; this "
        f"version reads up to {migrations.LATEST}). Update Spanlab to open it."
    )


def backup_path(path: Path) -> Path:
    """Where the automatic backup of a project lives: ``NAME.spanlab.bak`` beside it."""
    return path.with_name(path.name + ".bak")


def write_backup(conn: sqlite3.Connection, target: Path, mode: int = 0o600) -> Path:
    """Copy the open database into ``target`` consistently (SQLite's online backup).

    Written to a temporary file in the same folder and renamed into place, so a crash
    while backing up leaves the previous backup whole. ``mode`` is the project file's
    permission bits: the copy is no more readable than the original.
    """
    with contextlib.suppress(OSError):  # what a killed backup left behind
        scratch.remove_stale(target, ".part")
    tmp = scratch.scratch_path(target, ".part")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        os.chmod(tmp, mode)
        dest = sqlite3.connect(tmp)
        try:
            conn.backup(dest)
            dest.execute("PRAGMA journal_mode = DELETE")
        finally:
            dest.close()
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
