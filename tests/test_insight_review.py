"""Review: folds, the kinds of suspect and their ranking, reviewed suspects in the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ValidationError
from core.insight.review import (
    FoldDone,
    FoldStarted,
    assign_folds,
    open_suspects,
    prepare_review,
    review_events,
    run_review,
)
from core.insight.suspects import (
    Suspect,
    find_suspects,
    kind_rates,
    rank,
    suspect_key,
    suspect_state,
    weigh_by_kind,
)
from core.store import Project
from core.training.config import TrainConfig

from desktop_support import build_tiny_model, make_project, tiny_config

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def row(tag: str, p: float) -> list[float]:
    """A word's distribution: ``p`` on ``tag``, the rest shared by the other tags."""
    rest = (1 - p) / (len(TAGS) - 1)
    return [p if t == tag else rest for t in TAGS]


class FakeModel:
    """A fold model that reads a distribution from a table, and remembers what it read."""

    tags = TAGS

    def __init__(self, table: dict[int, list[list[float]]], read: list[int]) -> None:
        self.table, self.read = table, read
        self.closed = False

    def probabilities(self, docs: list[dict]) -> list[list[list[float]]]:
        self.read.extend(doc["id"] for doc in docs)
        return [self.table.get(doc["id"]) or [row("O", 0.9)] * len(doc["tokens"]) for doc in docs]

    def close(self) -> None:
        self.closed = True


class FakeTrainer:
    """``fit`` for a review: no training; records each fold's training documents."""

    def __init__(self, table: dict | None = None) -> None:
        self.table = table or {}
        self.trained_on: dict[int, set[int]] = {}
        self.predicted: dict[int, list[int]] = {}
        self.models: list[FakeModel] = []

    def __call__(self, fold, train, dev, should_stop):
        self.trained_on[fold] = {doc["id"] for doc in train}
        self.predicted[fold] = []
        yield from ()
        model = FakeModel(self.table, self.predicted[fold])
        self.models.append(model)
        return model


# -- folds --------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Project:
    with make_project(tmp_path / "p.spanlab", train=13, dev=3, test=2) as project:
        yield project


def test_every_annotated_document_is_predicted_once_by_a_model_that_never_saw_it(project):
    fit = FakeTrainer()
    plan, result = run_review(project, TrainConfig(), folds=4, fit=fit)
    train_ids = {e["id"] for e in project.examples("train")}
    predicted = [doc for fold in fit.predicted.values() for doc in fold]
    assert sorted(predicted) == sorted(train_ids)  # each exactly once
    for fold, docs in fit.predicted.items():
        assert fit.trained_on[fold].isdisjoint(docs)
        assert fit.trained_on[fold] | set(docs) == train_ids
    assert plan.k == result.folds == result.folds_done == 4
    assert result.documents == 13 and not result.cancelled
    assert all(model.closed for model in fit.models)
    assert sorted(len(docs) for docs in fit.predicted.values()) == [3, 3, 3, 4]


