"""How good a model is on annotated documents: entity scores, tag scores, confusions, errors.

Entity scores use seqeval in strict IOB2 mode on word-level tags (never on sub-tokens
or special tokens). Predicted tags are first repaired the way they are decoded for the
user (a stray ``I-X`` opens an entity), so the scores describe exactly the entities
that ``Predictor.predict`` returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from core.tagging import iob1_to_iob2, tags_to_spans
from core.training.data import word_tags
from core.training.predict import Predictor

AVERAGES = ("micro avg", "macro avg", "weighted avg")


def evaluate(
    predictor_or_model_dir: Predictor | str | Path,
    examples: Sequence[dict],
    batch_size: int = 32,
    device: str = "auto",
) -> dict:
    """Score a model on examples ``{id, text, tokens, spans, group}`` (as
    ``project.examples()``); sentences of a group are read with their neighbours as
    context where the model was trained so.

    Returns ``{"entity", "tokens", "confusion", "errors", "f1", "precision", "recall",
    "token_accuracy", "documents", "misaligned"}``; see :func:`score`.
    """
    predictor = (
        predictor_or_model_dir
        if isinstance(predictor_or_model_dir, Predictor)
        else Predictor(predictor_or_model_dir, device=device, batch_size=batch_size)
    )
    return score(examples, predicted_tags(predictor, examples), labels=predictor.labels)


def predicted_tags(predictor: Predictor, examples: Sequence[dict]) -> list[list[str]]:
    """The model's word tags for each example, read with its group as in training."""
    texts = [ex["text"] for ex in examples]
    tokens = [ex["tokens"] for ex in examples]
    groups = [ex.get("group") for ex in examples]  # read with context, as in training
    return [tags for tags, _ in predictor.predict_tags(texts, tokens, groups)]


def score(
    examples: Sequence[dict], predicted: Sequence[Sequence[str]], labels: Sequence[str] = ()
) -> dict:
    """Compare predicted word tags with the examples' gold spans."""
    gold_tags, pred_tags, misaligned = scored_tags(examples, predicted)
    labels = sorted(set(labels) | {t[2:] for seq in gold_tags + pred_tags for t in seq if t != "O"})
    entity = entity_table(gold_tags, pred_tags, labels)
    tokens = tag_table(gold_tags, pred_tags, labels)
    confusion, errors = compare_spans(examples, gold_tags, pred_tags, labels)
    micro = entity["micro avg"]
    return {
        "f1": micro["f1"],
        "precision": micro["precision"],
        "recall": micro["recall"],
        "entity": entity,
        "tokens": tokens,
        "token_accuracy": _accuracy(gold_tags, pred_tags),
        "confusion": confusion,
        "errors": errors,
        "documents": len(examples),
        "misaligned": misaligned,
    }


def scored_tags(
    examples: Sequence[dict], predicted: Sequence[Sequence[str]]
) -> tuple[list[list[str]], list[list[str]], int]:
    """Gold and predicted word tags as they are scored, and the number of misaligned gold
    spans: words under a misaligned gold span are left out on both sides (``O``), and
    predicted tags are repaired as they are decoded for the user (a stray ``I-X`` opens
    an entity)."""
    gold_tags, pred_tags, misaligned = [], [], 0
    for ex, pred in zip(examples, predicted, strict=True):
        gold, bad = word_tags(ex)
        misaligned += len(bad)
        gold_tags.append(["O" if g is None else g for g in gold])
        pred_tags.append(
            iob1_to_iob2(["O" if g is None else p for g, p in zip(gold, pred, strict=True)])
        )
    return gold_tags, pred_tags, misaligned


