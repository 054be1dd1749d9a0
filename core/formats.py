"""Import and export: CoNLL column files, JSONL (spaCy/Prodigy and doccano), plain text.

Readers are generators of plain document dicts (the keys of ``Project.add_document``), so
a million-sentence file streams through without being held in memory. ``import_file``
feeds a reader to ``Project.add_documents``, which writes everything in one transaction:
any error — raised by the reader half-way through the file or by the store — rolls the
whole import back, and the ImportFormatError names the file, the 1-based line, what is
wrong and what to do.

CoNLL conventions (read and written):

- one token per line, the token in the first column and the tag in the last, columns
  separated by tabs or runs of spaces (nothing else: a token may hold a no-break space,
  U+3000 or a vertical tab, and keeps it); middle columns (POS, chunk…) are not kept;
- a blank line ends a sentence; ``-DOCSTART-`` lines are skipped; one sentence is one
  document; its tokens are the file's tokens, and its text is rebuilt from them with
  single spaces, but none between two CJK characters;
- tags in IOB1, IOB2 or BIOES (detected from the first sentence with an entity, or
  chosen); they are stored as character spans, and written back as IOB2 or BIOES;
- export writes ``token<TAB>tag`` lines, and a blank line after every sentence, so a
  two-column IOB2 file in that layout (UTF-8, ``\\n`` line ends) comes back byte for byte.

Limits, so that a wrong file fails quickly instead of filling the memory: a document
(a line of text, a JSON line's text, a CoNLL sentence) holds at most
``MAX_DOCUMENT_CHARS`` characters, JSON is nested at most ``MAX_JSON_DEPTH`` levels, and
only regular files are read (a pipe or a device would never end). Messages quote at most
about 100 characters of the file.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import IO, Any, TextIO

from core import scratch
from core.errors import (
    ExportError,
    ImportFormatError,
    SpanlabError,
    TagSequenceError,
    ValidationError,
)
from core.store import SPLITS, STATUSES, ReaderDocument
from core.tagging import align_spans, decode_tags, detect_scheme, snap_span, spans_to_tags
from core.tokenize import join_tokens, tokenize

IMPORT_FORMATS = ("conll", "jsonl", "text")
EXPORT_FORMATS = ("conll", "conll-bioes", "jsonl", "doccano")
SCHEMES = ("auto", "iob1", "iob2", "bioes")

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]

_EXTENSIONS = {
    ".conll": "conll", ".conllx": "conll", ".iob": "conll", ".iob1": "conll",
    ".iob2": "conll", ".bio": "conll", ".bioes": "conll", ".tsv": "conll",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
}  # fmt: skip
#: The most characters one document may hold (about 10 MB of text): a longer line or
#: sentence is refused with its line number, before it is held in memory as tokens.
MAX_DOCUMENT_CHARS = 10_000_000
#: The longest JSONL line read: the text with its spans, tokens, meta and escapes.
MAX_JSONL_LINE_CHARS = 4 * MAX_DOCUMENT_CHARS
#: The deepest nesting of a JSON line (its meta is stored and written back as JSON).
MAX_JSON_DEPTH = 100

_TAG_LIKE = re.compile(r"O|[BIESLU]-\S+")
_COLUMN = re.compile(r"[^ \t\n]+")  # CoNLL columns: split on tabs and spaces only
_BLOCK_CHARS = 1 << 20  # how much of a CoNLL file is read at a time
# Whitespace that str.split() splits on besides tab, space and line ends.
_OTHER_SPACE = re.compile(
    "[\v\f\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
_DOCSTART = "-DOCSTART-"
_ASCII_SPACE = re.compile(r"[ \t\n\r\f\v\x1c-\x1f]")  # not inside a label or JSONL token
_CONLL_BREAK = re.compile(r"[ \t\n\r]")  # what a token cannot hold in a CoNLL file
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_QUOTE_CHARS = 100
_HEAD_BYTES = 8192  # how much of a file is looked at for NUL bytes (UTF-16) up front
_NO_FOLLOW = os.O_NOFOLLOW if hasattr(os, "O_NOFOLLOW") else 0  # Windows has none
_DOCUMENT_NUMBER = re.compile(r"^Document (\d+): ")
_PROGRESS_EVERY_S = 0.1
_SPAN_KEYS = ("start", "end", "label")
_DOCCANO_KEYS = ("start_offset", "end_offset", "label")


class _Cancelled(Exception):
    """Raised inside a reader when the caller asked to stop; rolls the import back."""


@dataclass
class ImportResult:
    """What an import did. ``cancelled`` imports wrote nothing (``documents`` is 0)."""

    path: str
    format: str
    documents: int = 0
    spans: int = 0
    new_labels: list[str] = field(default_factory=list)
    scheme: str | None = None  # the tag scheme read (CoNLL only)
    cancelled: bool = False
    seconds: float = 0.0


@dataclass
class _Job:
    """The state one reading pass shares with its caller: counts, lines, progress, stop."""

    path: Path
    split: str | None = None
    locked: frozenset[str] | None = None  # the label set when labels are locked
    snap: bool = False
    progress: Progress | None = None
    should_stop: ShouldStop | None = None
    lines: array = field(default_factory=lambda: array("q"))  # first line of each document
    spans: int = 0
    scheme: str | None = None
    total: int = 0  # the file's size in bytes
    last_report: float = 0.0

    def seen(self, line: int, handle: TextIO, spans: int) -> None:
        """Book-keeping after each document: line, span count, stop flag, throttled progress."""
        self.lines.append(line)
        self.spans += spans
        if self.should_stop is not None and self.should_stop():
            raise _Cancelled
        if self.progress is not None:
            now = time.monotonic()
            if now - self.last_report >= _PROGRESS_EVERY_S:
                self.last_report = now
                self.progress(handle.buffer.tell(), self.total)

    def finish(self, empty: str) -> None:
        """Raise for a file without documents (``empty`` says what it holds instead);
        report 100 % progress."""
        if not self.lines:
            raise _empty_file_error(self.path, empty)
        if self.progress is not None:
            self.progress(self.total, self.total)

    def check_label(self, label: str, line: int) -> None:
        if self.locked is not None and label not in self.locked:
            raise ImportFormatError(
                self.path,
                line,
                f"unknown label {_quote(label)}",
                "the label set is locked: add the label to the project first, or import "
                "without locking labels",
            )


def _quote(value: Any) -> str:
    """``repr`` of a value from the file for a message, cut to about 100 characters."""
    if isinstance(value, str) and len(value) > _QUOTE_CHARS:
        return f"{value[:_QUOTE_CHARS]!r}… ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= _QUOTE_CHARS + 20 else text[:_QUOTE_CHARS] + "…"


# -- opening files ------------------------------------------------------------------------


def _check_readable(path: Path) -> None:
    """Refuse up front what is not a regular file: a folder, a pipe or a device (such as
    /dev/zero) would block or never end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImportFormatError(path, None, "no such file", "check the path") from None
    except OSError as error:
        raise _read_error(path, error) from None
    if stat.S_ISDIR(mode):
        raise ImportFormatError(path, None, "this is a folder, not a file", "choose a file")
    if not stat.S_ISREG(mode):
        kind = "a pipe" if stat.S_ISFIFO(mode) else "a device or socket"
        raise ImportFormatError(
            path, None, f"this is {kind}, not a regular file", "save the data to a file first"
        )


