"""What every reader shares: opening a file safely, reading it line by line within the
limits, the state of one reading pass, and messages that quote the file.

Limits, so that a wrong file fails quickly instead of filling the memory: a document
(a line of text, a JSON line's text, a CoNLL sentence) holds at most
``MAX_DOCUMENT_CHARS`` characters, JSON is nested at most ``MAX_JSON_DEPTH`` levels, and
only regular files are read (a pipe or a device would never end). Messages quote at most
about 100 characters of the file. Readers look the limits up here when they run
(``common.MAX_DOCUMENT_CHARS``), so one place sets them.
"""

from __future__ import annotations

import os
import re
import stat
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from core.domain import DEFAULT_TOKENIZER
from core.errors import ImportFormatError

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]

#: The most characters one document may hold (about 10 MB of text): a longer line or
#: sentence is refused with its line number, before it is held in memory as tokens.
MAX_DOCUMENT_CHARS = 10_000_000
#: The longest JSONL line read: the text with its spans, tokens, meta and escapes.
MAX_JSONL_LINE_CHARS = 4 * MAX_DOCUMENT_CHARS
#: The deepest nesting of a JSON line (its meta is stored and written back as JSON).
MAX_JSON_DEPTH = 100

ASCII_SPACE = re.compile(r"[ \t\n\r\f\v\x1c-\x1f]")  # not inside a label or JSONL token
QUOTE_CHARS = 100
#: At most this often (seconds) a reader or an export reports progress.
PROGRESS_EVERY_S = 0.1
_HEAD_BYTES = 8192  # how much of a file is looked at for NUL bytes (UTF-16) up front


class Cancelled(Exception):
    """Raised inside a reader when the caller asked to stop; rolls the import back."""


@dataclass
class Job:
    """The state one reading pass shares with its caller: counts, lines, progress, stop."""

    path: Path
    split: str | None = None
    locked: frozenset[str] | None = None  # the label set when labels are locked
    snap: bool = False
    tokenizer: str = DEFAULT_TOKENIZER  # for documents that come without tokens
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
            raise Cancelled
        if self.progress is not None:
            now = time.monotonic()
            if now - self.last_report >= PROGRESS_EVERY_S:
                self.last_report = now
                self.progress(handle.buffer.tell(), self.total)

    def finish(self, empty: str) -> None:
        """Raise for a file without documents (``empty`` says what it holds instead);
        report 100 % progress."""
        if not self.lines:
            raise empty_file_error(self.path, empty)
        if self.progress is not None:
            self.progress(self.total, self.total)

    def check_label(self, label: str, line: int) -> None:
        if self.locked is not None and label not in self.locked:
            raise ImportFormatError(
                self.path,
                line,
                f"unknown label {quote(label)}",
                "the label set is locked: add the label to the project first, or import "
                "without locking labels",
            )


def quote(value: Any) -> str:
    """``repr`` of a value from the file for a message, cut to about 100 characters."""
    if isinstance(value, str) and len(value) > QUOTE_CHARS:
        return f"{value[:QUOTE_CHARS]!r}… ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= QUOTE_CHARS + 20 else text[:QUOTE_CHARS] + "…"


# -- opening files ------------------------------------------------------------------------


def check_readable(path: Path) -> None:
    """Refuse up front what is not a regular file: a folder, a pipe or a device (such as
    /dev/zero) would block or never end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImportFormatError(path, None, "no such file", "check the path") from None
    except OSError as error:
        raise read_error(path, error) from None
    if stat.S_ISDIR(mode):
        raise ImportFormatError(path, None, "this is a folder, not a file", "choose a file")
    if not stat.S_ISREG(mode):
        kind = "a pipe" if stat.S_ISFIFO(mode) else "a device or socket"
        raise ImportFormatError(
            path, None, f"this is {kind}, not a regular file", "save the data to a file first"
        )


def read_error(path: Path, error: OSError) -> ImportFormatError:
    return ImportFormatError(
        path,
        None,
        f"cannot read it ({error.strerror or error})",
        "check that it is readable and the disk is working, or copy it elsewhere first",
    )


@contextmanager
def text_file(path: Path) -> Iterator[TextIO]:
    """Open ``path`` as UTF-8 text (a BOM is skipped); a bad byte becomes ImportFormatError."""
    check_readable(path)
    try:
        handle = open(path, encoding="utf-8-sig", newline=None)  # noqa: SIM115
    except FileNotFoundError:
        raise ImportFormatError(path, None, "no such file", "check the path") from None
    except OSError as error:
        raise read_error(path, error) from None
    with handle:
        try:
            _check_head(path, handle.buffer.peek(_HEAD_BYTES)[:_HEAD_BYTES])
            yield handle
        except UnicodeDecodeError as error:
            raise _not_utf8_error(path, error) from None
        except OSError as error:
            raise read_error(path, error) from None


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


def empty_file_error(path: Path, empty: str) -> ImportFormatError:
    if path.stat().st_size == 0:
        return ImportFormatError(path, None, "the file is empty", "choose the file with the data")
    return ImportFormatError(
        path, None, f"no documents found ({empty})", "check that this is the right file"
    )


def numbered_lines(handle: TextIO, limit: int) -> Iterator[tuple[int, str]]:
    """``(number, line)`` for each line, read at most ``limit + 1`` characters at a time,
    so a giant line is never held whole; ``too_long`` tells such a line apart."""
    return enumerate(iter(partial(handle.readline, limit + 1), ""), start=1)


def too_long(line: str, limit: int) -> bool:
    return len(line) > limit and not (len(line) == limit + 1 and line[-1] == "\n")


def too_long_error(
    path: Path, number: int, what: str, limit: int, holder: str = "one document"
) -> ImportFormatError:
    return ImportFormatError(
        path,
        number,
        f"{what} is longer than {limit:,} characters, the most {holder} may hold",
        "split it into shorter documents (lines, or sentences with blank lines between them)",
    )


def source_name(path: Path) -> str:
    """The file's name as stored: a name that is not UTF-8 gets U+FFFD for its bad bytes."""
    return path.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
