"""The model card: a model folder's README.md in Hugging Face model-card form.

A card is rendered from the files beside the model, never from the store, so any model
folder (a run's, an export's, a copy) can have its card written again:

- ``train_config.json``: the settings (and what "auto" became, under ``chosen``);
- ``metrics.json``: dev and test scores per type, and ``data`` (documents and entities
  per label per split, the language when known; :func:`data_summary` at training time);
- ``export.json`` (optional, written by an export): ``{"format", "check": {...}}``.

The YAML front matter follows the Hub's model-card metadata (``library_name``,
``pipeline_tag``, ``language``, ``base_model``, ``model-index``) so the Hub and
``huggingface_hub.ModelCard`` read the scores as evaluation results.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from core.domain import DEFAULT_MODEL
from core.errors import ValidationError

CARD_FILE = "README.md"
#: The Hub name of the embedded default base model.
DEFAULT_MODEL_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
#: Scripts that name the language of a text without doubt (Latin script does not).
SCRIPT_LANGUAGES = {"HIRAGANA": "ja", "KATAKANA": "ja", "HANGUL": "ko", "CJK": "zh"}
SPLIT_ORDER = ("train", "dev", "test")
#: Where a scratch folder's real name is (``core.scratch`` and the trainer's own).
_SCRATCH_NAME = re.compile(r"^\.(?P<name>.+?)\.(?:\d+-[0-9a-f]{8}\.\w+|partial-\d+)$")


# -- the data, at training time --------------------------------------------------------------


def data_summary(
    examples_by_split: Mapping[str, Sequence[dict]], base_model: str | None = None
) -> dict:
    """Documents and entities per label of each split, and the language when known.

    ``examples_by_split`` maps a split to its examples (``{text, spans, ...}``, as
    ``project.examples()`` gives them). The language is the one a CJK or kana / Hangul
    script shows in the texts; else the one the base model folder's own card declares
    (``base_model``, a folder), else None.
    """
    splits = {}
    for split, examples in examples_by_split.items():
        per_label = Counter(span[2] for ex in examples for span in ex.get("spans") or ())
        splits[split] = {
            "documents": len(examples),
            "entities": sum(per_label.values()),
            "per_label": dict(sorted(per_label.items())),
        }
    texts = (ex.get("text", "") for examples in examples_by_split.values() for ex in examples)
    language = script_language(texts) or declared_language(base_model)
    return {"splits": splits, "language": language}


def script_language(texts: Iterable[str], sample_chars: int = 20_000) -> str | None:
    """``zh`` / ``ja`` / ``ko`` where that script makes up most letters of the texts
    (kana decides Japanese over Chinese); None for other scripts (Latin says no language)."""
    seen: Counter = Counter()
    letters = 0
    for text in texts:
        for char in text:
            if not char.isalpha():
                continue
            letters += 1
            name = unicodedata.name(char, "")
            script = next((s for s in SCRIPT_LANGUAGES if name.startswith(s)), None)
            if script:
                seen[script] += 1
        if letters >= sample_chars:
            break
    if not letters:
        return None
    if seen["HIRAGANA"] + seen["KATAKANA"] > 0.1 * letters:
        return "ja"
    if seen["HANGUL"] > 0.5 * letters:
        return "ko"
    if seen["CJK"] + seen["HIRAGANA"] + seen["KATAKANA"] > 0.5 * letters:
        return "ja" if seen["HIRAGANA"] + seen["KATAKANA"] else "zh"
    return None


def declared_language(model_dir: str | Path | None) -> str | list[str] | None:
    """The ``language`` a model folder's README.md front matter declares, if any."""
    if not model_dir:
        return None
    meta = front_matter(Path(model_dir) / CARD_FILE)
    language = meta.get("language")
    if isinstance(language, str) or (
        isinstance(language, list) and language and all(isinstance(x, str) for x in language)
    ):
        return language
    return None


