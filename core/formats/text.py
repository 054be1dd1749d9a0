"""Plain text, read: one document per non-blank line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from core.formats import common
from core.formats.common import (
    Job,
    numbered_lines,
    source_name,
    text_file,
    too_long,
    too_long_error,
)


def read_text(path: str | Path, split: str | None = None) -> Iterator[dict]:
    """One "new" document per non-blank line (leading and trailing spaces removed)."""
    return text_documents(Job(Path(path), split=split))


def text_documents(job: Job) -> Iterator[dict]:
    source = source_name(job.path)
    limit = common.MAX_DOCUMENT_CHARS
    with text_file(job.path) as handle:
        job.total = os.fstat(handle.fileno()).st_size
        for number, line in numbered_lines(handle, limit):
            if len(line) > limit and too_long(line, limit):
                raise too_long_error(job.path, number, "this line", limit)
            text = line.strip()
            if not text:
                continue
            job.seen(number, handle, 0)
            yield {"text": text, "split": job.split, "status": "new", "source": source}
    job.finish("only blank lines")
