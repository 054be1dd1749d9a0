"""Training runs in the store: events become ``runs`` / ``run_events`` rows.

The trainer never touches the store (its connection belongs to the thread that opened
it). Whoever owns the connection — the GUI thread, or the CLI's only thread — feeds the
trainer's events to a :class:`RunRecorder`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import NotFoundError, TrainingError
from core.run_owner import run_folder
from core.store import Project, now
from core.training.config import TrainConfig

FINAL = {"done": "done", "cancelled": "cancelled", "failed": "failed"}
FLUSH_EVERY = 25  # step events are buffered and written in small transactions
FLUSH_SECONDS = 5.0


class RunRecorder:
    """Write one run's events into the store (call :meth:`record` for each event)."""

    def __init__(self, project: Any, run_id: int) -> None:
        self.project = project
        self.run_id = run_id
        self._pending: list[dict] = []
        self._last_flush = time.monotonic()

    def record(self, event: dict) -> None:
        """Store one event; the run row follows start and the final event."""
        kind = event.get("kind")
        row = {k: v for k, v in event.items() if k not in ("output_dir", "config")}
        row.setdefault("time", now())
        if kind == "done":
            row.pop("metrics", None)  # kept once, in the run row
        self._pending.append(row)
        if kind == "step" and (
            len(self._pending) < FLUSH_EVERY and time.monotonic() - self._last_flush < FLUSH_SECONDS
        ):
            return
        self.flush()
        if kind == "start":
            self.project.update_run(self.run_id, status="running", started=now())
        elif kind in FINAL:
            self.project.update_run(
                self.run_id,
                status=FINAL[kind],
                finished=now(),
                output_dir=event.get("output_dir"),
                metrics=event.get("metrics"),
                error=event.get("error"),
            )

    def flush(self) -> None:
        if self._pending:
            self.project.add_run_events(self.run_id, self._pending)
            self._pending = []
        self._last_flush = time.monotonic()

    # The name some callers know it by.
    handle = record


def run_output_dir(project: Project, run_id: int) -> Path:
    """Where a run's model folder goes: ``NAME/run-<id>`` beside the project file."""
    return run_folder(project.models_dir, run_id)


def run_training(
    project: Any,
    config: TrainConfig,
    should_stop: Callable[[], bool] | None = None,
    on_event: Callable[[dict], None] | None = None,
) -> dict:
    """Train on the project's annotated documents in this thread, recording the run.

    The CLI path: creates the run row, trains into ``models_dir/run-<id>``, records every
    event, calls ``on_event`` with each, and returns the final event plus ``run_id``.
    """
    from core.training.trainer import train

    if config.warm_start:
        config = replace(config, warm_start=resolve_warm_start(project, config.warm_start))
    data = {split: project.examples(split) for split in ("train", "dev", "test")}
    # Under `accelerate launch` / torchrun every process runs this; only the first one
    # writes to the store, and the others learn the run id (hence the folder) from it.
    main = int(os.environ.get("RANK", "0")) == 0
    run_id = None
    if main:
        run_id = project.create_run(config.to_dict(), str(config.base_model), status="queued")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        run_id = _from_main_process(run_id, config)
    output_dir = run_output_dir(project, run_id)
    if not main:
        for _ in train(config, data, output_dir, should_stop or (lambda: False)):
            pass  # the main process reports and records
        return {"kind": None, "run_id": run_id, "worker": True}
    recorder = RunRecorder(project, run_id)
    final: dict = {}
    try:
        for event in train(config, data, output_dir, should_stop or (lambda: False)):
            recorder.record(event)
            if on_event is not None:
                on_event(event)
            if event["kind"] in FINAL:
                final = event
    except BaseException as exc:
        if not final:  # e.g. a second Ctrl+C: the run must not stay "running"
            kind = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
            recorder.record({"kind": kind, "output_dir": None, "error": repr(exc)})
        raise
    return {**final, "run_id": run_id}


def _from_main_process(value: Any, config: TrainConfig) -> Any:
    """``value`` as the first process of a data-parallel launch has it."""
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    from core.training.loading import resolve_device

    # Joins the launcher's process group, on the device the run will use.
    state = PartialState(cpu=resolve_device(config.device).type == "cpu")
    if state.num_processes < 2:
        raise TrainingError("This data-parallel launch has no process group to share the run.")
    return broadcast_object_list([value], from_process=0)[0]


def resolve_warm_start(project: Any, value: str | int) -> str:
    """A run id (``3`` or ``run-3``) or a folder -> the model folder to continue from."""
    text = str(value)
    digits = text.removeprefix("run-")
    if digits.isdigit():
        try:
            run = project.get_run(int(digits))
        except NotFoundError as exc:
            raise TrainingError(f"Cannot warm-start from run {digits}: {exc}") from exc
        if run["status"] != "done" or not run.get("output_dir"):
            raise TrainingError(
                f"Cannot warm-start from run {digits}: it is {run['status']} and has no model. "
                "Choose a finished run (see 'spanlab runs')."
            )
        return str(run["output_dir"])
    return text
