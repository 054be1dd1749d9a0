"""The model card: every trained model folder holds a README.md in Hub model-card form."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.errors import ValidationError
from core.training.card import (
    data_summary,
    model_name,
    render_card,
    script_language,
    write_card,
)

from training_support import example, sentence_corpus


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A run trained on train / dev / test from a base model whose card says English."""
    from core.training.config import TrainConfig
    from core.training.trainer import train

    base = tmp_path_factory.mktemp("base") / "tiny-en"
    shutil.copytree(tiny_model_dir, base)
    (base / "README.md").write_text("---\nlanguage: en\nlicense: mit\n---\n# tiny\n")
    data = {
        "train": sentence_corpus(60),
        "dev": sentence_corpus(20, seed=1, start_id=500),
        "test": sentence_corpus(10, seed=2, start_id=900),
    }
    config = TrainConfig(
        base_model=str(base), epochs=2, learning_rate=5e-3, batch_size=8, warmup=0, device="cpu"
    )
    out = tmp_path_factory.mktemp("card") / "run-7"
    final = list(train(config, data, out))[-1]
    assert final.kind == "done", final
    return {"out": out, "data": data, "metrics": final.metrics}


def test_a_trained_folder_holds_a_hub_model_card(trained: dict) -> None:
    from huggingface_hub import ModelCard

    out, metrics = trained["out"], trained["metrics"]
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]
    card = ModelCard.load(out / "README.md")
    meta = card.data
    assert meta.library_name == "transformers"
    assert meta.pipeline_tag == "token-classification"
    assert meta.language == "en"  # from the base model's own card
    assert meta.base_model is None  # a local folder is no Hub name
    by_split = {r.dataset_name: r.metric_value for r in meta.eval_results if r.metric_type == "f1"}
    assert by_split == {
        "Project dev split": pytest.approx(metrics["dev"]["f1"], abs=1e-4),
        "Project test split": pytest.approx(metrics["test"]["f1"], abs=1e-4),
    }
    assert meta.model_name == "run-7"
    text = card.text
    assert text.startswith("\n# run-7") or text.startswith("# run-7")
    for split in ("dev", "test"):
        row = metrics[split]["entity"]["PER"]
        line = f"| PER | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
        assert line + f"{row['support']} |" in text
    for heading in ("## Data", "## Training", "## Intended use and limits", "## How to use"):
        assert heading in text
    assert "## Export check" not in text


def test_the_card_counts_documents_and_entities_per_label_per_split(trained: dict) -> None:
    text = (trained["out"] / "README.md").read_text(encoding="utf-8")
    for split, examples in trained["data"].items():
        # each corpus sentence has one PER and one LOC
        n = len(examples)
        assert f"| {split} | {n} | {2 * n} | {n} | {n} |" in text
    assert "| Split | Documents | Entities | LOC | PER |" in text
    assert "| Learning rate | 0.005 |" in text
    assert "| Epochs run | 2 |" in text


def test_data_summary_per_split_and_label() -> None:
    summary = data_summary(
        {
            "train": [
                example(
                    1, "alice met bob in rome", [(0, 5, "PER"), (10, 13, "PER"), (17, 21, "LOC")]
                ),
                example(2, "nothing here", []),
            ],
            "dev": [example(3, "carol", [(0, 5, "PER")])],
        }
    )
    assert summary == {
        "splits": {
            "train": {"documents": 2, "entities": 3, "per_label": {"LOC": 1, "PER": 2}},
            "dev": {"documents": 1, "entities": 1, "per_label": {"PER": 1}},
        },
        "language": None,  # Latin script alone names no language
    }


def test_the_language_comes_from_the_script_or_the_base_models_card(tmp_path: Path) -> None:
    assert script_language(["北京是中国的首都。", "李明去了上海"]) == "zh"
    assert script_language(["東京へ行きました", "ひらがなとカタカナ"]) == "ja"
    assert script_language(["서울에 갔습니다"]) == "ko"
    assert script_language(["Paris est en France"]) is None
    base = tmp_path / "base"
    base.mkdir()
    (base / "README.md").write_text("---\nlanguage:\n- de\n- fr\n---\n")
    doc = [example(1, "Berlin liegt in Deutschland", [(0, 6, "LOC")])]
    assert data_summary({"train": doc}, str(base))["language"] == ["de", "fr"]
    chinese = [{"text": "北京是中国的首都", "spans": [(0, 2, "LOC")]}]
    assert data_summary({"train": chinese}, str(base))["language"] == "zh"


def test_an_export_check_is_shown_when_the_folder_has_one(trained: dict, tmp_path: Path) -> None:
    folder = tmp_path / "exported"
    shutil.copytree(trained["out"], folder)
    check = {"agreement_f1": 0.987, "dev_f1": {"torch": 0.91, "onnx-int8": 0.905}, "forced": False}
    (folder / "export.json").write_text(json.dumps({"format": "onnx-int8", "check": check}))
    write_card(folder)
    text = (folder / "README.md").read_text(encoding="utf-8")
    export = text[text.index("## Export check") :]
    assert "Format: `onnx-int8`." in export
    assert "| agreement f1 | 0.987 |" in export
    assert "| dev f1 / torch | 0.91 |" in export and "| dev f1 / onnx-int8 | 0.905 |" in export
    assert "| forced | no |" in export
    assert "# exported" in text
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_a_scratch_folder_is_named_for_its_target() -> None:
    assert model_name(Path("/m/.run-3.partial-4242")) == "run-3"
    assert model_name(Path("/m/.my-model.4242-0a1b2c3d.partial")) == "my-model"
    assert model_name(Path("/m/run-3")) == "run-3"


def test_a_folder_without_metrics_says_which_file_is_missing(tmp_path: Path) -> None:
    (tmp_path / "train_config.json").write_text("{}")
    with pytest.raises(ValidationError, match=r"metrics\.json is missing"):
        render_card(tmp_path)
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(ValidationError, match=r"metrics\.json: not valid JSON"):
        render_card(tmp_path)
