"""A model folder is data: one that asks to run its own Python code is refused.

transformers would otherwise ask "Do you wish to run the custom code? [y/N]" on the
terminal and, answered ``y``, import the folder's ``configuration_*.py``. Each command
that loads a model is run in a process of its own with ``y`` waiting on its stdin.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ModelLoadError
from core.store import Project
from core.training.loading import load_tokenizer, refuse_custom_code, resolve_model_path

from process_support import spanlab
from training_support import make_tiny_model

CUSTOM_CODE = """
from pathlib import Path
Path({marker!r}).write_text("the folder's code ran")
from transformers import PretrainedConfig
class EvilConfig(PretrainedConfig):
    model_type = "spanlab-evil"
"""


def evil_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A model folder whose config needs its own code, and the file that code would write."""
    folder = tmp_path / "evil-model"
    folder.mkdir()
    marker = tmp_path / "code-ran.txt"
    (folder / "configuration_evil.py").write_text(CUSTOM_CODE.format(marker=str(marker)))
    config = {
        "model_type": "spanlab-evil",
        "auto_map": {
            "AutoConfig": "configuration_evil.EvilConfig",
            "AutoModelForTokenClassification": "configuration_evil.EvilConfig",
        },
        "id2label": {"0": "O", "1": "B-PER", "2": "I-PER"},
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder, marker


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "p.spanlab"
    with Project.create(path, labels=["PER"]) as created:
        doc = created.add_document("alice went to paris", split="train")
        created.add_span(doc, 0, 5, "PER")
        created.set_status(doc, "annotated")
        dev = created.add_document("bob went to rome", split="test")
        created.add_span(dev, 0, 3, "PER")
        created.set_status(dev, "annotated")
    return path


@pytest.mark.parametrize("command", ["predict", "train", "evaluate"])
def test_every_command_refuses_a_folder_with_its_own_code(tmp_path, project, command):
    folder, marker = evil_folder(tmp_path)
    args = {
        "predict": ["predict", str(folder), "Alice went to Paris"],
        "train": ["train", str(project), "--base-model", str(folder), "--epochs", "1"],
        "evaluate": ["evaluate", str(project), "--model", str(folder), "--split", "test"],
    }[command]
    result = spanlab(*args, input="y\ny\ny\n")  # yes to any question
    assert result.returncode == 1, result.stderr
    assert "never runs code from a model folder" in result.stderr
    assert "Traceback" not in result.stderr and "[y/N]" not in result.stdout
    assert not marker.exists()


def test_auto_map_in_the_tokenizer_config_is_refused_too(tmp_path):
    folder = make_tiny_model(tmp_path / "tiny")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="tokenizer_config.json has an “auto_map”"):
        load_tokenizer(str(folder))


def test_an_unknown_model_type_without_auto_map_is_refused(tmp_path):
    folder, _ = evil_folder(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    del config["auto_map"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="model type transformers does not know"):
        resolve_model_path(str(folder))


def test_a_standard_folder_passes(tmp_path):
    folder = make_tiny_model(tmp_path / "tiny")
    refuse_custom_code(folder)  # raises on failure
    assert load_tokenizer(str(folder)).is_fast