def _read_error(path: Path, error: OSError) -> ImportFormatError:
    return ImportFormatError(
        path,
        None,
        f"cannot read it ({error.strerror or error})",
        "check that it is readable and the disk is working, or copy it elsewhere first",
    )


@contextmanager
def _text_file(path: Path) -> Iterator[TextIO]:
    """Open ``path`` as UTF-8 text (a BOM is skipped); a bad byte becomes ImportFormatError."""
    _check_readable(path)
    try:
        handle = open(path, encoding="utf-8-sig", newline=None)  # noqa: SIM115
    except FileNotFoundError:
        raise ImportFormatError(path, None, "no such file", "check the path") from None
    except OSError as error:
        raise _read_error(path, error) from None
    with handle:
        try:
            _check_head(path, handle.buffer.peek(_HEAD_BYTES)[:_HEAD_BYTES])
            yield handle
        except UnicodeDecodeError as error:
            raise _not_utf8_error(path, error) from None
        except OSError as error:
            raise _read_error(path, error) from None


def _check_head(path: Path, head: bytes) -> None:
    """UTF-16 and binary files, told apart from UTF-8 by their first bytes.

    UTF-16 text without a byte-order mark decodes as UTF-8 with a NUL byte beside each
    ASCII character; without this check it reads as garbled "one column" lines.
    """
    hint = "save the file as UTF-8 (in most editors: Save As, encoding UTF-8) and import it again"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFormatError(path, 1, "this is UTF-16 text (it starts with a UTF-16 mark)", hint)
    nul = head.find(0)
    if nul < 0:
        return
    line = head.count(b"\n", 0, nul) + 1
    if head.count(0) * 4 >= len(head):
        raise ImportFormatError(
            path, line, "it holds NUL bytes between the letters: it looks like UTF-16 text", hint
        )
    raise ImportFormatError(
        path,
        line,
        f"it holds a NUL byte (0x00, at byte {nul + 1}): it looks like a binary file, not text",
        "choose the text file, or save the data as UTF-8 text",
    )


