"""Scoring a project's pool of ``new`` documents with a model, and reading the order.

The glue that ``spanlab next`` and the benchmarks run in one thread; the desktop runs
its parts apart (``documents_to_score`` and ``save_scores`` on the GUI thread, the
scorer on a worker). Which model scores: the newest finished run unless told otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core.active.scoring import ScoringCancelled
from core.errors import TrainingError, ValidationError
from core.store.scores import run_model_key

if TYPE_CHECKING:
    from core.store import Project

#: Said when there is no model to order documents with.
NO_RUN_MESSAGE = (
    "No finished run yet: train a model first (Train tab or `spanlab train`); until then "
    "documents are served in document order."
)
#: Said when there is nothing to choose from.
EMPTY_POOL_MESSAGE = (
    "No documents with status new in the train or unassigned split: nothing to choose "
    "from. Import more text or mark documents new (dev and test documents are not chosen "
    "by a model)."
)
_RUN_ID = re.compile(r"(?:run-)?(\d+)")

Progress = Callable[[tuple[int, int]], None]


class Scorer(Protocol):
    """What scores documents: ``core.active.scoring.PoolScorer``, or a test's fake."""

    labels: list[str]

    def score(
        self,
        docs: Sequence[dict],
        strategy: str,
        should_stop: Callable[[], bool],
        progress: Progress | None,
    ) -> list[float]: ...


@dataclass(frozen=True)
class ModelChoice:
    """The model that scores: its folder, the key its scores carry, its run (if any)."""

    folder: Path
    model_key: str
    run_id: int | None


@dataclass(frozen=True)
class PoolResult:
    """What ``score_pool`` did: ``scored`` documents now, ``reused`` whose score still
    held, of ``total`` new ones; ``warning`` when the model's labels differ from the
    project's; ``cancelled`` when it stopped early (what was scored is kept)."""

    scored: int
    reused: int
    total: int
    model_key: str
    run_id: int | None
    warning: str | None = None
    cancelled: bool = False


def resolve_model(project: Project, model: str | None = None) -> ModelChoice:
    """The model ``model`` names: None for the newest finished run, a run id (``7`` or
    ``run-7``), or a model folder. TrainingError when there is no such model."""
    if model is None:
        run = project.latest_run("done")
        if run is None:
            raise TrainingError(NO_RUN_MESSAGE)
        return _run_choice(run)
    match = _RUN_ID.fullmatch(model.strip())
    if match:
        return _run_choice(project.get_run(int(match.group(1))))
    folder = Path(model).expanduser().resolve()
    if not (folder / "config.json").is_file():
        raise TrainingError(
            f"{model} is neither a run of this project nor a model folder (no config.json "
            "in it): give a run id (7 or run-7, see `spanlab runs`) or a model folder."
        )
    return ModelChoice(folder, folder_model_key(folder), None)


def folder_model_key(folder: Path) -> str:
    """The ``model_key`` of a model folder: its path and when its files last changed,
    so a model saved again into the same folder scores the pool again."""
    changed = max((p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()), default=0)
    return f"dir:{folder}:{changed}"


def _run_choice(run: dict) -> ModelChoice:
    if run["status"] != "done" or not run["output_dir"]:
        raise TrainingError(
            f"Run {run['id']} is {run['status']} and has no model to score with: choose a "
            "finished run (`spanlab runs`)."
        )
    folder = Path(run["output_dir"])
    if not folder.is_dir():
        raise TrainingError(
            f"The model folder of run {run['id']}, {folder}, is gone: train again, or "
            "choose another run."
        )
    return ModelChoice(folder, run_model_key(run["id"]), run["id"])


def model_labels(folder: Path) -> list[str]:
    """The entity labels a model folder's config names (without loading the model)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    tags = (config.get("id2label") or {}).values()
    return sorted({tag.split("-", 1)[1] for tag in tags if "-" in tag})


def label_mismatch(project: Project, labels: Sequence[str]) -> str | None:
    """What differs between the model's entity ``labels`` and the project's, or None."""
    ours = [label["name"] for label in project.labels()]
    missing = [name for name in ours if name not in labels]
    extra = [name for name in labels if name not in ours]
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append(f"the project's {', '.join(missing)} {_are(missing)} not in the model")
    if extra:
        parts.append(f"the model's {', '.join(extra)} {_are(extra)} not in the project")
    return (
        f"The model's labels differ from the project's: {'; '.join(parts)}. Its scores "
        "still order the documents; train a new model for scores that know every label."
    )


def _are(names: Sequence[str]) -> str:
    return "is" if len(names) == 1 else "are"


def require_pool(project: Project) -> int:
    """How many ``new`` documents there are; ValidationError when there are none."""
    total = project.pool_size()
    if not total:
        raise ValidationError(EMPTY_POOL_MESSAGE)
    return total


def score_pool(
    project: Project,
    strategy: str,
    model: str | None = None,
    scorer: Scorer | None = None,
    chunk: int = 2000,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PoolResult:
    """Score the ``new`` documents whose ``strategy`` score is stale, then rank them all.

    Scores are saved ``chunk`` documents at a time, each chunk its own transaction, so
    a cancel (``should_stop``) keeps what was scored. ``progress((done, total))`` counts
    the documents being scored now. ``scorer`` defaults to the model's PoolScorer,
    loaded only when something needs scoring.
    """
    from core.active.scoring import PoolScorer

    choice = resolve_model(project, model)
    docs = project.documents_to_score(strategy, choice.model_key)
    total = project.pool_size()
    if scorer is None and docs:
        scorer = PoolScorer.from_folder(choice.folder)
    labels = scorer.labels if scorer is not None else model_labels(choice.folder)
    scored, cancelled = 0, False
    try:
        if scorer is not None:  # None: nothing needs a score
            chunks = score_chunks(scorer, docs, strategy, chunk, should_stop, progress)
            for rows, _done in chunks:
                scored += project.save_scores(strategy, choice.model_key, choice.run_id, rows)
    except ScoringCancelled:
        cancelled = True
    project.rank_documents(strategy)
    return PoolResult(
        scored=scored,
        reused=total - len(docs),
        total=total,
        model_key=choice.model_key,
        run_id=choice.run_id,
        warning=label_mismatch(project, labels),
        cancelled=cancelled,
    )


def score_chunks(
    scorer: Scorer,
    docs: Sequence[dict],
    strategy: str,
    chunk: int = 2000,
    should_stop: Callable[[], bool] | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[list[tuple[int, float, str]], int]]:
    """Score ``docs`` (``documents_to_score`` rows) ``chunk`` at a time, yielding each
    chunk's ``(doc id, score, text_hash)`` rows (for ``save_scores``) and how many of the
    documents are done. ``progress((done, total))`` counts over all of them. A stop
    request raises ScoringCancelled, between chunks or (the scorer) within one."""
    stop = should_stop or (lambda: False)
    total = len(docs)
    for start in range(0, total, max(1, chunk)):
        if stop():
            raise ScoringCancelled("Scoring was cancelled.")
        part = list(docs[start : start + chunk])

        def report(pair: tuple[int, int], start: int = start) -> None:
            if progress is not None:
                progress((start + pair[0], total))

        values = scorer.score(part, strategy, stop, report)
        rows = [(d["id"], float(v), d["text_hash"]) for d, v in zip(part, values, strict=True)]
        yield rows, start + len(part)


def next_documents(project: Project, n: int, strategy: str) -> list[dict]:
    """The ``n`` ranked ``new`` documents most worth annotating next, by ``strategy``:
    ``{id, score, text, rank}``, most useful first."""
    return project.ranked_documents(strategy, n)
