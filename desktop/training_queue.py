"""Training runs, one at a time, on a worker thread; later ones wait in a queue.

The GUI thread reads the training data from the store (plain dicts), creates the run
row, and hands data and config to `core.training.trainer.train` on a worker. The
worker's events come back to the GUI thread (step events coalesced to ~10 a second),
where `RunRecorder` writes them into the store: the store connection never leaves the
GUI thread.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Signal

from core.errors import SpanlabError, TrainingError
from core.store import Project
from core.training.config import TrainConfig
from core.training.runs import RunRecorder, resolve_warm_start, run_output_dir
from desktop.workers import Worker, start_worker

FINAL_KINDS = ("done", "cancelled", "failed")


@dataclass
class TrainingJob:
    """A run waiting for, or using, the worker."""

    run_id: int
    config: TrainConfig
    data: dict
    output_dir: Path
    project: Any = None  # the Project it was queued in (the controller's, then)
    state: str = "queued"  # queued / running / stopping
    worker: Worker | None = None
    recorder: Any = None
    final: dict = field(default_factory=dict)
    own_project: Any = None  # its project reopened, once the window moved to another


def config_dict(config: TrainConfig) -> dict:
    """The config as plain JSON-ready data (what the run row stores)."""
    to_dict = getattr(config, "to_dict", None)
    return to_dict() if callable(to_dict) else dataclasses.asdict(config)


def run_job(config: TrainConfig, data: dict, output_dir: Path, should_stop: Any) -> Iterator[dict]:
    """Worker job: the trainer's events (torch is imported here, off the GUI thread)."""
    from core.training.trainer import train

    yield from train(config, data, output_dir, should_stop)


def training_data(project: Any) -> dict:
    """The annotated documents by split, as plain data a worker may hold."""
    data: dict[str, list] = {"train": [], "dev": [], "test": []}
    for example in project.examples():
        split = example.get("split")
        if split in data:
            data[split].append(example)
    return data


class TrainingQueue(QObject):
    """Runs queued training jobs one after another on a worker thread."""

    queue_changed = Signal()  # a job was added, started, finished or removed
    run_started = Signal(int)  # run id
    run_event = Signal(int, object)  # run id, event (already recorded in the store)
    # run id, the final event (done / cancelled / failed), the run's row as now stored
    # (None if it could not be read back): its timestamps give the run's duration.
    run_finished = Signal(int, object, object)

    def __init__(self, controller: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self._jobs: list[TrainingJob] = []

    # -- public API -------------------------------------------------------------------
    def submit(self, config: TrainConfig) -> int:
        """Create the run row and queue the run; returns its id.

        Raises TrainingError before anything is written when there is nothing to train on.
        """
        project = self._controller.project
        if project is None:
            raise TrainingError("Open a project before training.")
        if config.warm_start:  # a run id or a folder -> the folder
            config.warm_start = resolve_warm_start(project, config.warm_start)
        data = training_data(project)
        if not data["train"]:
            raise TrainingError(
                "No annotated documents in the train split: annotate a few documents, "
                "mark them annotated, and assign splits (or put them in train) first."
            )
        run_id = project.create_run(config_dict(config), str(config.base_model), status="queued")
        output_dir = run_output_dir(project, run_id)
        self._jobs.append(TrainingJob(run_id, config, data, output_dir, project))
        self._notify_runs()
        self.queue_changed.emit()
        self._start_next()
        return run_id

    def cancel(self, run_id: int) -> None:
        """Stop a running job (within one step) or drop a queued one."""
        job = self._job(run_id)
        if job is None:
            return
        if job.state == "queued":
            self._jobs.remove(job)
            row = self._store(job).update_run(
                run_id, status="cancelled", error="Cancelled before it started."
            )
            self._release(job)
            self._notify_runs()
            self.queue_changed.emit()
            final = {"kind": "cancelled", "output_dir": None, "error": None}
            self.run_finished.emit(run_id, final, row)
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
        while self._jobs and time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            job = self.running()
            if job is not None and job.worker is not None:
                job.worker.wait(20)
        return not self._jobs

    # -- internals --------------------------------------------------------------------
    def _store(self, job: TrainingJob) -> Any:
        """The open Project to record a job in: the window's, or the job's own again.

        When the window switches projects the old one is closed; a run stopping after
        that is still recorded in its own file, through a connection of its own.
        """
        if self._controller.project is job.project:
            return job.project
        if job.own_project is None:
            job.own_project = Project.open(job.project.path)
        return job.own_project

    def _release(self, job: TrainingJob) -> None:
        if job.own_project is not None:
            job.own_project.close()
            job.own_project = None

    def _job(self, run_id: int) -> TrainingJob | None:
        return next((j for j in self._jobs if j.run_id == run_id), None)

    def _notify_runs(self) -> None:
        notify = getattr(self._controller, "notify_runs_changed", None)
        if callable(notify):
            notify()

    def _start_next(self) -> None:
        if self.running() is not None or not self._jobs:
            return
        job = self._jobs[0]
        job.state = "running"
        job.recorder = RunRecorder(self._store(job), job.run_id)
        worker = start_worker(run_job, job.config, job.data, job.output_dir)
        job.worker = worker
        worker.yielded.connect(lambda event, j=job: self._on_event(j, event))
        worker.errored.connect(lambda exc, j=job: self._on_error(j, exc))
        worker.finished.connect(lambda j=job: self._on_finished(j))
        self.queue_changed.emit()
        self.run_started.emit(job.run_id)

    def _record(self, job: TrainingJob, event: dict) -> None:
        try:
            job.recorder.project = self._store(job)
            job.recorder.record(event)
        except SpanlabError as exc:  # e.g. the project file was moved away meanwhile
            self._report(exc)

    def _on_event(self, job: TrainingJob, event: object) -> None:
        if not isinstance(event, dict):
            return
        self._record(job, event)
        if event.get("kind") in FINAL_KINDS:
            job.final = event
        if event.get("kind") in (*FINAL_KINDS, "start"):
            self._notify_runs()  # status changed: running / done / cancelled / failed
        self.run_event.emit(job.run_id, event)

    def _on_error(self, job: TrainingJob, exc: object) -> None:
        # The trainer reports its own failures as a "failed" event (and the worker logs
        # the exception); only an error that got past it still needs recording.
        if job.final:
            return
        message = str(exc) or type(exc).__name__
        if not isinstance(exc, SpanlabError):
            message = f"Training stopped on an unexpected error: {message}"
        event = {"kind": "failed", "error": message, "output_dir": None, "metrics": None}
        self._on_event(job, event)

    def _on_finished(self, job: TrainingJob) -> None:
        if not job.final:
            kind = "cancelled" if job.state == "stopping" else "failed"
            error = None if kind == "cancelled" else "The training run ended without a result."
            self._on_event(job, {"kind": kind, "error": error, "output_dir": None, "metrics": None})
        row = self._stored_row(job)
        if job in self._jobs:
            self._jobs.remove(job)
        self._release(job)
        self.queue_changed.emit()
        self.run_finished.emit(job.run_id, job.final, row)
        self._start_next()

    def _stored_row(self, job: TrainingJob) -> dict | None:
        """The job's run row as recorded (its final status and timestamps)."""
        try:
            return self._store(job).get_run(job.run_id)
        except SpanlabError as exc:  # e.g. the project file was moved away meanwhile
            self._report(exc)
            return None

    def _report(self, exc: BaseException) -> None:
        show = getattr(self._controller, "show_error", None)
        if callable(show):
            show(exc)