def _not_utf8_error(path: Path, error: UnicodeDecodeError) -> ImportFormatError:
    """Find the line of the first bad byte (only on this error path, so reading stays fast).

    Lines are read a megabyte at a time, so a giant line is not held whole.
    """
    number, column, carry = 1, 0, b""
    with open(path, "rb") as raw:
        for piece in iter(partial(raw.readline, 1 << 20), b""):
            chunk, carry = carry + piece, b""
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as bad:
                if bad.reason != "unexpected end of data" or chunk.endswith(b"\n"):
                    return ImportFormatError(
                        path,
                        number,
                        f"not UTF-8 text (byte 0x{chunk[bad.start]:02x} at column "
                        f"{column + bad.start + 1})",
                        "save the file as UTF-8 and import it again",
                    )
                chunk, carry = chunk[: bad.start], chunk[bad.start :]  # cut in a character
            if chunk.endswith(b"\n"):
                number, column = number + 1, 0
            else:
                column += len(chunk)
    where = number if carry else None
    return ImportFormatError(path, where, f"not UTF-8 text ({error.reason})", "save it as UTF-8")


def _empty_file_error(path: Path, empty: str) -> ImportFormatError:
    if path.stat().st_size == 0:
        return ImportFormatError(path, None, "the file is empty", "choose the file with the data")
    return ImportFormatError(
        path, None, f"no documents found ({empty})", "check that this is the right file"
    )


def _lines(handle: TextIO, limit: int) -> Iterator[tuple[int, str]]:
    """``(number, line)`` for each line, read at most ``limit + 1`` characters at a time,
    so a giant line is never held whole; ``_too_long`` tells such a line apart."""
    return enumerate(iter(partial(handle.readline, limit + 1), ""), start=1)


def _too_long(line: str, limit: int) -> bool:
    return len(line) > limit and not (len(line) == limit + 1 and line[-1] == "\n")


def _too_long_error(
    path: Path, number: int, what: str, limit: int, holder: str = "one document"
) -> ImportFormatError:
    return ImportFormatError(
        path,
        number,
        f"{what} is longer than {limit:,} characters, the most {holder} may hold",
        "split it into shorter documents (lines, or sentences with blank lines between them)",
    )


def guess_format(path: str | Path) -> str:
    """Guess "conll", "jsonl" or "text" from the extension or, failing that, the first lines."""
    path = Path(path)
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
    columns = [_COLUMN.findall(line) for line in head[:20]]
    if all(c[0] == _DOCSTART or (len(c) > 1 and _TAG_LIKE.fullmatch(c[-1])) for c in columns):
        return "conll"
    return "text"


# -- CoNLL ---------------------------------------------------------------------------------


def read_conll(
    path: str | Path, scheme: str = "auto", strict: bool = True, split: str | None = None
) -> Iterator[dict]:
    """Documents (one per sentence) from a CoNLL column file; see the module notes."""
    return _conll_documents(_Job(Path(path), split=split), scheme, strict)


def _conll_documents(job: _Job, scheme: str, strict: bool) -> Iterator[dict]:
    """One document per sentence (``job.lines`` gets the line each starts on).

    The import's hot path: one ``split`` per line (measured as fast as cutting the file
    into blocks), everything else once per sentence or once per block.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    job.scheme = None if scheme == "auto" else scheme
    sentence = _ConllSentence(job, strict, detect=scheme == "auto")
    limit = MAX_DOCUMENT_CHARS
    with _text_file(job.path) as handle:
        job.total = os.fstat(handle.fileno()).st_size
        words: list[str] = []
        tags: list[str] = []
        first = 0
        done = started = 0  # characters read in all; before the sentence's first block
        for start, lines, exact, size in _line_blocks(handle, job.path, limit):
            for number, line in enumerate(lines, start):
                parts = _columns(line) if exact else line.split()
                if len(parts) > 1 and parts[0] != _DOCSTART:
                    if not words:
                        first, started = number, done
                    words.append(parts[0])
                    tags.append(parts[-1])
                elif parts and parts[0] != _DOCSTART:
                    raise ImportFormatError(
                        job.path,
                        number,
                        f"one column ({_quote(parts[0])}) where a token and a tag were expected",
                        "put the token first and its tag last on each line, separated by a "
                        "space or a tab; leave a blank line between sentences",
                    )
                elif words:  # a blank line (or -DOCSTART-) ends the sentence
                    yield sentence.document(words, tags, first, handle)
                    words, tags = [], []
            done += size
            # A sentence is at least done - started - (its first block) characters long;
            # a block is at most limit + _BLOCK_CHARS. The exact check is at its end.
            if words and done - started > 2 * (limit + _BLOCK_CHARS):  # before memory fills
                raise _too_long_error(job.path, first, "the sentence starting here", limit)
        if words:
            yield sentence.document(words, tags, first, handle)
    job.finish("only blank lines or -DOCSTART-")


def _line_blocks(
    handle: TextIO, path: Path, limit: int
) -> Iterator[tuple[int, list[str], bool, int]]:
    """The file's lines (without their ``\\n``) a block at a time, as
    ``(number of the first, lines, exact, size)``.

    ``exact`` says the block holds whitespace other than tabs and spaces (a vertical tab,
    a no-break space, U+3000), which ``str.split()`` would cut tokens at: such a block's
    lines are cut with ``_columns``. One search per block keeps the common file on the
    fast ``split``. ``size`` counts the characters the lines took. A line longer than
    ``limit`` is refused before it is held whole.
    """
    carry = ""
    number = 0
    while block := handle.read(_BLOCK_CHARS):
        text = carry + block
        lines = text.split("\n")
        carry = lines.pop()
        yield number + 1, lines, _OTHER_SPACE.search(text) is not None, len(text) - len(carry)
        number += len(lines)
        if len(carry) > limit:
            raise _too_long_error(path, number + 1, "this line", limit)
    if carry:
        yield number + 1, [carry], _OTHER_SPACE.search(carry) is not None, len(carry)


def _columns(line: str) -> list[str]:
    """A CoNLL line's columns, cut at tabs and spaces only (a blank line has none)."""
    return _COLUMN.findall(line) if line.strip() else []


