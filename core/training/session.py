"""One training run, from its settings to its final state: the path every caller takes.

The Train button (through the desktop's queue), ``spanlab train``, and every later
caller that trains — a search trial, an active-learning re-train, a federated round, a
cross-validation fold — run a model through a :class:`RunSession`:

1. :meth:`RunSession.prepare` (the thread that owns the store): a copy of the settings
   with the warm start resolved to a model folder, the annotated documents by split,
   the run's row (``queued``) and its output folder. The :class:`RunPlan` it holds is
   plain data.
2. :func:`train_events` runs the trainer on a plan, in any thread: it touches no store.
3. :meth:`RunSession.record` (the store's thread again) writes each event through a
   ``RunRecorder``; the run row follows Start and the final event.
4. :meth:`RunSession.finish`: the run's final state. If the trainer ended without a
   final event (an exception got past it, the worker ended), the session makes one, so
   the run never stays ``running`` and is never ended twice.

:meth:`RunSession.run` does 2–4 in one thread (the CLI; tests). The desktop does 1, 3
and 4 on the GUI thread and 2 on a worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import NotFoundError, SpanlabError, TrainingError
from core.run_owner import run_folder
from core.store import Project
from core.training.config import TrainConfig
from core.training.events import Cancelled, Event, Failed, Final
from core.training.recorder import RunRecorder

#: The splits a run reads: it trains on train, keeps the best epoch on dev, scores test.
TRAINING_SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class RunPlan:
    """What the trainer needs for one run, as plain data a worker thread may hold."""

    run_id: int
    config: TrainConfig
    data: dict[str, list[dict]]
    output_dir: Path


def train_events(plan: RunPlan, should_stop: Callable[[], bool]) -> Iterator[Event]:
    """The trainer's events for a plan (torch is imported here, where it trains), with the
    refit pass on train + dev where it applies (``core.training.refit``)."""
    from core.training.refit import train_with_refit

    yield from train_with_refit(plan.config, plan.data, plan.output_dir, should_stop)


class RunSession:
    """One run: prepared in the store, its events recorded, its end made final once."""

    def __init__(
        self,
        project: Project,
        plan: RunPlan,
        main: bool = True,
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        self.project = project
        self.plan = plan
        #: False in the helper processes of a data-parallel launch: only the first
        #: process records the run.
        self.main = main
        self.recorder = RunRecorder(project, plan.run_id, may_write) if main else None
        #: The run's final event, once recorded.
        self.final: Final | None = None

    @classmethod
    def prepare(
        cls,
        project: Project,
        config: TrainConfig,
        may_write: Callable[[], bool] = lambda: True,
        study: str | None = None,
        trial: int | None = None,
    ) -> RunSession:
        """Check the settings, read the data, create the run's row (``queued``).

        Raises TrainingError before anything is written when the settings cannot work or
        there is nothing to train on. ``config`` itself is left as it is. ``may_write``
        says whether the store may be written now (see ``RunRecorder``). ``study`` and
        ``trial`` tag the run of a hyper-parameter search (see ``core.search``).
        """
        config = project_config(project, config)
        data = training_data(project)
        if not data["train"]:
            raise TrainingError(
                "No annotated documents in the train split: annotate a few documents, "
                "mark them annotated, and assign splits first (in the app: Annotate ▸ "
                "Assign splits…; or import with --split train)."
            )
        # Under `accelerate launch` / torchrun every process prepares; only the first one
        # writes to the store, and the others learn the run id (hence the folder) from it.
        main = int(os.environ.get("RANK", "0")) == 0
        run_id = None
        if main:
            run_id = project.create_run(
                config.to_dict(), str(config.base_model), "queued", study=study, trial=trial
            )
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from core.training.distributed import from_main_process

            run_id = from_main_process(run_id, config)
        plan = RunPlan(run_id, config, data, run_folder(project.models_dir, run_id))
        return cls(project, plan, main=main, may_write=may_write)

    @property
    def run_id(self) -> int:
        return self.plan.run_id

    def events(self, should_stop: Callable[[], bool] = lambda: False) -> Iterator[Event]:
        """The trainer's events for this run (see :func:`train_events`)."""
        return train_events(self.plan, should_stop)

    def record(self, event: Event) -> None:
        """Write one event into the store (nothing in a helper process)."""
        if isinstance(event, Final):
            if self.final is not None:
                raise TrainingError(
                    f"Run {self.run_id} already ended ({self.final.kind}); "
                    f"a second final event ({event.kind}) is a bug."
                )
            self.final = event
        if self.recorder is not None:
            self.recorder.record(event)

    def finish(self, error: BaseException | None = None, stopping: bool = False) -> Final:
        """The run's final event: the trainer's, or one made from how it ended.

        ``error`` is an exception that got past the trainer; ``stopping`` says the run was
        asked to stop (a worker that ends without a final event was then cancelled).
        """
        if self.final is None:
            self.record(_final_for(error, stopping))
        elif self.recorder is not None:
            self.recorder.flush()
        assert self.final is not None
        return self.final

    def cancel_queued(self) -> Final:
        """End a run that never started (it was waiting in a queue)."""
        self.record(Cancelled(error="Cancelled before it started."))
        return self.finish()

    def run(
        self,
        should_stop: Callable[[], bool] = lambda: False,
        on_event: Callable[[Event], None] | None = None,
    ) -> Final | None:
        """Train in this thread, recording every event and passing it to ``on_event``.

        Returns the final event; None in a helper process of a data-parallel launch
        (the first process reports). An exception is recorded, then re-raised.
        """
        try:
            for event in self.events(should_stop):
                self.record(event)
                if on_event is not None:
                    on_event(event)
        except BaseException as exc:  # e.g. a second Ctrl+C: the run must not stay running
            if self.main:
                self.finish(exc)
            raise
        return self.finish() if self.main else None

    @property
    def waiting_writes(self) -> bool:
        """Whether some of the run's writes wait for the store (see ``RunRecorder``)."""
        return self.recorder is not None and self.recorder.pending

    def flush(self) -> bool:
        """Write what waits, if the store may be written now; True when nothing waits."""
        return self.recorder is None or self.recorder.flush()

    @property
    def recording(self) -> bool:
        """Whether events are written into the store (not in a helper process, nor
        after :meth:`detach`)."""
        return self.recorder is not None

    def detach(self) -> None:
        """Record nothing more: the run's file cannot be reached any more. Events are
        still followed, so :attr:`final` is still set."""
        self.recorder = None

    def move_to(self, project: Project) -> None:
        """Record in ``project`` from now on: the same file, opened again (the window
        closed the connection the run was prepared in)."""
        self.project = project
        if self.recorder is not None:
            self.recorder.project = project

    def stored_run(self) -> dict[str, Any]:
        """The run's row as stored, with the changes still waiting to be written."""
        row = self.project.get_run(self.run_id)
        if self.recorder is not None:
            row.update(self.recorder.pending_run_fields)
        return row


