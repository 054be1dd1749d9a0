"""LoRA (peft) as a training method: low-rank adapters on the attention's query and value
projections, the classification head trained in full, everything else frozen.

The run trains a peft model; what it writes is a plain Hugging Face folder with the
adapters merged into the weights (it loads with ``transformers.pipeline`` where peft is
not installed), and the adapter alone in its ``adapter/`` subfolder (a few hundred KB to a
few MB: for sharing, or for federated rounds on top of the same base model).

Freezing under LoRA: the base model is frozen by LoRA itself, so ``freeze="none"`` and
``"embeddings"`` mean the same (embeddings are never adapted); ``"top-N"`` puts adapters
only in the top N layers; ``"head"`` (nothing but the head trains) is refused by
``TrainConfig.validate`` as it leaves nothing for LoRA to do.
"""

from __future__ import annotations

import copy
import sys
import warnings
from pathlib import Path
from typing import Any

from torch import nn

from core.errors import TrainingError
from core.training.config import TrainConfig

#: The folder, inside a model folder, that holds the adapter alone.
ADAPTER_DIR = "adapter"

#: The attention projections adapted, by ``config.model_type``: query and value, the
#: choice of the LoRA paper and of peft's defaults.
TARGETS = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "camembert": ["query", "value"],
    "electra": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "deberta-v2": ["query_proj", "value_proj"],
    "deberta": ["in_proj"],  # one fused query/key/value projection
}
#: For other architectures: the first pair of names that both occur among its Linear layers.
QV_NAMES = [("query", "value"), ("q_proj", "v_proj"), ("q_lin", "v_lin"), ("q", "v")]
HEAD = "classifier"
#: Below this learning rate the log warns: adapters start at zero and learn slowly (on
#: WNUT-17 with MiniLM, 5e-4 learned nothing in 3 epochs where 2e-3 did).
LORA_LR_HINT = 1e-3


def target_modules(model: Any) -> list[str]:
    """The names of the Linear layers LoRA adapts in ``model`` (a token classifier)."""
    linear = {
        name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)
    }
    model_type = getattr(model.config, "model_type", None)
    known = TARGETS.get(model_type)
    if known and set(known) <= linear:
        return known
    for pair in QV_NAMES:
        if set(pair) <= linear:
            return list(pair)
    raise TrainingError(
        f"LoRA does not know where to put its adapters in this model (type {model_type!r}): "
        "no query/value projection layers were found. Train it with method 'full' instead."
    )


def apply_lora(model: Any, config: TrainConfig, layers: nn.ModuleList | None) -> tuple[Any, str]:
    """``model`` wrapped in LoRA adapters as ``config`` says, and the log line saying what
    is trained. ``layers`` are the model's transformer layers (needed for ``top-N``)."""
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError as exc:
        raise TrainingError(
            "Training method 'lora' needs the peft package, which is not installed here. "
            "Install it (pip install peft) or train with method 'full'."
        ) from exc
    names = target_modules(model)
    targets: list[str] = names
    where = "all layers"
    if config.freeze.startswith("top-"):
        if layers is None:
            raise TrainingError(
                f"Cannot put LoRA adapters in the top layers only (freeze {config.freeze!r}): "
                "the layers of this model were not found. Use freeze 'none' instead."
            )
        keep = min(int(config.freeze.split("-", 1)[1]), len(layers))
        top = {id(m) for layer in layers[len(layers) - keep :] for m in layer.modules()}
        targets = [
            name
            for name, m in model.named_modules()
            if id(m) in top and isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in names
        ]
        where = f"the top {keep} of {len(layers)} layers"
    lora = LoraConfig(
        task_type=TaskType.TOKEN_CLS,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        modules_to_save=[HEAD],
    )
    with warnings.catch_warnings():  # peft asks transformers a question it has renamed
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        peft_model = get_peft_model(model, lora)
    # peft adds the usual head names to the list itself; each once is enough.
    saved = peft_model.peft_config["default"]
    saved.modules_to_save = list(dict.fromkeys(saved.modules_to_save))
    trained, total = peft_model.get_nb_trainable_parameters()
    note = (
        f"LoRA (rank {config.lora_r}, alpha {config.lora_alpha}, dropout "
        f"{config.lora_dropout:g}) on {', '.join(names)} in {where}, and the classification "
        f"head: {trained:,} of {total:,} parameters are trained ({100 * trained / total:.2f}%)."
    )
    if config.learning_rate < LORA_LR_HINT:
        note += (
            f" LoRA usually needs a larger learning rate than full fine-tuning (about "
            f"{LORA_LR_HINT:g}); at {config.learning_rate:g} the adapters may learn little."
        )
    return peft_model, note


def is_lora(model: Any) -> bool:
    """Whether ``model`` is a peft model (peft cannot have made it if it was never imported)."""
    peft = sys.modules.get("peft")
    return peft is not None and isinstance(model, peft.PeftModel)


def save_lora(model: Any, folder: Path) -> None:
    """The merged plain model into ``folder`` and the adapter alone into its ``adapter/``."""
    adapter = folder / ADAPTER_DIR
    model.save_pretrained(adapter)
    (adapter / "README.md").unlink(missing_ok=True)  # peft's empty model-card template
    # Merged on a copy: the model in training keeps its adapters.
    merged = copy.deepcopy(model).merge_and_unload()
    merged.save_pretrained(folder)


def load_lora_weights(model: Any, folder: Path) -> None:
    """Bring back the adapter (and head) weights saved by :func:`save_lora`."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    file = folder / ADAPTER_DIR / "adapter_model.safetensors"
    state = load_file(str(file), device=str(next(model.parameters()).device))
    result = set_peft_model_state_dict(model, state)
    if result.unexpected_keys:
        raise TrainingError(
            f"The saved best adapter does not match this model: {result.unexpected_keys[:3]}"
        )
