"""The server's job of a federation, from training settings and (optionally) a project.

One place builds a :class:`~core.federated.server.ServerJob` for ``spanlab federate
server|simulate`` and for the desktop's File → Federated…: the checks of the numbers,
FedProx's mu, the server's own dev and test documents, and — with a project — the run
that records the federation and the run folder the global model goes to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from core.errors import FederationError
from core.federated.choices import DEFAULT_MU, DEFAULT_SERVER_MOMENTUM, STRATEGIES
from core.federated.record import FederationRecorder, create_run
from core.federated.server import ServerJob
from core.store import Project
from core.training.config import TrainConfig


def server_job(
    config: TrainConfig,
    labels: Sequence[str],
    rounds: int,
    min_sites: int,
    local_epochs: int,
    out: str | Path,
    dev: list[dict] | None = None,
    test: list[dict] | None = None,
    strategy: str = "fedavg",
    server_momentum: float | None = None,
    round_timeout_s: float = 3600.0,
    wait_s: float = 600.0,
) -> ServerJob:
    """The server's job; FederationError when a setting cannot work."""
    if rounds < 1 or local_epochs < 1 or min_sites < 1:
        raise FederationError("--rounds, --local-epochs and --min-sites must be at least 1.")
    if not labels:
        raise FederationError("The federation needs a label set: give --labels A,B or --project.")
    if strategy not in STRATEGIES:
        raise FederationError(f"Unknown strategy {strategy!r}: use {', '.join(STRATEGIES)}.")
    momentum = 0.0
    if strategy == "fedavgm":
        momentum = DEFAULT_SERVER_MOMENTUM if server_momentum is None else server_momentum
        if not 0 <= momentum < 1:
            raise FederationError(f"--server-momentum {momentum}: give a value from 0 to below 1.")
    # FedProx sends its mu with each round (Flower's "proximal-mu"); the sites use that.
    mu = (config.proximal_mu or DEFAULT_MU) if strategy == "fedprox" else 0.0
    config = replace(config, proximal_mu=0.0)
    return ServerJob(
        rounds=rounds, min_sites=min_sites, local_epochs=local_epochs, labels=sorted(labels),
        base_model=config.base_model, train_config=config.to_dict(),
        out=str(Path(out).resolve()), events="", strategy=strategy, proximal_mu=mu,
        server_momentum=momentum,
        round_timeout_s=round_timeout_s, wait_s=wait_s, dev=list(dev or []),
        test=list(test or []),
    )  # fmt: skip


def project_server_job(
    project: Project,
    config: TrainConfig,
    rounds: int,
    min_sites: int,
    local_epochs: int,
    labels: Sequence[str] = (),
    out: str | Path | None = None,
    **options: object,
) -> tuple[ServerJob, FederationRecorder]:
    """The job of a server with a project: its labels (unless given), its dev and test
    documents, a new run recording the federation, and (unless ``out``) the run's folder.

    Call it on the thread that owns the project's connection; the job is plain data.
    """
    from core.run_owner import run_folder
    from core.training.session import training_data

    labels = list(labels) or [label["name"] for label in project.labels()]
    data = training_data(project)
    job = server_job(
        config, labels, rounds, min_sites, local_epochs, out or "unused", data["dev"],
        data["test"], **options,  # type: ignore[arg-type]
    )  # fmt: skip
    run_id = create_run(project, job)
    if out is None:
        job.out = str(run_folder(project.models_dir, run_id).resolve())
    return job, FederationRecorder(project, job, run_id)
