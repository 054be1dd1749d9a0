"""Import and export: CoNLL column files, JSONL (spaCy/Prodigy and doccano), plain text.

Readers are generators of plain document dicts (the keys of ``Project.add_document``), so
a million-sentence file streams through without being held in memory. ``import_file``
feeds a reader to ``Project.add_documents``, which writes everything in one transaction:
any error — raised by the reader half-way through the file or by the store — rolls the
whole import back, and the ImportFormatError names the file, the 1-based line, what is
wrong and what to do.

CoNLL conventions (read and written):

- one token per line, the token in the first column and the tag in the last, columns
  separated by spaces or tabs; middle columns (POS, chunk…) are not kept;
- a blank line ends a sentence; ``-DOCSTART-`` lines are skipped; one sentence is one
  document; its tokens are the file's tokens, and its text is rebuilt from them with
  single spaces, but none between two CJK characters;
- tags in IOB1, IOB2 or BIOES (detected from the first sentence with an entity, or
  chosen); they are stored as character spans, and written back as IOB2 or BIOES;
- export writes ``token<TAB>tag`` lines, and a blank line after every sentence, so a
  two-column IOB2 file in that layout (UTF-8, ``\\n`` line ends) comes back byte for byte.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import IO, Any, TextIO

from core.errors import ImportFormatError, SpanlabError, TagSequenceError, ValidationError
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
_TAG_LIKE = re.compile(r"O|[BIESLU]-\S+")
_FIELDS = re.compile(r"[^ \t\n\r\f\v\x1c-\x1f]+")  # what str.split() splits on, in ASCII
_DOCSTART = "-DOCSTART-"
_ASCII_SPACE = re.compile(r"[ \t\n\r\f\v\x1c-\x1f]")  # column separators
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

    def finish(self) -> None:
        """Raise for a file without documents; report 100 % progress."""
        if not self.lines:
            raise _empty_file_error(self.path)
        if self.progress is not None:
            self.progress(self.total, self.total)

    def check_label(self, label: str, line: int) -> None:
        if self.locked is not None and label not in self.locked:
            raise ImportFormatError(
                self.path,
                line,
                f"unknown label {label!r}",
                "the label set is locked: add the label to the project first, or import "
                "without locking labels",
            )


# -- opening files ------------------------------------------------------------------------


@contextmanager
def _text_file(path: Path) -> Iterator[TextIO]:
    """Open ``path`` as UTF-8 text (a BOM is skipped); a bad byte becomes ImportFormatError."""
    try:
        handle = open(path, encoding="utf-8-sig", newline=None)  # noqa: SIM115
    except FileNotFoundError:
        raise ImportFormatError(path, None, "no such file", "check the path") from None
    except IsADirectoryError:
        raise ImportFormatError(path, None, "this is a folder, not a file") from None
    except OSError as error:
        raise ImportFormatError(path, None, f"cannot read it ({error.strerror})") from None
    with handle:
        try:
            yield handle
        except UnicodeDecodeError as error:
            raise _not_utf8_error(path, error) from None


def _not_utf8_error(path: Path, error: UnicodeDecodeError) -> ImportFormatError:
    """Find the line of the first bad byte (only on this error path, so reading stays fast)."""
    with open(path, "rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as bad:
                byte = line[bad.start]
                return ImportFormatError(
                    path,
                    number,
                    f"not UTF-8 text (byte 0x{byte:02x} at column {bad.start + 1})",
                    "save the file as UTF-8 and import it again",
                )
    return ImportFormatError(path, None, f"not UTF-8 text ({error.reason})", "save it as UTF-8")


def _empty_file_error(path: Path) -> ImportFormatError:
    if path.stat().st_size == 0:
        return ImportFormatError(path, None, "the file is empty", "choose the file with the data")
    return ImportFormatError(
        path,
        None,
        "no documents found (only blank lines or -DOCSTART-)",
        "check that this is the right file",
    )


def guess_format(path: str | Path) -> str:
    """Guess "conll", "jsonl" or "text" from the extension or, failing that, the first lines."""
    path = Path(path)
    known = _EXTENSIONS.get(path.suffix.lower())
    if known:
        return known
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            head = [line for line in (handle.readline() for _ in range(50)) if line.strip()]
    except OSError:
        return "text"
    if not head:
        return "text"
    if head[0].lstrip().startswith("{"):
        return "jsonl"
    columns = [line.split() for line in head[:20]]
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
    into blocks), everything else once per sentence.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    job.scheme = None if scheme == "auto" else scheme
    sentence = _ConllSentence(job, strict, detect=scheme == "auto")
    with _text_file(job.path) as handle:
        job.total = os.fstat(handle.fileno()).st_size
        words: list[str] = []
        tags: list[str] = []
        first = 0
        for number, line in enumerate(handle, start=1):
            # Columns are split on ASCII whitespace only: a CJK token may be U+3000.
            parts = line.split() if line.isascii() else _FIELDS.findall(line)
            if len(parts) > 1 and parts[0] != _DOCSTART:
                if not words:
                    first = number
                words.append(parts[0])
                tags.append(parts[-1])
            elif parts and parts[0] != _DOCSTART:
                raise ImportFormatError(
                    job.path,
                    number,
                    f"one column ({parts[0]!r}) where a token and a tag were expected",
                    "put the token first and its tag last on each line, separated by a space "
                    "or a tab; leave a blank line between sentences",
                )
            elif words:  # a blank line (or -DOCSTART-) ends the sentence
                yield sentence.document(words, tags, first, handle)
                words, tags = [], []
        if words:
            yield sentence.document(words, tags, first, handle)
    job.finish()


class _ConllSentence:
    """Turns one sentence's words and tags into a document (the per-sentence work)."""

    def __init__(self, job: _Job, strict: bool, detect: bool) -> None:
        self.job = job
        self.strict = strict
        self.detect = detect
        self.detected_at = 0
        self.source = job.path.name

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
    source = job.path.name
    with _text_file(job.path) as handle:
        job.total = os.fstat(handle.fileno()).st_size
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            doc = _JsonLine(job, number).document(line)
            doc["source"] = source
            job.seen(number, handle, len(doc.get("spans", ())))
            yield doc
    job.finish()


