"""Opening, closing and transactions: the one SQLite connection of a ``Project``.

A connection belongs to the thread that opened it (the GUI thread or the CLI). Opening
for writing checks the file, migrates an older schema and closes runs whose process is
gone; opening read-only (``mode=ro``) takes no lock beyond reading, migrates nothing and
writes nothing on close, so it works beside a writer and on a write-protected file.
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Self

from sqlite_utils import Database

from core import migrations, project_file, run_owner
from core.errors import ProjectBusyError, ProjectFileError, ProjectNeedsUpgradeError


def now() -> str:
    """The current UTC time as an ISO 8601 string (how every timestamp is stored)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def models_dir_for(path: Path) -> Path:
    """The folder beside a project file, named after it, where its runs keep their models
    (and a search its studies): ``demo.spanlab`` -> ``demo/``."""
    path = Path(path)
    stem = path.with_suffix("")
    if stem == path:
        return path.with_name(path.name + "-models")
    return stem


def busy_error(path: Path, error: Exception) -> ProjectBusyError:
    """The message for a write lock held by another connection past the busy timeout."""
    return ProjectBusyError(
        f"The project {path.name} is busy: another window or process (an import, or a "
        f"training run) is writing to it ({error}). Try again when it has finished."
    )


class ProjectFile:
    """An open project file: its connection, its transactions and small query helpers."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._conn = conn
        self._db = Database(conn)

    # -- opening and closing -------------------------------------------------------

    @classmethod
    def _create(cls, path: str | Path, fill: Callable[[Self], None] | None = None) -> Self:
        """Create a new project file at ``path`` (which must not exist yet).

        ``fill`` writes the first contents (labels); if it fails, or anything else
        does, no half-made file is left behind.
        """
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
            if fill is not None:
                fill(project)
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
    def open(cls, path: str | Path, readonly: bool = False) -> Self:
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
                raise ProjectNeedsUpgradeError(
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
    def _setup(cls, path: Path, conn: sqlite3.Connection, version: int) -> Self:
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
                raise busy_error(path, error) from error
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Project {self.path}>"

    @property
    def models_dir(self) -> Path:
        """Folder beside the project file, named after it, where runs keep their models."""
        return models_dir_for(self.path)

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        return migrations.schema_version(self._conn)

    def data_version(self) -> int:
        """A number that changes whenever another connection or process commits to the
        file (``PRAGMA data_version``; this connection's own commits leave it alone)."""
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    # -- transactions ----------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[Self]:
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
            raise busy_error(self.path, error) from error
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
