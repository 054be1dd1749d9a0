"""How an incoming document becomes the values of its row, and how an edit moves spans.

An import runs this once per sentence, so the common case is kept to plain loops and
set lookups; the slower checks of ``core.spancheck`` only run to explain what is wrong.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence

from core.domain import MAX_GROUP_CHARS, ReaderDocument
from core.errors import ValidationError
from core.spancheck import Span, check_document_spans, check_tokens
from core.store.connection import now
from core.store.values import check_text, split_and_status, to_json
from core.tokenize import DEFAULT_TOKENIZER, tokenize

#: The values of one documents row: text, tokens (JSON), split, status, source, meta,
#: group key.
DocumentValues = tuple[str, str, str, str, str, str | None, str | None]
#: One chunk of a bulk write, ready for ``executemany``: documents rows (id, the
#: ``DocumentValues``, the write's time stamp), span rows (document id, start, end,
#: label name) and whether every text of the chunk is ASCII (indexed without a call
#: back into Python).
RowChunk = tuple[list[tuple], list[tuple[int, int, int, str]], bool]
#: How many documents a chunk holds (memory stays flat however many are written).
CHUNK_DOCUMENTS = 5000


def document_row(
    doc: dict, tokenizer: str = DEFAULT_TOKENIZER
) -> tuple[DocumentValues, Sequence[Span]]:
    """Check one incoming document in full; return its column values and its spans.

    A document without tokens is split by ``tokenizer`` (the project's).
    """
    if not isinstance(doc, dict):
        raise ValidationError(f"A document is a dict with a 'text' key, not {type(doc).__name__}.")
    text = doc.get("text")
    if type(text) is not str or not text:
        check_text(text)
    tokens = doc.get("tokens")
    if tokens is None:
        tokens = tokenize(text, tokenizer)
    tokens_json = encode_tokens(text, tokens)
    split, status = split_and_status(doc)
    spans = doc.get("spans")
    checked = check_document_spans(tokens, spans) if spans else ()
    return _values(doc, text, tokens_json, split, status), checked


def row_chunks(
    docs: Iterable[dict],
    first_id: int,
    build: Callable[[dict], tuple[DocumentValues, Sequence[Span]]],
    number_errors: bool = True,
    size: int = CHUNK_DOCUMENTS,
) -> Iterator[RowChunk]:
    """The rows of ``docs`` (numbered from ``first_id``), ``size`` documents a chunk.

    ``build`` checks one document and returns its values and spans (``document_row``,
    or ``reader_document_row`` for a reader's trusted documents). A ValidationError
    names the document's 1-based number when ``number_errors`` is set. When a document
    or the reader fails, the chunk's rows before it are yielded first and the error is
    raised on the next step, so a writer meets the errors in the order of the documents
    (a bad label before a bad line further on).
    """
    numbered = enumerate(docs, start=1)
    doc_id = first_id
    while True:
        stamp = now()
        doc_rows: list[tuple] = []
        span_rows: list[tuple[int, int, int, str]] = []
        try:
            for number, doc in itertools.islice(numbered, size):
                try:
                    row, spans = build(doc)
                except ValidationError as error:
                    if number_errors:
                        error.args = (f"Document {number}: {error}",)
                    raise
                doc_rows.append((doc_id, *row, stamp))
                for start, end, label in spans:
                    span_rows.append((doc_id, start, end, label))
                doc_id += 1
        except Exception:
            if doc_rows:
                yield doc_rows, span_rows, all(row[1].isascii() for row in doc_rows)
            raise
        if not doc_rows:
            return
        yield doc_rows, span_rows, all(row[1].isascii() for row in doc_rows)


def trusted_row(doc: dict, token_json: TokenJson) -> tuple[DocumentValues, Sequence[Span]]:
    """``reader_document_row`` for what must be a ``ReaderDocument`` (else TypeError)."""
    if type(doc) is not ReaderDocument:
        raise TypeError(
            f"A document is a {type(doc).__name__}, not a ReaderDocument: add it with "
            "add_documents, which checks it."
        )
    return reader_document_row(doc, token_json)


def reader_document_row(
    doc: ReaderDocument, token_json: TokenJson
) -> tuple[DocumentValues, Sequence[Span]]:
    """``document_row`` for a reader's document: its tokens and spans are trusted."""
    text = doc["text"]
    if type(text) is not str or not text:
        check_text(text)
    split, status = split_and_status(doc)
    tokens_json = "[" + ",".join(map(token_json.__getitem__, doc["tokens"])) + "]"
    return _values(doc, text, tokens_json, split, status), doc["spans"]


def _values(doc: dict, text: str, tokens_json: str, split: str, status: str) -> DocumentValues:
    """The ``documents`` row of a checked document, in the column order inserts use."""
    meta = doc.get("meta")
    return (
        text,
        tokens_json,
        split,
        status,
        doc.get("source") or "",
        to_json(meta) if meta else None,
        group_key(doc.get("group")),
    )


def group_key(group: object) -> str | None:
    """A document's group as stored: None (a document of its own) or a non-empty string."""
    if group is None or (type(group) is str and 0 < len(group) <= MAX_GROUP_CHARS):
        return group
    if isinstance(group, str):
        problem = "empty" if not group else f"longer than {MAX_GROUP_CHARS} characters"
        raise ValidationError(
            f"The document's group is {problem}: give a short name, or none for a "
            "document of its own."
        )
    raise ValidationError(
        f"The document's group is a {type(group).__name__}: give its name as a string, "
        "or None for a document of its own."
    )


class TokenJson(dict):
    """``(start, end)`` -> ``"[start,end]"``, remembered: one import meets the same few
    thousand offsets again and again, and formatting each one was a sixth of its time."""

    __slots__ = ()

    def __missing__(self, token: tuple[int, int]) -> str:
        if len(self) > 100_000:  # long documents: keep the memory bounded
            self.clear()
        text = self[token] = f"[{token[0]},{token[1]}]"
        return text


def encode_tokens(text: str, tokens: Sequence[Sequence[int]]) -> str:
    """Tokens as compact JSON, checked on the way: in order, non-empty, inside the text."""
    parts = []
    previous_end = 0
    try:
        for start, end in tokens:
            if (
                type(start) is not int
                or type(end) is not int
                or start < previous_end
                or end <= start
            ):
                break
            parts.append(f"[{start},{end}]")
            previous_end = end
        else:
            if previous_end <= len(text):
                return "[" + ",".join(parts) + "]"
    except (TypeError, ValueError):
        pass
    check_tokens(text, tokens)  # raises with the details
    raise AssertionError("unreachable")


def move_spans(
    old_text: str, new_text: str, tokens: Sequence[Sequence[int]], spans: list[dict]
) -> tuple[list[dict], list[dict]]:
    """Carry spans across a text edit: those after the changed stretch shift with it.

    Returns (moved spans with new offsets, spans that no longer fit).
    """
    prefix = 0
    limit = min(len(old_text), len(new_text))
    while prefix < limit and old_text[prefix] == new_text[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old_text[-1 - suffix] == new_text[-1 - suffix]:
        suffix += 1
    old_end = len(old_text) - suffix
    delta = len(new_text) - len(old_text)
    starts = {t[0] for t in tokens}
    ends = {t[1] for t in tokens}
    moved, invalid = [], []
    for span in spans:
        start, end = span["start"], span["end"]
        new_start = start if start < prefix else start + delta if start >= old_end else None
        new_end = end if end <= prefix else end + delta if end >= old_end else None
        fits = (
            new_start is not None
            and new_end is not None
            and new_start < new_end
            and new_start in starts
            and new_end in ends
        )
        if not fits:
            invalid.append(span)
        elif (new_start, new_end) != (start, end):
            moved.append({**span, "start": new_start, "end": new_end})
    return moved, invalid