class _ConllSentence:
    """Turns one sentence's words and tags into a document (the per-sentence work)."""

    def __init__(self, job: _Job, strict: bool, detect: bool) -> None:
        self.job = job
        self.strict = strict
        self.detect = detect
        self.detected_at = 0
        self.source = _source(job.path)

    def document(self, words: list[str], tags: list[str], first: int, handle: TextIO) -> dict:
        job = self.job
        if tags.count("O") == len(tags):
            entities: list[tuple[int, int, str]] = []
        else:
            if job.scheme is None:  # auto: the first sentence with an entity decides
                job.scheme = detect_scheme(tags)
                self.detected_at = first
            entities = self._decode(tags, first)
        text, offsets = join_tokens(words)
        if len(text) > MAX_DOCUMENT_CHARS:
            raise _too_long_error(job.path, first, "the sentence starting here", MAX_DOCUMENT_CHARS)
        spans = [(offsets[a][0], offsets[b][1], label) for a, b, label in entities]
        if job.locked is not None:
            for a, _, label in entities:
                job.check_label(label, first + a)
        job.seen(first, handle, len(spans))
        # Tokens and spans come from one tokenization and decoded tags: on token
        # edges, in order and not overlapping, so the store need not check them again.
        return ReaderDocument(
            text=text,
            tokens=offsets,
            spans=spans,
            split=job.split,
            status="annotated",
            source=self.source,
        )

    def _decode(self, tags: list[str], first: int) -> list[tuple[int, int, str]]:
        scheme = self.job.scheme
        try:
            return decode_tags(tags, scheme=scheme, strict=self.strict)
        except TagSequenceError as error:
            index = min(error.index or 0, len(tags) - 1)
            where = f"; detected from line {self.detected_at}" if self.detect else ""
            raise ImportFormatError(
                self.job.path,
                first + index,
                f"{error} (tag scheme {scheme}{where})",
            ) from None


# -- JSONL ---------------------------------------------------------------------------------


def read_jsonl(path: str | Path, split: str | None = None, snap: bool = False) -> Iterator[dict]:
    """Documents from JSON lines: ``{"text", "spans": [{"start", "end", "label"}]}`` (spaCy,
    Prodigy) or ``{"text", "label": [[start, end, label]]}`` (doccano); ``entities``
    (doccano's newer objects, spaCy's old triples) is read too.

    Optional keys: ``tokens`` (Prodigy token dicts or ``[start, end]`` pairs), ``split``,
    ``meta`` (an object). A document with a spans/label key is "annotated", else "new".
    """
    return _jsonl_documents(_Job(Path(path), split=split, snap=snap))


def _jsonl_documents(job: _Job) -> Iterator[dict]:
    source = _source(job.path)
    limit = MAX_JSONL_LINE_CHARS
    with _text_file(job.path) as handle:
        job.total = os.fstat(handle.fileno()).st_size
        for number, line in _lines(handle, limit):
            if len(line) > limit and _too_long(line, limit):
                raise _too_long_error(job.path, number, "this line", limit, "one JSON line")
            if not line.strip():
                continue
            doc = _JsonLine(job, number).document(line)
            doc["source"] = source
            job.seen(number, handle, len(doc.get("spans", ())))
            yield doc
    job.finish("only blank lines")


class _NonFinite(ValueError):
    """NaN, Infinity or a number too large for a float: not JSON, and not written back."""


