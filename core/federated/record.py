"""The server's federation as a run in its project: the rounds are the run's events.

Results then shows a federated model like any run: each round an Eval on the server's
dev documents (the best round marked and kept), the sites' reports as log lines, and
the final Done with the global model's folder and scores.
"""

from __future__ import annotations

import time

from core.federated import FLOWER_VERSION
from core.federated.events import (
    FedEvent,
    Finished,
    Note,
    Rejected,
    RoundDone,
    SiteDropped,
    SiteJoined,
    SiteResult,
    Stopped,
)
from core.federated.server import ServerJob
from core.store import Project
from core.training.data import tag_names
from core.training.events import Cancelled, Checkpoint, Done, Eval, Event, Failed, Log, Start
from core.training.recorder import RunRecorder


def run_config(job: ServerJob) -> dict:
    """The run's stored settings: the sites' training settings and the federation's."""
    federated = {
        k: getattr(job, k)
        for k in ("rounds", "min_sites", "local_epochs", "strategy", "proximal_mu")
    }
    return {**job.train_config, "epochs": job.local_epochs, "federated": federated}


class FederationRecorder:
    """Records one federation's events as a run (call :meth:`record` for each)."""

    def __init__(self, project: Project, job: ServerJob, run_id: int | None = None) -> None:
        self.project, self.job = project, job
        self.run_id = run_id if run_id is not None else create_run(project, job)
        self.recorder = RunRecorder(project, self.run_id)
        self.started = time.monotonic()
        self.begun = False

    def record(self, event: FedEvent) -> None:
        for run_event in self.events_for(event):
            self.recorder.record(run_event)

    def events_for(self, event: FedEvent) -> list[Event]:
        out: list[Event] = []
        if not self.begun:
            self.begun = True
            out.append(self.start())
        if isinstance(event, RoundDone):
            if event.global_f1 is not None and event.metrics is not None:
                out.append(
                    Eval(epoch=event.round, step=event.round, split="dev", f1=event.global_f1,
                         precision=event.metrics["precision"], recall=event.metrics["recall"],
                         best=event.best, metrics=event.metrics, seconds=event.seconds)
                )  # fmt: skip
            else:
                out.append(Log(message=f"Round {event.round}: aggregated {event.sites} site(s)."))
            if event.best:
                out.append(
                    Checkpoint(epoch=event.round, step=event.round, f1=event.global_f1 or 0.0)
                )
        elif isinstance(event, SiteResult):
            f1 = "" if event.dev_f1 is None else f", its dev F1 {event.dev_f1:.4f}"
            out.append(Log(message=f"Round {event.round}: site node {event.node} trained on "
                                   f"{event.train_sentences} sentences{f1}."))  # fmt: skip
        elif isinstance(event, SiteDropped | Rejected):
            what = "dropped" if isinstance(event, SiteDropped) else "was rejected"
            out.append(Log(message=f"Round {event.round}: site node {event.node} {what}: "
                                   f"{event.reason}", level="warning"))  # fmt: skip
        elif isinstance(event, SiteJoined):
            out.append(Log(message=f"Site node {event.node} joined ({event.train_sentences} "
                                   "training sentences)."))  # fmt: skip
        elif isinstance(event, Note):
            out.append(Log(message=event.message, level=event.level))
        elif isinstance(event, Finished):
            out.append(Done(output_dir=event.output_dir, metrics=event.metrics,
                            seconds=round(time.monotonic() - self.started, 3)))  # fmt: skip
        elif isinstance(event, Stopped):
            out.append(Cancelled(error=event.error) if event.cancelled else
                       Failed(error=event.error, error_type="FederationError"))  # fmt: skip
        return out

    def start(self) -> Start:
        job = self.job
        labels = sorted(job.labels)
        return Start(
            total_steps=job.rounds, steps_per_epoch=1, epochs=job.rounds, labels=labels,
            tags=tag_names(labels), device="federated", device_name=f"Flower {FLOWER_VERSION}",
            precision="no", processes=job.min_sites, base_model=job.base_model,
            train_documents=0, dev_documents=len(job.dev), test_documents=len(job.test),
            train_windows=0, config=run_config(job),
        )  # fmt: skip

    def close(self) -> None:
        self.recorder.flush()


def create_run(project: Project, job: ServerJob) -> int:
    return project.create_run(run_config(job), job.base_model, "queued")
