"""Comparing two runs: fixed / broken / both wrong, per-type F1 delta, paired bootstrap."""

from __future__ import annotations

import json
import random

import pytest

from core.cli import main
from core.insight.compare import compare_tags, significance_line
from core.store import Project
from core.tagging import spans_to_tags
from core.training.evaluation import evaluate, score

from training_support import example, sentence_corpus


def tags(ex: dict, spans: list[tuple[int, int, str]]) -> list[str]:
    return spans_to_tags(ex["tokens"], spans)


def at(text: str, word: str, label: str) -> tuple[int, int, str]:
    start = text.index(word)
    return (start, start + len(word), label)


def hand_made() -> tuple[list[dict], list[list[str]], list[list[str]]]:
    """Three documents where every outcome happens at least once."""
    t1, t2, t3 = "Alice met Bob in Paris .", "Rome is far from Oslo .", "Nothing here ."
    docs = [
        example(1, t1, [at(t1, "Alice", "PER"), at(t1, "Bob", "PER"), at(t1, "Paris", "LOC")]),
        example(2, t2, [at(t2, "Rome", "LOC"), at(t2, "Oslo", "LOC")]),
        example(3, t3, []),
    ]
    a = [
        [at(t1, "Alice", "PER"), at(t1, "Bob", "LOC")],  # Bob: wrong type; Paris: missed
        [at(t2, "Rome", "LOC"), at(t2, "far", "LOC"), at(t2, "Oslo", "PER")],  # far: spurious
        [],
    ]
    b = [
        [at(t1, "Bob", "PER"), at(t1, "Paris", "LOC")],  # Alice: missed
        [at(t2, "Rome", "LOC"), at(t2, "Oslo", "ORG")],
        [at(t3, "Nothing", "PER")],  # spurious
    ]
    return (
        docs,
        [tags(d, s) for d, s in zip(docs, a, strict=True)],
        [tags(d, s) for d, s in zip(docs, b, strict=True)],
    )


def test_fixed_broken_and_both_wrong_on_hand_made_predictions() -> None:
    docs, a, b = hand_made()
    result = compare_tags(docs, a, b, resamples=200)
    assert result["counts"] == {"fixed": 3, "broken": 2, "both_wrong": 1, "both_right": 1}
    fixed = {(p["document_id"], p["text"], p["gold"], p["a"], p["b"]) for p in result["fixed"]}
    assert fixed == {
        (1, "Bob", "PER", "LOC", "PER"),
        (1, "Paris", "LOC", None, "LOC"),
        (2, "far", None, "LOC", None),  # a spurious entity B no longer predicts
    }
    broken = {(p["document_id"], p["text"], p["gold"], p["a"], p["b"]) for p in result["broken"]}
    assert broken == {(1, "Alice", "PER", "PER", None), (3, "Nothing", None, None, "PER")}
    (both,) = result["both_wrong"]
    assert (both["text"], both["gold"], both["a"], both["b"]) == ("Oslo", "LOC", "PER", "ORG")
    text = docs[both["document_id"] - 1]["text"]
    assert text[both["start"] : both["end"]] == "Oslo"
    # A: 2 tp, 3 fp, 3 fn -> 0.4; B: 3 tp, 2 fp, 2 fn -> 0.6.
    assert result["a"]["f1"] == pytest.approx(0.4) and result["b"]["f1"] == pytest.approx(0.6)
    assert result["delta_f1"] == pytest.approx(0.2)


def test_per_type_f1_and_delta_are_the_strict_entity_scores_of_each_run() -> None:
    docs, a, b = hand_made()
    result = compare_tags(docs, a, b, resamples=200)
    rows = {row["label"]: row for row in result["per_type"]}
    assert list(rows) == ["LOC", "ORG", "PER", "micro avg"]
    for tags_of, key in ((a, "f1_a"), (b, "f1_b")):
        entity = score(docs, tags_of)["entity"]
        for label in ("LOC", "PER"):
            assert rows[label][key] == pytest.approx(entity[label]["f1"])
        assert rows["micro avg"][key] == pytest.approx(entity["micro avg"]["f1"])
    assert rows["LOC"]["support"] == 3 and rows["PER"]["support"] == 2
    assert rows["ORG"] == {"label": "ORG", "support": 0, "f1_a": 0.0, "f1_b": 0.0, "delta": 0.0}
    assert rows["PER"]["delta"] == pytest.approx(rows["PER"]["f1_b"] - rows["PER"]["f1_a"])


def random_run(docs: list[dict], rng: random.Random) -> list[list[str]]:
    """Each gold entity found with probability 0.6, with a spurious one now and then."""
    out = []
    for doc in docs:
        spans = [s for s in doc["spans"] if rng.random() < 0.6]
        words = [w for w in doc["tokens"] if not any(s[0] <= w[0] < s[1] for s in doc["spans"])]
        if words and rng.random() < 0.3:
            start, end = rng.choice(words)
            spans.append((start, end, "LOC"))
        out.append(tags(doc, sorted(spans)))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_the_bootstrap_never_finds_identical_runs_different(seed: int) -> None:
    docs = sentence_corpus(60, seed=seed)
    run = random_run(docs, random.Random(seed))
    result = compare_tags(docs, run, [list(t) for t in run], resamples=300, seed=seed)
    boot = result["bootstrap"]
    assert boot["significant"] is False
    assert boot["p_value"] == 1.0 and boot["interval"] == [0.0, 0.0]
    assert result["counts"]["fixed"] == result["counts"]["broken"] == 0
    assert "within noise" in significance_line(result)


