"""What a federation reports, round by round, as typed events.

The server's ``ServerApp`` and each site's ``ClientApp`` run in processes Flower starts;
they write these events as JSON lines into a file of the process that started the
federation (``spanlab federate``, the desktop), which reads them back with
:func:`from_dict` and shows them. The file stays on its own machine: it is how Spanlab's
processes there talk, never a channel between server and sites.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from core.errors import FederationError


@dataclass(frozen=True, kw_only=True)
class FedEvent:
    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True, kw_only=True)
class Waiting(FedEvent):
    """Sites connected so far, and how many the server waits for."""

    kind: ClassVar[str] = "waiting"
    connected: int
    needed: int


@dataclass(frozen=True, kw_only=True)
class SiteJoined(FedEvent):
    """A site passed the label check (server side) or joined (site side)."""

    kind: ClassVar[str] = "joined"
    node: int
    train_sentences: int


@dataclass(frozen=True, kw_only=True)
class RoundStarted(FedEvent):
    kind: ClassVar[str] = "round-started"
    round: int
    rounds: int
    sites: int


@dataclass(frozen=True, kw_only=True)
class SiteResult(FedEvent):
    """One site's local training of a round: its weight and its own dev scores."""

    kind: ClassVar[str] = "site-result"
    round: int
    node: int
    train_sentences: int
    dev_f1: float | None
    seconds: float
    #: What the site's reply held, as ``key: record type`` (only arrays and metrics).
    records: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class SiteDropped(FedEvent):
    """A site that did not answer a round (gone, too slow, or failed)."""

    kind: ClassVar[str] = "site-dropped"
    round: int
    node: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class Rejected(FedEvent):
    """A site's update left out of the aggregate (weights of the wrong shape)."""

    kind: ClassVar[str] = "rejected"
    round: int
    node: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class RoundDone(FedEvent):
    """The aggregate of a round and its score on the server's dev data (when it has some)."""

    kind: ClassVar[str] = "round-done"
    round: int
    rounds: int
    sites: int
    global_f1: float | None
    best: bool
    seconds: float
    # the weights sent to one site (and back) this round: their ArrayRecord's byte count
    bytes_per_site: int
    metrics: dict[str, Any] | None = None  # the global model's dev summary


@dataclass(frozen=True, kw_only=True)
class Note(FedEvent):
    kind: ClassVar[str] = "note"
    message: str
    level: str = "info"


@dataclass(frozen=True, kw_only=True)
class Finished(FedEvent):
    """The federation ended; the global model (the best round's) is in ``output_dir``."""

    kind: ClassVar[str] = "finished"
    output_dir: str
    best_round: int
    metrics: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Stopped(FedEvent):
    """The federation (or this site) stopped without a model; ``error`` says why."""

    kind: ClassVar[str] = "stopped"
    error: str
    cancelled: bool = False


KINDS: dict[str, type[FedEvent]] = {
    cls.kind: cls
    for cls in (
        Waiting, SiteJoined, RoundStarted, SiteResult, SiteDropped, Rejected, RoundDone,
        Note, Finished, Stopped,
    )
}  # fmt: skip
FINAL = (Finished, Stopped)


def from_dict(data: dict[str, Any]) -> FedEvent:
    cls = KINDS.get(data.get("kind"))  # type: ignore[arg-type]
    if cls is None:
        raise FederationError(f"Unknown federation event kind {data.get('kind')!r}.")
    return cls(**{k: v for k, v in data.items() if k != "kind"})


class EventLog:
    """Events appended to a JSON-lines file, one line each, flushed at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, event: FedEvent) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event.to_dict()) + "\n")


class EventReader:
    """Reads the events appended to a file since the last call (complete lines only)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._offset = 0

    def new_events(self) -> Iterator[FedEvent]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            if line.strip():
                yield from_dict(json.loads(line))
