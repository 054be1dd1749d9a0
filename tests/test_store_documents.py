"""Documents: add (one and bulk), edit text, delete, split/status, listing, stats, splits."""

from __future__ import annotations

import pytest

import core.store.documents
import core.store.queries
from core.errors import NotFoundError, OverlapError, SpanAlignmentError, ValidationError
from core.store import Project

from store_support import SENTENCES, committed_rows, filled_project


@pytest.fixture
def project(tmp_path):
    with filled_project(tmp_path / "docs.spanlab") as project:
        yield project


def test_add_document_computes_tokens_and_keeps_everything(project):
    doc_id = project.add_document(
        "Carol met Dan.", split="train", status="annotated", source="notes.txt", meta={"n": 1}
    )
    doc = project.get_document(doc_id)
    assert doc["tokens"] == [[0, 5], [6, 9], [10, 13], [13, 14]]
    assert (doc["text"], doc["split"], doc["status"], doc["source"], doc["meta"]) == (
        "Carol met Dan.",
        "train",
        "annotated",
        "notes.txt",
        {"n": 1},
    )
    assert doc["created"] == doc["updated"]
    assert doc_id == 5


def test_given_tokens_are_kept_exactly(project):
    doc_id = project.add_document("New-York", tokens=[(0, 3), (3, 4), (4, 8)])
    assert project.get_document(doc_id)["tokens"] == [[0, 3], [3, 4], [4, 8]]


def test_get_missing_document(project):
    with pytest.raises(NotFoundError, match="no document 99"):
        project.get_document(99)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": ""}, ValidationError),
        ({"text": 42}, ValidationError),
        ({"text": "a b", "tokens": [(0, 1), (0, 1)]}, ValidationError),
        ({"text": "a b", "tokens": [(0, 1), (2, 9)]}, ValidationError),
        ({"text": "a b", "tokens": [(0, 1.5)]}, ValidationError),
        ({"text": "a b", "split": "holdout"}, ValidationError),
        ({"text": "a b", "status": "done"}, ValidationError),
        ({"text": "Alice Smith", "spans": [(0, 3, "PER")]}, SpanAlignmentError),
        ({"text": "Alice Smith", "spans": [(0, 40, "PER")]}, SpanAlignmentError),
        ({"text": "Alice Smith", "spans": [(0, 5, "PER"), (0, 11, "LOC")]}, OverlapError),
        ({"text": "Alice Smith", "spans": [(0, 5)]}, ValidationError),
        ({"text": "Alice Smith", "spans": [(0, 5, "NEW LABEL")]}, ValidationError),
    ],
)
def test_bad_documents_are_refused_and_change_nothing(project, kwargs, error):
    before = committed_rows(project.path)
    with pytest.raises(error):
        project.add_document(**kwargs)
    assert committed_rows(project.path) == before


def test_add_documents_streams_in_chunks_in_one_transaction(project, monkeypatch):
    monkeypatch.setattr(core.store.documents, "_BULK_CHUNK", 7)
    pulled = []

    def docs():
        for i in range(50):
            pulled.append(i)
            yield {"text": f"Person{i} was here .", "spans": [(0, len(f"Person{i}"), "PER")]}

    pulled_at_insert = []
    project._conn.set_trace_callback(
        lambda sql: (
            sql.startswith("INSERT INTO documents ") and pulled_at_insert.append(len(pulled))
        )
    )
    assert project.add_documents(docs()) == 50
    project._conn.set_trace_callback(None)
    # The source is read one chunk ahead of the inserts, never all at once.
    assert sorted(set(pulled_at_insert)) == [7, 14, 21, 28, 35, 42, 49, 50]
    assert project.count_documents() == 54
    assert project.count_documents(label="PER") == 52
    assert project.list_documents(search="person37")[0]["preview"] == "Person37 was here ."


