"""Flower's FedAvg, FedProx and FedAvgM, with the checks a Spanlab round needs.

The aggregation itself is Flower's (a weighted average of the arrays, the weight being
the key :data:`WEIGHT_KEY`: each site's number of training sentences). Before Flower
averages, each reply is checked: a site that sent weights of the wrong shape (or anything
but one array record and one metric record) is left out and logged, a site that did not
answer is logged as dropped, and the round fails when fewer than ``min_sites`` answered.
Only sites that passed the label check are sent work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, FedAvgM, FedProx

from core.errors import FederationError
from core.federated.arrays import Spec, shape_problem
from core.federated.choices import DEFAULT_SERVER_MOMENTUM, STRATEGIES
from core.federated.events import FedEvent, Rejected, RoundStarted, SiteDropped, SiteResult

#: The metric each site reports with its weights: the sentences it trained on.
WEIGHT_KEY = "train-sentences"


def reply_problem(content: object, spec: Spec) -> str | None:
    """Why a site's training reply cannot be averaged in; None when it can."""
    array_records = content.array_records  # type: ignore[attr-defined]
    metric_records = content.metric_records  # type: ignore[attr-defined]
    if len(array_records) != 1 or len(metric_records) != 1 or content.config_records:  # type: ignore[attr-defined]
        return "the reply must hold one array record and one metric record, nothing else"
    metrics = next(iter(metric_records.values()))
    if WEIGHT_KEY not in metrics or float(metrics[WEIGHT_KEY]) <= 0:
        return f"the reply has no positive {WEIGHT_KEY!r}"
    problem = shape_problem(spec, next(iter(array_records.values())))
    return f"weights of the wrong shape ({problem})" if problem else None


def record_types(content: object) -> list[str]:
    """``key: type`` of each record in a message's content (what a site sent)."""
    return sorted(f"{key}: {type(value).__name__}" for key, value in content.items())  # type: ignore[attr-defined]


class _Checked:
    """Mixed into a Flower strategy: the checks of the module docstring."""

    def checks(
        self, spec: Spec, min_sites: int, report: Callable[[FedEvent], None], rounds: int
    ) -> None:
        self.spec = spec
        self.min_sites = min_sites
        self.report = report
        self.rounds = rounds
        self.round_started = time.monotonic()
        self.allowed: set[int] = set()  # sites that passed the label check
        self.sent: dict[int, set[int]] = {}
        self.answered: dict[int, int] = {}
        self.instructions: dict[int, list[Message]] = {}

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        messages = [
            m
            for m in super().configure_train(server_round, arrays, config, grid)  # type: ignore[misc]
            if m.metadata.dst_node_id in self.allowed
        ]
        self.sent[server_round] = {m.metadata.dst_node_id for m in messages}
        # Flower gives each message its id as it pushes it (in place): an error the
        # SuperLink answers for a node that went away names the message, not the node.
        self.instructions[server_round] = messages
        self.round_started = time.monotonic()
        self.report(RoundStarted(round=server_round, rounds=self.rounds, sites=len(messages)))
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        good = self.accepted(server_round, list(replies))
        self.answered[server_round] = len(good)
        if len(good) < self.min_sites:
            raise FederationError(
                f"Round {server_round}: only {len(good)} site(s) sent usable weights, fewer "
                f"than the minimum of {self.min_sites}; the federation stops (the log above "
                "says which sites dropped or were rejected)."
            )
        return super().aggregate_train(server_round, good)  # type: ignore[misc]

    def accepted(self, server_round: int, replies: list[Message]) -> list[Message]:
        """The replies that may be averaged in; the others are reported."""
        good, seen = [], set()
        node_of = {m.metadata.message_id: m.metadata.dst_node_id
                   for m in self.instructions.get(server_round, [])}  # fmt: skip
        for msg in replies:
            node = msg.metadata.src_node_id
            if msg.has_error():
                node = node_of.get(msg.metadata.reply_to_message_id, node)
                seen.add(node)
                self.report(SiteDropped(round=server_round, node=node, reason=msg.error.reason))
                continue
            seen.add(node)
            problem = reply_problem(msg.content, self.spec)
            if problem:
                self.report(Rejected(round=server_round, node=node, reason=problem))
                continue
            metrics = next(iter(msg.content.metric_records.values()))
            self.report(
                SiteResult(
                    round=server_round,
                    node=node,
                    train_sentences=int(metrics[WEIGHT_KEY]),
                    dev_f1=metrics.get("dev-f1", None),
                    seconds=float(metrics["train-seconds"]) if "train-seconds" in metrics else 0.0,
                    records=record_types(msg.content),
                )
            )
            good.append(msg)
        for node in sorted(self.sent.get(server_round, set()) - seen):
            self.report(
                SiteDropped(
                    round=server_round, node=node, reason="no answer within the round's time limit"
                )
            )
        return good


class CheckedFedAvg(_Checked, FedAvg):
    """Flower's FedAvg with Spanlab's reply checks."""


class CheckedFedProx(_Checked, FedProx):
    """Flower's FedProx with Spanlab's reply checks (sites add the proximal term)."""


class CheckedFedAvgM(_Checked, FedAvgM):
    """Flower's FedAvgM with Spanlab's reply checks: the server keeps a momentum of the
    averaged updates, so the rounds' progress adds up instead of being averaged down."""


def make_strategy(
    kind: str,
    spec: Spec,
    min_sites: int,
    report: Callable[[FedEvent], None],
    rounds: int,
    proximal_mu: float = 0.0,
    server_momentum: float = DEFAULT_SERVER_MOMENTUM,
) -> CheckedFedAvg | CheckedFedProx | CheckedFedAvgM:
    """The strategy for a federation: every checked site trains each round; evaluation
    of the global model is the server's (sites report their own dev scores with their
    weights)."""
    common = dict(
        fraction_train=1.0,
        fraction_evaluate=0.0,
        min_train_nodes=min_sites,
        min_available_nodes=min_sites,
        weighted_by_key=WEIGHT_KEY,
    )
    if kind == "fedavg":
        strategy: CheckedFedAvg | CheckedFedProx | CheckedFedAvgM = CheckedFedAvg(**common)
    elif kind == "fedprox":
        strategy = CheckedFedProx(**common, proximal_mu=proximal_mu)
    elif kind == "fedavgm":
        strategy = CheckedFedAvgM(**common, server_momentum=server_momentum)
    else:
        raise FederationError(f"Unknown strategy {kind!r}: choose {', '.join(STRATEGIES)}.")
    strategy.checks(spec, min_sites, report, rounds)
    return strategy
