"""Export a model folder as hf / ONNX / ONNX int8, checked against the original on dev."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.cli import main
from core.deploy.export import export_model
from core.errors import ExportError
from core.training.predict import Predictor

from training_support import sentence_corpus

DEV = sentence_corpus(30, seed=1, start_id=500)


def _no_scratch_left(parent: Path) -> bool:
    return not [p for p in parent.iterdir() if p.name.startswith(".")]


@pytest.fixture(scope="module")
def exports(tiny_trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny model exported once as ONNX and as ONNX int8: folder and check each."""
    parent = tmp_path_factory.mktemp("exports")
    found = {}
    for fmt in ("onnx", "onnx-int8"):
        out = parent / fmt
        found[fmt] = (out, export_model(tiny_trained_model, out, fmt, dev_examples=DEV))
    return found


@pytest.mark.parametrize("fmt", ["onnx", "onnx-int8"])
def test_onnx_export_keeps_what_loads_the_model_and_records_its_check(exports, fmt):
    out, check = exports[fmt]
    names = {p.name for p in out.iterdir()}
    assert {"model.onnx", "config.json", "tokenizer.json", "train_config.json"} <= names
    assert {"metrics.json", "export.json"} <= names
    assert not [n for n in names if n.endswith((".safetensors", ".fp32.onnx"))]
    saved = json.loads((out / "export.json").read_text())
    assert saved["format"] == fmt and saved["check"] == check
    assert check["documents"] == len(DEV)
    assert check["passed"] and check["f1_loss_points"] <= 1.0
    assert check["agreement_f1"] >= 0.97
    assert check["torch_f1"] > 0.5  # the tiny model has learned the corpus: a real check
    assert Predictor(out).backend == "onnx"


def test_int8_export_holds_int8_weights_and_fp32_does_not(exports):
    import onnx

    def int8_weights(folder: Path) -> int:
        graph = onnx.load(folder / "model.onnx").graph
        return sum(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer)

    assert int8_weights(exports["onnx"][0]) == 0
    assert int8_weights(exports["onnx-int8"][0]) >= 8  # 2 layers x (q, k, v, out, up, down)


@pytest.mark.parametrize("fmt", ["onnx", "onnx-int8"])
def test_the_exported_graph_fuses_gelu_and_a_session_keeps_skip_and_layer_norm_apart(
    exports, fmt, tmp_path
):
    import onnx
    import onnxruntime as ort

    from core.training.onnx_backend import DISABLED_OPTIMIZERS

    folder = exports[fmt][0]
    saved = {n.op_type for n in onnx.load(folder / "model.onnx").graph.node}
    assert "BiasGelu" in saved and "Erf" not in saved  # one node per GELU, not five
    assert "SkipLayerNormalization" not in saved
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "as-run.onnx")
    ort.InferenceSession(str(folder / "model.onnx"), options, ["CPUExecutionProvider"],
                         disabled_optimizers=DISABLED_OPTIMIZERS)  # fmt: skip
    run = {n.op_type for n in onnx.load(tmp_path / "as-run.onnx").graph.node}
    assert "SkipLayerNormalization" not in run and "LayerNormalization" in run


def test_hf_export_copies_the_folder(tiny_trained_model, tmp_path):
    out = tmp_path / "hf"
    check = export_model(tiny_trained_model, out, "hf")
    assert "skipped" in check
    assert (out / "model.safetensors").is_file()
    assert json.loads((out / "export.json").read_text())["format"] == "hf"
    assert Predictor(out).backend == "torch"


def _damaged_loader(monkeypatch):
    """Make the exporter read a model whose head says O everywhere: an export that
    loses every entity (the original, read by the check, stays as it is)."""
    import core.training.loading as loading

    real = loading.load_token_classifier

    def damaged(path, **kwargs):
        model = real(path, **kwargs)
        model.classifier.weight.data.zero_()
        model.classifier.bias.data.zero_()
        model.classifier.bias.data[0] = 1.0  # "O"
        return model

    monkeypatch.setattr(loading, "load_token_classifier", damaged)


