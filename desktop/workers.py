"""Run a long job from core on a QThread and turn what it does into Qt signals.

A job is a plain function or a generator function (core never knows about Qt). The
:class:`Worker` runs it on its own ``QThread`` and emits, always in the thread the
worker object lives in (the GUI thread), in this order:

- ``started()`` once the job begins;
- ``yielded(object)`` for each value a generator yields, throttled: progress values
  (a training ``Step``, a ``(done, total)`` count) are coalesced so that at most ~10
  reach the GUI a second, and the last one is always delivered (see
  :func:`is_droppable`); every other value (an ``Eval`` event, a batch of predictions)
  is never dropped and keeps its order;
- ``returned(object)`` with the return value, or ``errored(object)`` with the exception
  (also logged; if nothing listens to ``errored`` it goes to ``sys.excepthook`` — never
  swallowed);
- ``finished()`` last, in every case.

Stopping: :meth:`Worker.quit` sets a flag. The job sees it through the small state the
worker hands it, by parameter name, when the job's signature asks for it and the caller
did not pass it:

- ``should_stop``: a ``() -> bool`` callable (what core's jobs take);
- ``progress``: a callable whose argument is delivered like a yielded value (what
  ``core.formats.import_file`` takes);
- ``state``: the :class:`WorkerState` itself.

A generator that takes ``should_stop`` is trusted to stop itself (so it can emit its own
"cancelled" event and clean up); any other generator is closed at its next yield.
Example::

    worker = start_worker(train, config, data, out_dir)   # train(..., should_stop)
    worker.yielded.connect(panel.on_event)
    worker.returned.connect(panel.on_done)
    ...
    worker.quit()                                          # Cancel button
"""

from __future__ import annotations

import inspect
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from core.errors import SpanlabError
from core.training.events import Step

log = logging.getLogger(__name__)

#: Smallest gap, in seconds, between two deliveries of droppable values.
DEFAULT_INTERVAL = 0.1

#: ``kind`` values of dict events that may be coalesced (the newest one wins).
DROPPABLE_KINDS = frozenset({"step", "progress"})

_DONE = object()


def is_droppable(value: object) -> bool:
    """Whether a yielded value may be replaced by a newer one when the GUI is busy.

    Progress may: a training :class:`~core.training.events.Step`, a number or a tuple
    of counts, a dict event whose ``kind`` is "step" or "progress". Anything else is
    data the GUI must see (a result batch, an evaluation) and is never dropped.
    """
    if isinstance(value, Step | int | float | tuple):
        return True
    if isinstance(value, dict):
        return value.get("kind") in DROPPABLE_KINDS
    return False


class WorkerState:
    """What a running job may see of its worker: the stop flag and a progress sink."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def should_stop(self) -> bool:
        """True once :meth:`Worker.quit` was called."""
        return self._worker._stop.is_set()

    def progress(self, value: object) -> None:
        """Report progress; delivered to the GUI like a yielded value (throttled)."""
        self._worker._push(value)


class _Runner(QThread):
    """The thread that calls the job; it only touches the worker's thread-safe parts."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self._worker = worker

    def run(self) -> None:  # noqa: D401 - QThread API
        self._worker._execute()


