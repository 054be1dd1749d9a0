"""What the readers of character-offset formats without tokens share (Label Studio, brat).

Their spans are character offsets chosen by a person in a tool that knows nothing of
words, so a span may begin or end inside a word of the project's tokenizer ("U.S." in
"U.S.-based"). Offsets are the truth: the document's tokens are the tokenizer's, cut
again at every span edge, so each span keeps exactly the characters it had. Spaces at
a span's edges (a drag that took the space after a word) are left out of it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence

from core.formats.common import PROGRESS_EVERY_S, Cancelled, Job
from core.spancheck import first_overlap
from core.tokenize import tokenize

Span = tuple[int, int, str]


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` without the white space at either edge (an empty range stays empty)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def tokens_for(text: str, spans: Iterable[Span], tokenizer: str) -> list[tuple[int, int]]:
    """The tokenizer's tokens of ``text``, cut again at every span edge inside a token."""
    cuts = sorted({edge for start, end, _ in spans for edge in (start, end)})
    tokens = tokenize(text, tokenizer)
    if not cuts:
        return tokens
    out: list[tuple[int, int]] = []
    i = 0
    for start, end in tokens:
        while i < len(cuts) and cuts[i] <= start:
            i += 1
        piece = start
        j = i
        while j < len(cuts) and cuts[j] < end:
            out.append((piece, cuts[j]))
            piece = cuts[j]
            j += 1
        out.append((piece, end))
    return out


def overlap_message(spans: Sequence[Span], text: str) -> str | None:
    """Say which two spans overlap (flat NER keeps one label per word), or None."""
    overlap = first_overlap(spans)
    if overlap is None:
        return None
    (a0, a1, a_label), (b0, b1, b_label) = overlap
    return (
        f"spans {a_label} {text[a0:a1]!r} ({a0}-{a1}) and {b_label} {text[b0:b1]!r} "
        f"({b0}-{b1}) overlap"
    )


class Counted:
    """Book-keeping of a reader that is not line-based: lines, spans, skipped items,
    the stop flag and throttled progress (``Job.seen`` for files read line by line)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.skipped: Counter[str] = Counter()
        self.model_spans = 0

    def seen(self, line: int, spans: int, done: int) -> None:
        job = self.job
        job.lines.append(line)
        job.spans += spans
        if job.should_stop is not None and job.should_stop():
            raise Cancelled
        if job.progress is not None:
            now = time.monotonic()
            if now - job.last_report >= PROGRESS_EVERY_S:
                job.last_report = now
                job.progress(done, job.total)
