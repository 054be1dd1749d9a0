"""The search space: the defaults, the JSON space file, and every way a file is refused."""

from __future__ import annotations

import json

import pytest

from core.errors import ValidationError
from core.search.space import (
    SETS,
    Param,
    check_space,
    default_space,
    load_space,
    space_from_dict,
    space_to_dict,
)
from core.training.config import TrainConfig


def write(tmp_path, content) -> str:
    path = tmp_path / "space.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return str(path)


def test_default_space_is_valid_and_follows_the_data_size():
    small, large = default_space(200), default_space(50_000)
    assert check_space(small) == small  # every key a TrainConfig field, every bound workable
    assert set(small) == {
        "learning_rate",
        "epochs",
        "batch_size",
        "warmup",
        "weight_decay",
        "dropout",
        "freeze",
        "method",
        "lora_r",
        "lora_learning_rate",
    }
    assert small["learning_rate"] == Param("learning_rate", 1e-5, 5e-4, log=True)
    assert small["batch_size"].choices == (8, 16, 32)
    assert small["method"].choices == ("full", "lora")
    assert small["epochs"].low > large["epochs"].low and small["epochs"].high > large["epochs"].high
    assert default_space(200, "xlm-roberta-large")["learning_rate"].high == 1e-4


def test_space_file_is_read(tmp_path):
    path = write(
        tmp_path,
        {
            "learning_rate": {"low": 1e-5, "high": 1e-3, "log": True},
            "epochs": {"low": 2, "high": 8.0},
            "batch_size": {"choices": [8, 16]},
            "dropout": {"choices": [None, 0.1]},
            "warmup": {"low": 0, "high": 1},
        },
    )
    space = load_space(path)
    assert space["learning_rate"] == Param("learning_rate", 1e-5, 1e-3, log=True)
    epochs = space["epochs"]
    assert (epochs.low, epochs.high) == (2, 8) and isinstance(epochs.high, int)  # an int range
    warmup = space["warmup"]
    assert isinstance(warmup.low, float) and isinstance(warmup.high, float)  # a float range
    assert space["batch_size"].choices == (8, 16)
    assert space["dropout"].choices == (None, 0.1)
    assert space_from_dict(space_to_dict(space)) == space


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"learning_rat": {"low": 1e-5, "high": 1e-3}}, "'learning_rat' is not a training setting"),
        ({"learning_rate": {"low": 1e-3, "high": 1e-5}}, "low 0.001 is above high 1e-05"),
        ({"weight_decay": {"low": 0, "high": 0.1, "log": True}}, "a log range needs low above 0"),
        ({"epochs": {"low": 1.5, "high": 4}}, "'epochs' is a whole-number setting"),
        ({"batch_size": {"choices": []}}, "'batch_size' has no choices"),
        ({"batch_size": {"choices": ["big"]}}, "the choice 'big' is not a int"),
        ({"batch_size": {"choices": [0, 8]}}, "batch size must be at least 1"),
        ({"freeze": {"low": 0, "high": 1}}, "'freeze' is a text setting: give it choices"),
        ({"freeze": {"choices": ["all"]}}, "freeze must be none, embeddings"),
        ({"learning_rate": {"low": 1e-5}}, "'learning_rate' has no high"),
        ({"learning_rate": {"low": 1e-5, "high": 1, "lgo": True}}, "has unknown lgo"),
        ({"learning_rate": {"low": 1e-5, "high": 1, "log": "yes"}}, "log must be true or false"),
        ({"learning_rate": {"low": "1e-5", "high": 1}}, "low and high must be numbers"),
        ({"learning_rate": 1e-4}, "'learning_rate' must be an object"),
        ({"batch_size": {"choices": [8], "low": 1}}, "give either choices or low/high"),
        ({}, "a non-empty JSON object"),
        ([1, 2], "a non-empty JSON object"),
    ],
)
def test_bad_space_files_are_refused_naming_file_and_key(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(ValidationError) as caught:
        load_space(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_invalid_json_says_line_and_column(tmp_path):
    path = write(
        tmp_path, '{\n  "epochs": {"low": 1, "high": 3},\n  "warmup": {"low": 0 "high": 1}\n}'
    )
    with pytest.raises(ValidationError, match=rf"^{path}:3:23: not valid JSON \(Expecting ','"):
        load_space(path)


def test_missing_space_file(tmp_path):
    with pytest.raises(ValidationError, match="Cannot read the space file .*Check the path"):
        load_space(tmp_path / "nope.json")


def test_params_built_in_code_are_checked_too():
    with pytest.raises(ValidationError, match="the space: 'epochs' is a whole-number setting"):
        check_space({"epochs": Param("epochs", 1.5, 3)})
    assert check_space({"epochs": Param("epochs", 1.0, 3.0)})["epochs"] == Param("epochs", 1, 3)
    fields = set(TrainConfig.__dataclass_fields__)
    assert all(SETS.get(name, name) in fields for name in default_space(10))


def test_the_lora_learning_rate_is_checked_as_a_learning_rate(tmp_path):
    from core.search.space import load_space

    good = tmp_path / "good.json"
    good.write_text('{"lora_learning_rate": {"low": 1e-3, "high": 4e-3, "log": true}}')
    assert load_space(good)["lora_learning_rate"].high == 4e-3
    bad = tmp_path / "bad.json"
    bad.write_text('{"lora_learning_rate": {"low": -1, "high": 4e-3}}')
    with pytest.raises(ValidationError, match="'lora_learning_rate'.*cannot work"):
        load_space(bad)
