"""Training the final model of a search: the best trial's settings as a normal run.

The run is tagged with the study and no trial. ``with_dev`` trains on train + dev for the
best trial's number of epochs (no early stopping): the dev split then helps the model
rather than choosing it, and its dev F1 is no longer a fair score; the test F1 is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from core.errors import SpanlabError
from core.training.config import TrainConfig

if TYPE_CHECKING:
    from core.search.study import Search
    from core.store import Project
    from core.training.events import Event
    from core.training.session import RunSession


def best_config(search: Search, with_dev: bool = False, **changes: Any) -> TrainConfig:
    """The best trial's TrainConfig with ``changes`` (e.g. another seed or device)."""
    best = search.best()
    if best is None:
        raise SpanlabError(
            f"No trial of the study {search.name!r} has completed yet: run "
            f"`spanlab tune PROJECT --study {search.name} --trials N` first."
        )
    # One pass, as the trials were: --with-dev is the search's own way to train on dev.
    config = replace(best["config"], **{"refit": False, **changes})
    if with_dev:
        if not best["best_epoch"]:
            raise SpanlabError(
                f"The best trial ({best['number']}) recorded no best epoch, so --with-dev "
                "does not know how long to train: train without --with-dev."
            )
        config = replace(config, epochs=int(best["best_epoch"]), patience=0)
    return config.validate()


def with_dev_data(data: dict[str, list[dict]], config: TrainConfig) -> dict[str, list[dict]]:
    """Train on train + dev. The dev documents stay the dev set too (the trainer needs
    one to keep an epoch; with patience 0 and the best epoch count it trains them all);
    without a dev split, the part the trials held out joins the training documents."""
    from core.training.data import hold_out

    dev = data["dev"] or hold_out(data["train"], config.dev_fraction, config.seed)[1]
    train = data["train"] + data["dev"]
    return {**data, "train": train, "dev": dev}


def train_best(
    project: Project,
    search: Search,
    with_dev: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    on_event: Callable[[Event], None] | None = None,
    **changes: Any,
) -> RunSession:
    """Train the best trial's settings in this thread; the finished session."""
    from core.training.session import RunSession

    config = best_config(search, with_dev, **changes)
    session = RunSession.prepare(project, config, study=search.name)
    if with_dev:
        session.plan = replace(session.plan, data=with_dev_data(session.plan.data, config))
    session.run(should_stop, on_event)
    return session
