"""``spanlab review``: the JSON the issue fixes, kept suspects hidden, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import main
from core.insight.suspects import suspect_key
from core.store import Project

from desktop_support import build_tiny_model, make_project

KEYS = {"doc_id", "text", "start", "end", "label", "suggested", "score"}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A project with one planted wrong type, and the training flags for the tiny model."""
    folder = tmp_path_factory.mktemp("cli-review")
    model = build_tiny_model(folder / "tiny")
    with make_project(folder / "p.spanlab", train=48) as project:
        doc = project.examples("train")[2]
        span = next(r for r in project.spans(doc["id"]) if r["label"] == "PER")
        project.set_span_label(span["id"], "LOC")
    flags = [
        *("--base-model", str(model), "--epochs", "15", "--lr", "1e-2", "--device", "cpu"),
        *("--batch-size", "8", "--max-length", "32", "--window-overlap", "8"),
        *("--patience", "0", "--warmup", "0", "--seed", "3"),
    ]
    return folder / "p.spanlab", flags


def review_json(path: Path, flags: list[str], capsys, *extra: str) -> list[dict]:
    assert main(["review", str(path), "--folds", "2", "--json", *extra, *flags]) == 0
    out = capsys.readouterr()
    assert "Fold 1/2: training on" in out.err and "Fold 2/2:" in out.err
    return json.loads(out.out)


def test_review_json_is_one_array_most_suspicious_first(planted, capsys):
    path, flags = planted
    suspects = review_json(path, flags, capsys)
    assert isinstance(suspects, list) and suspects
    with Project.open(path, readonly=True) as project:
        texts = {e["id"]: e["text"] for e in project.examples()}
    for s in suspects:
        assert set(s) >= KEYS
        assert s["text"] == texts[s["doc_id"]]  # the whole document
        assert 0 <= s["start"] < s["end"] <= len(s["text"])
        assert s["text"][s["start"] : s["end"]] == s["span_text"]
        assert s["label"] is None or isinstance(s["label"], str)
        assert s["suggested"] is None or isinstance(s["suggested"], str)
        assert 0 <= s["score"] <= 1
    assert [s["score"] for s in suspects] == sorted((s["score"] for s in suspects), reverse=True)
    top = suspects[0]
    assert (top["doc_id"], top["kind"], top["label"], top["suggested"]) == (
        3,
        "wrong_type",
        "LOC",
        "PER",
    )


def test_a_kept_suspect_is_not_listed_again_and_n_limits_the_list(planted, capsys):
    path, flags = planted
    first = review_json(path, flags, capsys)
    with Project.open(path) as project:
        project.mark_reviewed(first[0]["doc_id"], suspect_key(first[0]), first[0]["kind"])
    again = review_json(path, flags, capsys, "--n", "1")
    assert len(again) <= 1
    assert all(suspect_key(s) != suspect_key(first[0]) for s in again)
    with Project.open(path) as project:
        project.unmark_reviewed(first[0]["doc_id"], suspect_key(first[0]))


def test_the_table_names_the_kind_and_the_suggestion(planted, capsys):
    path, flags = planted
    assert main(["review", str(path), "--folds", "2", "--n", "1", *flags]) == 0
    out = capsys.readouterr().out
    assert "wrong type" in out and "LOC" in out and "PER" in out and "[" in out


def test_usage_errors_say_what_to_do(planted, capsys):
    path, flags = planted
    assert main(["review", str(path), "--folds", "1", *flags]) == 1
    assert "at least 2 folds" in capsys.readouterr().err
    assert main(["review", str(path), "--n", "0"]) == 1
    assert "at least 1 suspect" in capsys.readouterr().err
    assert main(["review", str(path), "--split", "nope"]) == 2
