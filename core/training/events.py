"""The events of a training run: what the trainer yields and every consumer reads.

The trainer yields these dataclasses; the CLI printer, the desktop's Train panel and
queue, and the store's run recorder read their attributes. The same events travel as
JSON (``events.jsonl`` in the model folder, ``spanlab train --json-events``, the data
of the store's ``run_events`` rows) through :meth:`Event.to_dict` and :func:`from_dict`,
which refuses a kind or a field it does not know: a changed event fails loudly instead
of being read with guesses.

A run yields one :class:`Start`, then :class:`Log`, :class:`Step`, :class:`Eval` and
:class:`Checkpoint` events, and ends with exactly one :class:`Final` event:
:class:`Done`, :class:`Cancelled` or :class:`Failed`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from core.errors import SpanlabError


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event has: its ``kind`` (the name it has in JSON)."""

    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data: ``{"kind": ..., field: value, ...}``."""
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in _fields(self)}}


@dataclass(frozen=True, kw_only=True)
class Start(Event):
    """The model and the data are ready; training begins."""

    kind: ClassVar[str] = "start"
    total_steps: int
    steps_per_epoch: int
    epochs: int
    labels: list[str]
    tags: list[str]
    device: str
    device_name: str
    precision: str
    processes: int
    base_model: str
    train_documents: int
    dev_documents: int
    test_documents: int
    train_windows: int
    config: dict[str, Any]
    attention: str = ""  # the attention kernel chosen (see core.training.precision)


@dataclass(frozen=True, kw_only=True)
class Log(Event):
    """A note for the person: a held-out dev split, misaligned spans, an early stop."""

    kind: ClassVar[str] = "log"
    message: str
    level: str = "info"


@dataclass(frozen=True, kw_only=True)
class Step(Event):
    """Progress, at most a few times a second (the loss is averaged since the last)."""

    kind: ClassVar[str] = "step"
    step: int
    total_steps: int
    epoch: float  # fractional: 1.5 is half-way through the second epoch
    loss: float
    lr: float
    throughput: float  # sub-tokens a second, all processes together
    eta_s: float
    elapsed_s: float
    # "refit" during the second pass of a refit (core.training.refit), whose ``epoch``
    # counts from 0 again up to its own ``epochs``; "" (and 0: Start's) otherwise.
    phase: str = ""
    epochs: int = 0

    @property
    def epoch_word(self) -> str:
        """How the progress line names this step's epoch: "refit epoch" in a refit."""
        return "refit epoch" if self.phase == "refit" else "epoch"


@dataclass(frozen=True, kw_only=True)
class Eval(Event):
    """The dev scores after one epoch."""

    kind: ClassVar[str] = "eval"
    epoch: int
    step: int
    split: str
    f1: float
    precision: float
    recall: float
    best: bool  # the best epoch so far (its model is kept)
    metrics: dict[str, Any]
    seconds: float


@dataclass(frozen=True, kw_only=True)
class Checkpoint(Event):
    """The best model so far was written to the run's scratch folder."""

    kind: ClassVar[str] = "checkpoint"
    epoch: int
    step: int
    f1: float


#: The keys every final event has in JSON (and the run row's columns they fill).
FINAL_KEYS = ("output_dir", "metrics", "error")


@dataclass(frozen=True, kw_only=True)
class Final(Event):
    """The last event of a run. ``status`` is the run's final status in the store.

    In JSON every final event carries ``output_dir``, ``metrics`` and ``error`` (None
    where it has none), so a reader of ``--json-events`` finds the same keys on each.
    """

    status: ClassVar[str]

    def run_fields(self) -> dict[str, Any]:
        """What the run's row becomes: status, output_dir, metrics, error."""
        values = dict.fromkeys(FINAL_KEYS)
        values.update({f.name: getattr(self, f.name) for f in _fields(self) if f.name in values})
        return {"status": self.status, **values}

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        for key in FINAL_KEYS:
            data.setdefault(key, None)
        return data


@dataclass(frozen=True, kw_only=True)
class Done(Final):
    """The best epoch's model is in ``output_dir``; ``metrics`` are its scores."""

    kind: ClassVar[str] = "done"
    status: ClassVar[str] = "done"
    output_dir: str
    metrics: dict[str, Any]
    seconds: float

    @property
    def f1(self) -> float | None:
        """The dev micro-F1 of the kept model (None when there was no dev split)."""
        return self.metrics["f1"]


@dataclass(frozen=True, kw_only=True)
class Cancelled(Final):
    """Stopped on request; no model folder is left. ``error`` says why, when known."""

    kind: ClassVar[str] = "cancelled"
    status: ClassVar[str] = "cancelled"
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class Failed(Final):
    """The run could not go on; ``error`` says why and what to do."""

    kind: ClassVar[str] = "failed"
    status: ClassVar[str] = "failed"
    error: str
    error_type: str = "TrainingError"


#: Every event class by its kind.
KINDS: dict[str, type[Event]] = {
    cls.kind: cls for cls in (Start, Log, Step, Eval, Checkpoint, Done, Cancelled, Failed)
}


class EventFormatError(SpanlabError):
    """A JSON event that is not one of :data:`KINDS` with its fields."""


def from_dict(data: dict[str, Any]) -> Event:
    """The event that :meth:`Event.to_dict` wrote (EventFormatError if it is not one)."""
    cls = KINDS.get(data.get("kind"))  # type: ignore[arg-type]
    if cls is None:
        raise EventFormatError(
            f"Unknown training event kind {data.get('kind')!r}; expected one of "
            f"{', '.join(KINDS)}. Was it written by another version of Spanlab?"
        )
    names = {f.name for f in _fields(cls)}
    values = {k: v for k, v in data.items() if k != "kind"}
    if issubclass(cls, Final):  # the padding of to_dict()
        values = {
            k: v for k, v in values.items() if k in names or k not in FINAL_KEYS or v is not None
        }
    unknown = sorted(set(values) - names)
    if unknown:
        raise EventFormatError(
            f"A {cls.kind!r} training event has unknown field(s) {', '.join(unknown)}."
        )
    try:
        return cls(**values)
    except TypeError as exc:
        raise EventFormatError(f"A {cls.kind!r} training event is incomplete: {exc}") from exc


def _fields(event: Event | type[Event]) -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(event)
