"""Label Studio JSON as Label Studio writes it: ids, timestamps, cancelled annotations,
predictions with scores, a relation; errors name the task and its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ImportFormatError
from core.formats import export_file, import_file
from core.store import Project

from formats_support import snapshot, write

TEXT = "Anna Berg flew from Oslo to Accra."


def region(ident: str, start: int, end: int, label: str, **extra) -> dict:
    return {
        "value": {"start": start, "end": end, "text": TEXT[start:end], "labels": [label]},
        "id": ident,
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "origin": "manual",
        **extra,
    }


def annotation(ident: int, updated: str, result: list, cancelled: bool = False) -> dict:
    return {
        "id": ident,
        "completed_by": 1,
        "result": result,
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": "2024-05-02T09:00:00.000000Z",
        "updated_at": updated,
        "draft_created_at": None,
        "lead_time": 12.5,
        "prediction": {},
        "result_count": 0,
        "unique_id": f"u-{ident}",
        "import_id": None,
        "last_action": None,
        "task": 11,
        "project": 3,
        "updated_by": 1,
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
    }


def label_studio_export() -> list[dict]:
    """Three tasks in the layout of Label Studio 1.x's JSON export."""
    relation = {
        "from_id": "r1",
        "to_id": "r2",
        "type": "relation",
        "direction": "right",
        "labels": [],
    }
    choice = {"value": {"choices": ["travel"]}, "id": "c1", "from_name": "topic", "to_name": "text", "type": "choices"}  # fmt: skip
    task = {
        "id": 11,
        "annotations": [
            annotation(21, "2024-05-02T09:01:00.000000Z", [region("old", 0, 4, "PER")]),
            annotation(
                22,
                "2024-05-03T10:00:00.000000Z",
                [region("r1", 0, 9, "PER"), region("r2", 20, 24, "LOC"), relation, choice],
            ),
            annotation(23, "2024-05-04T10:00:00.000000Z", [region("x", 28, 33, "LOC")], True),
        ],
        "file_upload": "3f2a-tasks.json",
        "drafts": [],
        "predictions": [
            {
                "id": 5,
                "model_version": "ner-v2",
                "created_ago": "2 days",
                "result": [
                    region("p1", 0, 9, "PER", score=0.91),
                    region("p2", 28, 33, "LOC", score=0.64),
                ],
                "score": 0.77,
                "cluster": None,
                "neighbors": None,
                "mislabeling": 0.0,
                "created_at": "2024-05-01T08:00:00.000000Z",
                "updated_at": "2024-05-01T08:00:00.000000Z",
                "task": 11,
                "project": 3,
            }
        ],
        "data": {"text": TEXT},
        "meta": {},
        "created_at": "2024-05-01T07:00:00.000000Z",
        "updated_at": "2024-05-04T10:00:00.000000Z",
        "inner_id": 1,
        "total_annotations": 2,
        "cancelled_annotations": 1,
        "total_predictions": 1,
        "comment_count": 0,
        "unresolved_comment_count": 0,
        "last_comment_updated_at": None,
        "project": 3,
        "updated_by": 1,
        "comment_authors": [],
    }
    skipped = {**task, "id": 12, "annotations": [annotation(31, "2024-05-05T00:00:00Z", [], True)], "predictions": []}  # fmt: skip
    fresh = {**task, "id": 13, "annotations": [], "predictions": [], "data": {"text": "Nothing here yet."}}  # fmt: skip
    return [task, skipped, fresh]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.create(tmp_path / "p.spanlab")


