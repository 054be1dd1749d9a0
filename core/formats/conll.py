"""CoNLL column files, read and written.

- one token per line, the token in the first column and the tag in the last, columns
  separated by tabs or runs of spaces (nothing else: a token may hold a no-break space,
  U+3000 or a vertical tab, and keeps it); middle columns (POS, chunk…) are not kept;
- a blank line ends a sentence; one sentence is one document; its tokens are the file's
  tokens, and its text is rebuilt from them with single spaces, but none between two
  CJK characters;
- a ``-DOCSTART-`` line starts a group: the sentences up to the next one are one source
  document, stored with the group key ``<file name>#<n>`` (the n-th ``-DOCSTART-`` of
  the file; sentences before the first one have no group). Training reads a group's
  neighbouring sentences as context; two imports of one file give the same keys, so a
  section's sentences from both form one group, in import order;
- tags in IOB1, IOB2 or BIOES (detected from the first sentence with an entity, or
  chosen); they are stored as character spans, and written back as IOB2 or BIOES;
- export writes ``token<TAB>tag`` lines, and a blank line after every sentence, so a
  two-column IOB2 file in that layout (UTF-8, ``\\n`` line ends) comes back byte for byte;
  a ``-DOCSTART- -X- O O`` line and a blank line go before the first sentence of each
  group.

The reader's documents are ``ReaderDocument``s: their tokens and spans come from one
tokenization and decoded tags, so ``Project.add_reader_documents`` need not check them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TextIO

from core.domain import IMPORT_SCHEMES, ReaderDocument
from core.errors import ImportFormatError, SpanlabError, TagSequenceError, ValidationError
from core.formats import common
from core.formats.common import Job, quote, source_name, text_file, too_long_error
from core.tagging import decode_tags, detect_scheme, spans_to_tags
from core.tokenize import join_tokens

_TAG_LIKE = re.compile(r"O|[BIESLU]-\S+")
_COLUMN = re.compile(r"[^ \t\n]+")  # CoNLL columns: split on tabs and spaces only
_BLOCK_CHARS = 1 << 20  # how much of a CoNLL file is read at a time
# Whitespace that str.split() splits on besides tab, space and line ends.
_OTHER_SPACE = re.compile(
    "[\v\f\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
_DOCSTART = "-DOCSTART-"
_CONLL_BREAK = re.compile(r"[ \t\n\r]")  # what a token cannot hold in a CoNLL file


def looks_like_conll(head: list[str]) -> bool:
    """Whether a file's first non-blank lines look like token/tag columns."""
    columns = [_COLUMN.findall(line) for line in head[:20]]
    return all(
        c[0] == _DOCSTART or (len(c) > 1 and _TAG_LIKE.fullmatch(c[-1]) is not None)
        for c in columns
    )


def read_conll(
    path: str | Path, scheme: str = "auto", strict: bool = True, split: str | None = None
) -> Iterator[ReaderDocument]:
    """Documents (one per sentence) from a CoNLL column file; see the module notes."""
    return conll_documents(Job(Path(path), split=split), scheme, strict)


def conll_documents(job: Job, scheme: str, strict: bool) -> Iterator[ReaderDocument]:
    """One document per sentence (``job.lines`` gets the line each starts on).

    The import's hot path: one ``split`` per line (measured as fast as cutting the file
    into blocks), everything else once per sentence or once per block.
    """
    if scheme not in IMPORT_SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; use one of {', '.join(IMPORT_SCHEMES)}")
    job.scheme = None if scheme == "auto" else scheme
    sentence = _ConllSentence(job, strict, detect=scheme == "auto")
    limit = common.MAX_DOCUMENT_CHARS
    with text_file(job.path) as handle:
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
                        f"one column ({quote(parts[0])}) where a token and a tag were expected",
                        "put the token first and its tag last on each line, separated by a "
                        "space or a tab; leave a blank line between sentences",
                    )
                else:  # a blank line or -DOCSTART- ends the sentence
                    if words:
                        yield sentence.document(words, tags, first, handle)
                        words, tags = [], []
                    if parts:  # -DOCSTART-: the sentences after it are a new group
                        sentence.start_group()
            done += size
            # A sentence is at least done - started - (its first block) characters long;
            # a block is at most limit + _BLOCK_CHARS. The exact check is at its end.
            if words and done - started > 2 * (limit + _BLOCK_CHARS):  # before memory fills
                raise too_long_error(job.path, first, "the sentence starting here", limit)
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
            raise too_long_error(path, number + 1, "this line", limit)
    if carry:
        yield number + 1, [carry], _OTHER_SPACE.search(carry) is not None, len(carry)


def _columns(line: str) -> list[str]:
    """A CoNLL line's columns, cut at tabs and spaces only (a blank line has none)."""
    return _COLUMN.findall(line) if line.strip() else []


class _ConllSentence:
    """Turns one sentence's words and tags into a document (the per-sentence work)."""

    def __init__(self, job: Job, strict: bool, detect: bool) -> None:
        self.job = job
        self.strict = strict
        self.detect = detect
        self.detected_at = 0
        self.source = source_name(job.path)
        self.sections = 0
        self.group: str | None = None  # before the first -DOCSTART-: none

    def start_group(self) -> None:
        """A ``-DOCSTART-`` line: the next sentences form group ``<file name>#<n>``."""
        self.sections += 1
        self.group = f"{self.source}#{self.sections}"

    def document(
        self, words: list[str], tags: list[str], first: int, handle: TextIO
    ) -> ReaderDocument:
        job = self.job
        if tags.count("O") == len(tags):
            entities: list[tuple[int, int, str]] = []
        else:
            if job.scheme is None:  # auto: the first sentence with an entity decides
                job.scheme = detect_scheme(tags)
                self.detected_at = first
            entities = self._decode(tags, first)
        text, offsets = join_tokens(words)
        if len(text) > common.MAX_DOCUMENT_CHARS:
            raise too_long_error(
                job.path, first, "the sentence starting here", common.MAX_DOCUMENT_CHARS
            )
        spans = [(offsets[a][0], offsets[b][1], label) for a, b, label in entities]
        if job.locked is not None:
            for a, _, label in entities:
                job.check_label(label, first + a)
        job.seen(first, handle, len(spans))
        # Tokens and spans come from one tokenization and decoded tags: on token
        # edges, in order and not overlapping, so the store need not check them again
        # (import_file hands these to Project.add_reader_documents).
        return ReaderDocument(
            text=text,
            tokens=offsets,
            spans=spans,
            split=job.split,
            status="annotated",
            source=self.source,
            group=self.group,
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


def _words(doc: dict) -> list[str]:
    text = doc["text"]
    words = [text[start:end] for start, end in doc["tokens"]]
    if _CONLL_BREAK.search("".join(words)):
        raise SpanlabError(
            f"Document {doc['id']} has a token with a space, tab or line break in it, which "
            "CoNLL cannot hold: export it as JSONL instead."
        )
    return words


#: What export writes where a group starts (CoNLL-2003's four columns, then a blank line).
DOCSTART_LINES = f"{_DOCSTART} -X- O O\n\n"


def group_start(doc: dict, previous: str | None) -> str:
    """What export writes before ``doc``: the ``-DOCSTART-`` lines where its group starts
    (the sentence before it was in ``previous``), else nothing."""
    group = doc["group"]
    return DOCSTART_LINES if group is not None and group != previous else ""


def conll_writer(scheme: str) -> Callable[[IO[str], dict, list[dict]], None]:
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
