"""Scores and the error taxonomy, from hand-made tags (no model needed)."""

from __future__ import annotations

from core.training.evaluation import score

from training_support import example

# Words:            0      1      2     3       4      5     6
TEXT = "alice bob met carol in new york"


def doc(spans):
    return example(7, TEXT, spans)


GOLD = [(0, 9, "PER"), (14, 19, "PER"), (23, 31, "LOC")]  # "alice bob", "carol", "new york"


def test_perfect_prediction():
    tags = ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "I-LOC"]
    result = score([doc(GOLD)], [tags])
    assert result["f1"] == 1.0
    assert result["entity"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert result["errors"] == []
    assert result["confusion"]["labels"] == ["LOC", "PER", "O"]
    assert result["confusion"]["matrix"] == [[1, 0, 0], [0, 2, 0], [0, 0, 0]]
    assert result["token_accuracy"] == 1.0


def test_error_taxonomy():
    pred = [
        "B-PER",  # "alice" alone: wrong boundary for "alice bob"
        "O",
        "B-LOC",  # "met": false positive
        "B-LOC",  # "carol" as LOC: wrong type
        "O",
        "O",  # "new york" missed: false negative
        "O",
    ]
    result = score([doc(GOLD)], [pred])
    kinds = {(e["kind"], e["text"]) for e in result["errors"]}
    assert kinds == {
        ("wrong_boundary", "alice"),
        ("false_positive", "met"),
        ("wrong_type", "carol"),
        ("false_negative", "new york"),
    }
    by_kind = {e["kind"]: e for e in result["errors"]}
    assert by_kind["wrong_type"] == {
        "document_id": 7,
        "kind": "wrong_type",
        "start": 14,
        "end": 19,
        "label": "LOC",
        "gold_label": "PER",
        "pred_label": "LOC",
        "text": "carol",
    }
    assert (by_kind["wrong_boundary"]["gold_start"], by_kind["wrong_boundary"]["gold_end"]) == (
        0,
        9,
    )
    # Rows gold, columns predicted: LOC, PER, O.
    assert result["confusion"]["matrix"] == [[0, 0, 1], [1, 1, 0], [1, 0, 0]]
    assert result["f1"] == 0.0


def test_averages_and_tag_table():
    pred = ["B-PER", "I-PER", "O", "B-PER", "O", "O", "O"]
    result = score([doc(GOLD)], [pred])
    entity = result["entity"]
    assert set(entity) == {"LOC", "PER", "micro avg", "macro avg", "weighted avg"}
    assert entity["micro avg"]["precision"] == 1.0
    assert abs(entity["micro avg"]["recall"] - 2 / 3) < 1e-9
    assert entity["macro avg"]["f1"] == 0.5  # PER 1.0, LOC 0.0
    tokens = result["tokens"]
    assert set(tokens) == {"B-LOC", "I-LOC", "B-PER", "I-PER", "micro avg"}
    assert tokens["B-PER"]["f1"] == 1.0 and tokens["B-PER"]["support"] == 2
    assert tokens["I-LOC"]["recall"] == 0.0 and tokens["I-LOC"]["support"] == 1


def test_stray_inside_tag_counts_as_the_entity_the_user_sees():
    # Predictions are decoded leniently (I-X after O opens an entity); the score agrees.
    pred = ["I-PER", "I-PER", "O", "I-PER", "O", "B-LOC", "I-LOC"]
    assert score([doc(GOLD)], [pred])["f1"] == 1.0


def test_labels_never_seen_still_get_a_row():
    tags = ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "I-LOC"]
    result = score([doc(GOLD)], [tags], labels=["LOC", "ORG", "PER"])
    assert result["entity"]["ORG"]["support"] == 0


def test_misaligned_gold_span_is_not_scored():
    spans = [(0, 3, "PER"), (23, 31, "LOC")]  # "ali" cuts "alice"
    pred = ["B-PER", "O", "O", "O", "O", "B-LOC", "I-LOC"]
    result = score([doc(spans)], [pred])
    assert result["misaligned"] == 1
    assert result["f1"] == 1.0  # "alice" is left out on both sides
