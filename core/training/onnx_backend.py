"""A model folder exported to ONNX, run on ONNX Runtime behind the Predictor's model call.

:class:`OnnxTokenClassifier` answers ``model(input_ids=..., attention_mask=...)`` with
an object whose ``logits`` is a torch tensor, as a transformers model does, so the
Predictor keeps one path for words, windows, batching, stitching and entities whichever
backend computes the logits. The graph takes ``input_ids`` and ``attention_mask`` with
dynamic batch and sequence axes (what ``core.deploy.onnx_export`` writes).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.errors import ModelLoadError

#: The file an ONNX model folder holds (beside its tokenizer and config.json).
ONNX_FILE = "model.onnx"
#: Where a folder with both weights and ONNX says which one it is.
EXPORT_FILE = "export.json"
BACKENDS = ("auto", "torch", "onnx")
#: ONNX Runtime's fused skip + layer norm CPU kernel is slower than the LayerNormalization
#: it replaces (see core.deploy.onnx_export): a session keeps the two apart.
DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]


def default_threads() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def choose_backend(folder: str | Path, backend: str = "auto") -> str:
    """``torch`` or ``onnx`` for a model folder: ``auto`` picks ONNX where the folder
    holds ``model.onnx`` (the faster one on a CPU), else torch."""
    if backend not in BACKENDS:
        raise ModelLoadError(f"Unknown backend {backend!r}: choose {', '.join(BACKENDS)}.")
    folder = Path(folder)
    has_onnx = (folder / ONNX_FILE).is_file()
    if backend == "auto":
        return "onnx" if has_onnx else "torch"
    if backend == "onnx" and not has_onnx:
        raise ModelLoadError(
            f"{folder} holds no {ONNX_FILE}: export it first ('spanlab export-model "
            f"{folder} OUT --format onnx') or use the torch backend."
        )
    if backend == "torch" and has_onnx and not any(folder.glob("*.safetensors")):
        raise ModelLoadError(
            f"{folder} holds an ONNX model only ({ONNX_FILE}, no safetensors weights): use "
            "the onnx backend (or auto), or the original model folder for torch."
        )
    return backend


def onnx_precision(folder: str | Path) -> str:
    """``int8`` for a folder exported as onnx-int8, else ``no`` (fp32)."""
    try:
        data = json.loads((Path(folder) / EXPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no"
    return "int8" if isinstance(data, dict) and data.get("format") == "onnx-int8" else "no"


@dataclass
class _Output:
    logits: torch.Tensor


class OnnxTokenClassifier:
    """An ONNX token classifier with the part of a transformers model's face the
    Predictor uses: ``config`` (the label map), ``training``, ``eval()``, a call."""

    training = False

    def __init__(self, folder: str | Path, threads: int | None = None, device: str = "cpu"):
        import onnxruntime as ort
        from transformers import AutoConfig

        folder = Path(folder)
        self.config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelLoadError(
                    "Device 'cuda' was chosen but this ONNX Runtime has no CUDA provider "
                    "(install onnxruntime-gpu), or choose 'cpu' / 'auto'."
                )
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(
                str(folder / ONNX_FILE), options, providers=providers,
                disabled_optimizers=DISABLED_OPTIMIZERS,
            )  # fmt: skip
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(
                f"Cannot load {folder / ONNX_FILE} with ONNX Runtime: {exc}. Export the "
                "model again ('spanlab export-model')."
            ) from exc
        self.threads = options.intra_op_num_threads
        self.device = torch.device("cpu")  # logits come back to the CPU
        self.provider = self.session.get_providers()[0]
        self._inputs = [i.name for i in self.session.get_inputs()]

    def eval(self) -> OnnxTokenClassifier:
        return self

    def train(self, mode: bool = True) -> OnnxTokenClassifier:
        return self

    def __call__(self, **batch: Any) -> _Output:
        feed = {name: batch[name].cpu().numpy() for name in self._inputs}
        (logits,) = self.session.run(["logits"], feed)
        return _Output(torch.from_numpy(logits))
