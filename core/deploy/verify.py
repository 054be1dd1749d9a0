"""The check an export passes: the exported model against the original on dev documents.

Both read the same documents the same way (the Predictor's words, windows and
context); the original runs on torch in fp32, the export on ONNX Runtime. Reported:
entity-level agreement F1 (the original's entities taken as the truth), dev F1 of each
against the annotations, and the loss in F1 points. An export that loses more than
:data:`MAX_LOSS_POINTS` does not pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.tagging import tags_to_spans

#: Dev F1 an export may lose, in points (0.01 of F1), and still pass.
MAX_LOSS_POINTS = 1.0


def check_export(
    original: str | Path,
    exported: str | Path,
    examples: Sequence[dict],
    threads: int | None = None,
) -> dict:
    """Compare two model folders on ``examples`` (as ``project.examples()``)."""
    from core.training.evaluation import score
    from core.training.predict import Predictor

    reference = Predictor(original, device="cpu", precision="no", backend="torch")
    candidate = Predictor(exported, device="cpu", backend="onnx", threads=threads)
    texts = [ex["text"] for ex in examples]
    tokens = [ex["tokens"] for ex in examples]
    groups = [ex.get("group") for ex in examples]
    ref_tags = [tags for tags, _ in reference.predict_tags(texts, tokens, groups)]
    new_tags = [tags for tags, _ in candidate.predict_tags(texts, tokens, groups)]
    labels = reference.labels
    torch_f1 = score(examples, ref_tags, labels)["f1"]
    exported_f1 = score(examples, new_tags, labels)["f1"]
    loss = round((torch_f1 - exported_f1) * 100, 2)
    return {
        "documents": len(examples),
        "agreement_f1": round(agreement_f1(tokens, ref_tags, new_tags), 4),
        "torch_f1": round(torch_f1, 4),
        "exported_f1": round(exported_f1, 4),
        "f1_loss_points": loss,
        "max_loss_points": MAX_LOSS_POINTS,
        "passed": loss <= MAX_LOSS_POINTS,
    }


def agreement_f1(
    tokens: Sequence[Sequence[Sequence[int]]],
    reference: Sequence[Sequence[str]],
    candidate: Sequence[Sequence[str]],
) -> float:
    """Entity-level F1 of ``candidate``'s entities against ``reference``'s (exact span
    and type), decoded as the Predictor decodes them; 1.0 when neither finds any."""
    ref, new = set(), set()
    for doc, (toks, r_tags, c_tags) in enumerate(zip(tokens, reference, candidate, strict=True)):
        ref.update((doc, *span) for span in tags_to_spans(toks, r_tags))
        new.update((doc, *span) for span in tags_to_spans(toks, c_tags))
    if not ref and not new:
        return 1.0
    return 2 * len(ref & new) / (len(ref) + len(new))
