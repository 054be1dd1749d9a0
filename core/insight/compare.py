"""Compare two models on the same annotated documents: what changed, and whether it is real.

The unit of comparison is a *place*: a character span of a document that is an
annotated entity or an entity either model predicts. A model is right at a place when
it predicts exactly the annotated label there, or nothing where nothing is annotated.
So a place is *fixed* (A wrong, B right), *broken* (A right, B wrong), *both wrong*, or
both right. Counted this way, true positives, false positives and false negatives are
exactly those of the strict entity scores in :mod:`core.training.evaluation`, so the
per-type F1s here are the ones the Results tab shows.

Whether B's micro F1 differs from A's beyond noise is answered by a paired bootstrap
over documents: documents are drawn with replacement, both F1s are computed on the same
draw, and the spread of their difference gives a percentile interval and a two-sided
p-value. It is seeded, so the same two runs give the same answer every time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import TrainingError, ValidationError
from core.tagging import tags_to_spans
from core.training.card import refit_report

if TYPE_CHECKING:
    from core.training.predict import Predictor

RESAMPLES = 1000
CONFIDENCE = 0.95
OUTCOMES = ("fixed", "broken", "both_wrong")
#: Resampled document weights held in memory at once (resamples x documents).
_CHUNK_CELLS = 2_000_000


def compare_models(
    model_a: Predictor | str | Path,
    model_b: Predictor | str | Path,
    examples: Sequence[dict],
    batch_size: int = 32,
    device: str = "auto",
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict:
    """Predict ``examples`` (as ``project.examples(split)``) with both models and
    :func:`compare_tags` the results. Models are loaded one after the other."""
    from core.training.evaluation import predicted_tags
    from core.training.predict import Predictor

    if not examples:
        raise TrainingError(
            "No annotated documents to compare the runs on: annotate documents of this "
            "split, or choose another split."
        )
    tags, labels = [], set()
    for model in (model_a, model_b):
        predictor = (
            model
            if isinstance(model, Predictor)
            else Predictor(model, device=device, batch_size=batch_size)
        )
        tags.append(predicted_tags(predictor, examples))
        labels |= set(predictor.labels)
        del predictor  # the first model's memory is free before the second loads
    return compare_tags(examples, tags[0], tags[1], sorted(labels), resamples, seed)


def compare_tags(
    examples: Sequence[dict],
    tags_a: Sequence[Sequence[str]],
    tags_b: Sequence[Sequence[str]],
    labels: Sequence[str] = (),
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict:
    """Compare two models' word tags on the same examples.

    Returns ``{"documents", "a", "b", "delta_f1", "per_type", "counts", "fixed",
    "broken", "both_wrong", "bootstrap"}``: ``a`` / ``b`` are micro precision, recall and
    F1; ``per_type`` rows ``{label, support, f1_a, f1_b, delta}`` with a last "micro avg"
    row; each listed place is ``{document_id, start, end, text, gold, a, b}`` (the
    annotated label and each model's label there, None for nothing).
    """
    from core.training.evaluation import scored_tags  # seqeval and torch: only when used

    if len(tags_a) != len(examples) or len(tags_b) != len(examples):
        raise ValidationError(
            f"Both runs must be scored on the same {len(examples)} documents, not on "
            f"{len(tags_a)} and {len(tags_b)}: evaluate them on the same split."
        )
    gold, pred_a, _ = scored_tags(examples, tags_a)
    _, pred_b, _ = scored_tags(examples, tags_b)
    lists: dict[str, list[dict]] = {name: [] for name in OUTCOMES}
    both_right = 0
    per_type: Counter = Counter()  # (label, model, "tp" | "fp" | "fn") -> n
    per_doc = np.zeros((len(examples), 6), dtype=np.int64)  # tp, fp, fn of A, then of B
    for row, (ex, g_tags, a_tags, b_tags) in enumerate(
        zip(examples, gold, pred_a, pred_b, strict=True)
    ):
        for place in places(ex, g_tags, a_tags, b_tags):
            g, a, b = place["gold"], place["a"], place["b"]
            for column, (model, label) in enumerate((("a", a), ("b", b))):
                counts = _counts(g, label)
                per_doc[row, 3 * column : 3 * column + 3] += counts
                if label is not None:
                    per_type[(label, model, "tp" if label == g else "fp")] += 1
                if g is not None and label != g:
                    per_type[(g, model, "fn")] += 1
            if a == g and b == g:
                both_right += 1
            elif b == g:
                lists["fixed"].append(place)
            elif a == g:
                lists["broken"].append(place)
            else:
                lists["both_wrong"].append(place)
    totals = per_doc.sum(axis=0)
    seen = {label for label, _, _ in per_type}
    rows = [_type_row(label, per_type) for label in sorted(set(labels) | seen)]
    f1_a, f1_b = _f1(*totals[:3]), _f1(*totals[3:])
    support = int(totals[0] + totals[2])  # annotated entities: tp + fn of either model
    rows.append(
        {"label": "micro avg", "support": support, "f1_a": f1_a, "f1_b": f1_b, "delta": f1_b - f1_a}
    )
    return {
        "documents": len(examples),
        "a": _prf(*totals[:3]),
        "b": _prf(*totals[3:]),
        "delta_f1": f1_b - f1_a,
        "per_type": rows,
        "counts": {**{name: len(found) for name, found in lists.items()}, "both_right": both_right},
        **lists,
        "bootstrap": paired_bootstrap(per_doc[:, :3], per_doc[:, 3:], resamples, seed, confidence),
    }


def places(
    example: dict, gold: Sequence[str], tags_a: Sequence[str], tags_b: Sequence[str]
) -> list[dict]:
    """Every span of one document that is annotated or predicted by either model, with
    the annotated label and each model's label there (None: nothing), in text order."""
    tokens = example["tokens"]
    found = [
        {(s, e): lab for s, e, lab in tags_to_spans(tokens, tags)}
        for tags in (gold, tags_a, tags_b)
    ]
    text = example["text"]
    return [
        {
            "document_id": example.get("id"),
            "start": start,
            "end": end,
            "text": text[start:end],
            "gold": found[0].get((start, end)),
            "a": found[1].get((start, end)),
            "b": found[2].get((start, end)),
        }
        for start, end in sorted(set(found[0]) | set(found[1]) | set(found[2]))
    ]


def paired_bootstrap(
    counts_a: np.ndarray,
    counts_b: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict:
    """Paired bootstrap of micro F1(B) - F1(A) over documents.

    ``counts_a`` / ``counts_b``: one row per document, ``(tp, fp, fn)``. Returns
    ``{"resamples", "seed", "confidence", "interval": [low, high], "p_value",
    "significant"}``. The p-value is two-sided: twice the smaller share of resampled
    differences on either side of zero (each share counted with the observed draw, so
    never 0), at most 1. Significant means p below ``1 - confidence`` and an interval
    that leaves out zero; two identical runs differ by exactly 0 on every draw and so
    are never significant.
    """
    if resamples < 1:
        raise ValidationError(f"The bootstrap needs at least 1 resample, not {resamples}.")
    if not 0 < confidence < 1:
        raise ValidationError(f"The confidence must lie between 0 and 1, not {confidence}.")
    counts_a, counts_b = np.asarray(counts_a), np.asarray(counts_b)
    n = len(counts_a)
    deltas = np.zeros(resamples)
    if n:
        rng = np.random.default_rng(seed)
        both = np.concatenate([counts_a, counts_b], axis=1).astype(np.float64)
        chunk = max(1, _CHUNK_CELLS // n)
        for first in range(0, resamples, chunk):
            size = min(chunk, resamples - first)
            weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size)
            sums = weights @ both
            deltas[first : first + size] = _f1_array(sums[:, 3:]) - _f1_array(sums[:, :3])
    below = (np.count_nonzero(deltas <= 0) + 1) / (resamples + 1)
    above = (np.count_nonzero(deltas >= 0) + 1) / (resamples + 1)
    p_value = float(min(1.0, 2 * min(below, above)))
    tail = (1 - confidence) / 2
    low, high = (float(v) for v in np.quantile(deltas, [tail, 1 - tail]))
    return {
        "resamples": resamples,
        "seed": seed,
        "confidence": confidence,
        "interval": [low, high],
        "p_value": p_value,
        "significant": bool(p_value < 1 - confidence and (low > 0 or high < 0)),
    }


def significance_line(result: dict, name_a: str = "A", name_b: str = "B") -> str:
    """One sentence on the comparison: B's F1 against A's, its interval and p-value."""
    boot = result["bootstrap"]
    delta = 100 * result["delta_f1"]
    low, high = (100 * v for v in boot["interval"])
    detail = (
        f"{round(100 * boot['confidence'])} % interval {low:+.1f} to {high:+.1f} points, "
        f"{_p_text(boot['p_value'])}; paired bootstrap over {result['documents']} "
        f"documents, {boot['resamples']} resamples"
    )
    if boot["significant"]:
        verdict = "better" if delta > 0 else "worse"
        return (
            f"{name_b} is {verdict} than {name_a} by {abs(delta):.1f} F1 points, beyond "
            f"noise ({detail})."
        )
    return f"{name_b} against {name_a}: {delta:+.1f} F1 points, within noise ({detail})."


def seen_split_note(runs: list[dict], split: str) -> str | None:
    """A warning where a compared run's model trained on ``split``: a refit run (see
    ``core.training.refit``) learned from dev, so its dev scores flatter it."""
    seen = [r["id"] for r in runs if split == "dev" and refit_report(r.get("metrics"))]
    if not seen:
        return None
    names = " and ".join(f"run {n}" for n in seen)
    return (
        f"Careful: {names} trained on train + dev (refit), so {'their' if len(seen) > 1 else 'its'} "
        "model has seen these dev documents and its scores here flatter it; compare on test."
    )


def run_model_dir(run: dict) -> str:
    """A finished run's model folder; TrainingError for a run that has none."""
    if run["status"] != "done" or not run["output_dir"]:
        raise TrainingError(
            f"Run {run['id']} is {run['status']} and has no model to compare: choose a "
            "finished run ('spanlab runs PROJECT' lists them)."
        )
    return str(run["output_dir"])


# -- arithmetic -------------------------------------------------------------------------


def _counts(gold: str | None, predicted: str | None) -> tuple[int, int, int]:
    """(tp, fp, fn) of one model at one place."""
    tp = int(predicted is not None and predicted == gold)
    fp = int(predicted is not None and predicted != gold)
    fn = int(gold is not None and predicted != gold)
    return tp, fp, fn


def _type_row(label: str, counts: Counter) -> dict:
    f1 = {m: _f1(*(counts[(label, m, k)] for k in ("tp", "fp", "fn"))) for m in ("a", "b")}
    support = counts[(label, "a", "tp")] + counts[(label, "a", "fn")]
    return {
        "label": label,
        "support": support,
        "f1_a": f1["a"],
        "f1_b": f1["b"],
        "delta": f1["b"] - f1["a"],
    }


def _f1(tp: Any, fp: Any, fn: Any) -> float:
    denominator = 2 * tp + fp + fn
    return float(2 * tp / denominator) if denominator else 0.0


def _prf(tp: Any, fp: Any, fn: Any) -> dict:
    precision = float(tp / (tp + fp)) if tp + fp else 0.0
    recall = float(tp / (tp + fn)) if tp + fn else 0.0
    return {"precision": precision, "recall": recall, "f1": _f1(tp, fp, fn)}


def _f1_array(sums: np.ndarray) -> np.ndarray:
    tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2]
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
