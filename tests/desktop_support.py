"""Small helpers shared by the desktop Train / Results / Try-it tests.

A tiny BERT built from a config (no download), a tiny project whose entities follow a
pattern a model learns in seconds, and one project with a finished run, trained once
per test session and copied for each test that needs it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from core.store import Project
from core.training.config import TrainConfig

from training_support import make_tiny_model

NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank"]
CITIES = ["Paris", "London", "Rome", "Berlin", "Madrid", "Oslo"]
TEMPLATES = [
    "{p} lives in {c} .",
    "{p} went to {c} yesterday .",
    "Yesterday {p} visited {c} .",
    "In {c} , {p} met {q} .",
]
OTHER_WORDS = ["today", "she", "saw", "the", "river", "and", "a", "cat", "in", "hello"]


def sentences(n: int, offset: int = 0) -> list[dict]:
    """``n`` documents ``{text, spans}`` with PER and LOC entities."""
    docs = []
    for i in range(offset, offset + n):
        template = TEMPLATES[i % len(TEMPLATES)]
        p, q = NAMES[i % len(NAMES)], NAMES[(i + 1) % len(NAMES)]
        c = CITIES[(i * 5) % len(CITIES)]
        text = template.format(p=p, q=q, c=c)
        spans = []
        for word, label in ((p, "PER"), (c, "LOC"), (q, "PER")):
            if "{q}" not in template and word == q:
                continue
            start = text.index(word)
            spans.append((start, start + len(word), label))
        docs.append({"text": text, "tokens": words(text), "spans": sorted(set(spans))})
    return docs


def words(text: str) -> list[tuple[int, int]]:
    """Word offsets of a text whose words are separated by single spaces."""
    out, start = [], 0
    for word in text.split(" "):
        out.append((start, start + len(word)))
        start += len(word) + 1
    return out


def vocabulary() -> list[str]:
    words = {w.lower() for t in TEMPLATES for w in t.split() if "{" not in w}
    words |= {w.lower() for w in NAMES + CITIES + OTHER_WORDS}
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]


def build_tiny_model(folder: Path) -> Path:
    """A 2-layer, 32-wide BERT and its fast tokenizer that know the desktop tests' words."""
    return make_tiny_model(folder, extra_words=vocabulary()[5:])


def tiny_config(model_dir: Path | str, **overrides: object) -> TrainConfig:
    """Settings that train the tiny model in a second or two."""
    values: dict = {
        "base_model": str(model_dir),
        "epochs": 2,
        "batch_size": 8,
        "learning_rate": 5e-3,
        "max_length": 32,
        "window_overlap": 8,
        "patience": 0,
        "warmup": 0.0,
        "device": "cpu",
        "seed": 3,
        "refit": False,  # one pass: the tests that refit say so
    }
    values.update(overrides)
    return TrainConfig(**values)


def make_project(path: Path, train: int = 24, dev: int = 8, test: int = 8, new: int = 4) -> Project:
    """A project with annotated train / dev / test documents and a few new ones."""
    project = Project.create(path, labels=["PER", "LOC"])
    offset = 0
    docs = []
    for split, n in (("train", train), ("dev", dev), ("test", test)):
        for doc in sentences(n, offset):
            docs.append(dict(doc, split=split, status="annotated"))
        offset += n
    for doc in sentences(new, offset):
        docs.append({"text": doc["text"], "tokens": doc["tokens"], "status": "new"})
    project.add_documents(docs)
    return project


_TEMPLATE: dict[str, Path] = {}


def trained_project(tmp_path_factory: object, target: Path) -> Project:
    """A copy, at ``target``, of a project with one finished run (trained once a session)."""
    if "path" not in _TEMPLATE:
        from core.training.session import run_training

        base = Path(tmp_path_factory.mktemp("trained"))  # type: ignore[attr-defined]
        model = build_tiny_model(base / "tiny-bert")
        with make_project(base / "trained.spanlab") as project:
            session = run_training(project, tiny_config(model, epochs=15, learning_rate=1e-2))
            assert project.latest_run()["status"] == "done", session.final
        _TEMPLATE["path"] = base / "trained.spanlab"
    source = _TEMPLATE["path"]
    shutil.copy(source, target)
    # The run's model folder stays where it was trained: the copy's run row points there.
    return Project.open(target)
