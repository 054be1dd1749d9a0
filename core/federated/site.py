"""The work of a site: answer the label check, train a round from the global weights.

A site is a Spanlab project. Each round it trains ``local_epochs`` from the global
weights with the project's normal trainer (``core.training.trainer.train``: the same
alignment, precision and batching as any run, warm-started from the global model), scores
its own dev split, and gives back the new weights and a few numbers. Its texts, tokens
and spans never leave this module's process.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import FederationError
from core.federated.events import EventLog, Finished, Note, SiteJoined, Stopped
from core.federated.labels import compare_labels, drop_labels
from core.federated.strategy import WEIGHT_KEY
from core.store import Project


@dataclass
class SiteJob:
    """What a site's ClientApp needs; written by whoever starts the site (JSON file)."""

    project: str
    events: str
    map_extra_to_o: bool = False
    device: str = "auto"

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> SiteJob:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def project_labels(path: str | Path) -> list[str]:
    """The label names of a project (read-only)."""
    with Project.open(path, readonly=True) as project:
        return [label["name"] for label in project.labels()]


def label_check(job: SiteJob, announced: list[str], node: int) -> dict[str, int]:
    """Compare the project's labels with the announced ones; the answer is numbers only.

    A site whose labels differ says so in its own log (which names the labels) and
    answers ``labels-ok = 0``; the server then leaves it out.
    """
    log = EventLog(job.events)
    check = compare_labels(announced, project_labels(job.project))
    if not check.passes(job.map_extra_to_o):
        log.write(Stopped(error=check.message(job.project)))
        return {"labels-ok": 0}
    if check.extra:
        log.write(
            Note(
                message=f"Spans of the label(s) {', '.join(check.extra)} are trained as O "
                "(--map-extra-to-o).",
                level="warning",
            )
        )
    with Project.open(job.project, readonly=True) as project:
        sentences = sum(1 for ex in project.examples() if ex["split"] == "train")
    log.write(SiteJoined(node=node, train_sentences=sentences))
    return {"labels-ok": 1, WEIGHT_KEY: sentences}


def site_data(job: SiteJob, announced: list[str]) -> tuple[dict[str, list[dict]], str]:
    """The site's train and dev documents (extra labels dropped if asked), and its
    word tokenizer."""
    from core.training.session import training_data

    check = compare_labels(announced, project_labels(job.project))
    if not check.passes(job.map_extra_to_o):
        raise FederationError(check.message(job.project))
    with Project.open(job.project, readonly=True) as project:
        data, tokenizer = training_data(project), project.tokenizer()
    # The test split stays unread: the server scores the global model.
    data = {split: drop_labels(data[split], check.extra) for split in ("train", "dev")}
    return data, tokenizer


def train_round(
    job: SiteJob,
    arrays: dict[str, np.ndarray],
    settings: dict[str, Any],
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """One round: the global weights in, local training, the new weights and metrics out.

    With method ``full`` the weights are the whole model's. With method ``lora`` they are
    the adapters and the head: local training starts from the template (the shared base
    model, frozen) with the global adapters and head, and only those go back.
    """
    from core.federated.arrays import load_arrays, model_arrays
    from core.federated.model import build_template, save_folder, with_lora
    from core.training.config import TrainConfig
    from core.training.events import Done, Final
    from core.training.loading import load_token_classifier
    from core.training.lora import ADAPTER_DIR, load_lora_weights
    from core.training.trainer import train

    labels = list(settings["labels"])
    data, word_tokenizer = site_data(job, labels)
    config = TrainConfig.from_dict(json.loads(settings["train-config"]))
    lora = config.method == "lora"
    with tempfile.TemporaryDirectory(prefix="spanlab-site-") as tmp:
        start, local = Path(tmp) / "global", Path(tmp) / "local"
        model, tokenizer = build_template(settings["base-model"], labels)
        if lora:
            save_folder(model, tokenizer, start)  # the frozen base, as at every site
            model = with_lora(model, config)
            load_arrays(model, arrays)
            model.save_pretrained(start / ADAPTER_DIR)  # the global adapters and head
        else:
            load_arrays(model, arrays)
            save_folder(model, tokenizer, start)
            del model
        # Round r of R takes its part of one schedule over all the rounds: the warmup in
        # round 1, then a rate that decays from round to round (not a restart each round).
        r, rounds = int(settings["server-round"]), int(settings.get("rounds", 0))
        part = ((r - 1) / rounds, r / rounds) if 1 <= r <= rounds else (0.0, 1.0)
        config = replace(
            config,
            schedule_from=part[0],
            schedule_to=part[1],
            warm_start=str(start),
            epochs=int(settings["local-epochs"]),
            patience=0,
            proximal_mu=float(settings.get("proximal-mu", 0.0)),
            device=job.device,
            word_tokenizer=word_tokenizer,
        )
        final: Final | None = None
        events = train(config, data, local, should_stop, start if lora else None)
        for event in events:
            if isinstance(event, Final):
                final = event
        if not isinstance(final, Done):
            error = getattr(final, "error", None) or "the trainer ended without a result"
            raise FederationError(
                f"Local training of round {settings['server-round']} failed: {error}"
            )
        if lora:
            load_lora_weights(model, local)
            trained = model_arrays(model)
        else:
            trained = model_arrays(load_token_classifier(str(local)))
    metrics = final.metrics
    return trained, {
        WEIGHT_KEY: int(metrics["train_documents"]),
        "dev-f1": float(metrics["f1"] or 0.0),
        "train-seconds": float(metrics["train_seconds"]),
    }


def finished(job: SiteJob, best_round: int) -> None:
    """The server says the federation is over."""
    EventLog(job.events).write(Finished(output_dir="", best_round=best_round, metrics={}))
