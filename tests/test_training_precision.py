"""Precision and attention chosen from the device's capabilities; a bf16 step on the CPU."""

from __future__ import annotations

import json

import pytest
import torch

import core.training.trainer as trainer_module
from core.errors import TrainingError
from core.training.config import TrainConfig
from core.training.events import Done, Log, Start
from core.training.precision import (
    Capabilities,
    _cpuinfo_flags,
    choose_precision,
    detect_capabilities,
)
from core.training.trainer import train

from training_support import sentence_corpus

AMX = Capabilities(amx_bf16=True, avx512_bf16=True)
AVX512_BF16 = Capabilities(avx512_bf16=True)
FP32_ONLY = Capabilities()


@pytest.mark.parametrize("caps", [AMX, AVX512_BF16], ids=["amx", "avx512-bf16"])
def test_auto_on_a_cpu_with_native_bf16_is_bf16_with_eager_attention(caps):
    precision, attention, reason = choose_precision("cpu", caps)
    assert (precision, attention) == ("bf16", "eager")
    assert "bf16" in reason and "SDPA" in reason and "fp32 master weights" in reason


def test_auto_on_a_cpu_without_bf16_is_fp32():
    precision, attention, reason = choose_precision("cpu", FP32_ONLY)
    assert (precision, attention) == ("no", "eager")
    assert "without native bf16" in reason


def test_precision_no_forces_fp32_even_where_bf16_is_native():
    precision, _, reason = choose_precision("cpu", AMX, requested="no")
    assert precision == "no" and "as set" in reason


def test_bf16_asked_on_a_cpu_without_it_is_kept_and_said_to_be_slow():
    precision, _, reason = choose_precision("cpu", FP32_ONLY, requested="bf16")
    assert precision == "bf16" and "emulated" in reason


@pytest.mark.parametrize(
    ("caps", "expected"),
    [(Capabilities(cuda_bf16=True), "bf16"), (Capabilities(cuda_bf16=False), "fp16")],
)
def test_gpu_keeps_bf16_or_fp16_with_sdpa(caps, expected):
    precision, attention, _ = choose_precision("cuda", caps)
    assert (precision, attention) == (expected, "sdpa")


def test_cpu_capabilities_do_not_turn_on_mixed_precision_on_mps():
    assert choose_precision("mps", AMX)[:2] == ("no", "sdpa")


def test_fp16_off_cuda_is_refused_with_what_to_do():
    with pytest.raises(TrainingError, match="CUDA GPU; choose 'auto'"):
        choose_precision("cpu", AMX, requested="fp16")


def test_cpuinfo_flags_are_read_from_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\n")
    assert {"avx512_bf16", "amx_tile"} <= _cpuinfo_flags(info)
    assert _cpuinfo_flags(tmp_path / "missing") == set()


def _native_bf16() -> bool:
    return detect_capabilities(torch.device("cpu")).cpu_bf16


@pytest.mark.skipif(not _native_bf16(), reason="this CPU has no native bf16 (AMX / AVX-512-bf16)")
def test_auto_trains_the_tiny_model_in_bf16_on_this_cpu(tmp_path, tiny_model_dir, monkeypatch):
    config = TrainConfig(
        base_model=str(tiny_model_dir), epochs=1, learning_rate=5e-3, batch_size=8, warmup=0
    )
    seen: list[torch.dtype] = []
    real_build = trainer_module.build_model

    def build_and_watch(*args, **kwargs):
        built = real_build(*args, **kwargs)
        built[0].classifier.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
        return built

    data = {"train": sentence_corpus(24), "dev": sentence_corpus(8, seed=1, start_id=500)}
    monkeypatch.setattr(trainer_module, "build_model", build_and_watch)
    events = list(train(config, data, tmp_path / "run"))
    start, done = events[0], events[-1]
    assert isinstance(start, Start) and isinstance(done, Done)
    assert start.precision == "bf16" and start.attention == "eager"
    assert torch.bfloat16 in seen  # the step ran under autocast
    logs = [e.message for e in events if isinstance(e, Log)]
    assert any(m.startswith("Precision bf16, attention eager: CPU with") for m in logs)
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert saved["precision"] == "auto"  # the setting as given ...
    assert saved["chosen"]["precision"] == "bf16"  # ... and what it became here
    assert saved["chosen"]["attention"] == "eager"
    # fp32 master weights: the saved model is fp32, loadable as any HF folder.
    from safetensors.torch import load_file

    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.float32}


def test_precision_no_trains_in_fp32_and_says_so(tmp_path, tiny_model_dir):
    config = TrainConfig(
        base_model=str(tiny_model_dir), epochs=1, batch_size=8, warmup=0, precision="no"
    )
    data = {"train": sentence_corpus(16), "dev": sentence_corpus(4, seed=1, start_id=500)}
    events = list(train(config, data, tmp_path / "run"))
    assert events[0].precision == "no"
    assert any(isinstance(e, Log) and e.message.startswith("Precision fp32") for e in events)
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert saved["chosen"]["precision"] == "no"
