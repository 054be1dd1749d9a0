"""Dynamic batching: the texts of concurrent requests tagged together on one thread.

A model reads a batch of 16 sentences in little more time than one, so a server that
tags each request on its own wastes most of its CPU under load. Requests put their
texts on a queue; one inference thread takes the first waiting request, gathers the
ones that arrive within a small wait bound (or are already waiting) up to ``max_batch``
texts, tags them in one call and hands each request its own slice of the result. The
model is only ever used from that thread, so it needs no lock, and the event loop
never runs inference.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

log = logging.getLogger("spanlab.serve")

#: Tags a list of texts: one list of entities per text, in order.
TagTexts = Callable[[list[str]], list[list[dict]]]


class BatcherStopped(RuntimeError):
    """A request that reached the batcher after (or while) it stopped."""


@dataclass
class _Job:
    texts: list[str]
    future: Future = field(default_factory=Future)


@dataclass
class BatchStats:
    """What the inference thread has done: totals and the sizes of recent batches."""

    requests: int = 0
    texts: int = 0
    batches: int = 0
    failed_batches: int = 0
    largest: int = 0
    #: (requests, texts) of each recent batch, oldest first; bounded, so a server that
    #: runs for weeks does not grow.
    recent: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=1000))

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "texts": self.texts,
            "batches": self.batches,
            "failed_batches": self.failed_batches,
            "largest_batch": self.largest,
            "mean_batch": round(self.texts / self.batches, 2) if self.batches else 0.0,
        }


class Batcher:
    """One inference thread fed by a queue of requests (see the module's docstring).

    ``submit(texts)`` returns a future of the texts' entities. A batch that fails gives
    its error to every request in it (each is answered, none hangs) and the thread
    goes on with the next batch.
    """

    def __init__(self, tag: TagTexts, max_batch: int = 32, max_wait_s: float = 0.005) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        self.stats = BatchStats()
        self._tag = tag
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._held: _Job | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the inference thread (once; later calls do nothing)."""
        with self._lock:
            if self._stopped:
                raise BatcherStopped("The server is shutting down: send the request again.")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="spanlab-inference", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the batch in hand, fail what is still queued, end the thread."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
        self._fail_waiting()

    @property
    def alive(self) -> bool:
        """Whether the inference thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def waiting(self) -> int:
        """Requests queued and not yet taken into a batch (approximate, for tests and health)."""
        return self._queue.qsize() + (self._held is not None)

    # -- requests ---------------------------------------------------------------------------

    def submit(self, texts: Sequence[str]) -> Future:
        """Queue ``texts`` for tagging; the future's result is one entity list per text."""
        self.start()
        job = _Job(list(texts))
        self._queue.put(job)
        return job.future

    # -- the inference thread ---------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            first = self._held if self._held is not None else self._queue.get()
            self._held = None
            if first is None:
                return
            jobs, stopping = self._gather(first)
            self._run(jobs)
            if stopping:
                return

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        """The first request plus those that join it; True when a stop came in meanwhile."""
        jobs = [first]
        size = len(first.texts)
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            if size + len(job.texts) > self.max_batch:
                self._held = job  # it opens the next batch
                break
            jobs.append(job)
            size += len(job.texts)
        return jobs, False

    def _run(self, jobs: list[_Job]) -> None:
        # A request whose client went away was cancelled: it is not tagged.
        jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        texts = [text for job in jobs for text in job.texts]
        stats = self.stats
        stats.batches += 1
        stats.requests += len(jobs)
        stats.texts += len(texts)
        stats.largest = max(stats.largest, len(texts))
        stats.recent.append((len(jobs), len(texts)))
        try:
            found = self._tag(texts)
            if len(found) != len(texts):
                raise RuntimeError(f"the model gave {len(found)} results for {len(texts)} texts")
        except Exception as error:
            stats.failed_batches += 1
            log.exception("Tagging a batch of %d texts (%d requests) failed", len(texts), len(jobs))
            for job in jobs:
                job.future.set_exception(error)
            return
        start = 0
        for job in jobs:
            job.future.set_result(found[start : start + len(job.texts)])
            start += len(job.texts)

    def _fail_waiting(self) -> None:
        """Answer every request still queued once the thread has gone."""
        pending = [self._held] if self._held is not None else []
        self._held = None
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                pending.append(job)
        for job in pending:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(
                    BatcherStopped("The server is shutting down: send the request again.")
                )
