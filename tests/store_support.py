"""Helpers for the project store tests: a small project and a way to prove it unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.store import Project

SENTENCES = [
    ("Alice lives in New York .", [(0, 5, "PER"), (15, 23, "LOC")]),
    ("Bob visited Paris .", [(0, 3, "PER"), (12, 17, "LOC")]),
    ("It rained all day .", []),
    ("我 住 在 北京 。", [(6, 8, "LOC")]),
]


def committed_rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table as another connection sees it (committed data only).

    The full-text index is compared through its shadow tables, which are ordinary tables.
    """
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [
            name
            for (name, sql) in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
            if not sql.startswith("CREATE VIRTUAL")
        ]
        return {
            name: conn.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall() for name in names
        }
    finally:
        conn.close()


def filled_project(path: Path) -> Project:
    """A project with labels PER and LOC and the four SENTENCES (the last is Chinese)."""
    project = Project.create(path, labels=["PER", "LOC"])
    project.add_documents({"text": text, "spans": spans} for text, spans in SENTENCES)
    return project
