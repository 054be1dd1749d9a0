"""Import of the other tools' formats: Label Studio, brat, Hugging Face datasets.

Each reader streams documents into the store's one transaction as the line-based
readers do; Label Studio's predictions are stored as model spans in the same
transaction, after their documents, so a bad task anywhere still leaves the project as
it was. What a reader skipped (relations, notes, cancelled annotations…) is counted.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from core.domain import FOLDER_FORMATS
from core.formats.brat import BratReader
from core.formats.common import Job
from core.formats.hf_dataset import DatasetReader
from core.formats.label_studio import LabelStudioReader

if TYPE_CHECKING:
    from core.store import Project

#: Import formats read by this module; the folder ones take a folder as their path.
INTERCHANGE_FORMATS = ("label-studio", "brat", "hf-dataset", "hf-parquet")
FOLDER_IMPORTS = FOLDER_FORMATS


def import_interchange(
    project: Project,
    job: Job,
    format: str,
    *,
    lock_labels: bool,
    scheme: str = "auto",
    strict: bool = True,
    text_key: str | None = None,
) -> tuple[int, int, Counter[str]]:
    """Read ``job.path`` in ``format`` into ``project`` in one transaction; returns the
    documents added, the model spans stored and the count of each kind of thing skipped."""
    if format == "label-studio":
        reader = LabelStudioReader(job, text_key)
        with project.atomic():
            added = project.add_documents(reader.documents(), lock_labels=lock_labels)
            _store_predictions(project, reader, added, lock_labels)
    elif format == "brat":
        reader = BratReader(job)
        added = project.add_documents(reader.documents(), lock_labels=lock_labels)
    else:
        reader = DatasetReader(job, scheme, strict)
        added = project.add_reader_documents(reader.documents(), lock_labels=lock_labels)
        job.scheme = reader.scheme
    return added, reader.model_spans, reader.skipped


def _store_predictions(
    project: Project, reader: LabelStudioReader, added: int, lock_labels: bool
) -> None:
    """The tasks' predictions as model spans of the documents just added."""
    if not reader.predictions:
        return
    ids = sorted(project.document_ids())[-added:]
    labels = {label["name"] for label in project.labels()}
    skipped = reader.skipped
    for number, entities in reader.predictions:
        for label in sorted({e["label"] for e in entities} - labels):
            if not lock_labels:
                project.add_label(label)
                labels.add(label)
        known = [e for e in entities if e["label"] in labels]
        if len(known) < len(entities):
            skipped["predicted regions with a label the project lacks"] += len(entities) - len(
                known
            )
        stored = project.set_model_spans(ids[number - 1], known)
        reader.model_spans += stored
        if stored < len(known):
            skipped["predicted regions that overlap a person's span"] += len(known) - stored


def describe_skipped(skipped: dict[str, int]) -> str:
    """``"1 cancelled annotations, 2 relation results"``: what an import left out."""
    return ", ".join(f"{n:,} {what}" for what, n in sorted(skipped.items()))