def _non_finite(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400
        raise _NonFinite(text)
    return value


# Strict JSON: Python's json module reads NaN and Infinity, which other readers refuse.
_DECODER = json.JSONDecoder(parse_constant=_non_finite, parse_float=_finite_float)
_STORED_KEYS = ("text", "meta", "spans", "label", "entities")  # what a line keeps


class _JsonLine:
    """Checks one JSONL line and makes a document of it; errors name the line."""

    def __init__(self, job: _Job, number: int) -> None:
        self.job = job
        self.number = number

    def fail(self, message: str, hint: str) -> ImportFormatError:
        return ImportFormatError(self.job.path, self.number, message, hint)

    def document(self, line: str) -> dict:
        obj = self._parse(line)
        self._check_values(obj, line)
        text = obj.get("text")
        if not isinstance(text, str):
            missing = "text" not in obj
            raise self.fail(
                'missing "text"' if missing else f'"text" is a {type(text).__name__}',
                'give each line a "text" string',
            )
        if not text.strip():
            raise self.fail('"text" is empty', "remove the line, or give it some text")
        if len(text) > MAX_DOCUMENT_CHARS:
            raise self.fail(
                f'"text" is longer than {MAX_DOCUMENT_CHARS:,} characters, the most one '
                "document may hold",
                "split it into shorter documents",
            )
        tokens = self._tokens(obj.get("tokens"), text)
        raw_spans = self._raw_spans(obj)
        doc: dict[str, Any] = {"text": text, "tokens": tokens, "status": "new"}
        if raw_spans is not None:
            doc["spans"] = self._spans(raw_spans, text, tokens)
            doc["status"] = "annotated"
        if "status" in obj:  # an explicit status (e.g. from Spanlab's own export) wins
            doc["status"] = self._status(obj["status"])
        doc["split"] = self.job.split or self._split(obj.get("split"))
        meta = obj.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise self.fail('"meta" is not an object', 'make "meta" a JSON object, or drop it')
        if meta:
            doc["meta"] = meta
        return doc

    def _parse(self, line: str) -> dict:
        hint = 'each line must be one JSON object, e.g. {"text": "..."}'
        try:
            obj = _DECODER.decode(line)
        except _NonFinite as error:
            raise self.fail(
                f"{_quote(error.args[0])} is not a number JSON can hold (no NaN or Infinity)",
                'write null, or the value as a string such as "NaN"',
            ) from None
        except json.JSONDecodeError as error:
            raise self.fail(f"bad JSON: {error.msg} (column {error.colno})", hint) from None
        except RecursionError:
            raise self.fail(
                "the JSON is nested too deeply to read",
                f"nest it at most {MAX_JSON_DEPTH} levels deep",
            ) from None
        if not isinstance(obj, dict):
            raise self.fail(f"a JSON {type(obj).__name__} where an object was expected", hint)
        return obj

    def _check_values(self, obj: dict, line: str) -> None:
        """Refuse what the store could not hold or write back: a lone surrogate (a
        ``\\ud800`` escape without its other half) and meta nested too deeply.

        Cheap searches of the raw line decide whether the values need walking at all.
        """
        surrogates = "\\u" in line and _SURROGATE_ESCAPE.search(line) is not None
        if not surrogates and line.count("[") + line.count("{") <= MAX_JSON_DEPTH:
            return
        for key in _STORED_KEYS:
            if key in obj:
                self._walk(key, obj[key], surrogates)

    def _walk(self, key: str, value: Any, surrogates: bool) -> None:
        stack = [(value, 1)]  # without recursion: the value may be nested deeply
        while stack:
            item, depth = stack.pop()
            if depth > MAX_JSON_DEPTH:
                raise self.fail(
                    f'"{key}" is nested more than {MAX_JSON_DEPTH} levels deep',
                    "flatten it: Spanlab stores it and writes it back as JSON",
                )
            if isinstance(item, str):
                bad = _SURROGATE.search(item) if surrogates else None
                if bad:
                    raise self.fail(
                        f'"{key}" holds a lone surrogate \\u{ord(bad.group()):04x} (half of a '
                        "UTF-16 pair, not a character)",
                        "fix or remove that \\u escape: a character beyond U+FFFF is "
                        "written as both halves, e.g. \\ud83d\\ude00",
                    )
            elif isinstance(item, dict):
                stack.extend((part, depth + 1) for pair in item.items() for part in pair)
            elif isinstance(item, list):
                stack.extend((part, depth + 1) for part in item)

    def _status(self, status: Any) -> str:
        if status in STATUSES:
            return status
        raise self.fail(f"unknown status {_quote(status)}", f"use one of {', '.join(STATUSES)}")

    def _split(self, split: Any) -> str | None:
        if split is None or split in SPLITS:
            return split
        raise self.fail(f"unknown split {_quote(split)}", f"use one of {', '.join(SPLITS)}")

    def _raw_spans(self, obj: dict) -> list[tuple[Any, Any, Any]] | None:
        """Spans as loose triples from whichever style the line uses (None: no annotation).

        Each entry may be an object (``start``/``end``/``label``, or doccano's
        ``start_offset``/``end_offset``/``label``) or a ``[start, end, label]`` list.
        """
        for key in ("spans", "label", "entities"):  # spaCy/Prodigy, doccano, both
            if key in obj:
                return self._triples(obj[key], key)
        return None

    def _triples(self, items: Any, key: str) -> list[tuple[Any, Any, Any]]:
        if not isinstance(items, list):
            raise self.fail(f'"{key}" is not a list', f'make "{key}" a list of spans')
        triples = []
        for item in items:
            if isinstance(item, list) and len(item) == 3:
                triples.append(tuple(item))
                continue
            names = _SPAN_KEYS if isinstance(item, dict) and "start" in item else _DOCCANO_KEYS
            if not (isinstance(item, dict) and all(name in item for name in names)):
                raise self.fail(
                    f"a {key} entry {json.dumps(item, ensure_ascii=False)[:60]} is not a span",
                    'write each span as {"start": 0, "end": 5, "label": "PER"} or [0, 5, "PER"]',
                )
            triples.append(tuple(item[name] for name in names))
        return triples

    def _spans(self, triples: list, text: str, tokens: list) -> list[tuple[int, int, str]]:
        spans = []
        for start, end, label in triples:
            if not (type(start) is int and type(end) is int and 0 <= start < end <= len(text)):
                raise self.fail(
                    f"span {_quote([start, end, label])} is out of range (the text has {len(text)} "
                    "characters)",
                    "offsets are 0-based character positions with start < end <= length",
                )
            if not isinstance(label, str) or not label.strip() or _ASCII_SPACE.search(label):
                raise self.fail(f"bad label {_quote(label)}", "a label is a name without spaces")
            self.job.check_label(label, self.number)
            spans.append((start, end, label))
        _, misaligned = align_spans(tokens, spans)
        if misaligned and self.job.snap:
            spans = [_snap(tokens, span) or span for span in spans]
            _, misaligned = align_spans(tokens, spans)
        if misaligned:
            start, end, label = misaligned[0]
            raise self.fail(
                f"span {_quote([start, end, label])} ({_quote(text[start:end])}) does not start "
                "and end on word boundaries",
                "fix its offsets, or import with snapping to grow it to the enclosing words",
            )
        ordered = sorted(spans)
        for before, after in pairwise(ordered):
            if after[0] < before[1]:
                raise self.fail(
                    f"overlapping spans {_quote(list(before))} and {_quote(list(after))}",
                    "Spanlab does flat NER (one label per word): keep one of them",
                )
        return spans

    def _tokens(self, raw: Any, text: str) -> list[tuple[int, int]]:
        if raw is None:
            return tokenize(text)
        tokens: list[tuple[int, int]] = []
        previous = 0
        for item in raw if isinstance(raw, list) else [None]:
            pair = (item.get("start"), item.get("end")) if isinstance(item, dict) else item
            ok = isinstance(pair, (list, tuple)) and len(pair) == 2
            start, end = pair if ok else (None, None)
            if not (type(start) is int and type(end) is int and previous <= start < end):
                raise self.fail(
                    f"bad tokens (at {json.dumps(item)[:40]})",
                    'give "tokens" as [start, end] pairs or {"start", "end"} objects, in order '
                    "and within the text — or leave them out",
                )
            if end > len(text) or _ASCII_SPACE.search(text, start, end):
                raise self.fail(
                    f"token {[start, end]} runs past the text or holds a space",
                    "fix the token offsets, or leave the tokens out",
                )
            tokens.append((start, end))
            previous = end
        return tokens


def _snap(tokens: list, span: tuple[int, int, str]) -> tuple[int, int, str] | None:
    try:
        return snap_span(tokens, span)
    except ValidationError:
        return None


# -- plain text ----------------------------------------------------------------------------


def read_text(path: str | Path, split: str | None = None) -> Iterator[dict]:
    """One "new" document per non-blank line (leading and trailing spaces removed)."""
    return _text_documents(_Job(Path(path), split=split))


def _text_documents(job: _Job) -> Iterator[dict]:
    source = _source(job.path)
    limit = MAX_DOCUMENT_CHARS
    with _text_file(job.path) as handle:
        job.total = os.fstat(handle.fileno()).st_size
        for number, line in _lines(handle, limit):
            if len(line) > limit and _too_long(line, limit):
                raise _too_long_error(job.path, number, "this line", limit)
            text = line.strip()
            if not text:
                continue
            job.seen(number, handle, 0)
            yield {"text": text, "split": job.split, "status": "new", "source": source}
    job.finish("only blank lines")


def _source(path: Path) -> str:
    """The file's name as stored: a name that is not UTF-8 gets U+FFFD for its bad bytes."""
    return path.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# -- import --------------------------------------------------------------------------------


def import_file(
    project: Any,
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
) -> ImportResult:
    """Import a file into ``project`` all-or-nothing; only ``project`` is touched.

    ``format`` is guessed when None. ``split`` (train/dev/test/unassigned) overrides a
    split key in the file. ``progress(done_bytes, total_bytes)`` is called a few times a
    second; when ``should_stop()`` turns true the import is rolled back and the result
    says ``cancelled``. ``strict=False`` accepts sloppy tag sequences (a stray ``I-``
    starts an entity); ``snap`` grows JSONL spans that cut words to whole words.
    """
    started = time.monotonic()
    path = Path(path)
    _check_readable(path)  # before guessing the format: a pipe would block there
    _check_not_project(path, Path(project.path))
    format = format or guess_format(path)
    if format not in IMPORT_FORMATS:
        raise ValueError(f"unknown import format {format!r}; use {', '.join(IMPORT_FORMATS)}")
    if split is not None and split not in SPLITS:
        raise ValidationError(f"Unknown split {split!r}: use one of {', '.join(SPLITS)}.")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    before = [label["name"] for label in project.labels()]
    job = _Job(
        path,
        split=split,
        locked=frozenset(before) if lock_labels else None,
        snap=snap,
        progress=progress,
        should_stop=should_stop,
    )
    if format == "conll":
        documents = _conll_documents(job, scheme, strict)
    elif format == "jsonl":
        documents = _jsonl_documents(job)
    else:
        documents = _text_documents(job)
    result = ImportResult(str(path), format)
    try:
        result.documents = project.add_documents(documents, lock_labels=lock_labels)
    except _Cancelled:
        result.cancelled = True
    except ValidationError as error:  # caught by the store after the reader's own checks
        raise _store_error(job, error) from None
    if not result.cancelled:
        result.spans = job.spans
        known = set(before)
        result.new_labels = [lb["name"] for lb in project.labels() if lb["name"] not in known]
    result.scheme = job.scheme if format == "conll" else None
    result.seconds = time.monotonic() - started
    return result


def _check_not_project(path: Path, project_path: Path) -> None:
    """Refuse to read the project's own file: opening it beside SQLite drops its locks."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        own = project_path.with_name(project_path.name + suffix)
        with suppress(OSError):
            if os.path.samefile(path, own):
                raise ImportFormatError(
                    path, None, "this is the project's own file", "choose the file to import"
                )


def _store_error(job: _Job, error: ValidationError) -> ImportFormatError:
    """The store numbers documents from 1; turn that number back into a line of the file."""
    message = str(error)
    match = _DOCUMENT_NUMBER.match(message)
    line = None
    if match and 0 < int(match.group(1)) <= len(job.lines):
        line = job.lines[int(match.group(1)) - 1]
        message = message[match.end() :]
    if len(message) > 4 * _QUOTE_CHARS:  # a store message quoting something huge
        message = message[: 4 * _QUOTE_CHARS] + "…"
    return ImportFormatError(job.path, line, message)


# -- export --------------------------------------------------------------------------------


def export_file(
    project: Any,
    path: str | Path,
    format: str | None = "conll",
    split: str | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> int:
    """Write the project's documents (one split, or all) to ``path``; returns how many.

    CoNLL formats write the annotated documents (the only ones whose tags mean
    something); JSONL formats write every document, with spans when it is annotated
    or has spans. Only human spans are written. The file appears whole or not at all:
    it is written beside the target and renamed. A stop request writes nothing and
    returns 0. ``progress(done_documents, total_documents)``. ``format=None`` picks
    "jsonl" for a .jsonl/.json file and "conll" otherwise.
    """
    path = Path(path)
    if format is None:
        format = "jsonl" if path.suffix.lower() in (".jsonl", ".json", ".ndjson") else "conll"
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; use {', '.join(EXPORT_FORMATS)}")
    if split is not None and split not in SPLITS:
        raise ValidationError(f"Unknown split {split!r}: use one of {', '.join(SPLITS)}.")
    status = "annotated" if format.startswith("conll") else None
    ids = project.document_ids(split=split, status=status)
    write = _WRITERS[format]
    last_report = 0.0
    try:
        with _replacing(path) as out:
            for done, doc_id in enumerate(ids):
                if should_stop is not None and should_stop():
                    raise _Cancelled
                write(out, project.get_document(doc_id), project.spans(doc_id, origin="human"))
                if progress is not None and time.monotonic() - last_report >= _PROGRESS_EVERY_S:
                    last_report = time.monotonic()
                    progress(done, len(ids))
    except _Cancelled:
        return 0
    if progress is not None:
        progress(len(ids), len(ids))
    return len(ids)


@contextmanager
def _replacing(path: Path) -> Iterator[IO[str]]:
    """A temporary file beside ``path`` that replaces it only when the block succeeds.

    A symbolic link stays a link: the file it points to is replaced. The new file keeps
    the old one's permissions, or gets the usual ones (the umask's) when there was none.
    Whatever fails, the temporary file is removed and ExportError says what to do.
    """
    target = Path(os.path.realpath(path))
    mode = _existing_mode(path, target)
    if not target.parent.is_dir():
        raise ExportError(f"The folder {target.parent} does not exist: create it first.")
    fd, tmp = _create_beside(target, mode)
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())  # the data is on disk before the old file goes
        os.replace(tmp, target)
    except OSError as error:
        _remove(tmp)
        raise _write_error(target, error) from None
    except BaseException:
        _remove(tmp)
        raise


def _existing_mode(path: Path, target: Path) -> int | None:
    """The permission bits of the file being replaced (None: there is none yet)."""
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _write_error(target, error) from None
    if stat.S_ISDIR(info.st_mode):
        raise ExportError(f"{path} is a folder: give a file name to export to.")
    if not stat.S_ISREG(info.st_mode):
        raise ExportError(f"{path} is not a regular file (a device or a pipe): export to a file.")
    if not info.st_mode & 0o222 or not os.access(target, os.W_OK):
        raise ExportError(f"{path} is read-only: make it writable, or export to another file name.")
    return stat.S_IMODE(info.st_mode) & 0o777


def _create_beside(target: Path, mode: int | None) -> tuple[int, str]:
    """Create ``.NAME.PID-XXXXXXXX.part`` beside ``target``: ``mode``, or 0666 less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW
    with suppress(OSError):  # what a killed export left behind
        scratch.remove_stale(target, ".part")
    for _ in range(100):
        tmp = str(scratch.scratch_path(target, ".part"))
        try:
            fd = os.open(tmp, flags, 0o666 if mode is None else mode)
        except FileExistsError:
            continue
        except OSError as error:
            raise _write_error(target, error) from None
        if mode is not None:
            try:
                os.chmod(tmp, mode)  # exactly the old file's bits, whatever the umask
            except OSError as error:
                os.close(fd)
                _remove(tmp)
                raise _write_error(target, error) from None
        return fd, tmp
    raise ExportError(f"Cannot create a temporary file beside {target}: clear old .part files.")


