"""A large CoNLL import read in a second process, so that reading and writing use two cores.

An import's time is half Python (cutting the columns, decoding the tags, building the
rows) and half SQLite (the rows, their indexes and the full-text index). A second thread
would not help: only one thread runs Python at a time, and ``executemany`` lets go of
the interpreter around every row it writes, so the two threads would hand it back and
forth a million times. So a file of ``PROCESS_MIN_BYTES`` or more is read by a child
process that runs the ordinary reader and ``row_chunks`` and sends the chunks, ready for
``executemany``, through a pipe; the importing process only writes them, in its one
transaction. A smaller file is read in the importing process: starting Python costs about
half a second.

Nothing else about an import changes. An error the reader raises at line N comes back
as it was raised, after the rows before it (which the transaction then rolls back with
everything else); ``should_stop`` is asked between chunks (a few hundredths of a second
apart) and while waiting for one; progress follows the reader through the file. The pipe
holds a message or two, so the reader is never further ahead, and it is stopped however
the import ends. Files are read this way on POSIX systems (the pipe is handed over as a
file descriptor); elsewhere in the importing process.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import suppress
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import SpanlabError
from core.formats import common
from core.formats.common import PROGRESS_EVERY_S, Cancelled, Job
from core.formats.conll import conll_documents
from core.store.document_rows import RowChunk, TokenJson, reader_document_row, row_chunks

if TYPE_CHECKING:
    from core.store import Project

try:
    import fcntl
except ImportError:  # not POSIX: files are read in the importing process
    fcntl = None

#: Files this large or larger are read in a second process (about 120,000 sentences).
PROCESS_MIN_BYTES = 16 << 20
#: Documents a message holds, and the pipe's size on Linux: a message fits in the pipe
#: whole, so neither process waits for the other to take or hand over the rest of it.
_MESSAGE_DOCUMENTS = 2000
_PIPE_BYTES = 1 << 20
_WAIT_S = 0.1  # how often should_stop is asked while the writer waits for rows
_CHILD = (  # the reading process's program: its arguments, then the pipe's fd
    "import sys; from core.formats.conll_process import read_in_process; "
    "read_in_process(sys.argv[1], int(sys.argv[2]))"
)
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds ``core``


def import_conll(project: Project, job: Job, scheme: str, strict: bool, lock_labels: bool) -> int:
    """Read ``job.path`` as CoNLL into ``project`` in one transaction; returns the
    documents added. A large file is read in a second process (see the module notes)."""
    try:
        size = os.stat(job.path).st_size
    except OSError:
        size = 0  # the reader says what is wrong with the file
    if size < PROCESS_MIN_BYTES or os.name != "posix":  # the pipe is handed over as a POSIX fd
        documents = conll_documents(job, scheme, strict)
        return project.add_reader_documents(documents, lock_labels=lock_labels)
    return project.add_prepared_rows(
        lambda first_id: chunks_from_process(job, scheme, strict, first_id),
        lock_labels=lock_labels,
    )


def chunks_from_process(job: Job, scheme: str, strict: bool, first_id: int) -> Iterator[RowChunk]:
    """The row chunks of the CoNLL file ``job.path``, read by a second process.

    ``job`` is kept as the in-process reader keeps it (first line of each document,
    spans, scheme, progress), and ``job.should_stop`` raises Cancelled between chunks.
    """
    read_end, write_end = os.pipe()
    with suppress(OSError, AttributeError):  # Linux: room for a whole message in the pipe
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    path_list = os.pathsep.join(filter(None, (_ROOT, os.environ.get("PYTHONPATH"))))
    # A plain child process, not multiprocessing's spawn: that one runs the caller's
    # main script again, which a script without ``if __name__ == "__main__"`` cannot take.
    try:
        reader = subprocess.Popen(
            [sys.executable, "-c", _CHILD, _arguments(job, scheme, strict, first_id)]
            + [str(write_end)],
            pass_fds=(write_end,),
            env={**os.environ, "PYTHONPATH": path_list},
            stdin=subprocess.DEVNULL,
        )
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)  # the reader's end: the pipe reports EOF once the reader has gone
    receiver = Connection(read_end, writable=False)
    job.total = os.stat(job.path).st_size
    ended = False
    try:
        while not ended:
            message = _receive(receiver, reader, job)
            if message[0] == "rows":
                _, chunk, lines, done = message
                job.lines.frombytes(lines)
                job.spans += len(chunk[1])
                _report(job, done)
                yield chunk
            elif message[0] == "error":
                job.lines.frombytes(message[1])
                raise message[2]
            else:  # "end": the reader exits on its own
                job.scheme = message[1]
                if job.progress is not None:
                    job.progress(job.total, job.total)
                ended = True
    finally:
        receiver.close()
        if not ended:  # cancelled, or the writer failed: nothing more is read
            reader.kill()
        reader.wait()


def _arguments(job: Job, scheme: str, strict: bool, first_id: int) -> str:
    """The reading process's arguments, as ASCII JSON (a file name may hold any bytes)."""
    locked = sorted(job.locked) if job.locked is not None else None
    path = os.fsdecode(job.path)  # undecodable bytes as surrogates, which JSON keeps
    limit = common.MAX_DOCUMENT_CHARS  # the caller's limit, wherever it was set
    return json.dumps([path, job.split, locked, scheme, strict, first_id, limit])


