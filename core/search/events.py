"""What a search loop tells its caller, besides the training events of each trial's run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SearchNote:
    """A note for the person, said once (e.g. the project has no dev split)."""

    message: str


@dataclass(frozen=True)
class TrialStarted:
    """A trial's run was prepared and starts training."""

    number: int
    params: dict[str, Any]
    run_id: int


@dataclass(frozen=True)
class TrialEpoch:
    """A trial's dev F1 after one epoch, and whether the pruner stopped it there."""

    number: int
    epoch: int
    f1: float
    pruned: bool


@dataclass(frozen=True)
class TrialEnded:
    """A trial ended: ``state`` complete / pruned / fail; the study's best so far."""

    number: int
    params: dict[str, Any]
    state: str
    value: float | None
    run_id: int | None
    error: str | None
    seconds: float
    scores: dict[int, float] = field(default_factory=dict)
    best_number: int | None = None
    best_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``spanlab tune --json`` prints one per trial)."""
        data = asdict(self)
        data["scores"] = {str(epoch): f1 for epoch, f1 in self.scores.items()}
        return {"trial": data.pop("number"), **data}
