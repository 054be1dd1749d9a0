"""The ONNX Runtime backend of the Predictor: the same entities as torch."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.cli import main
from core.deploy.export import export_model
from core.errors import ModelLoadError
from core.training.onnx_backend import default_threads
from core.training.predict import Predictor

TEXTS = [
    "today alice went to paris .",
    "",
    "in rome , bob met carol and heidi went to lisbon today",
    "the cat saw the river",
    "grace went to oslo , frank went to vienna and erin went to madrid .",
]


@pytest.fixture(scope="module")
def onnx_dir(tiny_trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "model"
    export_model(tiny_trained_model, out, "onnx")
    return out


def test_auto_picks_onnx_for_an_exported_folder_and_torch_otherwise(tiny_trained_model, onnx_dir):
    assert Predictor(onnx_dir).backend == "onnx"
    assert Predictor(tiny_trained_model).backend == "torch"


def test_onnx_gives_the_same_entities_as_torch(tiny_trained_model, onnx_dir):
    torch_side = Predictor(tiny_trained_model, device="cpu", precision="no", batch_size=2)
    onnx_side = Predictor(onnx_dir, batch_size=2)
    theirs, ours = torch_side.predict(TEXTS), onnx_side.predict(TEXTS)
    assert [[(e["start"], e["end"], e["label"]) for e in doc] for doc in ours] == [
        [(e["start"], e["end"], e["label"]) for e in doc] for doc in theirs
    ]
    assert sum(len(doc) for doc in ours) >= 8  # the texts do have entities to agree on
    for mine, other in zip(ours, theirs, strict=True):
        for a, b in zip(mine, other, strict=True):
            assert a["score"] == pytest.approx(b["score"], abs=1e-3)
    assert onnx_side.labels == torch_side.labels


def test_long_text_is_read_in_windows_on_onnx_too(tiny_trained_model, onnx_dir):
    text = " ".join(["alice went to paris and the cat saw the river"] * 8)
    narrow = Predictor(onnx_dir, max_length=16)
    assert [e["text"] for e in narrow.predict([text])[0]] == ["alice", "paris"] * 8
    torch_narrow = Predictor(tiny_trained_model, device="cpu", precision="no", max_length=16)
    assert narrow.predict([text]) == torch_narrow.predict([text])


def test_threads_default_to_the_cores_this_process_may_use(onnx_dir):
    assert default_threads() == len(os.sched_getaffinity(0))
    assert Predictor(onnx_dir).model.threads == default_threads()
    assert Predictor(onnx_dir, threads=1).model.threads == 1


def test_backend_override_errors_say_what_to_do(tiny_trained_model, onnx_dir):
    with pytest.raises(ModelLoadError, match="export it first"):
        Predictor(tiny_trained_model, backend="onnx")
    with pytest.raises(ModelLoadError, match="ONNX model only"):
        Predictor(onnx_dir, backend="torch")


def test_cli_predict_backend_gives_the_same_json(tiny_trained_model, onnx_dir, capsys):
    def entities(folder: Path, backend: str) -> list[list[tuple]]:
        assert main(["predict", str(folder), *TEXTS[2:4], "--json", "--backend", backend]) == 0
        lines = capsys.readouterr().out.splitlines()
        found = [json.loads(line)["entities"] for line in lines]
        return [[(e["start"], e["end"], e["label"]) for e in doc] for doc in found]

    ours = entities(onnx_dir, "onnx")
    assert ours == entities(tiny_trained_model, "torch")
    assert len(ours) == 2 and ours[0]