def _receive(receiver: Connection, reader: subprocess.Popen, job: Job) -> tuple:
    """The reader's next message; Cancelled when asked to stop while waiting."""
    while True:
        if job.should_stop is not None and job.should_stop():
            raise Cancelled
        if receiver.poll(_WAIT_S):
            break
    try:
        return receiver.recv()
    except EOFError:
        raise SpanlabError(
            f"Reading {job.path.name} stopped unexpectedly: its reading process ended with "
            f"exit code {reader.wait()}. Nothing was imported; try again, and if it happens "
            "again, check the memory left on this computer."
        ) from None


def _report(job: Job, done: int) -> None:
    if job.progress is not None:
        now = time.monotonic()
        if now - job.last_report >= PROGRESS_EVERY_S:
            job.last_report = now
            job.progress(done, job.total)


def read_in_process(arguments: str, fd: int) -> None:
    """The reading process: send ``("rows", chunk, lines, bytes read)`` per chunk, then
    ``("end", scheme)`` or ``("error", lines, exception)`` through the pipe ``fd``."""
    # The reader's objects hold no reference cycles and are freed chunk by chunk;
    # collecting them, with nothing to find, cost a quarter of the reading time.
    gc.disable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C stops the writer, which ends this
    path, split, locked, scheme, strict, first_id, common.MAX_DOCUMENT_CHARS = json.loads(arguments)
    path = Path(path)
    locked = frozenset(locked) if locked is not None else None
    position = [0]
    job = Job(
        path, split=split, locked=locked, progress=lambda done, _: position.__setitem__(0, done)
    )
    build = functools.partial(reader_document_row, token_json=TokenJson())
    sender = Connection(fd, readable=False)
    sent = 0
    try:
        documents = conll_documents(job, scheme, strict)
        for chunk in row_chunks(documents, first_id, build, size=_MESSAGE_DOCUMENTS):
            sender.send(("rows", chunk, job.lines[sent:].tobytes(), position[0]))
            sent = len(job.lines)
        sender.send(("end", job.scheme))
    except Exception as error:  # sent to the writer, which raises it
        try:
            pickle.dumps(error)
        except Exception:
            error = SpanlabError(f"Reading {path.name} failed:\n{traceback.format_exc()}")
        with suppress(OSError):  # the writer has gone (cancelled): nobody to tell
            sender.send(("error", job.lines[sent:].tobytes(), error))
    finally:
        sender.close()
