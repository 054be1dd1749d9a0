"""Spans: add (alignment, overlap, snap), remove/restore, relabel, replace, model suggestions."""

from __future__ import annotations

import pytest

from core.errors import NotFoundError, OverlapError, SpanAlignmentError, ValidationError

from store_support import committed_rows, filled_project


@pytest.fixture
def project(tmp_path):
    with filled_project(tmp_path / "spans.spanlab") as project:
        yield project


def triples(spans):
    return [(s["start"], s["end"], s["label"], s["origin"]) for s in spans]


def test_add_span_returns_the_row(project):
    row = project.add_span(3, 3, 9, "PER")
    assert row == {
        "id": row["id"],
        "document_id": 3,
        "start": 3,
        "end": 9,
        "label": "PER",
        "origin": "human",
        "score": None,
    }
    assert project.spans(3) == [row]


def test_spans_are_sorted_and_filtered_by_origin(project):
    project.add_span(3, 10, 13, "LOC")
    project.add_span(3, 0, 2, "PER", origin="model", score=0.7)
    assert triples(project.spans(3)) == [(0, 2, "PER", "model"), (10, 13, "LOC", "human")]
    assert triples(project.spans(3, origin="model")) == [(0, 2, "PER", "model")]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((3, 3, 5, "PER"), SpanAlignmentError, r"enclosing words are \(3, 9\)"),
        ((3, 2, 3, "PER"), SpanAlignmentError, "covers no word"),
        ((3, 0, 99, "PER"), SpanAlignmentError, "word boundaries"),
        ((3, 5, 3, "PER"), ValidationError, "bad offsets"),
        ((3, -1, 2, "PER"), ValidationError, "bad offsets"),
        ((3, 0, 2, "ORG"), NotFoundError, "no label 'ORG'"),
        ((99, 0, 2, "PER"), NotFoundError, "no document 99"),
        ((1, 6, 23, "PER"), OverlapError, "overlaps the human span"),
    ],
)
def test_bad_spans_are_refused_and_change_nothing(project, args, error, message):
    before = committed_rows(project.path)
    with pytest.raises(error, match=message):
        project.add_span(*args)
    assert committed_rows(project.path) == before


def test_bad_origin(project):
    with pytest.raises(ValidationError):
        project.add_span(3, 0, 2, "PER", origin="robot")


def test_snap_grows_a_span_to_whole_words(project):
    row = project.add_span(3, 4, 7, "PER", snap=True)  # "ain" inside "rained"
    assert (row["start"], row["end"]) == (3, 9)


def test_chinese_span_on_character_tokens(project):
    row = project.add_span(4, 0, 1, "PER")
    assert triples(project.spans(4)) == [(0, 1, "PER", "human"), (6, 8, "LOC", "human")]
    assert row["label"] == "PER"


def test_remove_then_restore_gives_the_same_span_back(project):
    span = project.spans(1)[0]
    removed = project.remove_span(span["id"])
    assert removed == span
    assert triples(project.spans(1)) == [(15, 23, "LOC", "human")]
    assert project.restore_span(removed) == span
    assert project.spans(1)[0] == span
    with pytest.raises(NotFoundError):
        project.remove_span(9999)


def test_restore_when_the_id_was_taken_meanwhile(project):
    last = project.add_span(3, 0, 2, "PER")
    removed = project.remove_span(last["id"])
    newer = project.add_span(3, 3, 9, "LOC")
    assert newer["id"] == removed["id"]  # SQLite reuses the highest id
    restored = project.restore_span(removed)
    assert restored["id"] != removed["id"]
    assert {k: v for k, v in restored.items() if k != "id"} == {
        k: v for k, v in removed.items() if k != "id"
    }


def test_restore_refuses_an_overlap(project):
    removed = project.remove_span(project.spans(1)[0]["id"])
    project.add_span(1, 0, 11, "LOC")
    before = committed_rows(project.path)
    with pytest.raises(OverlapError):
        project.restore_span(removed)
    assert committed_rows(project.path) == before


def test_set_span_label(project):
    span = project.spans(1)[1]
    assert project.set_span_label(span["id"], "PER")["label"] == "PER"
    before = committed_rows(project.path)
    with pytest.raises(NotFoundError):
        project.set_span_label(span["id"], "ORG")
    with pytest.raises(NotFoundError):
        project.set_span_label(9999, "PER")
    assert committed_rows(project.path) == before


def test_replace_spans(project):
    project.set_model_spans(1, [{"start": 6, "end": 11, "label": "LOC", "score": 0.3}])
    rows = project.replace_spans(1, [(15, 18, "LOC"), {"start": 0, "end": 5, "label": "PER"}])
    assert triples(rows) == [(0, 5, "PER", "human"), (15, 18, "LOC", "human")]
    assert project.replace_spans(1, []) == []


@pytest.mark.parametrize(
    ("spans", "error"),
    [
        ([(0, 5, "PER"), (0, 3, "LOC")], SpanAlignmentError),
        ([(0, 5, "PER"), (0, 11, "LOC")], OverlapError),
        ([(0, 5, "PER"), (6, 11, "ORG")], NotFoundError),
        ([(0, 5)], ValidationError),
    ],
)
def test_replace_spans_is_all_or_nothing(project, spans, error):
    before = committed_rows(project.path)
    with pytest.raises(error):
        project.replace_spans(1, spans)
    assert committed_rows(project.path) == before


def test_model_spans_never_touch_human_ones(project):
    stored = project.set_model_spans(
        1,
        [
            {"start": 0, "end": 5, "label": "LOC", "score": 0.9},  # overlaps human PER
            {"start": 6, "end": 11, "label": "PER", "score": 0.8},
            {"start": 12, "end": 13, "label": "PER", "score": 0.7},  # cuts "in": snapped
            {"start": 24, "end": 25, "label": "ORG", "score": 0.6},  # unknown label
        ],
    )
    assert stored == 2
    assert triples(project.spans(1)) == [
        (0, 5, "PER", "human"),
        (6, 11, "PER", "model"),
        (12, 14, "PER", "model"),
        (15, 23, "LOC", "human"),
    ]
    assert project.set_model_spans(1, [{"start": 24, "end": 25, "label": "LOC", "score": 0.5}]) == 1
    assert triples(project.spans(1, origin="model")) == [(24, 25, "LOC", "model")]


def test_overlapping_predictions_keep_the_first(project):
    stored = project.set_model_spans(
        3,
        [
            {"start": 3, "end": 13, "label": "PER", "score": 0.4},
            {"start": 10, "end": 17, "label": "LOC", "score": 0.9},
        ],
    )
    assert stored == 1
    assert triples(project.spans(3)) == [(3, 13, "PER", "model")]


def test_duplicate_predictions_with_and_without_score(project):
    entity = {"start": 3, "end": 9, "label": "PER"}
    assert project.set_model_spans(3, [{**entity, "score": 0.5}, entity]) == 1


def test_accept_span_and_accept_all(project):
    project.set_model_spans(
        3,
        [
            {"start": 0, "end": 2, "label": "PER", "score": 0.9},
            {"start": 10, "end": 13, "label": "LOC", "score": 0.8},
        ],
    )
    first = project.spans(3)[0]
    accepted = project.accept_span(first["id"])
    assert (accepted["origin"], accepted["score"]) == ("human", 0.9)
    assert project.accept_all(3) == 1
    assert [s["origin"] for s in project.spans(3)] == ["human", "human"]
    assert project.accept_all(3) == 0
    with pytest.raises(NotFoundError):
        project.accept_all(99)
