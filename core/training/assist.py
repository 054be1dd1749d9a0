"""Model-assisted annotation: a model's predictions stored as suggestions.

Predictions become spans with origin ``model`` and a score; the store keeps every human
span as it is (a suggestion overlapping one is skipped). Runs on the thread that owns
the store; the Predictor call itself may be moved to a worker by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.training.predict import Predictor


def suggest_spans(project: Any, predictor: Predictor, doc_ids: Sequence[int]) -> int:
    """Replace the model suggestions of these documents with fresh predictions.

    Uses each document's stored tokens, so suggestions fall on the same word edges the
    annotator sees. Returns how many suggestions were stored.
    """
    docs = [project.get_document(doc_id) for doc_id in doc_ids]
    predictions = predictor.predict_tokens([d["text"] for d in docs], [d["tokens"] for d in docs])
    stored = 0
    with project.atomic():
        for doc, entities in zip(docs, predictions, strict=True):
            stored += project.set_model_spans(doc["id"], entities)
    return stored
