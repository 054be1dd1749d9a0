"""The global model's template: the base model with a head for the federation's labels.

Server and sites build the same template from the same base model and label list, so
the arrays Flower carries fit both sides by name and shape. With method ``lora`` both
also put in the same LoRA adapters (:func:`with_lora`): the arrays are then the adapters
and the head, the frozen base weights being the template's at every site.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from core.training.config import TrainConfig
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


def with_lora(model: Any, config: TrainConfig) -> Any:
    """``model`` wrapped in the LoRA adapters ``config`` describes (as the trainer puts
    them in: same targets, rank and head), or ``model`` itself when the method is not
    ``lora``. The wrapping changes ``model`` in place: save a plain copy first."""
    if config.method != "lora":
        return model
    from core.training.modeling import adapt

    peft_model, _notes = adapt(model, replace(config, proximal_mu=0.0))
    return peft_model


def save_global(model: Any, tokenizer: Any, folder: Path) -> None:
    """The global model as an ordinary Hugging Face folder: a LoRA model merged, with its
    adapter alone in ``adapter/`` (as a LoRA run writes it)."""
    from core.training.lora import is_lora, save_lora

    if not is_lora(model):
        save_folder(model, tokenizer, folder)
        return
    folder.mkdir(parents=True, exist_ok=True)
    save_lora(model, folder)
    tokenizer.save_pretrained(folder)