def test_a_label_studio_export_imports_as_label_studio_means_it(
    project: Project, tmp_path: Path
) -> None:
    path = write(tmp_path, "export.json", json.dumps(label_studio_export(), indent=2))
    result = import_file(project, path)  # a JSON list: guessed as Label Studio
    assert result.format == "label-studio"
    assert (result.documents, result.spans, result.model_spans) == (3, 2, 1)
    assert result.skipped == {
        "relation results": 1,
        "choices results": 1,
        "cancelled annotations": 2,
        "older annotations of a task": 1,
        "predicted regions that overlap a person's span": 1,
    }
    first, second, third = sorted(project.document_ids())
    human = [(s["start"], s["end"], s["label"]) for s in project.spans(first, origin="human")]
    assert human == [(0, 9, "PER"), (20, 24, "LOC")]  # the latest annotation not cancelled
    model = project.spans(first, origin="model")  # the PER prediction lies on a person's span
    assert [(s["start"], s["end"], s["label"], s["score"]) for s in model] == [
        (28, 33, "LOC", pytest.approx(0.64))
    ]
    assert project.get_document(first)["meta"] == {"label_studio": {"id": 11}}
    statuses = [project.get_document(i)["status"] for i in (first, second, third)]
    assert statuses == ["annotated", "skipped", "new"]


def test_export_writes_tasks_label_studio_imports(project: Project, tmp_path: Path) -> None:
    path = write(tmp_path, "export.json", json.dumps(label_studio_export()))
    import_file(project, path)
    out = tmp_path / "again.json"
    assert export_file(project, out, format="label-studio") == 3
    tasks = json.loads(out.read_text("utf-8"))
    first = tasks[0]
    assert first["data"] == {"text": TEXT}
    [done] = first["annotations"]
    assert done["was_cancelled"] is False
    assert [r["value"] for r in done["result"]] == [
        {"start": 0, "end": 9, "text": "Anna Berg", "labels": ["PER"]},
        {"start": 20, "end": 24, "text": "Oslo", "labels": ["LOC"]},
    ]
    assert {(r["from_name"], r["to_name"], r["type"]) for r in done["result"]} == {
        ("label", "text", "labels")
    }
    [prediction] = first["predictions"]
    assert [(r["value"]["text"], r["score"]) for r in prediction["result"]] == [
        ("Accra", pytest.approx(0.64))
    ]
    assert tasks[1]["annotations"][0]["was_cancelled"] is True and tasks[2]["annotations"] == []
    back = Project.create(tmp_path / "back.spanlab")
    import_file(back, out)
    assert snapshot(back)["spans"] == snapshot(project)["spans"]


def test_a_region_whose_text_disagrees_is_an_error_naming_the_task(
    project: Project, tmp_path: Path
) -> None:
    tasks = label_studio_export()
    tasks[2]["annotations"] = [
        annotation(
            41,
            "2024-05-05T00:00:00Z",
            [
                {
                    **region("z", 0, 7, "X"),
                    "value": {"start": 0, "end": 7, "text": "Nothing here", "labels": ["X"]},
                }
            ],
        )  # fmt: skip
    ]
    path = write(tmp_path, "export.json", json.dumps(tasks, indent=2))
    before = snapshot(project)
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, path)
    error = caught.value
    assert "task 13" in error.reason and "'Nothing here'" in error.reason
    starts = [n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if line == "  {"]
    assert error.line == starts[2]  # the line where the third task starts
    assert snapshot(project) == before  # nothing written, not even task 11


def test_offsets_in_utf16_units_beyond_the_bmp_are_read(project: Project, tmp_path: Path) -> None:
    text = "😀 Anna met Kofi"  # the browser counts the emoji as two units
    result = [{"type": "labels", "value": {"start": 12, "end": 16, "text": "Kofi", "labels": ["PER"]}}]  # fmt: skip
    task = {"id": 1, "data": {"text": text}, "annotations": [{"result": result}]}
    import_file(project, write(tmp_path, "e.json", json.dumps([task])), format="label-studio")
    [doc] = project.document_ids()
    assert [(s["start"], s["end"]) for s in project.spans(doc)] == [(11, 15)]


def test_a_region_inside_a_word_keeps_its_characters(project: Project, tmp_path: Path) -> None:
    text = "The U.S.-based firm"
    result = [{"type": "labels", "value": {"start": 4, "end": 9, "text": "U.S.-", "labels": ["LOC"]}}]  # fmt: skip
    task = {"id": 1, "data": {"text": text}, "annotations": [{"result": result}]}
    import_file(project, write(tmp_path, "e.json", json.dumps([task])))
    [doc] = project.document_ids()
    assert [(s["start"], s["end"]) for s in project.spans(doc)] == [(4, 9)]
