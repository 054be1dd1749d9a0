"""Training runs, one at a time, on a worker thread; later ones wait in a queue.

Each run is a ``core.training.session.RunSession``. On the GUI thread it is prepared
(settings, data, the run's row) and records every event into the store; only its plan —
plain data — goes to the worker, which runs the trainer (step events coalesced to ~10 a
second). The store connection never leaves the GUI thread.

While a long write job (an import) holds the project's write lock, the controller says
so (``write_block_reason()``): a new run is refused with that reason, and a running
run's events are kept by its recorder and written when ``writes_unblocked`` fires, so
the window never waits on the lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Signal

from core.errors import ProjectBusyError, SpanlabError, TrainingError
from core.store import Project
from core.training.config import TrainConfig
from core.training.events import Event, Final, Start
from core.training.session import RunSession, train_events
from desktop.controller import ProjectController, blocked_message
from desktop.workers import Worker, start_worker


@dataclass
class TrainingJob:
    """A run waiting for, or using, the worker."""

    session: RunSession
    project: Project  # the Project it was queued in (the controller's, then)
    state: str = "queued"  # queued / running / stopping
    worker: Worker | None = None
    own_project: Project | None = None  # its project reopened, once the window moved on

    @property
    def run_id(self) -> int:
        return self.session.run_id

    @property
    def config(self) -> TrainConfig:
        """The run's settings (warm start resolved)."""
        return self.session.plan.config