def test_add_documents_is_all_or_nothing(project, monkeypatch):
    monkeypatch.setattr(core.store.documents, "_BULK_CHUNK", 3)
    before = committed_rows(project.path)

    def docs():
        for i in range(10):
            yield {"text": f"Word{i} here", "spans": [(0, 3 if i == 8 else 5, "PER")]}

    with pytest.raises(SpanAlignmentError, match="Document 9") as caught:
        project.add_documents(docs())
    assert caught.value.spans == [(0, 3, "PER")]
    assert committed_rows(project.path) == before


def test_add_documents_stops_cleanly_when_the_source_fails(project):
    before = committed_rows(project.path)

    def docs():
        yield {"text": "One"}
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        project.add_documents(docs())
    assert committed_rows(project.path) == before


def test_add_documents_refuses_what_is_not_a_document(project):
    before = committed_rows(project.path)
    with pytest.raises(ValidationError, match="Document 2: A document is a dict"):
        project.add_documents([{"text": "Fine"}, "Not a dict"])
    assert committed_rows(project.path) == before


def test_add_documents_creates_labels_unless_locked(project):
    before = committed_rows(project.path)
    doc = {"text": "Acme hired Eve", "spans": [(0, 4, "ORG"), (11, 14, "PER")]}
    with pytest.raises(ValidationError, match="Document 1: Unknown label 'ORG'.*locked"):
        project.add_documents([doc], lock_labels=True)
    assert committed_rows(project.path) == before
    project.add_documents([doc, {**doc, "spans": [{"start": 0, "end": 4, "label": "ORG"}]}])
    assert [row["name"] for row in project.labels()] == ["PER", "LOC", "ORG"]


def test_ids_are_never_reused(project):
    last = project.add_document("Last one")
    project.delete_document(last)
    assert project.add_document("Next one") == last + 1


def test_edit_text_moves_the_spans_after_the_edit(project):
    assert project.edit_text(1, "Dr Alice lives in New York .") == []
    spans = project.spans(1)
    assert [(s["start"], s["end"], s["label"]) for s in spans] == [(3, 8, "PER"), (18, 26, "LOC")]
    doc = project.get_document(1)
    assert doc["tokens"][:2] == [[0, 2], [3, 8]]
    assert doc["updated"] >= doc["created"]


def test_edit_inside_a_span_keeps_it_when_it_still_fits(project):
    project.edit_text(1, "Alicia lives in New York .")
    assert [(s["start"], s["end"]) for s in project.spans(1)] == [(0, 6), (16, 24)]
    project.edit_text(1, "Alicia lives in Newark .")
    assert [(s["start"], s["end"]) for s in project.spans(1)] == [(0, 6), (16, 22)]


def test_edit_text_reports_broken_spans_and_changes_nothing(project):
    before = committed_rows(project.path)
    with pytest.raises(SpanAlignmentError, match="PER 'Alice'") as caught:
        project.edit_text(1, "Alicelives in New York .")
    assert [s["label"] for s in caught.value.spans] == ["PER"]
    assert committed_rows(project.path) == before


def test_edit_text_can_drop_broken_spans(project):
    dropped = project.edit_text(1, "Alice lives in .", drop_invalid=True)
    assert [(s["start"], s["end"], s["label"]) for s in dropped] == [(15, 23, "LOC")]
    assert [s["label"] for s in project.spans(1)] == ["PER"]


def test_edit_text_updates_the_search_index(project):
    project.edit_text(2, "Bob visited Lyon .", drop_invalid=True)
    assert project.list_documents(search="paris") == []
    assert [row["id"] for row in project.list_documents(search="lyon")] == [2]


def test_delete_document_takes_its_spans_and_search_entry(project):
    project.delete_document(1)
    with pytest.raises(NotFoundError):
        project.get_document(1)
    assert project.list_documents(search="alice") == []
    assert project.count_label_spans("PER") == 1
    with pytest.raises(NotFoundError):
        project.delete_document(1)


def test_set_split_and_status(project):
    assert project.set_split([1, 2], "train") == 2
    project.set_split(3, "test")
    project.set_status(1, "annotated")
    rows = {row["id"]: row for row in project.list_documents()}
    assert (rows[1]["split"], rows[1]["status"]) == ("train", "annotated")
    assert (rows[3]["split"], rows[3]["status"]) == ("test", "new")