def test_a_clear_improvement_is_significant_and_a_tiny_one_is_not() -> None:
    docs = sentence_corpus(80, seed=5)
    gold = [tags(d, d["spans"]) for d in docs]
    weak = random_run(docs, random.Random(1))
    clear = compare_tags(docs, weak, gold, resamples=500)
    assert clear["bootstrap"]["significant"] is True
    assert clear["bootstrap"]["interval"][0] > 0 and clear["bootstrap"]["p_value"] < 0.01
    assert significance_line(clear, "Run 1", "Run 2").startswith("Run 2 is better than Run 1")
    worse = compare_tags(docs, gold, weak, resamples=500)
    assert significance_line(worse, "Run 1", "Run 2").startswith("Run 2 is worse than Run 1")

    one_more = [list(t) for t in weak]
    k = next(i for i, (w, g) in enumerate(zip(weak, gold, strict=True)) if w != g)
    one_more[k] = gold[k]  # B fixes a single document
    tiny = compare_tags(docs, weak, one_more, resamples=500)
    assert tiny["delta_f1"] > 0 and tiny["bootstrap"]["significant"] is False
    assert tiny["bootstrap"]["p_value"] > 0.05


def test_the_bootstrap_is_seeded() -> None:
    docs = sentence_corpus(40, seed=2)
    a, b = random_run(docs, random.Random(3)), random_run(docs, random.Random(4))
    first = compare_tags(docs, a, b, resamples=300, seed=7)["bootstrap"]
    assert compare_tags(docs, a, b, resamples=300, seed=7)["bootstrap"] == first
    assert compare_tags(docs, a, b, resamples=300, seed=8)["bootstrap"] != first


# -- the CLI ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weak_model(tiny_model_dir, tmp_path_factory):
    """A model trained for one short epoch: worse than ``tiny_trained_model``."""
    from core.training.config import TrainConfig
    from core.training.trainer import train

    out = tmp_path_factory.mktemp("tiny-weak") / "run-1"
    config = TrainConfig(
        base_model=str(tiny_model_dir), epochs=1, learning_rate=2e-3, batch_size=16, warmup=0
    )
    final = list(train(config, {"train": sentence_corpus(40, seed=9)}, out))[-1]
    assert final.kind == "done", final
    return out


@pytest.fixture
def two_runs(tmp_path, weak_model, tiny_trained_model):
    """A project whose run 1 is the weak model and run 2 the trained one, and a third
    run that failed."""
    path = tmp_path / "p.spanlab"
    with Project.create(path, labels=["PER", "LOC"]) as project:
        dev = sentence_corpus(30, seed=11, start_id=1)
        project.add_documents([dict(d, split="dev", status="annotated") for d in dev])
        for model in (weak_model, tiny_trained_model):
            run = project.create_run({}, base_model="tiny")
            project.update_run(run, status="done", output_dir=str(model))
        failed = project.create_run({}, base_model="tiny")
        project.update_run(failed, status="failed", error="out of memory")
        examples = project.examples("dev")
    return path, examples


def test_compare_json_gives_both_runs_scores_lists_and_the_bootstrap(
    two_runs, capsys, tiny_trained_model
) -> None:
    path, examples = two_runs
    assert main(["compare", str(path), "1", "2", "--split", "dev", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["split"] == "dev" and out["documents"] == len(examples)
    assert out["runs"]["a"]["run"] == 1 and out["runs"]["b"]["run"] == 2
    assert out["b"]["f1"] == pytest.approx(evaluate(tiny_trained_model, examples)["f1"])
    assert out["delta_f1"] == pytest.approx(out["b"]["f1"] - out["a"]["f1"])
    assert [r["label"] for r in out["per_type"]] == ["LOC", "PER", "micro avg"]
    assert set(out["per_type"][0]) == {"label", "support", "f1_a", "f1_b", "delta"}
    for name in ("fixed", "broken", "both_wrong"):
        assert out["counts"][name] == len(out[name])
        for place in out[name]:
            assert set(place) == {"document_id", "start", "end", "text", "gold", "a", "b"}
            text = examples[place["document_id"] - 1]["text"]
            assert text[place["start"] : place["end"]] == place["text"]
    assert out["counts"]["fixed"] > 0, "the trained model gets entities the weak one misses"
    boot = out["bootstrap"]
    assert set(boot) == {"resamples", "seed", "confidence", "interval", "p_value", "significant"}
    assert boot["resamples"] == 1000 and boot["interval"][0] <= boot["interval"][1]
    assert out["summary"] == significance_line(out, "Run 1", "Run 2")


def test_compare_prints_a_table_the_significance_line_and_the_lists(two_runs, capsys) -> None:
    path, _ = two_runs
    assert main(["compare", str(path), "1", "2", "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Run 1 (A) against run 2 (B) on dev:")
    assert "F1 A    F1 B   delta" in out and "micro avg" in out
    assert "paired bootstrap over 30 documents, 200 resamples" in out
    assert "Fixed (wrong in A, right in B):" in out


def test_compare_refuses_a_run_without_a_model(two_runs, capsys) -> None:
    path, _ = two_runs
    assert main(["compare", str(path), "1", "3"]) == 1
    err = capsys.readouterr().err
    assert "Run 3 is failed and has no model to compare" in err and "spanlab runs" in err
    assert main(["compare", str(path), "1", "9"]) == 1
    assert "There is no training run 9." in capsys.readouterr().err


LOAD_AT_ONCE = """
import sys, threading
from core.training.predict import Predictor
errors = []
def load():
    try:
        Predictor(sys.argv[1], device="cpu")
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=load) for _ in range(3)]
for t in threads: t.start()
for t in threads: t.join()
print(errors)
"""


def test_models_loaded_on_several_threads_at_once_all_load(tiny_trained_model) -> None:
    """Compare loads a model on its worker while Results' errors worker loads another:
    a fresh process (transformers not yet imported) loads three at once."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", LOAD_AT_ONCE, str(tiny_trained_model)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
