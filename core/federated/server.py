"""The work of the server: label check, rounds, the global model's evaluation, the folder.

:func:`run_federation` is the body of Spanlab's ``ServerApp``: it waits for
``min_sites`` sites, checks their labels, runs Flower's strategy for ``rounds`` rounds
(scoring each round's global model on the server's own dev documents when it has some),
and writes the best round's model as an ordinary Hugging Face folder, through a scratch
folder renamed into place: a stopped federation leaves no half-written model.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import FederationError, SpanlabError
from core.federated import FLOWER_VERSION
from core.federated.events import (
    EventLog,
    Finished,
    Note,
    RoundDone,
    SiteJoined,
    Stopped,
    Waiting,
)
from core.scratch import remove_stale, scratch_path

LABEL_CHECK_TIMEOUT_S = 300
SETTLE_S = 3.0  # after min_sites are connected, how long to wait for one more
REPLY_POLL_S = 0.25  # how often the server asks the SuperLink for the sites' replies


@dataclass
class ServerJob:
    """Everything the ServerApp needs; written by whoever starts the server (JSON file)."""

    rounds: int
    min_sites: int
    local_epochs: int
    labels: list[str]
    base_model: str
    train_config: dict[str, Any]
    out: str
    events: str
    strategy: str = "fedavg"
    proximal_mu: float = 0.0
    server_momentum: float = 0.0  # FedAvgM only
    round_timeout_s: float = 3600.0
    wait_s: float = 600.0
    #: The sites this server started itself (``simulate``): once they are all connected
    #: round 1 starts without waiting for more, and at the end they need no word (the
    #: process that started them stops them). 0: sites join from elsewhere.
    own_sites: int = 0
    dev: list[dict] = field(default_factory=list)  # the server's own dev documents
    test: list[dict] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> ServerJob:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        for split in ("dev", "test"):  # JSON made the span tuples lists
            for ex in data[split]:
                ex["spans"] = [tuple(s) for s in ex["spans"]]
        return cls(**data)


def run_federation(grid: Any, job: ServerJob) -> None:
    """Run the whole federation on Flower's ``grid``; every outcome ends in an event."""
    log = EventLog(job.events)
    try:
        _Federation(QuickGrid(grid), job, log).run()
    except SpanlabError as exc:
        log.write(Stopped(error=str(exc)))
    except KeyboardInterrupt:
        log.write(Stopped(error="Interrupted: no model was written.", cancelled=True))
        raise
    except SystemExit:  # Flower's handler of SIGTERM / SIGINT
        log.write(Stopped(error="Stopped: no model was written.", cancelled=True))
        raise
    except Exception as exc:
        log.write(Stopped(error=f"The federation stopped on an unexpected error: {exc!r}"))
        raise


class QuickGrid:
    """Flower's grid, asked for the sites' replies every ``REPLY_POLL_S`` seconds.

    Flower's own ``send_and_receive`` asks every 3 s, which adds 1.5 s on average to each
    round and to each query. This one pushes and pulls through the same grid calls
    (``push_messages``, ``pull_messages``); everything else is the grid's own.
    """

    def __init__(self, grid: Any) -> None:
        self.grid = grid

    def __getattr__(self, name: str) -> Any:
        return getattr(self.grid, name)

    def send_and_receive(self, messages: Any, *, timeout: float | None = None) -> list[Any]:
        waiting = set(self.grid.push_messages(messages))
        end = time.monotonic() + (timeout or 0.0)
        replies: list[Any] = []
        while timeout is None or time.monotonic() < end:
            pulled = list(self.grid.pull_messages(waiting))
            replies.extend(pulled)
            waiting.difference_update(m.metadata.reply_to_message_id for m in pulled)
            if not waiting:
                break
            time.sleep(REPLY_POLL_S)
        return replies


