"""Where a study lives: an Optuna storage opened from a URL, with errors a person can act on.

Any process that opens the same storage and study name joins that study: this is how a
search spreads over several machines (Optuna's own mechanism; Spanlab adds nothing to
it). ``sqlite:///PATH`` suits one machine (the default, beside the project);
``journal:///PATH`` (Optuna's journal file) suits a disk that several machines share;
``postgresql://`` and ``mysql://`` suit machines that reach one database server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.errors import ValidationError
from core.store.connection import models_dir_for

JOURNAL_PREFIX = "journal://"
#: How long a process waits for another one's write to a SQLite study file.
SQLITE_TIMEOUT_S = 60

_HINT = (
    "Give a storage URL such as sqlite:///PATH/studies.db, journal:///SHARED/DISK/study.log "
    "or postgresql://USER:PASSWORD@HOST/DATABASE."
)


def default_storage_url(project_path: str | Path) -> str:
    """``sqlite:///<models folder>/studies.db``: the studies of a project, beside it."""
    folder = models_dir_for(Path(project_path)).resolve()
    return f"sqlite:///{folder / 'studies.db'}"


def open_storage(url: str) -> Any:
    """The Optuna storage at ``url``; ValidationError when it is malformed or unreachable."""
    import optuna
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    if url.startswith(JOURNAL_PREFIX):
        return _journal(url)
    if "://" not in url:
        raise ValidationError(f"The storage {url!r} is not a URL. {_HINT}")
    if url.startswith("sqlite:///") and url != "sqlite:///":
        _need_folder(url, Path(url.removeprefix("sqlite:///")).parent)
        engine: dict[str, Any] = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    else:
        engine = {}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    except ArgumentError as exc:
        raise ValidationError(f"The storage URL {url!r} is malformed ({exc}). {_HINT}") from exc
    except ImportError as exc:
        raise ValidationError(
            f"The storage {url!r} needs a database driver that is not installed ({exc}). "
            "Install it (e.g. `pip install psycopg2-binary` for PostgreSQL, `pip install "
            "pymysql` for MySQL with mysql+pymysql://), or use a sqlite:/// or journal:/// "
            "storage."
        ) from exc
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ValidationError(
            f"Cannot reach the storage {url!r}: {reason}. Check that the server is running "
            "and reachable from this machine, the credentials, and the path."
        ) from exc


def _journal(url: str) -> Any:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = Path(url.removeprefix(JOURNAL_PREFIX))
    if not str(path) or str(path) == ".":
        raise ValidationError(
            f"The journal storage {url!r} names no file: write journal:///PATH/study.log "
            "(three slashes before an absolute path)."
        )
    _need_folder(url, path.parent)
    if path.is_dir():
        raise ValidationError(f"The journal storage {url!r} is a folder: name a file inside it.")
    try:
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise ValidationError(
            f"Cannot open the journal storage {path}: {exc.strerror or exc}. Check the path "
            "and its permissions."
        ) from exc


def _need_folder(url: str, folder: Path) -> None:
    if not folder.is_dir():
        raise ValidationError(
            f"Cannot reach the storage {url!r}: the folder {folder} does not exist. Create "
            "it, or check the path (on several machines: the shared disk must be mounted)."
        )
    if not os.access(folder, os.W_OK):
        raise ValidationError(
            f"Cannot use the storage {url!r}: the folder {folder} is not writable. Choose a "
            "folder you can write to."
        )
