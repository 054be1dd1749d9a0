"""The embedded all-MiniLM-L6-v2 with default settings learns a small corpus."""

from __future__ import annotations

import pytest

from core.training.config import TrainConfig
from core.training.events import Done, Eval
from core.training.predict import Predictor
from core.training.trainer import train

from training_support import sentence_corpus


@pytest.mark.slow
def test_default_settings_learn_person_and_place(tmp_path):
    data = {
        "train": sentence_corpus(150, seed=5),
        "dev": sentence_corpus(40, seed=6, start_id=1000),
    }
    events = list(train(TrainConfig(), data, tmp_path / "run-1"))
    final = events[-1]
    assert isinstance(final, Done), final
    f1s = [e.f1 for e in events if isinstance(e, Eval)]
    assert f1s[0] < 0.9 <= max(f1s)  # it learned during the run, far above chance
    assert final.metrics["f1"] == max(f1s)
    (entities,) = Predictor(final.output_dir, device="cpu").predict(
        ["yesterday grace went to lisbon and the cat saw the river ."]
    )
    assert {(e["text"], e["label"]) for e in entities} == {("grace", "PER"), ("lisbon", "LOC")}
