"""The global model's template: the base model with a head for the federation's labels.

Server and sites build the same template from the same base model and label list, so
the arrays Flower carries fit both sides by name and shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.training.data import tag_names


def build_template(base_model: str, labels: list[str], seed: int = 13) -> tuple[Any, Any]:
    """(model, tokenizer): the base model with a fresh head for ``labels`` (seeded)."""
    import torch
    from transformers.utils import logging

    from core.training.loading import resolve_model_path
    from core.training.modeling import build_model

    logging.set_verbosity_error()  # these processes' output is Flower's log
    logging.disable_progress_bar()
    torch.manual_seed(seed)
    model, tokenizer, tags, _notes = build_model(resolve_model_path(base_model), sorted(labels))
    assert tags == tag_names(sorted(labels))
    return model, tokenizer


def save_folder(model: Any, tokenizer: Any, folder: Path) -> None:
    """An ordinary Hugging Face model folder (safetensors, config with the label map,
    tokenizer)."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