def test_bad_split_or_status_changes_nothing(project):
    before = committed_rows(project.path)
    with pytest.raises(ValidationError, match="Unknown split"):
        project.set_split([1], "holdout")
    with pytest.raises(NotFoundError):
        project.set_split([1, 99], "train")
    with pytest.raises(ValidationError, match="Unknown status"):
        project.set_status(1, "finished")
    assert committed_rows(project.path) == before


def test_list_documents_rows(project):
    project.set_model_spans(3, [{"start": 3, "end": 9, "label": "PER", "score": 0.4}])
    rows = project.list_documents()
    assert [row["id"] for row in rows] == [1, 2, 3, 4]
    assert rows[0] == {
        "id": 1,
        "preview": "Alice lives in New York .",
        "split": "unassigned",
        "status": "new",
        "n_spans": 2,
        "n_model_spans": 0,
        "score": None,
    }
    assert (rows[2]["n_spans"], rows[2]["n_model_spans"]) == (0, 1)


@pytest.mark.parametrize("common", [1, 100000])
def test_list_filters_combine(project, monkeypatch, common):
    # ``common`` switches the label/origin filters between their two query plans.
    monkeypatch.setattr(core.store.queries, "_COMMON_SPANS", common)
    project.set_split([1, 4], "train")
    project.set_status(4, "annotated")
    project.set_model_spans(3, [{"start": 3, "end": 9, "label": "PER", "score": 0.4}])

    def ids(**filters):
        found = [row["id"] for row in project.list_documents(**filters)]
        assert project.count_documents(**filters) == len(found)
        assert project.document_ids(**filters) == found
        return found

    assert ids(split="train") == [1, 4]
    assert ids(status="annotated") == [4]
    assert ids(label="LOC") == [1, 2, 4]
    assert ids(label="LOC", split="train", status="new") == [1]
    assert ids(label="NOPE") == []
    assert ids(origin="model") == [3]
    assert ids(origin="human") == [1, 2, 4]
    assert ids(origin="model", label="PER") == [3]
    assert ids(search="paris") == [2]
    assert ids(search="PARIS", label="PER") == [2]
    assert ids(search="Paris", split="train") == []


def test_the_last_word_typed_matches_the_start_of_a_word(project):
    assert [row["id"] for row in project.list_documents(search="Pari")] == [2]
    assert [row["id"] for row in project.list_documents(search="new yo")] == []  # too short
    assert [row["id"] for row in project.list_documents(search="new yor")] == [1]
    assert project.count_documents(search="Pari") == 1
    assert project.list_documents(search="aris") == []  # the start of a word, not any part


def test_search_handles_punctuation_operators_and_chinese(project):
    assert [row["id"] for row in project.list_documents(search='new "york')] == [1]
    assert project.list_documents(search="AND OR NOT (") == []
    assert [row["id"] for row in project.list_documents(search="北京")] == [4]
    assert [row["id"] for row in project.list_documents(search="京")] == [4]
    assert project.list_documents(search="京北") == []
    assert len(project.list_documents(search="   ")) == 4


def test_paging_and_neighbours(project):
    assert [row["id"] for row in project.list_documents(offset=1, limit=2)] == [2, 3]
    assert project.list_documents(offset=10) == []
    assert project.neighbour_document(1) == 2
    assert project.neighbour_document(1, step=2) == 3
    assert project.neighbour_document(4) is None
    assert project.neighbour_document(4, step=-1) == 3
    assert project.neighbour_document(1, step=-1) is None
    assert project.neighbour_document(1, label="LOC") == 2
    assert project.neighbour_document(2, label="LOC") == 4
    assert project.neighbour_document(3, step=-1, label="PER") == 2


def test_bad_filter_values(project):
    with pytest.raises(ValidationError):
        project.list_documents(status="done")
    with pytest.raises(ValidationError):
        project.count_documents(origin="robot")


