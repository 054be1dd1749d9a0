"""Labels: add, rename, recolour, shortcut keys, order and delete (spans counted first)."""

from __future__ import annotations

import pytest

from core.errors import NotFoundError, ValidationError
from core.store import PALETTE, Project

from store_support import committed_rows, filled_project


@pytest.fixture
def project(tmp_path):
    with filled_project(tmp_path / "labels.spanlab") as project:
        yield project


def test_create_with_labels_gives_distinct_colours_and_number_keys(tmp_path):
    with Project.create(tmp_path / "p.spanlab", labels=["PER", "LOC", "ORG"]) as project:
        labels = project.labels()
    assert [row["name"] for row in labels] == ["PER", "LOC", "ORG"]
    assert [row["shortcut"] for row in labels] == ["1", "2", "3"]
    assert [row["position"] for row in labels] == [0, 1, 2]
    assert len({row["colour"] for row in labels}) == 3
    assert all(row["colour"] in PALETTE for row in labels)


def test_auto_shortcuts_stop_after_nine(tmp_path):
    with Project.create(tmp_path / "p.spanlab") as project:
        added = [project.add_label(f"L{i}") for i in range(11)]
    assert [row["shortcut"] for row in added] == [*"123456789", None, None]


def test_auto_shortcut_takes_the_first_free_key(project):
    project.set_label_shortcut("PER", None)
    assert project.add_label("ORG")["shortcut"] == "1"


def test_add_label_with_colour_and_shortcut(project):
    row = project.add_label("ORG", colour="#AABBCC", shortcut="o")
    assert row == {
        "id": row["id"],
        "name": "ORG",
        "colour": "#aabbcc",
        "shortcut": "o",
        "position": 2,
    }
    assert project.get_label("ORG") == row


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("PER", {}, "already a label"),
        ("", {}, "needs a name"),
        ("NEW PLACE", {}, "NEW_PLACE"),
        ("O", {}, "outside"),
        ("ORG", {"colour": "red"}, "#rrggbb"),
        ("ORG", {"shortcut": "1"}, "already the shortcut of 'PER'"),
        ("ORG", {"shortcut": "ab"}, "one key"),
    ],
)
def test_bad_labels_are_refused_and_change_nothing(project, name, kwargs, message):
    before = committed_rows(project.path)
    with pytest.raises(ValidationError, match=message):
        project.add_label(name, **kwargs)
    assert committed_rows(project.path) == before


def test_rename_keeps_the_spans(project):
    project.rename_label("LOC", "PLACE")
    assert [row["name"] for row in project.labels()] == ["PER", "PLACE"]
    assert [s["label"] for s in project.spans(1)] == ["PER", "PLACE"]
    assert project.count_label_spans("PLACE") == 3
    assert project.list_documents(label="PLACE")[0]["id"] == 1


def test_rename_to_an_existing_or_missing_label_fails_cleanly(project):
    before = committed_rows(project.path)
    with pytest.raises(ValidationError, match="already a label"):
        project.rename_label("LOC", "PER")
    with pytest.raises(NotFoundError):
        project.rename_label("ORG", "COMPANY")
    assert committed_rows(project.path) == before


def test_recolour_and_shortcut(project):
    assert project.recolour_label("PER", "#123456")["colour"] == "#123456"
    assert project.set_label_shortcut("PER", "p")["shortcut"] == "p"
    assert project.set_label_shortcut("LOC", "1")["shortcut"] == "1"  # freed by PER
    assert project.set_label_shortcut("LOC", "1")["shortcut"] == "1"  # its own key again
    assert project.set_label_shortcut("LOC", None)["shortcut"] is None


def test_shortcut_must_be_unique(project):
    before = committed_rows(project.path)
    with pytest.raises(ValidationError, match="already the shortcut"):
        project.set_label_shortcut("LOC", "1")
    with pytest.raises(ValidationError):
        project.recolour_label("LOC", "#12345")
    assert committed_rows(project.path) == before


def test_move_label(project):
    project.add_label("ORG")
    names = [row["name"] for row in project.move_label("ORG", 0)]
    assert names == ["ORG", "PER", "LOC"]


def test_delete_label_counts_then_removes_its_spans(project):
    project.set_model_spans(3, [{"start": 0, "end": 2, "label": "LOC", "score": 0.9}])
    assert project.count_label_spans("LOC") == 4  # three human, one model
    assert project.delete_label("LOC") == 4
    assert [row["name"] for row in project.labels()] == ["PER"]
    assert [s["label"] for s in project.spans(1)] == ["PER"]
    assert project.spans(3) == []
    assert project.list_documents(label="LOC") == []


def test_delete_missing_label(project):
    before = committed_rows(project.path)
    with pytest.raises(NotFoundError, match="no label 'ORG'"):
        project.delete_label("ORG")
    with pytest.raises(NotFoundError):
        project.count_label_spans("ORG")
    assert committed_rows(project.path) == before
