"""accelerate for one run: the device and precision, and what several processes share.

Under ``accelerate launch`` (or torchrun) every process runs the same run: each trains
on its share of the batches and evaluates the whole dev set, so all of them take the
same decisions; only the main one writes files, reports events and writes the store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from core.errors import TrainingError
from core.training.config import TrainConfig
from core.training.loading import resolve_device
from core.training.lora import is_lora, load_lora_weights, save_lora


def from_main_process(value: Any, config: TrainConfig) -> Any:
    """``value`` as the first process of a data-parallel launch has it."""
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    # Joins the launcher's process group, on the device the run will use.
    state = PartialState(cpu=resolve_device(config.device).type == "cpu")
    if state.num_processes < 2:
        raise TrainingError("This data-parallel launch has no process group to share the run.")
    return broadcast_object_list([value], from_process=0)[0]


def make_accelerator(config: TrainConfig, precision: str) -> Any:
    """An Accelerator for this run's device and ``precision`` (``no`` | ``bf16`` | ``fp16``,
    see ``core.training.precision``), built on a clean state.

    accelerate keeps process-wide singletons; a desktop session that trains a CPU run
    after a GPU run (or bf16 after fp32) must not inherit the previous settings. The
    process group of a data-parallel launch is kept (it belongs to the launcher).
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=not torch.distributed.is_initialized())
    GradientState._reset_state()
    device = resolve_device(config.device)
    return Accelerator(cpu=device.type == "cpu", mixed_precision=precision)


def stop_requested(accelerator: Any, should_stop: Callable[[], bool]) -> bool:
    """The stop flag; in a data-parallel run every process stops at the same step (one
    stopping alone would leave the others waiting for it forever)."""
    if accelerator.num_processes == 1:
        return should_stop()
    flag = torch.tensor([1.0 if should_stop() else 0.0], device=accelerator.device)
    return bool(accelerator.reduce(flag, reduction="sum").item() > 0)


def save_model(accelerator: Any, model: Any, tokenizer: Any, folder: Path) -> None:
    """Write model (safetensors) and tokenizer into the scratch folder; a LoRA model is
    written merged, with its adapter beside it (see ``core.training.lora``)."""
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        if is_lora(model):
            save_lora(model, folder)
        else:
            model.save_pretrained(folder)
        if not (folder / "tokenizer_config.json").exists():
            tokenizer.save_pretrained(folder)
    accelerator.wait_for_everyone()


def load_weights(model: Any, folder: Path) -> None:
    """Bring back the best epoch's weights (saved by :func:`save_model`)."""
    from safetensors.torch import load_file

    if is_lora(model):
        load_lora_weights(model, folder)
        return

    state = load_file(
        str(folder / "model.safetensors"), device=str(next(model.parameters()).device)
    )
    # strict=False only for tied weights that save_pretrained leaves out of the file.
    _, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise TrainingError(f"The saved best model does not match this model: {unexpected[:3]}")