def test_stats(project):
    project.set_split([1, 2], "train")
    project.set_status(1, "annotated")
    project.set_model_spans(3, [{"start": 3, "end": 9, "label": "PER", "score": 0.4}])
    stats = project.stats()
    assert stats["documents"] == 4
    assert stats["splits"]["train"] == {
        "documents": 2,
        "annotated": 1,
        "entities": {"PER": 2, "LOC": 2},
    }
    assert stats["splits"]["unassigned"]["entities"] == {
        "PER": 0,
        "LOC": 1,
    }  # model span not counted
    assert stats["splits"]["dev"] == {
        "documents": 0,
        "annotated": 0,
        "entities": {"PER": 0, "LOC": 0},
    }
    assert [row["name"] for row in stats["labels"]] == ["PER", "LOC"]


@pytest.mark.parametrize("largest", ["train", "dev", "unassigned"])
def test_stats_match_a_count_of_every_span(project, largest):
    # stats() works the largest split out as totals less the others: check each
    # split against a plain count, whichever split is the largest.
    others = [split for split in ("train", "dev", "test") if split != largest]
    project.add_documents(
        {"text": text, "spans": spans, "split": largest, "status": "annotated"}
        for text, spans in SENTENCES * 2
    )
    project.set_split([1], others[0])
    project.set_split([2, 3], others[1])
    project.set_status(5, "skipped")
    project.set_model_spans(6, [{"start": 0, "end": 3, "label": "PER", "score": 0.9}])
    stats = project.stats()
    names = {row["id"]: row["name"] for row in project.labels()}
    for split, entry in stats["splits"].items():
        documents = project._rows("SELECT status FROM documents WHERE split = ?", [split])
        counts = dict.fromkeys(names.values(), 0)
        for (label_id,) in project._conn.execute(
            "SELECT s.label_id FROM spans s JOIN documents d ON d.id = s.document_id"
            " WHERE d.split = ? AND s.origin = 'human'",
            [split],
        ):
            counts[names[label_id]] += 1
        assert entry == {
            "documents": len(documents),
            "annotated": sum(row["status"] == "annotated" for row in documents),
            "entities": counts,
        }, split
    assert stats["documents"] == 12


def test_assign_splits_is_seeded_and_proportional(tmp_path):
    def split_of_each(seed):
        with Project.create(tmp_path / f"s{seed}-{len(list(tmp_path.iterdir()))}.spanlab") as p:
            p.add_documents({"text": f"Doc {i}"} for i in range(100))
            counts = p.assign_splits(0.7, 0.2, 0.1, seed=seed)
            return counts, {s: p.document_ids(split=s) for s in ("train", "dev", "test")}

    counts, first = split_of_each(5)
    assert counts == {"train": 70, "dev": 20, "test": 10}
    assert split_of_each(5)[1] == first
    assert split_of_each(6)[1] != first


def test_assign_splits_leaves_assigned_documents_alone(project):
    project.set_split(1, "test")
    counts = project.assign_splits(train=1, dev=0, test=0)
    assert counts == {"train": 3, "dev": 0, "test": 0}
    assert project.document_ids(split="test") == [1]
    counts = project.assign_splits(train=0, dev=1, test=0, only_unassigned=False)
    assert counts["dev"] == 4


def test_assign_splits_rejects_bad_ratios(project):
    before = committed_rows(project.path)
    with pytest.raises(ValidationError):
        project.assign_splits(0, 0, 0)
    with pytest.raises(ValidationError):
        project.assign_splits(-1, 1, 1)
    assert committed_rows(project.path) == before


def test_examples_are_annotated_documents_with_human_spans(project):
    project.set_split([1, 2], "train")
    project.set_split(4, "dev")
    project.set_status(1, "annotated")
    project.set_status(4, "annotated")
    project.set_model_spans(1, [{"start": 6, "end": 11, "label": "PER", "score": 0.5}])
    train = project.examples("train")
    assert train == [
        {
            "id": 1,
            "text": SENTENCES[0][0],
            "tokens": project.get_document(1)["tokens"],
            "split": "train",
            "group": None,
            "spans": [(0, 5, "PER"), (15, 23, "LOC")],
        }
    ]
    assert [ex["id"] for ex in project.examples()] == [1, 4]
    assert project.examples("test") == []
