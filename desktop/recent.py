"""What the app remembers between sessions, in QSettings: the recent projects (newest
first) and, per project, the document the person was on."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings

KEY = "recent_projects"
MAX_RECENT = 8
DOCUMENTS_KEY = "last_documents"  # JSON: [[project path, document id], ...], newest first
MAX_DOCUMENTS = 50


def recent_projects() -> list[str]:
    """Paths of recently opened projects, newest first (missing files included)."""
    value = QSettings().value(KEY, [])
    if isinstance(value, str):  # QSettings returns a lone string for a one-item list
        value = [value]
    return [str(v) for v in (value or []) if v]


def remember_project(path: str | Path) -> list[str]:
    """Put a project at the top of the list; returns the new list."""
    path = str(Path(path).resolve())
    paths = [path] + [p for p in recent_projects() if p != path]
    QSettings().setValue(KEY, paths[:MAX_RECENT])
    return paths[:MAX_RECENT]


def forget_project(path: str | Path) -> list[str]:
    """Drop a project from the list (e.g. its file is gone)."""
    path = str(Path(path).resolve())
    paths = [p for p in recent_projects() if p != path]
    QSettings().setValue(KEY, paths)
    return paths


def last_project() -> Path | None:
    """The most recent project whose file still exists, or None."""
    for path in recent_projects():
        if Path(path).is_file():
            return Path(path)
    return None


def _last_documents() -> list[tuple[str, int]]:
    try:
        pairs = json.loads(str(QSettings().value(DOCUMENTS_KEY, "[]")))
        return [(str(path), int(doc_id)) for path, doc_id in pairs]
    except (TypeError, ValueError):  # written by hand or by another version: start afresh
        return []


def remember_document(project_path: str | Path, doc_id: int) -> None:
    """Remember the document shown in a project (reopening the project returns to it)."""
    path = str(Path(project_path).resolve())
    pairs = [(path, int(doc_id))] + [p for p in _last_documents() if p[0] != path]
    QSettings().setValue(DOCUMENTS_KEY, json.dumps(pairs[:MAX_DOCUMENTS]))


def last_document(project_path: str | Path) -> int | None:
    """The document last shown in a project, or None."""
    path = str(Path(project_path).resolve())
    return next((doc_id for p, doc_id in _last_documents() if p == path), None)