def _remove(tmp: str) -> None:
    with suppress(OSError):
        os.unlink(tmp)


def _write_error(target: Path, error: OSError) -> ExportError:
    reason = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        hint = "free some space on that disk, or export to another one"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = f"make {target.parent} writable, or export to a folder you can write to"
    else:
        hint = "check the disk, or export to another folder"
    return ExportError(f"Cannot write {target} ({reason}): {hint}. Nothing was written.")


def _words(doc: dict) -> list[str]:
    text = doc["text"]
    words = [text[start:end] for start, end in doc["tokens"]]
    if _CONLL_BREAK.search("".join(words)):
        raise SpanlabError(
            f"Document {doc['id']} has a token with a space, tab or line break in it, which "
            "CoNLL cannot hold: export it as JSONL instead."
        )
    return words


def _conll_writer(scheme: str) -> Callable[[IO[str], dict, list[dict]], None]:
    def write(out: IO[str], doc: dict, spans: list[dict]) -> None:
        if not doc["tokens"]:
            return
        try:
            tags = spans_to_tags(doc["tokens"], spans, scheme=scheme)
        except ValidationError as error:
            raise SpanlabError(f"Document {doc['id']}: {error}") from None
        lines = [f"{word}\t{tag}\n" for word, tag in zip(_words(doc), tags, strict=True)]
        out.write("".join(lines) + "\n")

    return write


