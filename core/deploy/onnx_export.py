"""A token-classification model folder written as ONNX, fp32 or with int8 weights.

The graph is made by ``torch.onnx.export`` with its dynamo exporter (``torch.export``
then ONNX translation), the exporter torch develops and the default since torch 2.9:
the older TorchScript tracer records the shapes of the sample batch in this
transformers version's attention-mask code, so its graph gives wrong tags for other
sequence lengths. Inputs are ``input_ids`` and ``attention_mask`` (what the Predictor
feeds), both with dynamic batch and sequence axes; the output is ``logits``.

``int8`` quantizes the matrix products dynamically (:mod:`core.deploy.int8`): weights
int8 per output column, each token's activations quantized on the fly with a scale of
its own, so no calibration data is needed. Measured on a WNUT-17 MiniLM run (entity
agreement with torch fp32 on dev): ONNX Runtime's ``quantize_dynamic`` (one activation
scale per tensor) gives 94.0 F1 per channel and 86.7 with one weight scale per matrix;
keeping the first layer and every down projection in fp32 97.0 at 70% of its speed;
weight-only 8 bit (``MatMulNBits``) 98-99 at barely more than fp32's speed; one scale
per token 97.8 at 1.8x fp32's speed (graph time). Quantizing the embedding tables as
well (a lookup, no compute to save) shrinks the file from 59 to 23 MB but costs
agreement, so they stay fp32."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

from core.errors import ExportError
from core.training.onnx_backend import ONNX_FILE

OPSET = 18
#: Above this many bytes of weights a single ONNX file cannot hold them (protobuf's 2 GB).
SINGLE_FILE_LIMIT = 1_800_000_000


def write_onnx(model_dir: str | Path, folder: str | Path, int8: bool = False) -> Path:
    """Export the model of ``model_dir`` to ``folder/model.onnx``; returns that file."""
    import torch

    from core.training.loading import load_token_classifier

    folder = Path(folder)
    model = load_token_classifier(str(model_dir)).float().eval()
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    target = folder / ONNX_FILE
    fp32 = folder / "model.fp32.onnx" if int8 else target
    # Two rows of different lengths: padding is in the sample, and no axis is 1 (which
    # torch.export would take for a constant).
    ids = torch.full((2, 8), 5, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    axes = {0: batch, 1: sequence}
    try:
        with _quiet(), torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                model,
                (),
                str(fp32),
                kwargs={"input_ids": ids, "attention_mask": mask},
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_shapes={"input_ids": axes, "attention_mask": axes},
                opset_version=OPSET,
                dynamo=True,
                external_data=size > SINGLE_FILE_LIMIT,
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many kinds; the message says which
        raise ExportError(
            f"The model of {model_dir} could not be exported to ONNX: {exc}. Export it as "
            "'hf' instead, or report the model type."
        ) from exc
    _fuse(fp32, external=size > SINGLE_FILE_LIMIT)
    if int8:
        _quantize(fp32, target, external=size / 4 > SINGLE_FILE_LIMIT)
        for leftover in folder.glob("model.fp32.onnx*"):
            leftover.unlink()
    return target


def _fuse(path: Path, external: bool) -> None:
    """Fuse each bias + GELU and each layer norm with ONNX Runtime's transformer optimizer
    (in place). Skip + layer norm stays two nodes: ONNX Runtime's fused CPU kernel for it
    is slower than its LayerNormalization after an Add (measured on MiniLM, 32 x 40
    sub-tokens, 1 thread: int8 graph 112 -> 84 ms with the two together, fp32 201 -> 176).
    Attention is left unfused so that its q, k, v products stay matrix products to
    quantize. A graph whose patterns the optimizer does not know is kept as exported."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_attention = False
    options.enable_skip_layer_norm = False
    options.enable_bias_skip_layer_norm = False
    options.enable_embed_layer_norm = False
    try:
        with _quiet():
            model = optimize_model(str(path), model_type="bert", num_heads=0, hidden_size=0,
                                   optimization_options=options, opt_level=0, use_gpu=False)  # fmt: skip
            model.save_model_to_file(str(path), use_external_data_format=external)
    except Exception:  # an optimizer pattern failing is not a reason to refuse the export
        logging.getLogger(__name__).warning("ONNX fusions skipped for %s", path, exc_info=True)


def _quantize(source: Path, target: Path, external: bool) -> None:
    from core.deploy.int8 import quantize_per_token

    if quantize_per_token(source, target, external=external) == 0:
        raise ExportError(
            f"{source.name} has no matrix product with constant weights to quantize: export "
            "it as 'onnx' (fp32) instead."
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep the exporter's and quantizer's chatter (progress lines, advice to run
    pre-processing meant for image models) off the user's terminal."""
    root = logging.getLogger()
    onnx_log = logging.getLogger("torch.onnx")
    levels = root.level, onnx_log.level
    root.setLevel(logging.ERROR)
    onnx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(levels[0])
        onnx_log.setLevel(levels[1])
