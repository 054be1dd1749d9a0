"""The recent projects list, kept in QSettings (newest first)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

KEY = "recent_projects"
MAX_RECENT = 8


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
