"""Refit: once dev has chosen the epoch, train once more on train + dev.

A project's dev split does two jobs in an ordinary run: it picks the best epoch, and
it is left out of training. On a small corpus that second job is expensive: WNUT-17's
dev split is 1,009 sentences against 3,394 in train, and from a source closer to its
test set. :func:`train_with_refit` runs the trainer twice under one run:

1. **first pass**: train on train, score dev each epoch, early stopping as always; its
   best epoch ``E`` and its dev scores are the run's honest estimate (dev held out);
2. **refit**: from the same start, same settings and seed, train on train + dev for
   ``E`` epochs (no early stopping, nothing held out) and score test.

The saved model is the refit one; its ``metrics.json`` keeps the first pass's dev
scores (``f1``, ``dev``, ``best_epoch``) and says under ``refit`` what the second pass
did, with the first pass's test F1 beside it. This is what Flair calls
``train_with_dev`` and scikit-learn ``refit``; Spanlab's search already offers it as
``--with-dev`` for a study's final model.

It applies where the run has a dev split of its own (not one held out of train), no
time budget (a budgeted run is one pass), one process (not a data-parallel launch), and
``TrainConfig.refit`` is on. The events
are one run's: one Start, the steps numbered on across both passes, the ETA counting
the refit still to come, one final event. A cancel or a failure in either pass leaves
no model folder; the output folder appears, complete, only at the end.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from core.training.config import TrainConfig
from core.training.events import Done, Event, Log, Start, Step


def refit_applies(config: TrainConfig, data: dict) -> bool:
    """Whether :func:`train_with_refit` trains a second pass for these settings and data."""
    single = int(os.environ.get("WORLD_SIZE", "1")) <= 1
    return bool(config.refit and data.get("dev") and not config.time_budget_s and single)


def train_with_refit(
    config: TrainConfig,
    data: dict,
    output_dir: str | Path,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[Event]:
    """The trainer's events for one run, with the refit pass where it applies."""
    from core.training.trainer import train

    output_dir = Path(output_dir)
    if not refit_applies(config, data):
        yield from train(config, data, output_dir, should_stop)
        return
    pid = os.getpid()
    first_dir = output_dir.parent / f".{output_dir.name}.first.partial-{pid}"
    refit_dir = output_dir.parent / f".{output_dir.name}.refit.partial-{pid}"
    try:
        yield from _two_passes(config, data, output_dir, first_dir, refit_dir, should_stop, train)
    finally:
        for folder in (first_dir, refit_dir):
            shutil.rmtree(folder, ignore_errors=True)


def _two_passes(
    config: TrainConfig,
    data: dict,
    output_dir: Path,
    first_dir: Path,
    refit_dir: Path,
    should_stop: Callable[[], bool],
    train: Callable[..., Iterator[Event]],
) -> Iterator[Event]:
    started = time.monotonic()
    log: list[Event] = []  # every event of the run, for the model folder's events.jsonl
    first, elapsed = None, 0.0
    refit_steps = 0  # the refit's steps, as estimated at Start (an upper bound)
    first_config = replace(config, refit=False)
    for event in train(first_config, data, first_dir, should_stop):
        if isinstance(event, Start):
            refit_steps = _refit_steps_estimate(event)
        elif isinstance(event, Step):
            elapsed = event.elapsed_s
            per_step = event.elapsed_s / max(event.step, 1)
            event = replace(
                event,
                total_steps=event.total_steps + refit_steps,
                eta_s=event.eta_s + refit_steps * per_step,
            )
        elif isinstance(event, Done):
            first = event  # the run goes on: not final yet
            continue
        log.append(event)
        yield event  # a Cancelled or Failed ends the run here (the trainer may re-raise)
    if first is None:
        return
    a = first.metrics
    steps_done = int(a["steps"])  # exact (Step events come a few times a second at most)
    epochs = max(int(a.get("best_epoch") or a.get("epochs_run") or 1), 1)
    train_docs = list(data["train"]) + list(data["dev"])
    note = Log(
        message=f"Refit: dev F1 was best at epoch {epochs} ({a['f1']:.4f}). Training once "
        f"more from the start on train + dev ({len(train_docs)} documents) for {epochs} "
        f"epoch{'s' if epochs != 1 else ''}; the saved model is that one, and its dev "
        "scores are the first pass's (dev was held out there). Turn refit off to keep "
        "the first pass's model."
    )
    log.append(note)
    yield note
    refit_config = replace(config, refit=False, epochs=epochs, patience=0)
    refit_data = {"train": train_docs, "dev": [], "test": data.get("test") or [], "hold_out": False}
    seen_logs = {e.message for e in log if isinstance(e, Log)}
    last = None
    for event in train(refit_config, refit_data, refit_dir, should_stop):
        if isinstance(event, Start):
            continue  # one run, one Start
        if isinstance(event, Step):
            event = replace(
                event,
                step=steps_done + event.step,
                total_steps=steps_done + event.total_steps,
                elapsed_s=elapsed + event.elapsed_s,
                phase="refit",
                epochs=epochs,
            )
        elif isinstance(event, Done):
            last = event
            continue
        elif isinstance(event, Log) and event.message in seen_logs:
            continue  # the precision and device lines, said once
        log.append(event)
        yield event
    if last is None:
        return
    yield _finish(config, first, last, log, first_dir, refit_dir, output_dir, started)


def _refit_steps_estimate(start: Start) -> int:
    """The refit's steps if it runs every planned epoch over train + dev."""
    share = (start.train_documents + start.dev_documents) / max(start.train_documents, 1)
    return math.ceil(start.steps_per_epoch * share) * start.epochs


def _finish(
    config: TrainConfig,
    first: Done,
    last: Done,
    log: list[Event],
    first_dir: Path,
    refit_dir: Path,
    output_dir: Path,
    started: float,
) -> Done:
    """The refit model's folder with the run's metrics and events, renamed into place."""
    from core.training.model_files import write_model_folder

    a, b = first.metrics, last.metrics
    first_test = (a.get("test") or {}).get("f1")
    seconds = a["train_seconds"] + b["train_seconds"]
    tokens = (
        a["train_tokens_per_s"] * a["train_seconds"] + b["train_tokens_per_s"] * b["train_seconds"]
    )
    metrics = {
        **a,
        "test": b["test"],
        "steps": a["steps"] + b["steps"],
        "train_seconds": round(seconds, 3),
        "train_tokens_per_s": tokens / max(seconds, 1e-9),
        "refit": {
            "epochs": b["epochs_run"],
            "steps": b["steps"],
            "train_documents": b["train_documents"],
            "train_seconds": b["train_seconds"],
            "first_pass_test_f1": first_test,
        },
    }
    chosen = _saved_chosen(refit_dir)
    first_chosen = _saved_chosen(first_dir)
    # Prediction reads the context the first pass chose on dev (the refit has no dev).
    chosen["context_tokens"] = first_chosen.get("context_tokens", chosen.get("context_tokens"))
    chosen["refit_epochs"] = b["epochs_run"]
    done = Done(
        output_dir=str(output_dir), metrics=metrics, seconds=round(time.monotonic() - started, 3)
    )
    write_model_folder(refit_dir, output_dir, config, chosen, metrics, [*log, done])
    return done


def _saved_chosen(folder: Path) -> dict:
    saved = json.loads((folder / "train_config.json").read_text(encoding="utf-8"))
    return dict(saved.get("chosen") or {})
