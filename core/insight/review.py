"""Review: likely annotation mistakes, found by k-fold cross-validation.

The annotated documents of a split are dealt into k folds (the sentences of one
source document stay together, so no model reads a neighbour of what it predicts).
For each fold a model is trained with the normal trainer on the other folds (dev: the
project's dev split when another split is reviewed) and predicts the fold it never saw;
its tag probabilities are set against the person's spans (``core.insight.suspects``).
The fold models live in a scratch folder beside the project's models and are deleted
as soon as they have predicted: they are not runs.

:func:`prepare_review` reads the store (the thread that owns it) and gives a
:class:`ReviewPlan`, plain data; :func:`review_events` is a generator a worker runs: it
yields :class:`FoldStarted`, the fold's training events, :class:`FoldDone`, checks
``should_stop`` between steps, and returns a :class:`ReviewResult`, partial when
stopped. :func:`run_review` does both in one thread (the CLI); :func:`open_suspects`
drops the suspects a person has already kept.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from core.errors import TrainingError, ValidationError
from core.insight.suspects import Suspect, find_suspects, weigh_by_kind
from core.scratch import remove_stale, scratch_path
from core.training.config import TrainConfig
from core.training.events import Cancelled, Event, Failed

if TYPE_CHECKING:  # the store and the trainer load on first use: a quick `--help`
    from core.store import Project

#: Folds when the caller does not say; a project with fewer documents gets fewer.
DEFAULT_FOLDS = 4
#: What can be reviewed: one split's annotated documents, or all of them.
REVIEW_SPLITS = ("train", "dev", "test", "all")
#: The name of the scratch folder of fold models, beside the project's run folders.
SCRATCH_NAME = "review"

StopFlag = Callable[[], bool]


@dataclass(frozen=True)
class FoldStarted:
    """A fold's model begins to train (``fold`` counts from 0)."""

    kind: ClassVar[str] = "fold_started"
    fold: int
    folds: int
    train_documents: int
    predict_documents: int


@dataclass(frozen=True)
class FoldDone:
    """A fold's documents were predicted; its model is gone."""

    kind: ClassVar[str] = "fold_done"
    fold: int
    folds: int
    suspects: int
    seconds: float


@dataclass(frozen=True)
class ReviewPlan:
    """What a review needs, as plain data a worker thread may hold."""

    config: TrainConfig
    documents: list[dict]  # the reviewed documents, as ``project.examples()`` gives them
    dev: list[dict]  # what each fold's model picks its best epoch on ([]: held out)
    folds: list[int]  # the fold of each reviewed document
    k: int
    scratch: Path

    def texts(self) -> dict[int, str]:
        """Each reviewed document's text by id."""
        return {doc["id"]: doc["text"] for doc in self.documents}


@dataclass
class ReviewResult:
    """The suspects, most suspicious first; partial when the review was stopped."""

    suspects: list[Suspect]
    folds: int
    folds_done: int
    documents: int  # documents predicted (all of them unless stopped)
    cancelled: bool = False
    labels_unknown: set[str] = field(default_factory=set)  # labels a fold model lacked


class FoldModel(Protocol):
    """A fold's trained model, as a review reads it."""

    tags: list[str]

    def probabilities(self, docs: Sequence[dict]) -> list[list[list[float]]]: ...

    def close(self) -> None: ...


#: Trains a fold's model: ``fit(fold, train, dev, should_stop)`` yields the trainer's
#: events and returns the model, or None when it was stopped.
Fit = Callable[[int, list[dict], list[dict], StopFlag], Generator[Event, None, "FoldModel | None"]]


# -- folds ------------------------------------------------------------------------------------


def fold_count(units: int, requested: int = DEFAULT_FOLDS) -> int:
    """How many folds: as asked, but no more than there are documents (or groups of
    sentences) to deal; at least two are needed."""
    if requested < 2:
        raise ValidationError(f"--folds {requested}: a review needs at least 2 folds.")
    if units < 2:
        raise ValidationError(
            f"A review needs at least 2 annotated documents in the reviewed split; it has "
            f"{units}. Annotate more documents (and mark them annotated) first."
        )
    return min(requested, units)


def assign_folds(documents: Sequence[dict], requested: int, seed: int) -> tuple[list[int], int]:
    """The fold of each document and the number of folds. Documents of one group stay
    in one fold; groups are shuffled (seeded) and dealt to the emptiest fold."""
    units: dict[Any, list[int]] = {}
    for i, doc in enumerate(documents):
        group = doc.get("group")
        units.setdefault(("group", group) if group is not None else ("doc", i), []).append(i)
    k = fold_count(len(units), requested)
    order = list(units.values())
    random.Random(seed).shuffle(order)
    order.sort(key=len, reverse=True)  # stable: big groups first, shuffled among equals
    sizes = [0] * k
    folds = [0] * len(documents)
    for members in order:
        fold = min(range(k), key=lambda f: (sizes[f], f))
        sizes[fold] += len(members)
        for i in members:
            folds[i] = fold
    return folds, k


# -- the job ----------------------------------------------------------------------------------


def prepare_review(
    project: Project,
    config: TrainConfig,
    folds: int = DEFAULT_FOLDS,
    split: str = "train",
) -> ReviewPlan:
    """Read what a review of ``split``'s annotated documents needs (store thread)."""
    from core.training.session import project_config

    if split not in REVIEW_SPLITS:
        raise ValidationError(
            f"Cannot review split {split!r}: choose one of {', '.join(REVIEW_SPLITS)}."
        )
    config = project_config(project, config)
    examples = project.examples()
    if split == "all":
        documents = [e for e in examples if e["split"] in ("train", "dev", "test")]
    else:
        documents = [e for e in examples if e["split"] == split]
    dev = [e for e in examples if e["split"] == "dev"] if split in ("train", "test") else []
    assignment, k = assign_folds(documents, folds, config.seed)
    target = Path(project.models_dir) / SCRATCH_NAME
    remove_stale(target, "")  # fold models of a review whose process was killed
    return ReviewPlan(config, documents, dev, assignment, k, scratch_path(target, ""))


