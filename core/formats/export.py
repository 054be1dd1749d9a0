"""Export: the project's documents written to a file that appears whole or not at all."""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING

from core import scratch
from core.domain import SPLITS
from core.errors import ExportError, ValidationError
from core.formats.common import PROGRESS_EVERY_S, Cancelled, Progress, ShouldStop
from core.formats.conll import conll_writer, group_start
from core.formats.jsonl import write_doccano, write_spacy

if TYPE_CHECKING:
    from core.store import Project

EXPORT_FORMATS = ("conll", "conll-bioes", "jsonl", "doccano")
_NO_FOLLOW = os.O_NOFOLLOW if hasattr(os, "O_NOFOLLOW") else 0  # Windows has none

#: How each export format writes one document with its human spans.
Writer = Callable[[IO[str], dict, list[dict]], None]
_WRITERS: dict[str, Writer] = {
    "conll": conll_writer("iob2"),
    "conll-bioes": conll_writer("bioes"),
    "jsonl": write_spacy,
    "doccano": write_doccano,
}


def export_file(
    project: Project,
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
    marks_groups = format.startswith("conll")  # JSONL writes the group in each line
    group = None
    last_report = 0.0
    try:
        with _replacing(path) as out:
            for done, doc_id in enumerate(ids):
                if should_stop is not None and should_stop():
                    raise Cancelled
                doc = project.get_document(doc_id)
                if marks_groups and doc["tokens"]:  # CoNLL skips a document without words
                    out.write(group_start(doc, group))
                    group = doc["group"]
                write(out, doc, project.spans(doc_id, origin="human"))
                if progress is not None and time.monotonic() - last_report >= PROGRESS_EVERY_S:
                    last_report = time.monotonic()
                    progress(done, len(ids))
    except Cancelled:
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
