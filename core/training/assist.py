"""Model-assisted annotation: a model's predictions stored as suggestions.

Predictions become spans with origin ``model`` and a score; the store keeps every human
span as it is (a suggestion overlapping one is skipped). Every caller predicts on each
document's stored tokens — the word edges the annotator snaps to and training tags —
never on the text tokenized afresh: a CoNLL import keeps ``U.S.`` or ``New-York`` as
one token, and so must its suggestions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the GUI imports this module at start: torch only where it predicts
    from core.training.predict import Predictor

BATCH_SIZE = 32


@dataclass(frozen=True)
class SuggestionBatch:
    """Predictions for some documents, ``[(doc_id, entities), ...]``; ``done`` of ``total``."""

    results: list[tuple[int, list[dict]]]
    done: int
    total: int


def predict_documents(
    predictor: Predictor, docs: Sequence[dict], project: Any = None
) -> list[list[dict]]:
    """Entities of stored documents (``{id, text, tokens, group}`` rows), on their stored
    tokens. With ``project``, a model trained with document context reads each document
    of a group between its stored neighbours, as it was trained."""
    texts, tokens = [d["text"] for d in docs], [d["tokens"] for d in docs]
    budget = predictor.context_tokens
    if project is None or not budget or all(d.get("group") is None for d in docs):
        return predictor.predict_tokens(texts, tokens)
    # Every sub-token is at least one word's: this many words fill the budget.
    context = [project.group_neighbours(d["id"], budget) for d in docs]
    return predictor.predict_tokens(texts, tokens, context=context)


def suggestion_batches(
    project: Any,
    predictor: Predictor,
    doc_ids: Sequence[int],
    should_stop: Callable[[], bool] = lambda: False,
    batch_size: int = BATCH_SIZE,
) -> Iterator[SuggestionBatch]:
    """Predict documents a batch at a time, reading them from ``project``; writes nothing.

    Stops between batches when ``should_stop()`` says so.
    """
    for i in range(0, len(doc_ids), batch_size):
        if should_stop():
            return
        ids = list(doc_ids[i : i + batch_size])
        docs = [project.get_document(doc_id) for doc_id in ids]
        predictions = predict_documents(predictor, docs, project)
        yield SuggestionBatch(list(zip(ids, predictions, strict=True)), i + len(ids), len(doc_ids))


def store_suggestions(project: Any, batch: SuggestionBatch) -> dict[int, int]:
    """Replace the model suggestions of a batch's documents, in one transaction.

    Returns how many suggestions each document received.
    """
    with project.atomic():
        return {
            doc_id: project.set_model_spans(doc_id, entities) for doc_id, entities in batch.results
        }


def suggest_spans(project: Any, predictor: Predictor, doc_ids: Sequence[int]) -> int:
    """Predict and store suggestions for these documents in this thread (the store's).

    Returns how many suggestions were stored.
    """
    return sum(
        sum(store_suggestions(project, batch).values())
        for batch in suggestion_batches(project, predictor, doc_ids)
    )