class Worker(QObject):
    """Runs ``fn(*args, **kwargs)`` on a QThread; see the module docstring."""

    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    finished = Signal()

    _wake = Signal()

    def __init__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        _interval: float = DEFAULT_INTERVAL,
        _droppable: Callable[[object], bool] = is_droppable,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self._fn = fn
        self._args = args
        self._kwargs = dict(kwargs)
        self._interval = _interval
        self._droppable = _droppable
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._queue: deque[tuple[str, object]] = deque()
        self._last_droppable = False  # is the queue's tail a droppable value?
        self._wake_pending = False
        self._last_delivery = 0.0
        self._is_running = False
        self._thread: _Runner | None = None
        self.state = WorkerState(self)
        self._self_stopping = self._inject_state()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._deliver)
        self._wake.connect(self._on_wake)

    # -- public API -------------------------------------------------------------------

    def start(self) -> None:
        """Start the job on a new thread (once)."""
        if self._thread is not None:
            raise RuntimeError("a Worker can be started only once")
        self._thread = _Runner(self)
        self._is_running = True
        self._thread.start()

    def quit(self) -> None:
        """Ask the job to stop: checked between yields (and by the job's ``should_stop``)."""
        self._stop.set()

    def should_stop(self) -> bool:
        """True once :meth:`quit` was called."""
        return self._stop.is_set()

    @property
    def is_running(self) -> bool:
        """True from :meth:`start` until ``finished`` was emitted."""
        return self._is_running

    def wait(self, msecs: int = -1) -> bool:
        """Block until the thread ends (for shutdown); True if it ended."""
        if self._thread is None:
            return True
        return self._thread.wait(msecs) if msecs >= 0 else self._thread.wait()

    # -- worker thread side -------------------------------------------------------------

    def _inject_state(self) -> bool:
        """Hand the job ``should_stop`` / ``progress`` / ``state`` if it asks for them."""
        try:
            params = inspect.signature(self._fn).parameters
        except (TypeError, ValueError):
            return False
        offered = {
            "should_stop": self.state.should_stop,
            "progress": self.state.progress,
            "state": self.state,
        }
        for name, value in offered.items():
            if name in params and name not in self._kwargs:
                self._kwargs[name] = value
        return "should_stop" in params or "state" in params

    def _execute(self) -> None:
        self._post("started", None)
        try:
            result = self._fn(*self._args, **self._kwargs)
            if inspect.isgenerator(result):
                result = self._drain(result)
        except BaseException as exc:  # noqa: BLE001 - reported through `errored`
            self._post("errored", exc)
        else:
            self._post("returned", result)
        self._post("finished", _DONE)

    def _drain(self, gen: Any) -> Any:
        """Run a generator to its end, or until asked to stop; return its return value."""
        while True:
            try:
                value = next(gen)
            except StopIteration as stop:
                return stop.value
            self._push(value)
            if self._stop.is_set() and not self._self_stopping:
                gen.close()
                return None

    def _push(self, value: object) -> None:
        """Queue one yielded value, replacing a droppable tail with a droppable value."""
        droppable = self._droppable(value)
        with self._lock:
            if droppable and self._last_droppable and self._queue:
                self._queue[-1] = ("yielded", value)
            else:
                self._queue.append(("yielded", value))
            self._last_droppable = droppable
            self._request_wake()

    def _post(self, kind: str, value: object) -> None:
        with self._lock:
            self._queue.append((kind, value))
            self._last_droppable = False
            self._request_wake()

    def _request_wake(self) -> None:
        # Called with the lock held: one queued wake at a time, never a flood.
        if not self._wake_pending:
            self._wake_pending = True
            self._wake.emit()

    # -- GUI thread side ----------------------------------------------------------------

    @Slot()
    def _on_wake(self) -> None:
        with self._lock:
            self._wake_pending = False
            urgent = any(kind != "yielded" for kind, _ in self._queue)
        wait = self._interval - (time.monotonic() - self._last_delivery)
        if urgent or wait <= 0:
            self._deliver()
        elif not self._timer.isActive():
            self._timer.start(max(1, int(wait * 1000)))

    @Slot()
    def _deliver(self) -> None:
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            self._last_droppable = False
        if not items:
            return
        self._last_delivery = time.monotonic()
        for kind, value in items:
            if kind == "started":
                self.started.emit()
            elif kind == "yielded":
                self.yielded.emit(value)
            elif kind == "returned":
                self.returned.emit(value)
            elif kind == "errored":
                self._report_error(value)
            elif kind == "finished":
                self._timer.stop()
                if self._thread is not None:
                    self._thread.wait()
                self._is_running = False
                self.finished.emit()

    def _report_error(self, exc: object) -> None:
        name = getattr(self._fn, "__name__", self._fn)
        if isinstance(exc, SpanlabError):  # meant for the user: one line is enough
            log.info("worker %r stopped: %s", name, exc)
        else:
            log.error("error in worker %r", name, exc_info=exc)
        if self._has_receivers("errored"):
            self.errored.emit(exc)
        elif isinstance(exc, BaseException):
            sys.excepthook(type(exc), exc, exc.__traceback__)

    def _has_receivers(self, name: str) -> bool:
        meta = self.metaObject()
        for i in range(meta.methodCount()):
            method = meta.method(i)
            if bytes(method.name()).decode() == name:
                return self.isSignalConnected(method)
        return True


_alive: set[Worker] = set()


def start_worker(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Worker:
    """Create a :class:`Worker` for ``fn(*args, **kwargs)``, start it, and keep it alive.

    A reference is held until ``finished``, so the caller may drop theirs. Connect the
    signals right after this call: nothing is delivered before control returns to the
    event loop.
    """
    worker = Worker(fn, *args, **kwargs)
    _alive.add(worker)
    worker.finished.connect(lambda: _alive.discard(worker))
    worker.start()
    return worker


def stop_all_workers(timeout_ms: int = 5000) -> None:
    """Ask every running worker to stop and wait for its thread (used when quitting)."""
    for worker in list(_alive):
        worker.quit()
    for worker in list(_alive):
        worker.wait(timeout_ms)
