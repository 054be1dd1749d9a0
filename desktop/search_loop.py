"""A hyper-parameter search in the app: each trial is a run on the Train tab's queue.

:class:`SearchLoop` drives a ``core.search.study.Search`` one trial at a time, all on the
GUI thread (Optuna's ask / report / tell are quick writes to the study's storage):

1. ``Search.ask()`` gives the trial's settings; the run is queued with its study and
   trial number (``TrainingQueue.submit``), so it is an ordinary run of the project,
   recorded like any other and listed in Results.
2. Each dev evaluation (an ``Eval`` event on ``run_event``, the queue's hook) is
   reported; when the pruner says the trial is clearly worse, the run is cancelled (it
   stops within one step) and its row says it was pruned.
3. When the run ends (``run_finished``) the trial is told how (complete, pruned or
   fail), and the next one is asked for — until the number of trials is reached, the
   time budget is spent (no trial starts after it; the one running finishes), Stop is
   pressed (the running trial is cancelled and told so: never left running), or
   ``MAX_FAILURES_IN_A_ROW`` trials failed one after another (as ``spanlab tune`` does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from core.errors import SpanlabError
from core.training.events import Eval, Final
from desktop.controller import ProjectController
from desktop.training_queue import TrainingQueue


@dataclass
class RunningTrial:
    """The trial whose run is queued or training now."""

    trial: Any  # core.search.study.Trial
    run_id: int
    started: float = field(default_factory=time.monotonic)
    epochs: list[float] = field(default_factory=list)  # dev F1 per epoch so far
    pruned: bool = False

    @property
    def number(self) -> int:
        return self.trial.number


class SearchLoop(QObject):
    """Ask, queue, report, tell — one trial after another; see the module docstring."""

    trial_started = Signal(int, int)  # trial number, run id
    trial_progress = Signal(int, int, float)  # trial number, epoch, dev F1
    trial_ended = Signal(int, str)  # trial number, the run's final status
    finished = Signal(str)  # why the search ended, in words

    def __init__(
        self, controller: ProjectController, queue: TrainingQueue, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.queue = queue
        self.search: Any = None  # core.search.study.Search of the search under way or last
        self.current: RunningTrial | None = None
        self._project: Any = None
        self._active = False
        self._stopping = False
        self._left = 0  # trials still to start
        self._failures = 0  # trials failed one after another
        self._max_failures = 0
        self._deadline: float | None = None
        self._next_timer = QTimer(self, singleShot=True, interval=0)
        self._next_timer.timeout.connect(self._next)
        queue.run_event.connect(self._on_run_event)
        queue.run_finished.connect(self._on_run_finished)
        # A run records into the project it started in: no trial goes to another one.
        controller.project_changed.connect(self.stop)

    # -- public API -------------------------------------------------------------------
    def is_running(self) -> bool:
        """True from Start until the last trial has been told how it ended."""
        return self._active

    def start(self, search: Any, n_trials: int, timeout_s: float = 0) -> None:
        """Run up to ``n_trials`` trials of ``search``, none starting after ``timeout_s``
        seconds (0: no time limit). The first trial is queued at once."""
        if self._active:
            raise SpanlabError("A search is already running: stop it first.")
        self.search = search
        self._project = self.controller.project  # the one the trials record in
        self._active, self._stopping = True, False
        self._left = n_trials
        self._failures = 0
        from core.search.study import MAX_FAILURES_IN_A_ROW  # Optuna: imported once needed

        self._max_failures = MAX_FAILURES_IN_A_ROW
        self._deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
        self._next()

    def stop(self) -> None:
        """Start no more trials; cancel the running one (it is told as cancelled)."""
        if not self._active:
            return
        self._stopping = True
        self._next_timer.stop()
        if self.current is not None:
            self.queue.cancel(self.current.run_id)
        else:
            self._end("Stopped.")

    def time_left(self) -> float | None:
        """Seconds until no new trial starts (None: no time limit)."""
        return None if self._deadline is None else max(self._deadline - time.monotonic(), 0.0)

    # -- the cycle ----------------------------------------------------------------------
    def _next(self) -> None:
        if not self._active:
            return
        if self._stopping:
            self._end("Stopped.")
        elif self._left <= 0:
            self._end("All trials have run.")
        elif self._deadline is not None and time.monotonic() >= self._deadline:
            self._end("The time budget is spent.")
        elif self._failures >= self._max_failures:
            self._end(
                f"{self._failures} trials in a row failed (see the table): fix the settings "
                "every trial shares (the Train tab) or the space, then start again."
            )
        else:
            self._start_trial()

    def _start_trial(self) -> None:
        try:
            trial = self.search.ask()
        except SpanlabError as exc:
            self._end(f"The search stopped: {exc}")
            return
        try:
            run_id = self.queue.submit(trial.config, study=self.search.name, trial=trial.number)
        except SpanlabError as exc:
            # Every later trial would be refused alike (no training data, an import
            # writing...): the trial is told why, and the search ends with the reason.
            self._tell(trial, None, None, error=str(exc))
            self._end(f"The search stopped: {exc}")
            return
        self._left -= 1
        self.current = RunningTrial(trial, run_id)
        self._call(self.search.attach_run, trial, run_id)
        self.trial_started.emit(trial.number, run_id)

    def _on_run_event(self, run_id: int, event: object) -> None:
        current = self.current
        if current is None or run_id != current.run_id or not isinstance(event, Eval):
            return
        if event.split != "dev":
            return
        current.epochs.append(event.f1)
        asked = current.pruned or self._stopping  # stopping already: nothing to report
        if not asked and self._call(self.search.report, current.trial, event.epoch, event.f1):
            current.pruned = True
            self.queue.cancel(run_id)
        self.trial_progress.emit(current.number, event.epoch, event.f1)

    def _on_run_finished(self, run_id: int, final: Final, _row: object) -> None:
        current = self.current
        if current is None or run_id != current.run_id:
            return
        self.current = None
        state = self._tell(current.trial, final, run_id)
        if state == "pruned":
            self._note_pruned(run_id, current)
        self._failures = self._failures + 1 if state == "fail" else 0
        self.trial_ended.emit(current.number, state or "fail")
        # After the other panels have seen this run end, so the next one starts after.
        self._next_timer.start()

    def _tell(
        self, trial: Any, final: Final | None, run_id: int | None, error: str | None = None
    ) -> str | None:
        """Tell the study how the trial ended; its state (None if the study refused)."""
        return self._call(self.search.tell, trial, final, run_id, error)

    def _call(self, method: Any, *args: Any) -> Any:
        """A call to the study; a storage error is shown (the search goes on)."""
        try:
            return method(*args)
        except SpanlabError as exc:
            self.controller.show_error(exc)
            return None

    def _note_pruned(self, run_id: int, current: RunningTrial) -> None:
        """The run's row says why it was cancelled (as ``spanlab tune`` writes it)."""
        project = self.controller.project
        if project is None or project is not self._project:
            return
        if self.controller.write_block_reason() is not None:
            return  # an import writes: the note is not worth waiting for
        epoch = len(current.epochs)
        try:
            project.update_run(
                run_id, error=f"Pruned by the search {self.search.name!r} after epoch {epoch}."
            )
        except SpanlabError as exc:
            self.controller.show_error(exc)

    def _end(self, why: str) -> None:
        self._active = False
        self._stopping = False
        self.finished.emit(why)