def test_sentences_of_one_group_stay_in_one_fold():
    docs = [{"id": i, "group": f"g{i // 3}"} for i in range(12)] + [{"id": 99, "group": None}]
    folds, k = assign_folds(docs, 4, seed=1)
    assert k == 4
    for g in range(4):
        assert len({folds[i] for i in range(12) if i // 3 == g}) == 1
    assert folds == assign_folds(docs, 4, seed=1)[0]  # seeded


def test_a_small_project_gets_fewer_folds_and_one_document_is_refused(tmp_path):
    with make_project(tmp_path / "s.spanlab", train=3, dev=0, test=0) as small:
        assert prepare_review(small, TrainConfig(), folds=4).k == 3
    with (
        make_project(tmp_path / "one.spanlab", train=1, dev=0, test=0) as one,
        pytest.raises(ValidationError, match="at least 2 annotated documents"),
    ):
        prepare_review(one, TrainConfig())


def test_progress_per_fold_and_a_stop_leaves_a_partial_result(project):
    fit = FakeTrainer()
    plan = prepare_review(project, TrainConfig(), folds=3)
    events = review_events(plan, should_stop=lambda: len(fit.models) >= 1, fit=fit)
    seen = []
    while True:
        try:
            seen.append(next(events))
        except StopIteration as end:
            result = end.value
            break
    assert [type(e) for e in seen] == [FoldStarted, FoldDone]
    assert seen[0].folds == 3 and seen[0].train_documents + seen[0].predict_documents == 13
    assert result.cancelled and result.folds_done == 1
    assert result.documents == seen[0].predict_documents
    assert not plan.scratch.exists()


# -- kinds and ranking ----------------------------------------------------------------------------

TEXT = "Alice met Bob Smith in Paris and Rome today ."


def words(text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for word in text.split(" "):
        out.append((start, start + len(word)))
        start += len(word) + 1
    return out


def at(word: str) -> tuple[int, int]:
    start = TEXT.index(word)
    return start, start + len(word)


def hand_made_case() -> tuple[list, list[list[float]]]:
    gold = [
        (*at("Alice"), "PER"),
        (*at("Bob"), "PER"),
        (*at("Paris"), "PER"),
        (*at("today"), "LOC"),
    ]
    probs = [
        row("B-PER", 0.9),  # Alice: agreed
        row("O", 0.95),
        row("B-PER", 0.8),  # Bob Smith: the model's PER is one word longer
        row("I-PER", 0.6),
        row("O", 0.95),
        [0.025, 0.2, 0.025, 0.7, 0.05],  # Paris: LOC for the model, PER annotated
        row("O", 0.95),
        row("B-LOC", 0.55),  # Rome: an entity nobody annotated
        row("O", 0.9),  # today: annotated LOC, nothing for the model
        row("O", 0.99),
    ]
    return gold, probs


def test_each_kind_of_suspect_with_its_suggestion_and_margin():
    gold, probs = hand_made_case()
    found = find_suspects(7, words(TEXT), gold, TAGS, probs, fold=2)
    by_kind = {s.kind: s for s in found}
    assert set(by_kind) == {"wrong_type", "missed", "spurious", "boundary"}
    wrong = by_kind["wrong_type"]
    assert (wrong.start, wrong.end, wrong.label, wrong.suggested) == (*at("Paris"), "PER", "LOC")
    assert (wrong.suggested_start, wrong.suggested_end) == at("Paris")
    assert wrong.score == pytest.approx(0.7 - 0.2)
    missed = by_kind["missed"]
    assert (missed.start, missed.end, missed.label, missed.suggested) == (*at("today"), "LOC", None)
    assert missed.suggested_start is None
    assert missed.score == pytest.approx(0.9 - 0.025)
    spurious = by_kind["spurious"]
    assert (spurious.start, spurious.end, spurious.label, spurious.suggested) == (
        *at("Rome"),
        None,
        "LOC",
    )
    assert spurious.score == pytest.approx(0.55 - 0.1125)
    boundary = by_kind["boundary"]
    assert (boundary.start, boundary.end, boundary.label) == (*at("Bob"), "PER")
    assert (boundary.suggested_start, boundary.suggested_end, boundary.suggested) == (
        TEXT.index("Bob"),
        TEXT.index("Smith") + 5,
        "PER",
    )
    assert boundary.score == pytest.approx((0.0 + 0.5) / 2)
    assert all(s.doc_id == 7 and s.fold == 2 for s in found)


def test_suspects_are_ranked_by_margin_across_documents():
    gold, probs = hand_made_case()
    found = find_suspects(7, words(TEXT), gold, TAGS, probs)
    assert [s.kind for s in found] == ["missed", "wrong_type", "spurious", "boundary"]
    # Across documents: a second document with one surer mistake goes first.
    other = find_suspects(
        3, words("Oslo ."), [(0, 4, "PER")], TAGS, [row("B-LOC", 0.99), row("O", 0.9)]
    )
    merged = rank([*found, *other])
    assert merged[0].doc_id == 3 and [s.kind for s in merged[1:]] == [s.kind for s in found]


def test_agreement_gives_no_suspect_and_a_label_the_model_lacks_is_not_judged(project):
    text = "Alice went to Oslo ."
    gold = [(0, 5, "PER"), (14, 18, "LOC")]
    probs = [row("B-PER", 0.9), row("O", 0.9), row("O", 0.9), row("B-LOC", 0.9), row("O", 0.9)]
    assert find_suspects(1, words(text), gold, TAGS, probs) == []
    # A fold model that knows only PER says O on Oslo: no "missed" suspect for LOC.
    doc = next(e for e in project.examples("train") if any(s[2] == "LOC" for s in e["spans"]))

    class PerOnly(FakeModel):
        tags = ["O", "B-PER", "I-PER"]

        def probabilities(self, docs):
            return [[[0.9, 0.05, 0.05]] * len(d["tokens"]) for d in docs]

    def fit(fold, train, dev, should_stop):
        yield from ()
        return PerOnly({}, [])

    plan = prepare_review(project, TrainConfig(), folds=2)
    result = _drain(review_events(plan, fit=fit))
    assert not any(s.label == "LOC" for s in result.suspects)
    assert result.labels_unknown == {"LOC"}
    assert any(s.doc_id == doc["id"] and s.label == "PER" for s in result.suspects)


def _drain(events):
    while True:
        try:
            next(events)
        except StopIteration as end:
            return end.value


# -- where a suspect stands, and reviewed suspects -------------------------------------------


def test_suspect_state_follows_the_current_spans():
    wrong = Suspect(1, "wrong_type", 0, 5, "PER", "LOC", 0, 5, 0.5)
    assert suspect_state(wrong, [{"start": 0, "end": 5, "label": "PER"}]) == "open"
    assert suspect_state(wrong, [{"start": 0, "end": 5, "label": "LOC"}]) == "accepted"
    assert suspect_state(wrong, []) == "changed"
    spurious = Suspect(1, "spurious", 6, 9, None, "LOC", 6, 9, 0.5)
    assert suspect_state(spurious, [{"start": 0, "end": 5, "label": "PER"}]) == "open"
    assert suspect_state(spurious, [{"start": 6, "end": 9, "label": "LOC"}]) == "accepted"
    missed = Suspect(1, "missed", 6, 9, "LOC", None, None, None, 0.5)
    assert suspect_state(missed, []) == "accepted"


def test_kept_suspects_are_stored_and_not_listed_again(project, tmp_path):
    doc_id = project.examples("train")[0]["id"]
    keep = Suspect(doc_id, "missed", 0, 5, "PER", None, None, None, 0.9)
    other = Suspect(doc_id, "wrong_type", 0, 5, "PER", "LOC", 0, 5, 0.8)
    project.mark_reviewed(keep.doc_id, keep.key(), keep.kind)
    project.mark_reviewed(keep.doc_id, keep.key(), keep.kind)  # again: one row
    assert project.count_reviewed() == 1
    assert open_suspects(project, [keep, other]) == [other]
    assert keep.key() == suspect_key(keep.to_dict("Alice lives in Paris ."))
    project.close()
    with Project.open(project.path) as again:  # stored, not remembered
        assert open_suspects(again, [keep, other]) == [other]
        assert again.unmark_reviewed(keep.doc_id, keep.key())
        assert open_suspects(again, [keep, other]) == [keep, other]
        again.mark_reviewed(keep.doc_id, keep.key(), keep.kind)
        again.delete_document(doc_id)
        assert again.count_reviewed() == 0


# -- the normal trainer ---------------------------------------------------------------------------


def test_a_planted_wrong_type_comes_first_with_real_fold_models(tmp_path):
    model = build_tiny_model(tmp_path / "tiny")
    with make_project(tmp_path / "real.spanlab", train=48) as project:
        doc = project.examples("train")[2]
        span = next(r for r in project.spans(doc["id"]) if r["label"] == "PER")
        project.set_span_label(span["id"], "LOC")
        config = tiny_config(model, epochs=15, learning_rate=1e-2)
        plan, result = run_review(project, config, folds=2)
        planted = [
            (s.doc_id, s.kind, s.start, s.label, s.suggested) for s in result.suspects
        ].index((doc["id"], "wrong_type", span["start"], "LOC", "PER"))
        assert planted == 0, result.suspects
        assert project.runs() == []  # fold models are not runs
        assert not plan.scratch.exists()
        assert list(Path(project.models_dir).iterdir()) == []


def test_a_version_7_project_gains_an_empty_reviews_table(tmp_path):
    import sqlite3

    from core import migrations

    path = tmp_path / "old.spanlab"
    with make_project(path, train=2, dev=0, test=0):
        pass
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE reviews; PRAGMA user_version = 7;")
    conn.close()
    with Project.open(path) as project:
        assert project.schema_version == migrations.LATEST >= 8
        assert project.reviewed_keys() == set()
        project.mark_reviewed(1, "k", "missed")
        assert project.reviewed_keys() == {(1, "k")}


def test_a_rare_kind_of_disagreement_outranks_a_common_one_with_a_larger_margin():
    # 10 annotated spans: the model misses 6 of them (its usual failure) and reads one
    # with another type. The wrong type, with the smaller margin, comes first.
    missed = [Suspect(d, "missed", 0, 5, "PER", None, None, None, 0.95) for d in range(6)]
    wrong = Suspect(9, "wrong_type", 0, 5, "PER", "LOC", 0, 5, 0.6)
    ranked = weigh_by_kind([*missed, wrong], spans=10)
    assert ranked[0].kind == "wrong_type"
    assert ranked[0].score == pytest.approx(0.6) and ranked[0].margin == pytest.approx(0.6)
    # A missed suspect keeps its margin and is weighed by 0.1 / 0.6.
    assert ranked[1].score == pytest.approx(0.95 * 0.1 / 0.6)
    assert ranked[1].margin == pytest.approx(0.95)
    assert kind_rates([*missed, wrong], 10) == {"missed": 0.6, "wrong_type": 0.1}
    assert weigh_by_kind([], spans=10) == []
    # JSON carries both.
    data = wrong.to_dict("Alice")
    assert data["score"] == 0.6 and data["margin"] == 0.6
