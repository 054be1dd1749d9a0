"""The project a newcomer meets: a sample corpus in the platform's data folder.

The sample (``resources/sample_corpus.jsonl``) holds short English and Chinese
documents with PER / ORG / LOC spans: most are annotated and split into train / dev /
test, so the Train button works at once; the rest are new, some with a model's
suggestions to accept or fix.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QStandardPaths

from core.store import Project

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
SAMPLE_CORPUS = RESOURCES / "sample_corpus.jsonl"
DEFAULT_LABELS = RESOURCES / "default_labels.json"
DEFAULT_PROJECT_NAME = "Sample project.spanlab"


def data_folder() -> Path:
    """The per-user data folder, e.g. ``~/.local/share/Spanlab`` (created when missing).

    Qt's AppDataLocation appends both the organisation and the application name, which
    for Spanlab reads ``Spanlab/Spanlab``; the generic data folder plus the application
    name says it once.
    """
    generic = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    folder = Path(generic) / QCoreApplication.applicationName()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def legacy_data_folder() -> Path:
    """Where earlier versions kept their data (``.../Spanlab/Spanlab``); never created."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))


def default_project_path() -> Path:
    """Where the sample project lives: the data folder, or the earlier folder if it is there.

    A sample project made (and perhaps annotated) by an earlier version stays in use
    rather than a fresh one being created beside it.
    """
    path = data_folder() / DEFAULT_PROJECT_NAME
    legacy = legacy_data_folder() / DEFAULT_PROJECT_NAME
    if not path.exists() and legacy != path and legacy.is_file():
        return legacy
    return path


def default_labels() -> list[dict]:
    """The labels a new project starts with: ``{name, colour, shortcut}``."""
    return json.loads(DEFAULT_LABELS.read_text(encoding="utf-8"))


def add_default_labels(project: Project) -> None:
    """Give an empty project the default labels (PER / ORG / LOC)."""
    with project.atomic():
        for label in default_labels():
            project.add_label(label["name"], colour=label["colour"], shortcut=label["shortcut"])


def load_sample(project: Project, path: Path = SAMPLE_CORPUS) -> int:
    """Add the sample documents (and their model suggestions); returns how many."""
    added = 0
    with project.atomic():
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            spans = [(s["start"], s["end"], s["label"]) for s in record.get("spans", [])]
            doc_id = project.add_document(
                record["text"],
                split=record.get("split", "unassigned"),
                status=record.get("status", "new"),
                source="sample",
                meta=record.get("meta"),
                spans=spans,
            )
            if record.get("model_spans"):
                project.set_model_spans(doc_id, record["model_spans"])
            added += 1
    return added


def create_sample_project(path: Path | None = None) -> Project:
    """Create the sample project (labels and documents) and return it open."""
    path = path or default_project_path()
    project = Project.create(path)
    try:
        add_default_labels(project)
        load_sample(project)
    except BaseException:
        project.close()
        path.unlink(missing_ok=True)
        raise
    return project


def create_empty_project(path: Path) -> Project:
    """A new project with the default labels and no documents."""
    project = Project.create(path)
    add_default_labels(project)
    return project
