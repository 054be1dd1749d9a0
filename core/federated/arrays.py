"""A model's weights as Flower arrays, and the check that a site's weights fit the model.

What a federation carries is what training changes: every weight of a plain model
(method ``full``); of a LoRA model (a peft model, method ``lora``) only its trainable
parameters — the adapter matrices and the classification head — while the frozen base
weights stay at each site, built from the shared base model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: name -> (shape, dtype) of every array of a model.
Spec = dict[str, tuple[tuple[int, ...], str]]


def model_arrays(model: Any) -> dict[str, np.ndarray]:
    """The weights a federation carries, by name (float arrays on the CPU): a plain
    model's every float weight in state-dict order, a LoRA model's trainable ones."""
    from core.training.lora import is_lora

    if is_lora(model):
        return {
            name: param.detach().cpu().float().numpy()
            for name, param in model.named_parameters()
            if param.requires_grad
        }
    return {
        name: tensor.detach().cpu().float().numpy()
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point()
    }


def spec_of(arrays: Mapping[str, np.ndarray]) -> Spec:
    return {name: (tuple(a.shape), str(a.dtype)) for name, a in arrays.items()}


def shape_problem(spec: Spec, arrays: Mapping[str, Any]) -> str | None:
    """What is wrong with ``arrays`` (numpy arrays or Flower ``Array``s) against the
    model's ``spec``; None when they fit."""
    names = set(arrays)
    missing, unknown = sorted(set(spec) - names), sorted(names - set(spec))
    if missing:
        return f"{len(missing)} array(s) missing (e.g. {missing[0]})"
    if unknown:
        return f"{len(unknown)} unknown array(s) (e.g. {unknown[0]})"
    for name, (shape, _dtype) in spec.items():
        got = tuple(arrays[name].shape)
        if got != shape:
            return f"{name} has shape {got} instead of {shape}"
    return None


def load_arrays(model: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Put ``arrays`` into the model's weights (names and shapes must match)."""
    import torch

    spec = spec_of(model_arrays(model))
    problem = shape_problem(spec, arrays)
    if problem:
        from core.errors import FederationError

        raise FederationError(f"The weights do not fit this model: {problem}.")
    state = model.state_dict()
    with torch.no_grad():
        for name, value in arrays.items():
            state[name].copy_(torch.from_numpy(np.asarray(value)).to(state[name].dtype))