def review_events(
    plan: ReviewPlan, should_stop: StopFlag = lambda: False, fit: Fit | None = None
) -> Generator[object, None, ReviewResult]:
    """Train and predict fold by fold (see the module docstring); returns the result."""
    fit = fit or _trainer_fit(plan)
    suspects: list[Suspect] = []
    unknown: set[str] = set()
    done = predicted = judged = 0
    try:
        for fold in range(plan.k):
            if should_stop():
                break
            held = [d for d, f in zip(plan.documents, plan.folds, strict=True) if f == fold]
            train = [d for d, f in zip(plan.documents, plan.folds, strict=True) if f != fold]
            yield FoldStarted(fold, plan.k, len(train), len(held))
            started = time.monotonic()
            model = yield from fit(fold, train, plan.dev, should_stop)
            if model is None:
                break
            try:
                found, missing, spans = _fold_suspects(model, held, fold)
            finally:
                model.close()
            suspects.extend(found)
            unknown |= missing
            judged += spans
            done, predicted = done + 1, predicted + len(held)
            yield FoldDone(fold, plan.k, len(found), time.monotonic() - started)
    finally:
        shutil.rmtree(plan.scratch, ignore_errors=True)
    ranked = weigh_by_kind(suspects, judged)
    return ReviewResult(ranked, plan.k, done, predicted, done < plan.k, unknown)


def run_review(
    project: Project,
    config: TrainConfig,
    folds: int = DEFAULT_FOLDS,
    split: str = "train",
    should_stop: StopFlag = lambda: False,
    on_event: Callable[[object], None] | None = None,
    fit: Fit | None = None,
) -> tuple[ReviewPlan, ReviewResult]:
    """Prepare and run a review in this thread; the plan (for the texts) and the result."""
    plan = prepare_review(project, config, folds, split)
    events = review_events(plan, should_stop, fit)
    while True:
        try:
            event = next(events)
        except StopIteration as end:
            return plan, end.value
        if on_event is not None:
            on_event(event)


def open_suspects(project: Project, suspects: Sequence[Suspect]) -> list[Suspect]:
    """The suspects nobody has marked reviewed (kept) yet, in their order."""
    kept = project.reviewed_keys()
    return [s for s in suspects if (s.doc_id, s.key()) not in kept]


def _fold_suspects(
    model: FoldModel, held: list[dict], fold: int
) -> tuple[list[Suspect], set[str], int]:
    """The suspects of a fold's documents, the annotated labels its model lacked (spans
    with such a label are not judged: the model cannot have seen the type), and how
    many annotated spans were judged."""
    known = {tag[2:] for tag in model.tags if tag != "O"}
    found: list[Suspect] = []
    missing: set[str] = set()
    judged_spans = 0
    for doc, probs in zip(held, model.probabilities(held), strict=True):
        judged = [s for s in doc["spans"] if s[2] in known]
        skipped = [s for s in doc["spans"] if s[2] not in known]
        missing |= {s[2] for s in skipped}
        judged_spans += len(judged)
        suspects = find_suspects(doc["id"], doc["tokens"], judged, model.tags, probs, fold)
        found.extend(s for s in suspects if not (s.kind == "spurious" and _overlaps(s, skipped)))
    return found, missing, judged_spans


def _overlaps(suspect: Suspect, spans: Sequence[Sequence]) -> bool:
    return any(s[0] < suspect.end and suspect.start < s[1] for s in spans)


# -- the normal trainer, in a scratch folder ---------------------------------------------------


class TrainedFold:
    """A fold's model folder, loaded for prediction; :meth:`close` deletes it."""

    def __init__(self, folder: Path, config: TrainConfig) -> None:
        from core.training.predict import Predictor

        self.folder = folder
        self.predictor = Predictor(
            folder,
            device=config.device,
            batch_size=config.eval_batch_size,
            precision=config.precision,
        )
        self.tags = list(self.predictor.tags)

    def probabilities(self, docs: Sequence[dict]) -> list[list[list[float]]]:
        from core.insight.tag_probabilities import tag_probabilities

        return tag_probabilities(self.predictor, docs)

    def close(self) -> None:
        del self.predictor
        shutil.rmtree(self.folder, ignore_errors=True)


def _trainer_fit(plan: ReviewPlan) -> Fit:
    """Fold models trained by ``core.training.trainer.train`` under ``plan.scratch``."""

    def fit(
        fold: int, train: list[dict], dev: list[dict], should_stop: StopFlag
    ) -> Generator[Event, None, FoldModel | None]:
        from core.training.trainer import train as train_model

        folder = plan.scratch / f"fold-{fold + 1}"
        plan.scratch.mkdir(parents=True, exist_ok=True)
        final = None
        for event in train_model(
            plan.config, {"train": train, "dev": dev, "test": []}, folder, should_stop
        ):
            final = event
            yield event
        if isinstance(final, Cancelled):
            return None
        if isinstance(final, Failed):
            raise TrainingError(
                f"The model of fold {fold + 1} of {plan.k} could not train: {final.error}"
            )
        return TrainedFold(folder, plan.config)

    return fit