def test_an_export_that_loses_f1_is_refused_and_leaves_nothing(
    tiny_trained_model, tmp_path, monkeypatch
):
    _damaged_loader(monkeypatch)
    out = tmp_path / "bad"
    with pytest.raises(ExportError, match=r"loses .* F1 points.*--force"):
        export_model(tiny_trained_model, out, "onnx", dev_examples=DEV)
    assert not out.exists()
    assert _no_scratch_left(tmp_path)


def test_force_keeps_a_failing_export_and_says_so(tiny_trained_model, tmp_path, monkeypatch):
    _damaged_loader(monkeypatch)
    out = tmp_path / "forced"
    check = export_model(tiny_trained_model, out, "onnx", dev_examples=DEV, force=True)
    assert check["forced"] and not check["passed"]
    assert check["exported_f1"] == 0.0 and check["f1_loss_points"] > 1.0
    assert json.loads((out / "export.json").read_text())["check"]["forced"]


def test_an_interrupted_export_leaves_no_half_folder(tiny_trained_model, tmp_path, monkeypatch):
    import core.deploy.onnx_export as onnx_export

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_export, "_quantize", interrupted)
    out = tmp_path / "int8"
    with pytest.raises(KeyboardInterrupt):
        export_model(tiny_trained_model, out, "onnx-int8", dev_examples=DEV)
    assert not out.exists()
    assert _no_scratch_left(tmp_path)


def test_an_existing_target_is_refused(tiny_trained_model, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ExportError, match="already exists"):
        export_model(tiny_trained_model, tmp_path / "taken", "onnx")


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def run_in_project(tiny_trained_model, tmp_path) -> Path:
    """A project ``p.spanlab`` with dev documents and the tiny model as its run 1."""
    from core.store import Project

    project = Project.create(tmp_path / "p.spanlab", labels=["LOC", "PER"])
    for ex in DEV:
        project.add_document(ex["text"], split="dev", status="annotated", spans=ex["spans"])
    project.close()
    run = tmp_path / "p" / "run-1"
    shutil.copytree(tiny_trained_model, run)
    return run


def test_cli_checks_on_the_runs_project_dev_documents(run_in_project, tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export-model", str(run_in_project), str(out), "--format", "onnx", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["check"]["documents"] == len(DEV) and shown["check"]["passed"]
    assert (out / "model.onnx").is_file()


def test_cli_without_a_project_warns_that_nothing_is_checked(tiny_trained_model, tmp_path, capsys):
    out = tmp_path / "unchecked"
    assert main(["export-model", str(tiny_trained_model), str(out)]) == 0
    captured = capsys.readouterr()
    assert "not checked" in captured.err and "--project" in captured.err
    assert "skipped" in json.loads((out / "export.json").read_text())["check"]


def test_cli_refusal_is_an_error_message(run_in_project, tmp_path, capsys, monkeypatch):
    _damaged_loader(monkeypatch)
    out = tmp_path / "refused"
    assert main(["export-model", str(run_in_project), str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert not out.exists()


def test_int8_products_give_each_token_its_own_activation_scale(tmp_path):
    """A token with huge activations does not cost the other tokens their precision."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from core.deploy.onnx_export import _quantize

    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "one-product",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "sequence", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "sequence", 8])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, tmp_path / "fp32.onnx")
    _quantize(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", external=False)
    x = rng.normal(size=(2, 5, 16)).astype(np.float32)
    x[0, 0] *= 1000.0  # one outlier token
    session = ort.InferenceSession(str(tmp_path / "int8.onnx"), providers=["CPUExecutionProvider"])
    (y,) = session.run(["y"], {"x": x})
    expected = x @ w
    assert y.shape == expected.shape
    others = np.abs(y[:, 1:] - expected[:, 1:]).max() / np.abs(expected[:, 1:]).max()
    assert others < 0.03
    assert np.abs(y[0, 0] - expected[0, 0]).max() / np.abs(expected[0, 0]).max() < 0.03