def front_matter(path: Path) -> dict:
    """A markdown file's YAML front matter as a dict ({} if there is none or no file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.DOTALL)
    if not match:
        return {}
    try:
        meta = yaml.safe_load(match[1])
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


# -- the card ----------------------------------------------------------------------------------


def write_card(folder: str | Path, name: str | None = None) -> Path:
    """Write (or rewrite) ``folder/README.md`` from the folder's files; returns its path."""
    folder = Path(folder)
    path = folder / CARD_FILE
    text = render_card(folder, name)
    scratch = folder / f".{CARD_FILE}.{os.getpid()}.partial"
    scratch.write_text(text, encoding="utf-8")
    os.replace(scratch, path)
    return path


def render_card(folder: str | Path, name: str | None = None) -> str:
    """The model card of a model folder, as markdown with YAML front matter.

    ``name`` is the model's name in the card (default: the folder's name, or the name a
    scratch folder is being written for).
    """
    folder = Path(folder)
    config = _read_json(folder, "train_config.json")
    metrics = _read_json(folder, "metrics.json")
    export = _read_json(folder, "export.json", required=False)
    name = name or model_name(folder)
    sections = [
        _front_matter(name, config, metrics),
        _summary(name, config, metrics, export),
        _scores(metrics),
        _data(metrics),
        _training(config, metrics),
        _export(export) if export else "",
        _usage(config),
        _limits(config, metrics),
    ]
    return "\n".join(s for s in sections if s)


def model_name(folder: Path) -> str:
    """The folder's name, or for a scratch folder the name it will be renamed to."""
    match = _SCRATCH_NAME.match(folder.name)
    return match["name"] if match else folder.name


def _read_json(folder: Path, file: str, required: bool = True) -> dict:
    path = folder / file
    if not path.is_file():
        if required:
            raise ValidationError(
                f"{path} is missing, so the model card of {folder} cannot be written. A "
                "model folder trained by Spanlab has it; train the model again or copy the "
                "file from the run's folder."
            )
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"{path}: not valid JSON ({exc}); the model card cannot be written. Restore the "
            "file from the run's model folder."
        ) from exc
    return value if isinstance(value, dict) else {}


def base_model_hub_id(base_model: str | None) -> str | None:
    """The base model's Hub name, for the ``base_model`` metadata (None for a folder)."""
    if base_model in (None, "", DEFAULT_MODEL):
        return DEFAULT_MODEL_HUB_ID
    path = Path(base_model).expanduser()
    if path.is_absolute() or base_model.startswith((".", "~")) or base_model.count("/") > 1:
        return None
    return base_model


def refit_report(metrics: dict | None) -> dict | None:
    """What a run's refit did (``metrics.json``'s ``refit``), or None: the run kept its
    first pass, so dev was held out of its model."""
    refit = (metrics or {}).get("refit")
    return refit if isinstance(refit, dict) else None


def _split_report(metrics: dict, split: str) -> dict:
    report = metrics.get(split)
    return report if isinstance(report, dict) and isinstance(report.get("entity"), dict) else {}


def _front_matter(name: str, config: dict, metrics: dict) -> str:
    meta: dict[str, Any] = {"library_name": "transformers", "pipeline_tag": "token-classification"}
    language = (metrics.get("data") or {}).get("language")
    if language:
        meta["language"] = language
    meta["tags"] = ["token-classification", "ner", "spanlab"]
    hub_id = base_model_hub_id(config.get("base_model"))
    if hub_id and not config.get("warm_start"):
        meta["base_model"] = hub_id
    results = []
    for split in ("dev", "test"):
        report = _split_report(metrics, split)
        if not report:
            continue
        results.append(
            {
                "task": {"type": "token-classification", "name": "Named entity recognition"},
                "dataset": {"type": "spanlab-project", "name": f"Project {split} split"},
                "metrics": [
                    {
                        "type": key,
                        "value": round(float(report[key]), 4),
                        "name": f"{split} {key} (entity, strict, micro)",
                    }
                    for key in ("f1", "precision", "recall")
                    if isinstance(report.get(key), int | float)
                ],
            }
        )
    if results:
        meta["model-index"] = [{"name": name, "results": results}]
    body = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{body}---\n"