def entity_table(gold: list[list[str]], pred: list[list[str]], labels: Sequence[str]) -> dict:
    """Per-type precision / recall / F1 / support (seqeval strict IOB2) and the averages."""
    report = classification_report(
        gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    table = {}
    for name in [*labels, *AVERAGES]:
        row = report.get(name, {"precision": 0, "recall": 0, "f1-score": 0, "support": 0})
        table[name] = {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
    return table


def tag_table(gold: list[list[str]], pred: list[list[str]], labels: Sequence[str]) -> dict:
    """Word-level per-tag scores (B-X, I-X, ...) like the classic CoNLL report, plus micro."""
    tp, n_gold, n_pred = Counter(), Counter(), Counter()
    for g_seq, p_seq in zip(gold, pred, strict=True):
        for g, p in zip(g_seq, p_seq, strict=True):
            n_gold[g] += 1
            n_pred[p] += 1
            if g == p:
                tp[g] += 1
    tags = [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]
    table = {tag: _prf(tp[tag], n_pred[tag], n_gold[tag]) for tag in tags}
    table["micro avg"] = _prf(
        sum(tp[t] for t in tags), sum(n_pred[t] for t in tags), sum(n_gold[t] for t in tags)
    )
    return table


def compare_spans(
    examples: Sequence[dict], gold: list[list[str]], pred: list[list[str]], labels: Sequence[str]
) -> tuple[dict, list[dict]]:
    """Entity-type confusion matrix and the list of errors as character spans.

    An exact match of span and type is correct; the same span with another type is a
    ``wrong_type``; overlapping spans that differ in their edges are a ``wrong_boundary``
    (and count as a confusion of their two types); the rest are false negatives (gold
    spans not found) and false positives (predicted spans with no gold span under them).
    """
    names = [*labels, "O"]
    at = {name: i for i, name in enumerate(names)}
    matrix = [[0] * len(names) for _ in names]
    errors: list[dict] = []
    for ex, g_tags, p_tags in zip(examples, gold, pred, strict=True):
        text, doc = ex["text"], ex.get("id")
        g_spans = tags_to_spans(ex["tokens"], g_tags)
        p_spans = tags_to_spans(ex["tokens"], p_tags)
        exact = {(s, e): lab for s, e, lab in p_spans}
        g_left, p_used = [], set()
        for s, e, lab in g_spans:
            if (s, e) in exact:
                p_used.add((s, e))
                matrix[at[lab]][at[exact[(s, e)]]] += 1
                if exact[(s, e)] != lab:
                    errors.append(_error(doc, "wrong_type", text, s, e, exact[(s, e)], lab))
            else:
                g_left.append((s, e, lab))
        p_left = [sp for sp in p_spans if (sp[0], sp[1]) not in p_used]
        for s, e, lab in g_left:
            hit = next((p for p in p_left if p[0] < e and s < p[1]), None)
            if hit is None:
                matrix[at[lab]][at["O"]] += 1
                errors.append(_error(doc, "false_negative", text, s, e, None, lab))
                continue
            p_left.remove(hit)
            matrix[at[lab]][at[hit[2]]] += 1
            err = _error(doc, "wrong_boundary", text, hit[0], hit[1], hit[2], lab)
            err.update(gold_start=s, gold_end=e)
            errors.append(err)
        for s, e, lab in p_left:
            matrix[at["O"]][at[lab]] += 1
            errors.append(_error(doc, "false_positive", text, s, e, lab, None))
    return {"labels": names, "matrix": matrix}, errors


def _error(
    doc: Any, kind: str, text: str, start: int, end: int, pred: str | None, gold: str | None
) -> dict:
    return {
        "document_id": doc,
        "kind": kind,
        "start": start,
        "end": end,
        "label": pred or gold,
        "gold_label": gold,
        "pred_label": pred,
        "text": text[start:end],
    }


def _prf(tp: int, n_pred: int, n_gold: int) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "support": n_gold}


def _accuracy(gold: list[list[str]], pred: list[list[str]]) -> float:
    total = sum(len(s) for s in gold)
    right = sum(
        g == p for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True)
    )
    return right / total if total else 0.0


def summary(result: dict) -> dict:
    """The compact part of an evaluation (no error list): what runs and events store."""
    return {
        k: result[k] for k in ("f1", "precision", "recall", "entity", "tokens", "token_accuracy")
    }