def _final_for(error: BaseException | None, stopping: bool) -> Final:
    if isinstance(error, KeyboardInterrupt):
        return Cancelled(error="Interrupted before the run could end cleanly.")
    if isinstance(error, SpanlabError):
        return Failed(error=str(error), error_type=type(error).__name__)
    if error is not None:
        return Failed(
            error=f"Training stopped on an unexpected error: {error!r}",
            error_type=type(error).__name__,
        )
    if stopping:
        return Cancelled()
    return Failed(error="The training run ended without a result.")


def run_training(
    project: Project,
    config: TrainConfig,
    should_stop: Callable[[], bool] = lambda: False,
    on_event: Callable[[Event], None] | None = None,
) -> RunSession:
    """Prepare a run and train it in this thread (see :meth:`RunSession.run`).

    Returns the finished session: ``session.run_id``, ``session.final``.
    """
    session = RunSession.prepare(project, config)
    session.run(should_stop, on_event)
    return session


def project_config(project: Project, config: TrainConfig) -> TrainConfig:
    """A checked copy of ``config`` as a run in ``project`` trains with it: the project's
    word tokenizer filled in, a warm start resolved to its model folder."""
    config = replace(config).validate()
    if not config.word_tokenizer:  # the model reads raw text as this project splits it
        config = replace(config, word_tokenizer=project.tokenizer())
    if config.warm_start:  # a run id or a folder -> the folder
        config = replace(config, warm_start=resolve_warm_start(project, config.warm_start))
    return config


def training_data(project: Project) -> dict[str, list[dict]]:
    """The annotated documents by split, as plain data a worker may hold."""
    data: dict[str, list[dict]] = {split: [] for split in TRAINING_SPLITS}
    for example in project.examples():
        if example["split"] in data:
            data[example["split"]].append(example)
    return data


def resolve_warm_start(project: Project, value: str | int) -> str:
    """A run id (``3`` or ``run-3``) or a folder -> the model folder to continue from."""
    text = str(value)
    digits = text.removeprefix("run-")
    if digits.isdigit():
        try:
            run = project.get_run(int(digits))
        except NotFoundError as exc:
            raise TrainingError(f"Cannot warm-start from run {digits}: {exc}") from exc
        if run["status"] != "done" or not run["output_dir"]:
            raise TrainingError(
                f"Cannot warm-start from run {digits}: it is {run['status']} and has no model. "
                "Choose a finished run (see 'spanlab runs')."
            )
        return str(run["output_dir"])
    return text
