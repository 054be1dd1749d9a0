"""Export: the project's documents written to a file that appears whole or not at all."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING

from core import scratch
from core.domain import EXPORT_FORMATS, SPLITS
from core.errors import ExportError, ValidationError
from core.formats import brat, hf_dataset, label_studio, spacy_docbin
from core.formats.common import PROGRESS_EVERY_S, Cancelled, Progress, ShouldStop
from core.formats.conll import conll_writer, group_start
from core.formats.jsonl import write_doccano, write_spacy

if TYPE_CHECKING:
    from core.store import Project

#: Formats that hold annotated documents only (what training reads).
_ANNOTATED_ONLY = ("conll", "conll-bioes", "spacy", "hf-dataset", "hf-parquet")
_NO_FOLLOW = os.O_NOFOLLOW if hasattr(os, "O_NOFOLLOW") else 0  # Windows has none

#: How each export format writes one document with its human spans.
Writer = Callable[[IO[str], dict, list[dict]], None]
_WRITERS: dict[str, Writer] = {
    "conll": conll_writer("iob2"),
    "conll-bioes": conll_writer("bioes"),
    "jsonl": write_spacy,
    "doccano": write_doccano,
}
#: ``(document, human spans, model spans)`` for each document, to the format's writer.
Items = Iterator[tuple[dict, list[dict], list[dict]]]
#: Folder formats: ``write(folder, items, label names)`` and "may this folder be replaced?".
_FOLDER_WRITERS: dict[str, tuple[Callable[[Path, Items, list[str]], None], Callable]] = {
    "brat": (brat.write_folder, brat.looks_like_brat),
    "hf-dataset": (hf_dataset.write_folder, hf_dataset.looks_like_dataset),
    "hf-parquet": (hf_dataset.write_parquet, hf_dataset.looks_like_dataset),
}


def export_file(
    project: Project,
    path: str | Path,
    format: str | None = "conll",
    split: str | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    text_key: str = "text",
) -> int:
    """Write the project's documents (one split, or all) to ``path``; returns how many.

    CoNLL formats write the annotated documents (the only ones whose tags mean
    something); JSONL formats write every document, with spans when it is annotated
    or has spans. Only human spans are written. The file appears whole or not at all:
    it is written beside the target and renamed. A stop request writes nothing and
    returns 0. ``progress(done_documents, total_documents)``. ``format=None`` picks
    "jsonl" for a .jsonl/.json file and "conll" otherwise.

    Label Studio, brat, spaCy and Hugging Face datasets (see their modules) write the
    model spans too where the format holds them (Label Studio's predictions); the
    folder formats write a folder beside the target and rename it into place.
    ``text_key`` is the Label Studio ``data`` field of the text.
    """
    path = Path(path)
    if format is None:
        format = "jsonl" if path.suffix.lower() in (".jsonl", ".json", ".ndjson") else "conll"
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; use {', '.join(EXPORT_FORMATS)}")
    if split is not None and split not in SPLITS:
        raise ValidationError(f"Unknown split {split!r}: use one of {', '.join(SPLITS)}.")
    status = "annotated" if format in _ANNOTATED_ONLY else None
    ids = project.document_ids(split=split, status=status)
    if format not in _WRITERS:
        return _export_items(project, path, format, ids, progress, should_stop, text_key)
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


def _export_items(
    project: Project,
    path: Path,
    format: str,
    ids: list[int],
    progress: Progress | None,
    should_stop: ShouldStop | None,
    text_key: str,
) -> int:
    """Export to a format whose writer takes every document at once (its ``Items``)."""
    if format == "spacy":
        spacy_docbin.require_spacy()  # before anything is written
    items = _items(project, ids, progress, should_stop)
    labels = [label["name"] for label in project.labels()]
    try:
        if format in _FOLDER_WRITERS:
            write_folder, replaceable = _FOLDER_WRITERS[format]
            with _replacing_folder(path, replaceable) as folder:
                write_folder(folder, items, labels)
        elif format == "spacy":
            with _replacing(path, binary=True) as out:
                spacy_docbin.write_docbin(out, items)
        else:
            with _replacing(path) as out:
                label_studio.write_tasks(out, items, text_key)
    except Cancelled:
        return 0
    if progress is not None:
        progress(len(ids), len(ids))
    return len(ids)


def _items(
    project: Project, ids: list[int], progress: Progress | None, should_stop: ShouldStop | None
) -> Items:
    last_report = 0.0
    for done, doc_id in enumerate(ids):
        if should_stop is not None and should_stop():
            raise Cancelled
        spans = project.spans(doc_id)
        human = [span for span in spans if span["origin"] == "human"]
        model = [span for span in spans if span["origin"] == "model"]
        yield project.get_document(doc_id), human, model
        if progress is not None and time.monotonic() - last_report >= PROGRESS_EVERY_S:
            last_report = time.monotonic()
            progress(done, len(ids))


@contextmanager
def _replacing_folder(path: Path, replaceable: Callable[[Path], bool]) -> Iterator[Path]:
    """A temporary folder beside ``path`` that takes its place only when the block succeeds.

    An existing ``path`` is replaced only when it is empty or holds a previous export of
    the same format (``replaceable``): a folder of other files is never deleted.
    """
    target = Path(os.path.realpath(path))
    if target.exists():
        if not target.is_dir():
            raise ExportError(f"{path} is a file: this format is a folder; give a folder name.")
        if any(target.iterdir()) and not replaceable(target):
            raise ExportError(
                f"{path} is a folder with other files in it: export to a new or empty folder "
                "(a previous export of the same format is replaced)."
            )
    if not target.parent.is_dir():
        raise ExportError(f"The folder {target.parent} does not exist: create it first.")
    with suppress(OSError):  # what a killed export left behind
        scratch.remove_stale(target, ".part")
        scratch.remove_stale(target, ".old")
    tmp = scratch.scratch_path(target, ".part")
    try:
        tmp.mkdir()
        yield tmp
        if target.exists():
            old = scratch.scratch_path(target, ".old")
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except OSError:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_error(target, error) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def _replacing(path: Path, binary: bool = False) -> Iterator[IO]:
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
        text = {"encoding": "utf-8", "newline": "\n"}
        with open(fd, "wb") if binary else open(fd, "w", **text) as out:  # noqa: SIM115
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
