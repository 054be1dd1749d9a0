"""Fine-tune a transformer for NER: one loop that reads top to bottom.

``train(config, data, output_dir)`` is a generator of events (start, log, step, eval,
checkpoint, then exactly one of done / cancelled / failed). It touches no database and
no GUI: the caller hands it plain examples and turns events into whatever it needs
(store rows, a progress bar, Qt signals). It checks ``should_stop`` before every step.

The model being written lives in a scratch folder beside ``output_dir`` and is renamed
into place only when everything is written, so a stopped or failed run never leaves a
half-written model folder behind.

Runs on ``accelerate``: the device, mixed precision on GPUs, and data-parallel training
under ``accelerate launch`` (each process trains on its share of the batches and
evaluates the whole dev set, so all processes take the same decisions; only the main
one writes files and reports events).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from core.errors import SpanlabError, TrainingError
from core.training.config import TrainConfig
from core.training.data import (
    LengthGroupedBatches,
    add_labels,
    collate,
    encode,
    entity_labels,
    hold_out,
    word_tags,
    words_of,
)
from core.training.evaluation import evaluate, summary
from core.training.loading import device_name, resolve_device, resolve_model_path
from core.training.modeling import build_model, freeze, make_optimizer, set_dropout
from core.training.predict import Predictor

EVENT_INTERVAL_S = 0.2  # step events at most 5 a second; eval/log/final events always go out


class _Stopped(Exception):
    """should_stop() said yes."""


def train(
    config: TrainConfig,
    data: dict,
    output_dir: str | Path,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[dict]:
    """Train on ``data = {"train": [...], "dev": [...], "test": [...]}`` and yield events.

    Examples are plain dicts ``{id, text, tokens, spans}`` as ``project.examples()``
    gives. The last event is ``done`` (with ``output_dir`` and ``metrics``),
    ``cancelled`` or ``failed`` (with ``error``). Errors meant for the user end in a
    ``failed`` event; an unexpected exception is reported the same way and re-raised.
    """
    output_dir = Path(output_dir)
    scratch = output_dir.parent / f".{output_dir.name}.partial-{os.getpid()}"
    log: list[dict] = []  # every event of this run, written to events.jsonl at the end
    try:
        for event in _run(config, data, output_dir, scratch, should_stop, log):
            log.append(event)
            yield event
    except _Stopped:
        yield {"kind": "cancelled", "output_dir": None, "metrics": None, "error": None}
    except torch.cuda.OutOfMemoryError:
        yield _failed(
            f"The GPU ran out of memory with batch size {config.batch_size} and max length "
            f"{config.max_length}. Try a smaller batch size (e.g. {max(1, config.batch_size // 2)})"
            " or a smaller max length, or train on the CPU."
        )
    except SpanlabError as exc:
        yield _failed(str(exc), type(exc).__name__)
    except Exception as exc:
        yield _failed(f"Training stopped on an unexpected error: {exc!r}", type(exc).__name__)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _failed(message: str, error_type: str = "TrainingError") -> dict:
    return {
        "kind": "failed",
        "output_dir": None,
        "metrics": None,
        "error": message,
        "error_type": error_type,
    }


def _run(
    config: TrainConfig,
    data: dict,
    output_dir: Path,
    scratch: Path,
    should_stop: Callable[[], bool],
    log: list[dict],
) -> Iterator[dict]:
    config.validate()
    started = time.monotonic()
    if output_dir.exists():
        raise TrainingError(f"The output folder {output_dir} already exists; choose a new one.")

    # -- data: which documents, which labels ------------------------------------------------
    train_ex, dev_ex, test_ex = (list(data.get(k) or []) for k in ("train", "dev", "test"))
    if not train_ex:
        raise TrainingError(
            "No annotated documents in the train split. Annotate some documents, mark them "
            "annotated, and put them in the train split (assign splits) before training."
        )
    if not entity_labels(train_ex):
        raise TrainingError(
            "The training documents have no entity spans, so there is only one class (O) "
            "to learn. Annotate entities with at least one label first."
        )
    notes = []
    if not dev_ex:
        train_ex, dev_ex = hold_out(train_ex, config.dev_fraction, config.seed)
        if dev_ex:
            notes.append(
                f"No dev split: holding out {len(dev_ex)} of the {len(train_ex) + len(dev_ex)} "
                f"training documents ({config.dev_fraction:.0%}, seed {config.seed}) to pick "
                "the best epoch."
            )
        else:
            notes.append("Only one training document and no dev split: the last epoch is kept.")
    labels = entity_labels(train_ex, dev_ex, test_ex)

    # -- accelerate: a fresh state per run (one process may train several runs) -------------
    accelerator = _accelerator(config)
    main = accelerator.is_main_process
    from accelerate.utils import set_seed

    set_seed(config.seed)

    # -- model and tokenizer ----------------------------------------------------------------
    source = resolve_model_path(config.warm_start or config.base_model)
    model, tokenizer, tags, model_notes = build_model(source, labels, warm=bool(config.warm_start))
    notes += model_notes
    set_dropout(model, config.dropout)
    notes += freeze(model, config.freeze)
    tag2id = {tag: i for i, tag in enumerate(tags)}

    # -- tensors: word tags -> first-sub-token labels, in windows ------------------------------
    doc_tags, misaligned = [], 0
    for ex in train_ex:
        tags_of_doc, bad = word_tags(ex)
        doc_tags.append(tags_of_doc)
        misaligned += len(bad)
    if misaligned:
        notes.append(
            f"{misaligned} training span(s) do not fall on token boundaries; their words are "
            "left out of the loss. Fix them in the annotation view to use them."
        )
    windows = encode(
        tokenizer, [words_of(ex) for ex in train_ex], config.max_length, config.window_overlap
    )
    add_labels(windows, doc_tags, tag2id)
    if len(windows) > len(train_ex):
        notes.append(
            f"{len(windows) - len(train_ex)} extra window(s): documents longer than "
            f"{config.max_length} sub-tokens are split with an overlap of {config.window_overlap}."
        )
    sampler = LengthGroupedBatches([len(w) for w in windows], config.batch_size, config.seed)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    multiple = 8 if accelerator.device.type == "cuda" else 1  # tensor cores like multiples of 8
    loader = DataLoader(
        windows,
        batch_sampler=sampler,
        collate_fn=partial(_collate_counting, pad_id=pad_id, multiple=multiple),
        pin_memory=accelerator.device.type == "cuda",  # faster, asynchronous copies to the GPU
    )

    # -- optimizer, then everything onto the device -------------------------------------------
    optimizer = make_optimizer(model, config, accelerator.device)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    raw_model = accelerator.unwrap_model(model)
    steps_per_epoch = len(loader)
    epochs = config.epochs or auto_epochs(steps_per_epoch)
    total_steps = epochs * steps_per_epoch
    warmup_steps = int(config.warmup * total_steps) if config.warmup < 1 else int(config.warmup)

    if main:
        yield {
            "kind": "start",
            "total_steps": total_steps,
            "steps_per_epoch": steps_per_epoch,
            "epochs": epochs,
            "labels": labels,
            "tags": tags,
            "device": str(accelerator.device),
            "device_name": device_name(accelerator.device),
            "precision": accelerator.mixed_precision,
            "processes": accelerator.num_processes,
            "base_model": source,
            "train_documents": len(train_ex),
            "dev_documents": len(dev_ex),
            "test_documents": len(test_ex),
            "train_windows": len(windows),
            "config": config.to_dict(),
        }
        for note in notes:
            yield {"kind": "log", "level": "info", "message": note}

    # -- the loop ------------------------------------------------------------------------------
    step, best_f1, best_epoch, stale = 0, -1.0, 0, 0
    best_dev: dict | None = None
    train_seconds, train_tokens, eval_seconds = 0.0, 0, 0.0
    window_loss, window_steps, window_tokens = torch.zeros((), device=accelerator.device), 0, 0
    last_event = tick = time.monotonic()
    for epoch in range(1, epochs + 1):
        loader.set_epoch(epoch)
        model.train()
        for batch in loader:
            if _stop_requested(accelerator, should_stop):
                raise _Stopped
            n_tokens = batch.pop("n_tokens")
            lr = lr_at(step, total_steps, warmup_steps, config.learning_rate)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = model(**batch).loss
            accelerator.backward(loss)
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            # Keep the running loss on the device: .item() every step would sync the GPU.
            window_loss += loss.detach()
            window_steps += 1
            window_tokens += n_tokens
            now = time.monotonic()
            if main and (now - last_event >= EVENT_INTERVAL_S or step == total_steps):
                train_seconds += now - tick
                train_tokens += window_tokens
                per_step = train_seconds / step
                evals_left = epochs - epoch + 1
                yield {
                    "kind": "step",
                    "step": step,
                    "total_steps": total_steps,
                    "epoch": round(step / steps_per_epoch, 3),
                    "loss": window_loss.item() / window_steps,
                    "lr": lr,
                    "throughput": window_tokens * accelerator.num_processes / (now - tick),
                    "eta_s": per_step * (total_steps - step)
                    + evals_left * eval_seconds / max(epoch - 1, 1),
                    "elapsed_s": now - started,
                }
                window_loss.zero_()
                window_steps, window_tokens = 0, 0
                last_event = tick = time.monotonic()
        now = time.monotonic()
        train_seconds += now - tick
        train_tokens += window_tokens
        window_tokens = 0

        # -- evaluate on dev, keep the best epoch --------------------------------------------
        if _stop_requested(accelerator, should_stop):
            raise _Stopped
        if not dev_ex:
            best_epoch = epoch
            tick = time.monotonic()
            continue
        t0 = time.monotonic()
        predictor = Predictor.from_model(
            raw_model, tokenizer, config.eval_batch_size, config.max_length, config.window_overlap
        )
        dev = evaluate(predictor, dev_ex)  # toggles eval() / train() itself
        eval_seconds += time.monotonic() - t0
        improved = dev["f1"] > best_f1
        if improved:
            best_f1, best_epoch, best_dev, stale = dev["f1"], epoch, summary(dev), 0
        elif best_f1 > 0 and epoch > epochs // 2:
            # Patience counts only once the model finds entities at all, and only in the
            # second half of the plan: on small data dev F1 can sit at (or blip off) 0 for
            # many epochs while the loss still falls, and stopping then leaves a model
            # that finds nothing.
            stale += 1
        if main:
            yield {
                "kind": "eval",
                "epoch": epoch,
                "step": step,
                "split": "dev",
                "f1": dev["f1"],
                "precision": dev["precision"],
                "recall": dev["recall"],
                "best": improved,
                "metrics": summary(dev),
                "seconds": round(time.monotonic() - t0, 3),
            }
        if improved:
            _save(accelerator, raw_model, tokenizer, scratch)
            if main:
                yield {"kind": "checkpoint", "epoch": epoch, "step": step, "f1": dev["f1"]}
        if config.patience and stale >= config.patience and epoch < epochs:
            if main:
                yield {
                    "kind": "log",
                    "level": "info",
                    "message": f"Early stop after epoch {epoch}: dev F1 has not improved for "
                    f"{stale} epochs (best {best_f1:.3f} at epoch {best_epoch}).",
                }
            break
        # Throughput leaves evaluation out (tick), but the event clock runs on: on small
        # data an epoch is shorter than EVENT_INTERVAL_S and steps must still be reported.
        tick = time.monotonic()

    # -- the best epoch's model: test scores, files, rename into place ------------------------
    if not dev_ex:
        _save(accelerator, raw_model, tokenizer, scratch)
    elif best_epoch != epoch and main:
        _load_weights(raw_model, scratch)
    test = None
    if _stop_requested(accelerator, should_stop):
        raise _Stopped
    if test_ex and main:
        predictor = Predictor.from_model(
            raw_model, tokenizer, config.eval_batch_size, config.max_length, config.window_overlap
        )
        test = summary(evaluate(predictor, test_ex))
    metrics = {
        "f1": best_dev["f1"] if best_dev else None,
        "best_epoch": best_epoch,
        "epochs_run": epoch,
        "steps": step,
        "dev": best_dev,
        "test": test,
        "labels": labels,
        "train_seconds": round(train_seconds, 3),
        "train_tokens_per_s": train_tokens * accelerator.num_processes / max(train_seconds, 1e-9),
        "dev_held_out": not data.get("dev"),
    }
    done = {
        "kind": "done",
        "output_dir": str(output_dir),
        "metrics": metrics,
        "error": None,
        "seconds": round(time.monotonic() - started, 3),
    }
    if main:
        (scratch / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        (scratch / "train_config.json").write_text(config.to_json(), encoding="utf-8")
        with open(scratch / "events.jsonl", "w", encoding="utf-8") as f:
            for event in [*log, done]:
                f.write(json.dumps(event) + "\n")
        os.replace(scratch, output_dir)
    accelerator.wait_for_everyone()
    accelerator.free_memory()
    if main:
        yield done


# -- small pure helpers ----------------------------------------------------------------------


def lr_at(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Linear warmup to ``peak``, then linear decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    remaining = total_steps - step
    return peak * max(0.0, remaining / max(1, total_steps - warmup_steps))


def auto_epochs(steps_per_epoch: int, target_steps: int = 1000) -> int:
    """Enough passes for ~``target_steps`` updates: 20 over a few hundred sentences, 3
    over tens of thousands (early stopping ends a run sooner when dev F1 stalls)."""
    return max(3, min(20, math.ceil(target_steps / max(1, steps_per_epoch))))


def _stop_requested(accelerator: Any, should_stop: Callable[[], bool]) -> bool:
    """The stop flag; in a data-parallel run every process stops at the same step (one
    stopping alone would leave the others waiting for it forever)."""
    if accelerator.num_processes == 1:
        return should_stop()
    flag = torch.tensor([1.0 if should_stop() else 0.0], device=accelerator.device)
    return bool(accelerator.reduce(flag, reduction="sum").item() > 0)


def _collate_counting(windows: list, pad_id: int, multiple: int) -> dict:
    batch = collate(windows, pad_id, multiple)
    batch["n_tokens"] = sum(len(w) for w in windows)  # real sub-tokens, for throughput
    return batch


def _accelerator(config: TrainConfig) -> Any:
    """An Accelerator for this run's device and precision, built on a clean state.

    accelerate keeps process-wide singletons; a desktop session that trains a CPU run
    after a GPU run (or bf16 after fp32) must not inherit the previous settings. The
    process group of a data-parallel launch is kept (it belongs to the launcher).
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=not torch.distributed.is_initialized())
    GradientState._reset_state()
    device = resolve_device(config.device)
    precision = config.precision
    if precision == "auto":
        if device.type == "cuda":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            precision = "no"
    if precision == "fp16" and device.type != "cuda":
        raise TrainingError("fp16 mixed precision needs a CUDA GPU; choose 'auto' or 'no'.")
    return Accelerator(cpu=device.type == "cpu", mixed_precision=precision)


def _save(accelerator: Any, model: Any, tokenizer: Any, folder: Path) -> None:
    """Write model (safetensors) and tokenizer into the scratch folder."""
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(folder)
        if not (folder / "tokenizer_config.json").exists():
            tokenizer.save_pretrained(folder)
    accelerator.wait_for_everyone()


def _load_weights(model: Any, folder: Path) -> None:
    """Bring back the best epoch's weights (saved by :func:`_save`)."""
    from safetensors.torch import load_file

    state = load_file(
        str(folder / "model.safetensors"), device=str(next(model.parameters()).device)
    )
    # strict=False only for tied weights that save_pretrained leaves out of the file.
    _, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise TrainingError(f"The saved best model does not match this model: {unexpected[:3]}")