class _Federation:
    def __init__(self, grid: Any, job: ServerJob, log: EventLog) -> None:
        self.grid, self.job, self.log = grid, job, log
        self.best_f1, self.best_round = -1.0, 0
        self.best_arrays: dict[str, np.ndarray] | None = None
        self.history: list[dict] = []

    def run(self) -> None:
        from flwr.app import Array, ArrayRecord, ConfigRecord

        from core.federated.arrays import model_arrays, spec_of
        from core.federated.model import build_template, with_lora
        from core.federated.strategy import make_strategy
        from core.training.config import TrainConfig

        job = self.job
        model, self.tokenizer = build_template(job.base_model, job.labels)
        # With method lora the global model is the adapters and the head (seeded here,
        # sent in round 1); the frozen rest is the base model every site builds itself.
        self.model = with_lora(model, TrainConfig.from_dict(job.train_config))
        initial = model_arrays(self.model)
        record = ArrayRecord({k: Array(v) for k, v in initial.items()})
        self.bytes_per_site = record.count_bytes()  # what goes to a site (and back)
        nodes = self.wait_for_sites()
        allowed = self.check_labels(nodes)
        strategy = make_strategy(
            job.strategy, spec_of(initial), job.min_sites, self.log.write, job.rounds,
            job.proximal_mu, job.server_momentum,
        )  # fmt: skip
        strategy.allowed = set(allowed)
        self.strategy = strategy
        settings = ConfigRecord(
            {
                "labels": sorted(job.labels),
                "base-model": job.base_model,
                "local-epochs": job.local_epochs,
                "rounds": job.rounds,
                "train-config": json.dumps(job.train_config),
            }
        )
        strategy.start(
            grid=self.grid,
            initial_arrays=record,
            num_rounds=job.rounds,
            timeout=job.round_timeout_s,
            train_config=settings,
            evaluate_fn=self.evaluate,
        )
        finished = self.write_model()
        # The sites first: whoever started this server stops Flower's processes as soon
        # as it reads Finished, and a site never told would wait for a server that is gone.
        if not job.own_sites:
            self.tell_sites(allowed, "finished")
        self.log.write(finished)

    # -- before round 1 -----------------------------------------------------------------
    def wait_for_sites(self) -> list[int]:
        """The sites of round 1: once ``min_sites`` are connected, those that keep
        arriving within ``SETTLE_S`` of the last one join too (sites started together
        connect a few seconds apart) — unless the sites this server started are all in."""
        job, seen = self.job, -1
        deadline = time.monotonic() + job.wait_s
        last_arrival = time.monotonic()
        while True:
            nodes = sorted(self.grid.get_node_ids())
            if len(nodes) != seen:
                seen, last_arrival = len(nodes), time.monotonic()
                self.log.write(Waiting(connected=seen, needed=job.min_sites))
            all_in = job.own_sites and seen >= job.own_sites
            if seen >= job.min_sites and (
                all_in or time.monotonic() - last_arrival >= SETTLE_S or time.monotonic() > deadline
            ):
                return nodes
            if time.monotonic() > deadline:
                raise FederationError(
                    f"Only {seen} of the {job.min_sites} site(s) needed connected within "
                    f"{job.wait_s:g} s. Start the sites (spanlab federate site PROJECT "
                    "--server HOST:PORT), check their address and the firewall, or lower "
                    "--min-sites."
                )
            time.sleep(0.5)

    def check_labels(self, nodes: list[int]) -> list[int]:
        """The sites whose labels are the federation's; the others are left out."""
        replies = self.tell_sites(nodes, "label-check", LABEL_CHECK_TIMEOUT_S)
        allowed = []
        for node in nodes:
            metrics = replies.get(node)
            if metrics is None:
                self.log.write(
                    Note(
                        message=f"Site node {node} did not answer the label check.", level="warning"
                    )
                )
            elif not metrics.get("labels-ok"):
                self.log.write(
                    Note(
                        message=f"Site node {node} does not have the federation's labels "
                        f"({', '.join(self.job.labels)}): it is left out and stops (its own "
                        "log names the labels that differ).",
                        level="warning",
                    )
                )
            else:
                allowed.append(node)
                self.log.write(
                    SiteJoined(node=node, train_sentences=int(metrics["train-sentences"]))
                )
        if len(allowed) < self.job.min_sites:
            raise FederationError(
                f"Only {len(allowed)} site(s) passed the label check, fewer than the minimum "
                f"of {self.job.min_sites}. Every site needs exactly the labels "
                f"{', '.join(sorted(self.job.labels))}; see the sites' own messages."
            )
        return allowed

    def tell_sites(self, nodes: list[int], action: str, timeout: float = 60) -> dict[int, dict]:
        """A query to the sites (label check, end of the federation); their numeric
        answers by node."""
        from flwr.app import ConfigRecord, Message, MessageType, RecordDict

        config = ConfigRecord(
            {
                "action": action,
                "labels": sorted(self.job.labels),
                "spanlab": spanlab_version(),
                "flower": FLOWER_VERSION,
                "best-round": self.best_round,
            }
        )
        messages = [
            Message(
                RecordDict({"config": config}), dst_node_id=node, message_type=MessageType.QUERY
            )
            for node in nodes
        ]
        answers = {}
        for reply in self.grid.send_and_receive(messages, timeout=timeout):
            if not reply.has_error():
                metrics = next(iter(reply.content.metric_records.values()), {})
                answers[reply.metadata.src_node_id] = dict(metrics)
        return answers

    # -- each round -----------------------------------------------------------------------
    def evaluate(self, server_round: int, arrays: Any) -> Any:
        """Flower's server-side evaluation: the global model of a round on our dev data."""
        from flwr.app import MetricRecord

        from core.federated.arrays import load_arrays
        from core.training.evaluation import evaluate, summary

        if server_round == 0:
            return None
        values = {k: v.numpy() for k, v in arrays.items()}
        f1, metrics = None, None
        if self.job.dev:
            load_arrays(self.model, values)
            metrics = summary(evaluate(self.predictor(), self.job.dev))
            f1 = metrics["f1"]
        best = f1 is None or f1 > self.best_f1  # without dev data the last round is kept
        if best:
            self.best_f1, self.best_round = (f1 if f1 is not None else -1.0), server_round
            self.best_arrays = {k: np.array(v, copy=True) for k, v in values.items()}
        sites = self.strategy.answered.get(server_round, 0)
        event = RoundDone(
            round=server_round,
            rounds=self.job.rounds,
            sites=sites,
            global_f1=f1,
            best=best,
            seconds=round(time.monotonic() - self.strategy.round_started, 3),
            bytes_per_site=self.bytes_per_site,
            metrics=metrics,
        )
        self.history.append(event.to_dict())
        self.log.write(event)
        return MetricRecord({"dev-f1": f1}) if f1 is not None else None

    def predictor(self) -> Any:
        from core.training.predict import Predictor

        config = self.job.train_config
        return Predictor.from_model(
            self.model.eval(),
            self.tokenizer,
            config.get("eval_batch_size", 64),
            config.get("max_length", 256),
            config.get("window_overlap", 64),
        )

    # -- the end ---------------------------------------------------------------------------
    def write_model(self) -> Finished:
        """The best round's model in its folder; the event that says so (not yet logged)."""
        from core.federated.arrays import load_arrays
        from core.federated.model import save_global
        from core.training.evaluation import evaluate, summary

        job = self.job
        if self.best_arrays is None:
            raise FederationError("No round completed, so there is no global model to write.")
        out = Path(job.out)
        if out.exists():
            raise FederationError(f"The output folder {out} already exists; choose a new one.")
        load_arrays(self.model, self.best_arrays)
        remove_stale(out, ".partial")  # what a killed server left behind
        scratch = scratch_path(out, ".partial")
        try:
            save_global(self.model, self.tokenizer, scratch)
            test = summary(evaluate(self.predictor(), job.test)) if job.test else None
            best = next(h for h in self.history if h["round"] == self.best_round)
            metrics = {
                "f1": best["global_f1"],
                "best_epoch": self.best_round,
                "epochs_run": len(self.history),
                "dev": best["metrics"],
                "test": test,
                "labels": sorted(job.labels),
                "federated": {
                    "strategy": job.strategy,
                    "server_momentum": job.server_momentum,
                    "rounds": job.rounds,
                    "best_round": self.best_round,
                    "min_sites": job.min_sites,
                    "local_epochs": job.local_epochs,
                    "flower": FLOWER_VERSION,
                    "history": self.history,
                },
            }
            saved = {
                **job.train_config,
                "epochs": job.local_epochs,
                "federated": metrics["federated"],
            }
            (scratch / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
            (scratch / "train_config.json").write_text(
                json.dumps(saved, indent=2), encoding="utf-8"
            )
            _write_card(scratch, out.name)
            os.replace(scratch, out)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return Finished(output_dir=str(out), best_round=self.best_round, metrics=metrics)


def spanlab_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spanlab")
    except PackageNotFoundError:
        return "unknown"


def _write_card(folder: Path, name: str) -> None:
    from core.training.card import write_card

    write_card(folder, name=name)