def _summary(name: str, config: dict, metrics: dict, export: dict) -> str:
    base = config.get("warm_start") or config.get("base_model") or DEFAULT_MODEL
    base_text = "the embedded all-MiniLM-L6-v2" if base == DEFAULT_MODEL else f"`{base}`"
    labels = metrics.get("labels") or []
    lines = [
        f"# {name}",
        "",
        f"A named-entity recognition model fine-tuned with Spanlab from {base_text}"
        + (" (continuing an earlier run)" if config.get("warm_start") else "")
        + f" on {metrics.get('train_documents', 'an unknown number of')} annotated documents.",
    ]
    if labels:
        lines += ["", "Entity types: " + ", ".join(f"`{label}`" for label in labels) + "."]
    if export.get("format"):
        lines += ["", f"This folder is an export in the `{export['format']}` format."]
    return "\n".join(lines) + "\n"


def _scores(metrics: dict) -> str:
    parts = ["## Scores", ""]
    parts.append(
        "Entity level, strict (a prediction counts only with the exact span and type), on "
        "word tags as seqeval scores them."
    )
    found = False
    for split in ("dev", "test"):
        report = _split_report(metrics, split)
        if not report:
            continue
        found = True
        parts += ["", f"### {split.capitalize()}", ""]
        rows = [
            [row_name, _ratio(row.get("precision")), _ratio(row.get("recall")),
             _ratio(row.get("f1")), str(row.get("support", ""))]
            for row_name, row in report["entity"].items()
        ]  # fmt: skip
        parts.append(_table(["Type", "Precision", "Recall", "F1", "Support"], rows))
    if not found:
        parts += ["", "No dev or test scores were recorded for this model."]
    if metrics.get("dev_held_out"):
        parts += [
            "",
            "The project had no dev split: dev is a share of the training documents held out.",
        ]
    refit = refit_report(metrics)
    if refit:
        parts += [
            "",
            f"This model was trained on train + dev ({refit.get('train_documents')} "
            f"documents) for {refit.get('epochs')} epochs, the best epoch of a first pass "
            "that held dev out. The dev scores above are that first pass's; the test "
            f"scores are this model's (the first pass's test F1: "
            f"{_ratio(refit.get('first_pass_test_f1'))}).",
        ]
    return "\n".join(parts) + "\n"


def _data(metrics: dict) -> str:
    data = metrics.get("data") or {}
    splits = data.get("splits") or {}
    if not splits:
        return ""
    labels = sorted({label for s in splits.values() for label in s.get("per_label", {})})
    header = ["Split", "Documents", "Entities", *labels]
    rows = []
    for split in sorted(splits, key=lambda s: (SPLIT_ORDER + (s,)).index(s)):
        info = splits[split]
        per = info.get("per_label", {})
        rows.append(
            [split, str(info.get("documents", 0)), str(info.get("entities", 0))]
            + [str(per.get(label, 0)) for label in labels]
        )
    lines = ["## Data", "", "Annotated documents and entities per type in each split.", ""]
    lines.append(_table(header, rows))
    if data.get("language"):
        language = data["language"]
        shown = ", ".join(language) if isinstance(language, list) else language
        lines += ["", f"Language: {shown}."]
    return "\n".join(lines) + "\n"


TRAINING_SETTINGS = (
    ("base_model", "Base model"),
    ("warm_start", "Warm start from"),
    ("method", "Method"),
    ("freeze", "Frozen"),
    ("learning_rate", "Learning rate"),
    ("batch_size", "Batch size"),
    ("batch_tokens", "Batch sub-tokens"),
    ("max_length", "Max length (sub-tokens)"),
    ("window_overlap", "Window overlap"),
    ("context_tokens", "Context sub-tokens"),
    ("optimizer", "Optimizer"),
    ("weight_decay", "Weight decay"),
    ("warmup", "Warmup"),
    ("seed", "Seed"),
    ("word_tokenizer", "Word tokenizer"),
)


