"""A run's events become its rows in the store: ``runs`` and ``run_events``.

The trainer never touches the store (its connection belongs to the thread that opened
it). Whoever owns the connection — the GUI thread, or the CLI's only thread — feeds the
trainer's events to a :class:`RunRecorder`, usually through a ``RunSession``.

Step events are buffered and written a few at a time. While the store may not be
written (a long write job such as an import holds the file's write lock), everything is
kept, run-row changes included, and written by the next :meth:`RunRecorder.flush` once
``may_write()`` says yes again: the thread that owns the connection never waits on the
lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.store import Project, now
from core.training.events import Event, Final, Start, Step

FLUSH_EVERY = 25  # step events are buffered and written in small transactions
FLUSH_SECONDS = 5.0


class RunRecorder:
    """Write one run's events into the store (call :meth:`record` for each event)."""

    def __init__(
        self, project: Project, run_id: int, may_write: Callable[[], bool] = lambda: True
    ) -> None:
        self.project = project
        self.run_id = run_id
        self.may_write = may_write
        self._rows: list[dict[str, Any]] = []
        self._run_fields: dict[str, Any] = {}
        self._last_flush = time.monotonic()

    @property
    def pending(self) -> bool:
        """Whether some events or run-row changes wait to be written."""
        return bool(self._rows or self._run_fields)

    @property
    def pending_run_fields(self) -> dict[str, Any]:
        """The run-row changes not yet written (what the row will say once they are)."""
        return dict(self._run_fields)

    def record(self, event: Event) -> None:
        """Keep one event and write what is due; the run row follows Start and Final.

        The times written are the times of the events, also when the writing waited.
        """
        row = {k: v for k, v in event.to_dict().items() if k not in ("output_dir", "config")}
        if isinstance(event, Final):
            row.pop("metrics")  # kept once, in the run row
        row["time"] = now()
        self._rows.append(row)
        if isinstance(event, Start):
            self._run_fields.update(status="running", started=row["time"])
        elif isinstance(event, Final):
            self._run_fields.update(event.run_fields(), finished=row["time"])
        due = len(self._rows) >= FLUSH_EVERY or time.monotonic() - self._last_flush >= FLUSH_SECONDS
        if isinstance(event, Step) and not due:
            return
        self.flush()

    def set_run_fields(self, **fields: Any) -> None:
        """Change the run row (e.g. a queued run cancelled before it started), in turn."""
        self._run_fields.update(fields)
        self.flush()

    def flush(self) -> bool:
        """Write what is kept, in one transaction; False (all still kept) if it may not."""
        if not self.pending:
            return True
        if not self.may_write():
            return False
        with self.project.atomic():
            if self._rows:
                self.project.add_run_events(self.run_id, self._rows)
            if self._run_fields:
                self.project.update_run(self.run_id, **self._run_fields)
        self._rows, self._run_fields = [], {}
        self._last_flush = time.monotonic()
        return True