class _JsonLine:
    """Checks one JSONL line and makes a document of it; errors name the line."""

    def __init__(self, job: _Job, number: int) -> None:
        self.job = job
        self.number = number

    def fail(self, message: str, hint: str) -> ImportFormatError:
        return ImportFormatError(self.job.path, self.number, message, hint)

    def document(self, line: str) -> dict:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            raise self.fail(
                f"bad JSON: {error.msg} (column {error.colno})",
                'each line must be one JSON object, e.g. {"text": "..."}',
            ) from None
        if not isinstance(obj, dict):
            raise self.fail(
                f"a JSON {type(obj).__name__} where an object was expected",
                'each line must be one JSON object, e.g. {"text": "..."}',
            )
        text = obj.get("text")
        if not isinstance(text, str):
            missing = "text" not in obj
            raise self.fail(
                'missing "text"' if missing else f'"text" is a {type(text).__name__}',
                'give each line a "text" string',
            )
        if not text.strip():
            raise self.fail('"text" is empty', "remove the line, or give it some text")
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

    def _status(self, status: Any) -> str:
        if status in STATUSES:
            return status
        raise self.fail(f"unknown status {status!r}", f"use one of {', '.join(STATUSES)}")

    def _split(self, split: Any) -> str | None:
        if split is None or split in SPLITS:
            return split
        raise self.fail(f"unknown split {split!r}", f"use one of {', '.join(SPLITS)}")

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
                    f"span {[start, end, label]} is out of range (the text has {len(text)} "
                    "characters)",
                    "offsets are 0-based character positions with start < end <= length",
                )
            if not isinstance(label, str) or not label.strip() or _ASCII_SPACE.search(label):
                raise self.fail(f"bad label {label!r}", "a label is a name without spaces")
            self.job.check_label(label, self.number)
            spans.append((start, end, label))
        _, misaligned = align_spans(tokens, spans)
        if misaligned and self.job.snap:
            spans = [_snap(tokens, span) or span for span in spans]
            _, misaligned = align_spans(tokens, spans)
        if misaligned:
            start, end, label = misaligned[0]
            raise self.fail(
                f"span {[start, end, label]} ({text[start:end]!r}) does not start and end on "
                "word boundaries",
                "fix its offsets, or import with snapping to grow it to the enclosing words",
            )
        ordered = sorted(spans)
        for before, after in pairwise(ordered):
            if after[0] < before[1]:
                raise self.fail(
                    f"overlapping spans {list(before)} and {list(after)}",
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
    source = job.path.name
    with _text_file(job.path) as handle:
        job.total = os.fstat(handle.fileno()).st_size
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            job.seen(number, handle, 0)
            yield {"text": text, "split": job.split, "status": "new", "source": source}
    job.finish()


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


def _store_error(job: _Job, error: ValidationError) -> ImportFormatError:
    """The store numbers documents from 1; turn that number back into a line of the file."""
    message = str(error)
    match = _DOCUMENT_NUMBER.match(message)
    line = None
    if match and 0 < int(match.group(1)) <= len(job.lines):
        line = job.lines[int(match.group(1)) - 1]
        message = message[match.end() :]
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
    """A temporary file beside ``path`` that replaces it only when the block succeeds."""
    if path.is_dir():
        raise SpanlabError(f"{path} is a folder: give a file name to export to.")
    if not path.parent.is_dir():
        raise SpanlabError(f"The folder {path.parent} does not exist: create it first.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _words(doc: dict) -> list[str]:
    text = doc["text"]
    words = [text[start:end] for start, end in doc["tokens"]]
    if _ASCII_SPACE.search("".join(words)):
        raise SpanlabError(
            f"Document {doc['id']} has a token with a space in it, which CoNLL cannot hold: "
            "export it as JSONL instead."
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
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _write_doccano(out: IO[str], doc: dict, spans: list[dict]) -> None:
    obj: dict[str, Any] = {"text": doc["text"]}
    if _has_annotation(doc, spans):
        obj["label"] = [[s["start"], s["end"], s["label"]] for s in spans]
    obj.update(_jsonl_extras(doc))
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")


_WRITERS: dict[str, Callable[[IO[str], dict, list[dict]], None]] = {
    "conll": _conll_writer("iob2"),
    "conll-bioes": _conll_writer("bioes"),
    "jsonl": _write_spacy,
    "doccano": _write_doccano,
}
