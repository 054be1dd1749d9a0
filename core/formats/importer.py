"""Import: a file read by its format's reader and stored all-or-nothing."""

from __future__ import annotations

import os
import re
import stat
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.domain import IMPORT_FORMATS, IMPORT_SCHEMES, SPLITS
from core.errors import ImportFormatError, ValidationError
from core.formats.common import QUOTE_CHARS, Cancelled, Job, Progress, ShouldStop, check_readable
from core.formats.conll import looks_like_conll
from core.formats.conll_process import import_conll
from core.formats.interchange import FOLDER_IMPORTS, INTERCHANGE_FORMATS, import_interchange
from core.formats.jsonl import jsonl_documents
from core.formats.text import text_documents

if TYPE_CHECKING:
    from core.store import Project

_EXTENSIONS = {
    ".conll": "conll", ".conllx": "conll", ".iob": "conll", ".iob1": "conll",
    ".iob2": "conll", ".bio": "conll", ".bioes": "conll", ".tsv": "conll",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "hf-dataset",
}  # fmt: skip
_DOCUMENT_NUMBER = re.compile(r"^Document (\d+): ")


@dataclass
class ImportResult:
    """What an import did. ``cancelled`` imports wrote nothing (``documents`` is 0)."""

    path: str
    format: str
    documents: int = 0
    spans: int = 0
    new_labels: list[str] = field(default_factory=list)
    scheme: str | None = None  # the tag scheme read (CoNLL and Hugging Face datasets)
    model_spans: int = 0  # predictions stored as model spans (Label Studio)
    skipped: dict[str, int] = field(default_factory=dict)  # what the format had beyond spans
    cancelled: bool = False
    seconds: float = 0.0


def guess_format(path: str | Path) -> str:
    """Guess the format from the extension or, failing that, the first lines; a folder is
    a Hugging Face dataset or brat standoff."""
    path = Path(path)
    if path.is_dir():
        return _guess_folder(path)
    known = _EXTENSIONS.get(path.suffix.lower())
    if known:
        return known
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe would block: reading says why
            return "text"
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            head = [line for line in (handle.readline(4096) for _ in range(50)) if line.strip()]
    except OSError:
        return "text"
    if not head:
        return "text"
    if head[0].lstrip().startswith("{"):
        return "jsonl"
    if head[0].lstrip().startswith("["):  # a JSON list: Label Studio's export
        return "label-studio"
    return "conll" if looks_like_conll(head) else "text"


def import_file(
    project: Project,
    path: str | Path,
    format: str | None = None,
    split: str | None = None,
    scheme: str = "auto",
    lock_labels: bool = False,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    *,
    strict: bool = True,
    snap: bool = False,
    text_key: str | None = None,
) -> ImportResult:
    """Import a file into ``project`` all-or-nothing; only ``project`` is touched.

    ``format`` is guessed when None. ``split`` (train/dev/test/unassigned) overrides a
    split key in the file. ``progress(done_bytes, total_bytes)`` is called a few times a
    second; when ``should_stop()`` turns true the import is rolled back and the result
    says ``cancelled``. ``strict=False`` accepts sloppy tag sequences (a stray ``I-``
    starts an entity); ``snap`` grows JSONL spans that cut words to whole words.
    ``text_key`` is the Label Studio ``data`` field that holds the text. brat and
    Hugging Face datasets take a folder (or, for datasets, a .parquet file).
    """
    started = time.monotonic()
    path = Path(path)
    if not (path.is_dir() and format in (None, *FOLDER_IMPORTS)):
        check_readable(path)  # before guessing the format: a pipe would block there
    _check_not_project(path, Path(project.path))
    format = format or guess_format(path)
    if format not in IMPORT_FORMATS:
        raise ValueError(f"unknown import format {format!r}; use {', '.join(IMPORT_FORMATS)}")
    if split is not None and split not in SPLITS:
        raise ValidationError(f"Unknown split {split!r}: use one of {', '.join(SPLITS)}.")
    if scheme not in IMPORT_SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; use one of {', '.join(IMPORT_SCHEMES)}")
    before = [label["name"] for label in project.labels()]
    job = Job(
        path,
        split=split,
        locked=frozenset(before) if lock_labels else None,
        snap=snap,
        tokenizer=project.tokenizer(),
        progress=progress,
        should_stop=should_stop,
    )
    result = ImportResult(str(path), format)
    try:
        if format in INTERCHANGE_FORMATS:
            result.documents, result.model_spans, skipped = import_interchange(
                project, job, format, lock_labels=lock_labels, scheme=scheme, strict=strict,
                text_key=text_key,
            )  # fmt: skip
            result.skipped = dict(skipped)
        elif format == "conll":  # tokens and spans built by the reader: trusted
            result.documents = import_conll(project, job, scheme, strict, lock_labels)
        else:
            documents = jsonl_documents(job) if format == "jsonl" else text_documents(job)
            result.documents = project.add_documents(documents, lock_labels=lock_labels)
    except Cancelled:
        result.cancelled = True
    except ValidationError as error:  # caught by the store after the reader's own checks
        raise _store_error(job, error) from None
    if not result.cancelled:
        result.spans = job.spans
        known = set(before)
        result.new_labels = [lb["name"] for lb in project.labels() if lb["name"] not in known]
    result.scheme = job.scheme if format in ("conll", "hf-dataset", "hf-parquet") else None
    result.seconds = time.monotonic() - started
    return result


def _guess_folder(path: Path) -> str:
    from core.formats.hf_dataset import looks_like_dataset

    return "hf-dataset" if looks_like_dataset(path) else "brat"


def _check_not_project(path: Path, project_path: Path) -> None:
    """Refuse to read the project's own file: opening it beside SQLite drops its locks."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        own = project_path.with_name(project_path.name + suffix)
        with suppress(OSError):
            if os.path.samefile(path, own):
                raise ImportFormatError(
                    path, None, "this is the project's own file", "choose the file to import"
                )


def _store_error(job: Job, error: ValidationError) -> ImportFormatError:
    """The store numbers documents from 1; turn that number back into a line of the file."""
    message = str(error)
    match = _DOCUMENT_NUMBER.match(message)
    line = None
    if match and 0 < int(match.group(1)) <= len(job.lines):
        line = job.lines[int(match.group(1)) - 1]
        message = message[match.end() :]
    if len(message) > 4 * QUOTE_CHARS:  # a store message quoting something huge
        message = message[: 4 * QUOTE_CHARS] + "…"
    return ImportFormatError(job.path, line, message)
