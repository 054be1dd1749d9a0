"""Spanlab's Flower ``ServerApp`` and ``ClientApp`` (Flower's Message API).

Flower runs these in processes of its own: the SuperLink starts the ServerApp for a
submitted run, each SuperNode starts the ClientApp for every message it receives. The
server's settings come from the run config (``job``: a ServerJob JSON file on the
server), a site's from its node config (``site``: a SiteJob JSON file on the site).
Torch is imported only where a model is trained, so a label check is answered quickly.
"""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from core.errors import SpanlabError

server_app = ServerApp()
client_app = ClientApp()


@server_app.main()
def server_main(grid: Grid, context: Context) -> None:
    from core.federated.server import ServerJob, run_federation

    run_federation(grid, ServerJob.load(str(context.run_config["job"])))


def site_reply(arrays: dict[str, np.ndarray], metrics: dict[str, float]) -> RecordDict:
    """What a site sends back after training: the weights and numbers, nothing else."""
    records = ArrayRecord({name: Array(array) for name, array in arrays.items()})
    return RecordDict({"arrays": records, "metrics": MetricRecord(metrics)})


@client_app.query()
def site_query(msg: Message, context: Context) -> Message:
    from core.federated import site

    job = site.SiteJob.load(str(context.node_config["site"]))
    config = msg.content["config"]
    if config["action"] == "label-check":
        answer = site.label_check(job, list(config["labels"]), context.node_id)
    else:
        site.finished(job, int(config["best-round"]))
        answer = {"ok": 1}
    return Message(RecordDict({"metrics": MetricRecord(answer)}), reply_to=msg)


@client_app.train()
def site_train(msg: Message, context: Context) -> Message:
    from core.federated import site
    from core.federated.events import EventLog, Note, SiteResult, Stopped
    from core.federated.strategy import WEIGHT_KEY, record_types

    job = site.SiteJob.load(str(context.node_config["site"]))
    settings = dict(msg.content["config"])
    log = EventLog(job.events)
    log.write(Note(message=f"Round {settings['server-round']}: training from the global model."))
    arrays = {name: array.numpy() for name, array in msg.content["arrays"].items()}
    try:
        weights, metrics = site.train_round(job, arrays, settings)
    except SpanlabError as exc:
        log.write(Stopped(error=str(exc)))
        # The reason goes to the server: say only that the site failed, not its details.
        raise RuntimeError("the site could not train this round (its own log says why)") from None
    reply = site_reply(weights, metrics)
    # The site's own view of its round (its dev F1), for `spanlab federate site` and the
    # desktop; the server reports the same from what it received.
    log.write(
        SiteResult(
            round=int(settings["server-round"]), node=context.node_id,
            train_sentences=int(metrics[WEIGHT_KEY]), dev_f1=float(metrics["dev-f1"]),
            seconds=float(metrics["train-seconds"]),
            records=record_types(reply),
        )
    )  # fmt: skip
    return Message(reply, reply_to=msg)