def _training(config: dict, metrics: dict) -> str:
    chosen = config.get("chosen") or {}
    rows = [
        [title, _value(config[key])]
        for key, title in TRAINING_SETTINGS
        if config.get(key) not in (None, "") and not (key == "batch_tokens" and not config[key])
    ]
    if config.get("method") == "lora":
        rows.append(["LoRA r / alpha", f"{config.get('lora_r')} / {config.get('lora_alpha')}"])
    if chosen:
        rows += [
            ["Precision", str(chosen.get("precision", ""))],
            ["Attention", str(chosen.get("attention", ""))],
            ["Epochs planned", str(chosen.get("epochs", ""))],
            ["Context when predicting", str(chosen.get("context_tokens", ""))],
        ]
    for key, title in (
        ("epochs_run", "Epochs run"),
        ("best_epoch", "Best epoch (kept)"),
        ("steps", "Steps"),
        ("train_seconds", "Training time (s)"),
    ):
        if metrics.get(key) is not None:
            rows.append([title, _value(metrics[key])])
    return "## Training\n\n" + _table(["Setting", "Value"], rows) + "\n"


def _export(export: dict) -> str:
    lines = ["## Export check", "", f"Format: `{export.get('format', 'unknown')}`."]
    if export.get("source"):
        lines[-1] += f" Exported from `{export['source']}`."
    check = export.get("check")
    if isinstance(check, dict) and check:
        lines += [
            "",
            "The exported model's entities on the run's dev documents, compared with the "
            "original model's:",
            "",
            _table(["Check", "Value"], [[k, _value(v)] for k, v in _flatten(check)]),
        ]
    else:
        lines += ["", "No check was made (no dev documents were given at export)."]
    return "\n".join(lines) + "\n"


def _usage(config: dict) -> str:
    return (
        "## How to use\n\n"
        "With Spanlab (the same word splitting, windows and context as in training):\n\n"
        '```\nspanlab predict MODEL_FOLDER "Some text to tag."\n```\n\n'
        "With transformers (sub-word tokens grouped into entities):\n\n"
        "```python\nfrom transformers import pipeline\n\n"
        'ner = pipeline("token-classification", model="MODEL_FOLDER", '
        'aggregation_strategy="first")\nprint(ner("Some text to tag."))\n```\n'
    )


def _limits(config: dict, metrics: dict) -> str:
    n = metrics.get("train_documents")
    tokenizer = config.get("word_tokenizer") or "corpus"
    lines = [
        "## Intended use and limits",
        "",
        "- Intended for finding the entity types above in text like the project's own "
        "documents; it knows no other types.",
        f"- Trained on {n if n is not None else 'a few'} documents of one project: the scores "
        "describe that project's dev and test documents, and text of another kind (domain, "
        "period, style) is likely to score lower.",
        f"- Spanlab splits raw text into words with its `{tokenizer}` tokenizer before the "
        "model reads it; other tools that split words differently may see other entities.",
        f"- Documents longer than {config.get('max_length', 'the max length')} sub-tokens are "
        "read in overlapping windows and stitched back.",
        "- Check its output before relying on it where a missed or wrong entity matters.",
    ]
    return "\n".join(lines) + "\n"


# -- small helpers -----------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _ratio(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else ""


def _value(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "—"}[value]
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flatten(values: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested check values as ``("a / b", value)`` rows, keys made readable."""
    rows: list[tuple[str, object]] = []
    for key, value in values.items():
        title = f"{prefix}{str(key).replace('_', ' ')}"
        if isinstance(value, dict):
            rows += _flatten(value, f"{title} / ")
        else:
            rows.append((title, value))
    return rows