class TrainingQueue(QObject):
    """Runs queued training jobs one after another on a worker thread."""

    queue_changed = Signal()  # a job was added, started, finished or removed
    run_started = Signal(int)  # run id
    run_event = Signal(int, object)  # run id, the Event (already given to the store)
    # run id, the Final event, the run's row as stored (None if it could not be read
    # back): its timestamps give the run's duration.
    run_finished = Signal(int, object, object)

    def __init__(self, controller: ProjectController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self._jobs: list[TrainingJob] = []
        self._unwritten: list[TrainingJob] = []  # ended, but writes still wait
        controller.writes_unblocked.connect(self._write_waiting)

    # -- public API -------------------------------------------------------------------
    def submit(
        self, config: TrainConfig, study: str | None = None, trial: int | None = None
    ) -> int:
        """Create the run row and queue the run; returns its id.

        ``study`` and ``trial`` tag a run that a hyper-parameter search made (a trial's run
        has both; one trained with a study's best settings only the study).
        Raises TrainingError before anything is written when there is nothing to train
        on, and ProjectBusyError while a long job writes to the project.
        """
        project = self._controller.project
        if project is None:
            raise TrainingError("Open a project before training.")
        reason = self._controller.write_block_reason()
        if reason is not None:
            raise ProjectBusyError(blocked_message(reason, "the run was not queued"))
        session = RunSession.prepare(
            project, config, may_write=lambda: self._may_write(project), study=study, trial=trial
        )
        self._jobs.append(TrainingJob(session, project))
        self._controller.notify_runs_changed()
        self.queue_changed.emit()
        self._start_next()
        return session.run_id

    def cancel(self, run_id: int) -> None:
        """Stop a running job (within one step) or drop a queued one."""
        job = self._job(run_id)
        if job is None:
            return
        if job.state == "queued":
            self._jobs.remove(job)
            self._in_store(job, job.session.cancel_queued)
            row = self._stored_row(job)
            self._release(job)
            self._controller.notify_runs_changed()
            self.queue_changed.emit()
            self.run_finished.emit(run_id, job.session.final, row)
        elif job.worker is not None:
            job.state = "stopping"
            job.worker.quit()
            self.queue_changed.emit()

    def cancel_all(self) -> None:
        """Drop every queued job and stop the running one."""
        for job in list(self._jobs):
            self.cancel(job.run_id)

    def jobs(self) -> list[TrainingJob]:
        """The running job first, then the queued ones in order."""
        return list(self._jobs)

    def running(self) -> TrainingJob | None:
        return next((j for j in self._jobs if j.state in ("running", "stopping")), None)

    def is_busy(self) -> bool:
        return bool(self._jobs)

    def wait(self, msecs: int = 10000) -> bool:
        """Run the event loop until every job has ended and been recorded (for shutdown).

        Used after :meth:`cancel_all` when the window closes: the running job stops within
        a step, and its last events still reach the store. True if all ended in time.
        """
        deadline = time.monotonic() + msecs / 1000
        while (self._jobs or self._unwritten) and time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            job = self.running()
            if job is not None and job.worker is not None:
                job.worker.wait(20)
        return not (self._jobs or self._unwritten)

    # -- the store ----------------------------------------------------------------------
    def _store(self, job: TrainingJob) -> Project:
        """The open Project to record a job in: the window's, or the job's own again.

        When the window switches projects the old one is closed; a run stopping after
        that is still recorded in its own file, through a connection of its own.
        """
        if self._controller.project is job.project:
            return job.project
        if job.own_project is None:
            job.own_project = Project.open(job.project.path)
        return job.own_project

    def _may_write(self, project: Project) -> bool:
        """No long job writes to the project a run records in (another file: no matter)."""
        return (
            self._controller.project is not project or self._controller.write_block_reason() is None
        )

    def _in_store(self, job: TrainingJob, action: Callable[[], object]) -> None:
        """Do a session action (record, finish, flush) in the job's store.

        A store error (e.g. the project file was moved away meanwhile) is shown, never
        raised; a file that cannot be opened again records nothing more, but the run's
        events still reach the panels.
        """
        try:
            job.session.move_to(self._store(job))
        except SpanlabError as exc:
            self._controller.show_error(exc)
            job.session.detach()
        try:
            action()
        except SpanlabError as exc:
            self._controller.show_error(exc)

    def _stored_row(self, job: TrainingJob) -> dict | None:
        """The job's run row as recorded, or as it will be once the waiting writes are."""
        if not job.session.recording:
            return None
        try:
            job.session.move_to(self._store(job))
            return job.session.stored_run()
        except SpanlabError as exc:  # e.g. the project file was moved away meanwhile
            self._controller.show_error(exc)
            return None

    def _release(self, job: TrainingJob) -> None:
        """The job has ended: close its own connection, once nothing waits to be written."""
        if job.session.waiting_writes:
            if job not in self._unwritten:
                self._unwritten.append(job)
            return
        if job in self._unwritten:
            self._unwritten.remove(job)
        if job.own_project is not None:
            job.own_project.close()
            job.own_project = None

    def _write_waiting(self) -> None:
        """The long write job ended: write what the runs kept meanwhile."""
        waiting = [j for j in (*self._jobs, *self._unwritten) if j.session.waiting_writes]
        for job in waiting:
            self._in_store(job, job.session.flush)
        for job in list(self._unwritten):
            self._release(job)
        if waiting:
            self._controller.notify_runs_changed()

    # -- the worker ---------------------------------------------------------------------
    def _job(self, run_id: int) -> TrainingJob | None:
        return next((j for j in self._jobs if j.run_id == run_id), None)

    def _start_next(self) -> None:
        if self.running() is not None or not self._jobs:
            return
        job = self._jobs[0]
        job.state = "running"
        worker = start_worker(train_events, job.session.plan)  # Step events are coalesced
        job.worker = worker
        worker.yielded.connect(lambda event, j=job: self._on_event(j, event))
        worker.errored.connect(lambda exc, j=job: self._on_error(j, exc))
        worker.finished.connect(lambda j=job: self._on_finished(j))
        self.queue_changed.emit()
        self.run_started.emit(job.run_id)

    def _on_event(self, job: TrainingJob, event: Event) -> None:
        self._in_store(job, lambda: job.session.record(event))
        if isinstance(event, Start | Final):
            self._controller.notify_runs_changed()  # status: running / done / ...
        self.run_event.emit(job.run_id, event)

    def _on_error(self, job: TrainingJob, exc: BaseException) -> None:
        # The trainer reports its own failures as a Failed event (and the worker logs
        # the exception); only an error that got past it still needs recording.
        if job.session.final is None:
            self._finish(job, exc)

    def _on_finished(self, job: TrainingJob) -> None:
        if job.session.final is None:
            self._finish(job, None)
        row = self._stored_row(job)
        if job in self._jobs:
            self._jobs.remove(job)
        self._release(job)
        self.queue_changed.emit()
        self.run_finished.emit(job.run_id, job.session.final, row)
        self._start_next()

    def _finish(self, job: TrainingJob, error: BaseException | None) -> None:
        """Record the final event the session makes when the trainer sent none."""
        stopping = job.state == "stopping"
        self._in_store(job, lambda: job.session.finish(error, stopping))
        self._controller.notify_runs_changed()
        self.run_event.emit(job.run_id, job.session.final)
