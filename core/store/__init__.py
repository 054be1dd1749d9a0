"""A Spanlab project: one SQLite file holding labels, documents, spans and training runs.

``Project`` is the only code that writes SQL. One connection per ``Project``, owned by
the thread that opened it (the GUI thread or the CLI); workers get plain data from it
and hand plain results back. Every public method that writes is one committed
transaction; ``atomic()`` groups several into one. Rows come back as plain dicts.

The package holds one module per concern, and ``Project`` is their sum:

- ``connection``: opening, closing, backups, transactions (``atomic``);
- ``labels`` (with ``colours``): the label set;
- ``documents`` (with ``document_rows``): adding, editing and deleting documents, and
  the full-text index;
- ``spans``: a document's spans;
- ``queries``: filtered lists, counts, search, statistics, splits;
- ``examples``: training data;
- ``runs``: training runs and their events;
- ``scores``: usefulness scores of ``new`` documents and the "most useful first" order;
- ``reviews``: the likely annotation mistakes a person reviewed and kept;
- ``settings``: the project's choices, such as the tokenizer of new text;
- ``values``: checks on the values callers hand in.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from core.domain import ORIGINS, RUN_STATUSES, SPLITS, STATUSES
from core.store.colours import DISTINCT_COLOURS, PALETTE
from core.store.connection import now
from core.store.examples import Examples
from core.store.labels import AUTO_SHORTCUTS, MAX_LABELS
from core.store.queries import PREVIEW_CHARS, Queries
from core.store.reviews import Reviews
from core.store.runs import Runs
from core.store.scores import Scores
from core.store.spans import Spans
from core.store.values import MAX_LABEL_CHARS

__all__ = [
    "AUTO_SHORTCUTS",
    "DISTINCT_COLOURS",
    "MAX_LABELS",
    "MAX_LABEL_CHARS",
    "ORIGINS",
    "PALETTE",
    "PREVIEW_CHARS",
    "RUN_STATUSES",
    "SPLITS",
    "STATUSES",
    "Project",
    "now",
]


class Project(Spans, Queries, Examples, Scores, Runs, Reviews):
    """An open Spanlab project file. Create with ``create``/``open``/``open_or_create``."""

    @classmethod
    def create(cls, path: str | Path, labels: Iterable[str] | None = None) -> Project:
        """Create a new project file at ``path`` (which must not exist yet), with
        ``labels`` in that order; nothing is left behind if any of them is refused."""

        def add_labels(project: Project) -> None:
            with project.atomic():
                for name in labels or ():
                    project.add_label(name)

        return cls._create(path, add_labels if labels else None)

    @classmethod
    def open_or_create(cls, path: str | Path) -> Project:
        """Open the project at ``path``, or create it when there is no file there."""
        path = Path(path)
        return cls.open(path) if path.exists() else cls.create(path)
