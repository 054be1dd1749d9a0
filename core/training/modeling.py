"""The model side of a run: a token-classification head for our tags, warm starts that
merge labels, dropout, layer freezing or LoRA adapters, and the optimizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.errors import ModelLoadError, TrainingError
from core.training.config import TrainConfig
from core.training.data import tag_names
from core.training.loading import iob2_tags, load_token_classifier, load_tokenizer


def build_model(
    source: str, labels: list[str], warm: bool = False
) -> tuple[Any, Any, list[str], list[str]]:
    """(model, tokenizer, tags, notes) for training on ``labels``.

    A base model gets a fresh classifier for our tags. A warm start (a model from an
    earlier run) keeps its classifier and its tags; labels new to it get fresh rows at
    the end, so what it already knows is kept.
    """
    tokenizer = load_tokenizer(source)
    if not warm:
        tags = tag_names(labels)
        model = load_token_classifier(
            source,
            num_labels=len(tags),
            id2label=dict(enumerate(tags)),
            label2id={t: i for i, t in enumerate(tags)},
            ignore_mismatched_sizes=True,  # a base model with its own NER head is fine
        )
        return model, tokenizer, tags, []
    model = load_token_classifier(source)
    try:
        old_tags = iob2_tags(dict(model.config.id2label), source)
    except ModelLoadError as exc:
        raise TrainingError(
            f"Cannot continue training from {source}: {exc} Start a fresh run from a base "
            "model instead."
        ) from exc
    old_labels = sorted({t[2:] for t in old_tags if t != "O"})
    new_labels = [label for label in labels if label not in old_labels]
    notes = [f"Continuing from the model in {source} (labels: {', '.join(old_labels)})."]
    if new_labels:
        tags = old_tags + [f"{p}-{label}" for label in new_labels for p in ("B", "I")]
        _grow_classifier(model, len(tags), source)
        notes.append(f"New label(s) added to the model: {', '.join(new_labels)}.")
    else:
        tags = old_tags
    unused = [label for label in old_labels if label not in labels]
    if unused:
        notes.append(
            f"Label(s) known to the earlier model but not annotated here: {', '.join(unused)}; "
            "the model keeps them, and this training teaches it that they do not occur."
        )
    model.config.id2label = dict(enumerate(tags))
    model.config.label2id = {t: i for i, t in enumerate(tags)}
    model.config.num_labels = len(tags)
    model.config.id2label = dict(enumerate(tags))  # the num_labels setter may reset it
    model.num_labels = len(tags)
    return model, tokenizer, tags, notes


def _grow_classifier(model: Any, n_tags: int, source: str) -> None:
    head = getattr(model, "classifier", None)
    if not isinstance(head, nn.Linear):
        raise TrainingError(
            f"Cannot add labels to the model in {source}: its classification head is not a "
            "single linear layer. Start a fresh run from a base model instead."
        )
    grown = nn.Linear(head.in_features, n_tags, dtype=head.weight.dtype, device=head.weight.device)
    std = getattr(model.config, "initializer_range", 0.02)
    with torch.no_grad():
        grown.weight.normal_(0.0, std)
        grown.bias.zero_()
        grown.weight[: head.out_features] = head.weight
        grown.bias[: head.out_features] = head.bias
    model.classifier = grown


def set_dropout(model: Any, p: float | None) -> None:
    """Set every dropout layer (and the config, so the saved model says the same)."""
    if p is None:
        return
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = p
    for key in (
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "classifier_dropout",
        "dropout",
    ):
        if hasattr(model.config, key):
            setattr(model.config, key, p)


def adapt(
    model: Any, config: TrainConfig, start_adapter: Path | None = None
) -> tuple[Any, list[str]]:
    """The model to train and the notes for the log: dropout set, then the layers frozen
    (method ``full``) or LoRA adapters put in (method ``lora``, see ``core.training.lora``;
    the returned model is then a peft model wrapping ``model``).

    ``start_adapter``: a model folder whose ``adapter/`` the LoRA adapters (and head) start
    from instead of fresh ones (a federated round starts from the global adapter)."""
    set_dropout(model, config.dropout)
    if start_adapter is not None and config.method != "lora":
        raise TrainingError(
            f"A start adapter ({start_adapter}) needs method 'lora', not {config.method!r}."
        )
    if config.method == "lora":
        from core.training.lora import apply_lora, load_lora_weights

        model, note = apply_lora(model, config, _layers(model))
        notes = [note]
        if start_adapter is not None:
            load_lora_weights(model, Path(start_adapter))
            notes.append(f"The LoRA adapters and the head start from {start_adapter}.")
    else:
        notes = freeze(model, config.freeze)
    if config.proximal_mu:
        notes.append(add_proximal_term(model, config.proximal_mu))
    return model, notes


def add_proximal_term(model: Any, mu: float) -> str:
    """Add the gradient of ``(mu / 2) * ||w - w_start||^2`` to every trainable weight's
    gradient (FedProx): the weights stay near the ones training started from."""
    for param in model.parameters():
        if not param.requires_grad:
            continue
        start = param.detach().clone()
        # .to() is a no-op once the start weights are where the weights are.
        param.register_hook(
            lambda grad, p=param, s=start: grad + mu * (p.detach() - s.to(p.device))
        )
    return f"Proximal term mu={mu:g}: the weights are kept near the ones training started from."


def freeze(model: Any, how: str) -> list[str]:
    """Freeze parts of the model: ``none``, ``embeddings``, ``top-N`` or ``head``."""
    if how == "none":
        return []
    body = model.base_model
    if how == "head":
        for p in body.parameters():
            p.requires_grad_(False)
        return ["Only the classification head is trained (the encoder is frozen)."]
    embeddings = getattr(body, "embeddings", None) or model.get_input_embeddings()
    for p in embeddings.parameters():
        p.requires_grad_(False)
    if how == "embeddings":
        return ["The embeddings are frozen."]
    keep = int(how.split("-", 1)[1])
    layers = _layers(model)
    if layers is None:
        raise TrainingError(
            f"Cannot freeze by layer: the layers of this model were not found. Use "
            f"freeze 'embeddings' or 'head' instead of {how!r}."
        )
    for layer in layers[: max(0, len(layers) - keep)]:
        for p in layer.parameters():
            p.requires_grad_(False)
    return [
        f"Only the top {min(keep, len(layers))} of {len(layers)} layers and the head are trained."
    ]


def _layers(model: Any) -> nn.ModuleList | None:
    n = getattr(model.config, "num_hidden_layers", None)
    for module in model.base_model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    return None


def make_optimizer(model: Any, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW (no weight decay on biases and norms) or SGD with momentum, over what trains."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.learning_rate, momentum=0.9)
    try:  # the fused kernel updates all tensors at once: the fastest AdamW on CPU and GPU
        return torch.optim.AdamW(
            groups, lr=config.learning_rate, fused=device.type in ("cuda", "cpu")
        )
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=config.learning_rate)