def _jsonl_extras(doc: dict) -> dict:
    extras: dict[str, Any] = {}
    if doc.get("meta"):
        extras["meta"] = doc["meta"]
    if doc["split"] != "unassigned":
        extras["split"] = doc["split"]
    if doc["status"] != "annotated":
        extras["status"] = doc["status"]
    return extras


def _json_line(obj: dict, doc: dict) -> str:
    """One line of strict JSON (no NaN or Infinity, which most JSON readers refuse)."""
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError:
        raise ExportError(
            f"Document {doc['id']} has NaN or Infinity in its meta, which JSON cannot hold: "
            "remove those values from its meta, or export as CoNLL."
        ) from None


def _has_annotation(doc: dict, spans: list[dict]) -> bool:
    return doc["status"] == "annotated" or bool(spans)


def _write_spacy(out: IO[str], doc: dict, spans: list[dict]) -> None:
    obj: dict[str, Any] = {"text": doc["text"]}
    if _has_annotation(doc, spans):
        obj["spans"] = [{"start": s["start"], "end": s["end"], "label": s["label"]} for s in spans]
    tokens = [tuple(t) for t in doc["tokens"]]
    if tokens != tokenize(doc["text"]):  # only tokens the tokenizer would not give back
        text = doc["text"]
        obj["tokens"] = [
            {"text": text[s:e], "start": s, "end": e, "id": i, "ws": text[e : e + 1].isspace()}
            for i, (s, e) in enumerate(tokens)
        ]
    obj.update(_jsonl_extras(doc))
    out.write(_json_line(obj, doc))


def _write_doccano(out: IO[str], doc: dict, spans: list[dict]) -> None:
    obj: dict[str, Any] = {"text": doc["text"]}
    if _has_annotation(doc, spans):
        obj["label"] = [[s["start"], s["end"], s["label"]] for s in spans]
    obj.update(_jsonl_extras(doc))
    out.write(_json_line(obj, doc))


_WRITERS: dict[str, Callable[[IO[str], dict, list[dict]], None]] = {
    "conll": _conll_writer("iob2"),
    "conll-bioes": _conll_writer("bioes"),
    "jsonl": _write_spacy,
    "doccano": _write_doccano,
}
