"""When the model in the loop trains again: after every N newly annotated documents.

"Newly annotated" counts the annotated documents of the train split beyond those the
newest finished run read (its metrics say how many: ``train_documents``, plus the
``dev_documents`` it held out of train when the project had no dev split).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.store import Project


def trained_documents(run: dict | None) -> int:
    """How many train-split documents ``run`` read (0 for none, or a run from before
    runs said so: then every annotated document counts as new)."""
    metrics = (run or {}).get("metrics") or {}
    read = int(metrics.get("train_documents") or 0)
    if metrics.get("dev_held_out"):
        read += int(metrics.get("dev_documents") or 0)
    return read


def annotated_since(project: Project) -> int:
    """Annotated train-split documents now, less those the newest finished run read."""
    annotated = project.count_documents(status="annotated", split="train")
    return max(0, annotated - trained_documents(project.latest_run("done")))


@dataclass(frozen=True)
class RetrainPolicy:
    """Re-train after every ``every`` newly annotated documents; 0 never re-trains."""

    every: int

    def due(self, new_count: int) -> bool:
        """Whether ``new_count`` newly annotated documents call for a re-train."""
        return self.every > 0 and new_count >= self.every

    def remaining(self, new_count: int) -> int | None:
        """How many more annotations until the next re-train (None: re-training is off)."""
        if self.every <= 0:
            return None
        return max(0, self.every - new_count)


def status_line(project: Project, used: int = 0, retraining: int | None = None) -> str:
    """One line on the model in the loop, e.g. "model run 7 · trained on 240 documents ·
    dev F1 0.71 · re-trains after 12 more".

    ``used`` is how many of the newly annotated documents a re-train that failed or was
    cancelled already used (the next one waits for N more beyond them); ``retraining``
    the run id of a re-train under way, said in place of "re-train due"."""
    run = project.latest_run("done")
    if run is None:
        return "no model yet: train one to order documents by usefulness"
    metrics = run["metrics"] or {}
    parts = [f"model run {run['id']}"]
    if metrics.get("train_documents") is not None:
        parts.append(f"trained on {metrics['train_documents']:,} documents")
    if isinstance(metrics.get("f1"), int | float):
        parts.append(f"dev F1 {metrics['f1']:.2f}")
    policy = RetrainPolicy(project.retrain_every())
    remaining = policy.remaining(annotated_since(project) - used)
    if remaining is None:
        parts.append("re-training off")
    elif remaining == 0 and retraining is None:
        parts.append("re-train due")
    elif remaining:
        parts.append(f"re-trains after {remaining:,} more")
    if retraining is not None:
        parts.append(f"re-training (run {retraining})…")
    return " · ".join(parts)
