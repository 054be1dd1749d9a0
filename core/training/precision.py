"""Which number format and attention kernel a run uses, chosen from what the device can do.

:func:`detect_capabilities` asks the hardware (never assumes); :func:`choose_precision`
is a pure function of the device type, those capabilities and the setting, so the
choice is tested with faked capabilities. The table behind it was measured on
all-MiniLM-L6-v2 training steps (batch 32 x 40 sub-tokens, AdamW):

- a CPU with native bf16 (AMX-bf16, or AVX-512-bf16 alone) trains 2.5-3x faster under
  bf16 autocast, with fp32 master weights and no loss of F1;
- on the CPU, PyTorch's ``scaled_dot_product_attention`` backward is slow under bf16
  (57 % of the step on an AMX CPU): the eager attention trains 1.2-2.5x faster there,
  and is no slower in fp32 or for inference;
- CUDA keeps its behaviour: bf16 where the GPU has it, otherwise fp16, with SDPA.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from core.errors import TrainingError


@dataclass(frozen=True)
class Capabilities:
    """What the device computes natively (only the fields of its type matter)."""

    amx_bf16: bool = False  # CPU: Intel AMX tiles with bf16
    avx512_bf16: bool = False  # CPU: AVX-512 bf16 dot products
    cuda_bf16: bool = False  # GPU: bf16 tensor cores

    @property
    def cpu_bf16(self) -> bool:
        return self.amx_bf16 or self.avx512_bf16

    def describe(self, device_type: str) -> str:
        if device_type == "cuda":
            return "GPU with bf16" if self.cuda_bf16 else "GPU without bf16"
        found = [
            name
            for name, ok in (("AMX-bf16", self.amx_bf16), ("AVX-512-bf16", self.avx512_bf16))
            if ok
        ]
        return f"CPU with {' and '.join(found)}" if found else "CPU without native bf16"


class Choice(NamedTuple):
    """``precision`` as accelerate names it (``no`` | ``bf16`` | ``fp16``), the
    transformers attention implementation, and the reason, for the run log."""

    precision: str
    attention: str
    reason: str


def choose_precision(
    device_type: str, capabilities: Capabilities, requested: str = "auto"
) -> Choice:
    """The precision and attention for a run on ``device_type`` (pure: no hardware query).

    ``requested`` is the setting: ``auto`` picks from the capabilities, ``no`` forces
    fp32, ``bf16`` / ``fp16`` are taken as asked (fp16 only on CUDA).
    """
    has = capabilities.describe(device_type)
    if requested == "fp16" and device_type != "cuda":
        raise TrainingError("fp16 mixed precision needs a CUDA GPU; choose 'auto', 'bf16' or 'no'.")
    if device_type == "cuda":
        if requested == "auto":
            precision = "bf16" if capabilities.cuda_bf16 else "fp16"
            why = f"{has}: {precision} autocast (automatic)"
        else:
            precision, why = requested, f"{requested} as set"
        return Choice(precision, "sdpa", f"{why}; SDPA attention (the fastest on GPUs)")
    if device_type != "cpu":  # mps: fp32 unless asked otherwise, the default kernel
        precision = "no" if requested == "auto" else requested
        how = "automatic" if requested == "auto" else "as set"
        return Choice(
            precision, "sdpa", f"{device_type}: {_name(precision)} ({how}); SDPA attention"
        )
    if requested == "auto":
        if capabilities.cpu_bf16:
            precision = "bf16"
            why = f"{has}: bf16 autocast with fp32 master weights (automatic)"
        else:
            precision = "no"
            why = f"{has}: fp32 (bf16 would be emulated, and slower)"
    elif requested == "no":
        precision, why = "no", "fp32 as set (precision 'no')"
    else:
        precision = requested
        why = f"bf16 as set ({has}{'' if capabilities.cpu_bf16 else ': emulated, expect it to be slow'})"
    attention = "eager"
    if precision == "bf16":
        note = "eager attention (SDPA's CPU backward is slower under bf16)"
    else:
        note = "eager attention (as fast as SDPA or faster on the CPU)"
    return Choice(precision, attention, f"{why}; {note}")


def _name(precision: str) -> str:
    return "fp32" if precision == "no" else precision


# -- asking the hardware ------------------------------------------------------------------------


def detect_capabilities(device: torch.device) -> Capabilities:
    """What ``device`` computes natively, asked of PyTorch and the CPU's own flags."""
    if device.type == "cuda":
        return Capabilities(cuda_bf16=bool(torch.cuda.is_bf16_supported()))
    if device.type != "cpu":
        return Capabilities()
    flags = _cpuinfo_flags()
    amx = _torch_says("_is_amx_tile_supported") and ("amx_bf16" in flags or not flags)
    avx = _torch_says("_is_avx512_bf16_supported") or "avx512_bf16" in flags
    # oneDNN must also have bf16 kernels for this CPU, or autocast falls back to slow code.
    mkldnn = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if mkldnn is not None and not mkldnn():
        return Capabilities()
    return Capabilities(amx_bf16=amx, avx512_bf16=avx)


def _torch_says(name: str) -> bool:
    probe = getattr(torch.cpu, name, None)  # private in torch 2.x; absent on some builds
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:
        return False


def _cpuinfo_flags(path: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags on Linux (an empty set elsewhere)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def set_attention(model: Any, attention: str) -> str:
    """Switch the model to the ``attention`` implementation; return the one in effect.

    A model without that kernel keeps its own; the caller reports what is in effect.
    """
    setter = getattr(model, "set_attn_implementation", None)
    if setter is not None:
        with contextlib.suppress(ValueError, ImportError):
            setter(attention)
    return str(getattr(model.config, "_attn_implementation", None) or attention)
