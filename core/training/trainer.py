"""Fine-tune a transformer for NER: one run that reads top to bottom.

``train(config, data, output_dir)`` is a generator of typed events (see
``core.training.events``): Start, Log, Step, Eval, Checkpoint, then exactly one of
Done / Cancelled / Failed. It touches no database and no GUI: the caller hands it plain
examples and turns events into whatever it needs (store rows, a progress bar, Qt
signals). It checks ``should_stop`` before every step.

The run goes through its steps in order: choose the documents and labels, load the
model, cut the documents into labelled windows and batches, train epoch by epoch
(each one scored on dev, the best one kept), then score the best model on test and
write the model folder.

The model being written lives in a scratch folder beside ``output_dir`` and is renamed
into place only when everything is written, so a stopped or failed run never leaves a
half-written model folder behind. Runs on ``accelerate`` (see
``core.training.distributed``): the device, mixed precision (bf16 / fp16 on GPUs, bf16
on CPUs that compute it natively, as ``core.training.precision`` chooses), and
data-parallel training under ``accelerate launch``.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from core.errors import SpanlabError, TrainingError
from core.training.card import data_summary
from core.training.config import TrainConfig
from core.training.context import context_note, encode_in_context
from core.training.data import (
    LengthGroupedBatches,
    TokenBudgetBatches,
    add_labels,
    collate,
    entity_labels,
    hold_out,
    word_tags,
    words_of,
)
from core.training.distributed import load_weights, make_accelerator, save_model, stop_requested
from core.training.evaluation import evaluate, score, summary
from core.training.events import (
    Cancelled,
    Checkpoint,
    Done,
    Eval,
    Event,
    Failed,
    Log,
    Start,
    Step,
)
from core.training.loading import device_name, resolve_device, resolve_model_path
from core.training.model_files import write_model_folder
from core.training.modeling import adapt, build_model, make_optimizer
from core.training.precision import choose_precision, detect_capabilities, set_attention
from core.training.predict import Predictor
from core.training.schedule import auto_epochs, auto_epochs_reason, lr_at, schedule_span

EVENT_INTERVAL_S = 0.2  # step events at most 5 a second; eval/log/final events always go out


class _Stopped(Exception):
    """should_stop() said yes."""


def train(
    config: TrainConfig,
    data: dict,
    output_dir: str | Path,
    should_stop: Callable[[], bool] = lambda: False,
    start_adapter: Path | None = None,
) -> Iterator[Event]:
    """Train on ``data = {"train": [...], "dev": [...], "test": [...]}`` and yield events.

    Examples are plain dicts ``{id, text, tokens, spans, group}`` as
    ``project.examples()`` gives (sentences of one group are read with their neighbours
    as context, see ``core.training.context``); dev and test may be missing. The last event is Done (with ``output_dir`` and
    ``metrics``), Cancelled or Failed (with ``error``). Errors meant for the user end in
    a Failed event; an unexpected exception is reported the same way and re-raised.
    With method ``lora``, ``start_adapter`` (a model folder holding ``adapter/``) gives
    the adapters and head to start from (see ``core.training.modeling.adapt``).
    """
    output_dir = Path(output_dir)
    scratch = output_dir.parent / f".{output_dir.name}.partial-{os.getpid()}"
    log: list[Event] = []  # every event of this run, written to events.jsonl at the end
    run = _Run(config, data, output_dir, scratch, should_stop, log, start_adapter)
    try:
        for event in run.events():
            log.append(event)
            yield event
    except _Stopped:
        yield Cancelled()
    except torch.cuda.OutOfMemoryError:
        yield Failed(
            error=f"The GPU ran out of memory with batch size {config.batch_size} and max "
            f"length {config.max_length}. Try a smaller batch size (e.g. "
            f"{max(1, config.batch_size // 2)}) or a smaller max length, or train on the CPU."
        )
    except SpanlabError as exc:
        yield Failed(error=str(exc), error_type=type(exc).__name__)
    except Exception as exc:
        yield Failed(
            error=f"Training stopped on an unexpected error: {exc!r}",
            error_type=type(exc).__name__,
        )
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


@dataclass
class _Clock:
    """Steps, time and tokens so far; the loss is summed on the device between events."""

    started: float
    step: int = 0
    train_seconds: float = 0.0
    train_tokens: int = 0
    eval_seconds: float = 0.0
    window_loss: Any = None  # a 0-d tensor: .item() every step would sync the GPU
    window_steps: int = 0
    window_tokens: int = 0
    last_event: float = 0.0
    tick: float = 0.0  # start of the current stretch of training (evaluation left out)

    def end_stretch(self) -> None:
        """Count the training time and tokens since ``tick``."""
        now = time.monotonic()
        self.train_seconds += now - self.tick
        self.train_tokens += self.window_tokens
        self.window_tokens = 0


class _Run:
    """One run's state, advanced by the steps of :meth:`events`, each yielding its events."""

    def __init__(
        self,
        config: TrainConfig,
        data: dict,
        output_dir: Path,
        scratch: Path,
        should_stop: Callable[[], bool],
        log: list[Event],
        start_adapter: Path | None = None,
    ) -> None:
        self.config = config
        self.start_adapter = start_adapter  # see train()
        self.data = data
        self.output_dir = output_dir
        self.scratch = scratch
        self.should_stop = should_stop
        self.log = log
        self.notes: list[str] = []
        self.best_f1, self.best_epoch, self.stale = -1.0, 0, 0
        self.out_of_time = False  # the time budget (config.time_budget_s) is spent
        #: Sub-tokens of context the saved model reads when it predicts (see
        #: :meth:`choose_inference_context`).
        self.inference_context = config.context_tokens
        self.best_dev: dict | None = None

    def events(self) -> Iterator[Event]:
        """The whole run, step by step."""
        self.config.validate()
        self.clock = _Clock(started=time.monotonic())
        if self.output_dir.exists():
            raise TrainingError(
                f"The output folder {self.output_dir} already exists; choose a new one."
            )
        self.choose_documents()
        device = resolve_device(self.config.device)
        self.choice = choose_precision(
            device.type, detect_capabilities(device), self.config.precision
        )
        # a fresh state for every run
        self.accelerator = make_accelerator(self.config, self.choice.precision)
        self.main = self.accelerator.is_main_process
        from accelerate.utils import set_seed

        set_seed(self.config.seed)
        self.load_model()
        self.make_batches()
        if self.main:
            yield self.start_event()
            for note in self.notes:
                yield Log(message=note)
        yield from self.train_epochs()
        yield from self.finish()

    # -- 1. which documents, which labels -------------------------------------------------
    def choose_documents(self) -> None:
        config = self.config
        train_ex, dev_ex, test_ex = (list(self.data.get(k) or []) for k in ("train", "dev", "test"))
        if not train_ex:
            raise TrainingError(
                "No annotated documents in the train split. Annotate some documents, mark "
                "them annotated, and put them in the train split (assign splits) before "
                "training."
            )
        if not entity_labels(train_ex):
            raise TrainingError(
                "The training documents have no entity spans, so there is only one class (O) "
                "to learn. Annotate entities with at least one label first."
            )
        if not dev_ex and self.data.get("hold_out", True):  # a refit holds none out
            train_ex, dev_ex = hold_out(train_ex, config.dev_fraction, config.seed)
            if dev_ex:
                self.notes.append(
                    f"No dev split: holding out {len(dev_ex)} of the "
                    f"{len(train_ex) + len(dev_ex)} training documents "
                    f"({config.dev_fraction:.0%}, seed {config.seed}) to pick the best epoch."
                )
            else:
                self.notes.append(
                    "Only one training document and no dev split: the last epoch is kept."
                )
        self.train_ex, self.dev_ex, self.test_ex = train_ex, dev_ex, test_ex
        self.labels = entity_labels(train_ex, dev_ex, test_ex)

    # -- 2. model and tokenizer -----------------------------------------------------------
    def load_model(self) -> None:
        config = self.config
        self.source = resolve_model_path(config.warm_start or config.base_model)
        model, self.tokenizer, self.tags, model_notes = build_model(
            self.source, self.labels, warm=bool(config.warm_start)
        )
        self.notes += model_notes
        model, notes = adapt(model, config, self.start_adapter)  # dropout; freezing or LoRA
        self.notes += notes
        self.attention = set_attention(model, self.choice.attention)
        precision = "fp32" if self.choice.precision == "no" else self.choice.precision
        note = f"Precision {precision}, attention {self.attention}: {self.choice.reason}."
        if self.attention != self.choice.attention:
            note += f" This model has no {self.choice.attention} attention; it keeps its own."
        self.notes.append(note)
        self.model = model

    # -- 3. word tags -> first-sub-token labels, in windows, in batches --------------------
    def make_batches(self) -> None:
        config, accelerator, tokenizer = self.config, self.accelerator, self.tokenizer
        doc_tags, misaligned = [], 0
        for ex in self.train_ex:
            tags_of_doc, bad = word_tags(ex)
            doc_tags.append(tags_of_doc)
            misaligned += len(bad)
        if misaligned:
            self.notes.append(
                f"{misaligned} training span(s) do not fall on token boundaries; their words "
                "are left out of the loss. Fix them in the annotation view to use them."
            )
        words = [words_of(ex) for ex in self.train_ex]
        windows = self.encode(words, self.train_ex)
        note = context_note(self.train_ex, config.context_tokens)
        if note:
            self.notes.append(note)
        add_labels(windows, doc_tags, {tag: i for i, tag in enumerate(self.tags)})
        if len(windows) > len(self.train_ex):
            self.notes.append(
                f"{len(windows) - len(self.train_ex)} extra window(s): documents longer than "
                f"{config.max_length} sub-tokens are split with an overlap of "
                f"{config.window_overlap}."
            )
        self.n_windows = len(windows)
        lengths = [len(w) for w in windows]
        if config.batch_tokens:
            sampler: Any = TokenBudgetBatches(lengths, config.batch_tokens, config.seed)
        else:
            sampler = LengthGroupedBatches(lengths, config.batch_size, config.seed)
        # Dev is encoded once here, not at every epoch's evaluation.
        self.dev_windows = self.encode([words_of(ex) for ex in self.dev_ex], self.dev_ex)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        on_gpu = accelerator.device.type == "cuda"
        loader = DataLoader(
            windows,
            batch_sampler=sampler,
            # tensor cores like lengths that are multiples of 8
            collate_fn=partial(_collate_counting, pad_id=pad_id, multiple=8 if on_gpu else 1),
            pin_memory=on_gpu,  # faster, asynchronous copies to the GPU
        )
        # The optimizer, then everything onto the device.
        optimizer = make_optimizer(self.model, config, accelerator.device)
        self.model, self.optimizer, self.loader = accelerator.prepare(self.model, optimizer, loader)
        self.raw_model = accelerator.unwrap_model(self.model)
        self.loader.set_epoch(1)
        self.steps_per_epoch = len(self.loader)
        self.epochs = config.epochs or auto_epochs(self.steps_per_epoch)
        if not config.epochs:
            self.notes.append(auto_epochs_reason(self.epochs, self.steps_per_epoch))
        # The schedule counts the steps the run will take: with a token budget the number
        # of batches differs from epoch to epoch.
        processes = accelerator.num_processes
        self.total_steps = sum(
            math.ceil(sampler.count(epoch) / processes) for epoch in range(1, self.epochs + 1)
        )
        if config.batch_tokens:
            self.notes.append(
                f"Batches of up to {config.batch_tokens} sub-tokens (about "
                f"{self.n_windows / max(1, sampler.count(1)):.1f} windows a step, "
                f"{self.total_steps} steps in all); the batch size is not used."
            )
        self.first_step, self.whole_steps, self.warmup_steps = schedule_span(
            self.total_steps, config.warmup, config.schedule_from, config.schedule_to
        )

    def start_event(self) -> Start:
        accelerator = self.accelerator
        return Start(
            total_steps=self.total_steps,
            steps_per_epoch=self.steps_per_epoch,
            epochs=self.epochs,
            labels=self.labels,
            tags=self.tags,
            device=str(accelerator.device),
            device_name=device_name(accelerator.device),
            precision=accelerator.mixed_precision,
            attention=self.attention,
            processes=accelerator.num_processes,
            base_model=self.source,
            train_documents=len(self.train_ex),
            dev_documents=len(self.dev_ex),
            test_documents=len(self.test_ex),
            train_windows=self.n_windows,
            config=self.config.to_dict(),
        )

    # -- 4. the loop: epochs of steps, each epoch scored on dev ---------------------------
    def train_epochs(self) -> Iterator[Event]:
        clock = self.clock
        clock.window_loss = torch.zeros((), device=self.accelerator.device)
        clock.last_event = clock.tick = time.monotonic()
        for epoch in range(1, self.epochs + 1):
            self.epoch = epoch
            yield from self.train_one_epoch(epoch)
            clock.end_stretch()
            self.stop_if_asked()
            if self.dev_ex:
                stop_early = yield from self.evaluate_epoch(epoch)
                if stop_early:
                    break
            else:
                self.best_epoch = epoch
            if self.out_of_time and epoch < self.epochs:
                if self.main:
                    yield Log(message=self.out_of_time_message(epoch))
                break
            # Throughput leaves evaluation out (tick), but the event clock runs on: on
            # small data an epoch is shorter than EVENT_INTERVAL_S and steps must still
            # be reported.
            clock.tick = time.monotonic()

    def train_one_epoch(self, epoch: int) -> Iterator[Event]:
        config, accelerator, clock = self.config, self.accelerator, self.clock
        model, optimizer = self.model, self.optimizer
        self.loader.set_epoch(epoch)
        model.train()
        for batch in self.loader:
            self.stop_if_asked()
            n_tokens = batch.pop("n_tokens")
            step = self.first_step + clock.step  # of the whole schedule (a federation's)
            lr = lr_at(step, self.whole_steps, self.warmup_steps, config.learning_rate)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = model(**batch).loss
            accelerator.backward(loss)
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            clock.step += 1
            clock.window_loss += loss.detach()
            clock.window_steps += 1
            clock.window_tokens += n_tokens
            now = time.monotonic()
            due = now - clock.last_event >= EVENT_INTERVAL_S or clock.step == self.total_steps
            if self.main and due:
                yield self.step_event(epoch, lr, now)
            if self.spend_time():  # after a step: a run always learns something
                break

    def spend_time(self) -> bool:
        """Whether the run's time budget (``time_budget_s``) of training is spent now;
        once it is, :attr:`out_of_time` stays set. Called between steps only, where
        ``clock.tick`` starts the stretch not yet counted in ``train_seconds``."""
        budget, clock = self.config.time_budget_s, self.clock
        if budget and clock.train_seconds + (time.monotonic() - clock.tick) >= budget:
            self.out_of_time = True
        return self.out_of_time

    def out_of_time_message(self, epoch: int) -> str:
        kept = f"epoch {self.best_epoch}" if self.best_epoch else "the last epoch"
        return (
            f"Time budget of {self.config.time_budget_s:g} s spent during epoch {epoch} of "
            f"{self.epochs} (step {self.clock.step} of {self.total_steps}): training stops "
            f"here and {kept} is kept."
        )

    def step_event(self, epoch: int, lr: float, now: float) -> Step:
        """The progress since the last step event (and the window it averages restarts)."""
        clock, processes = self.clock, self.accelerator.num_processes
        clock.train_seconds += now - clock.tick
        clock.train_tokens += clock.window_tokens
        per_step = clock.train_seconds / clock.step
        evals_left = self.epochs - epoch + 1
        event = Step(
            step=clock.step,
            total_steps=self.total_steps,
            epoch=round(clock.step / self.steps_per_epoch, 3),
            loss=clock.window_loss.item() / clock.window_steps,
            lr=lr,
            throughput=clock.window_tokens * processes / (now - clock.tick),
            eta_s=per_step * (self.total_steps - clock.step)
            + evals_left * clock.eval_seconds / max(epoch - 1, 1),
            elapsed_s=now - clock.started,
        )
        clock.window_loss.zero_()
        clock.window_steps, clock.window_tokens = 0, 0
        clock.last_event = clock.tick = time.monotonic()
        return event

    def evaluate_epoch(self, epoch: int) -> Generator[Event, None, bool]:
        """Score dev, keep the model if it is the best yet; returns True to stop early."""
        t0 = time.monotonic()
        predictor = self.predictor()  # toggles eval() / train() itself
        sizes = [len(ex["tokens"]) for ex in self.dev_ex]
        tagged = predictor.tags_of_windows(self.dev_windows, sizes)
        dev = score(self.dev_ex, [tags for tags, _ in tagged], labels=predictor.labels)
        seconds = time.monotonic() - t0
        self.clock.eval_seconds += seconds
        improved = dev["f1"] > self.best_f1
        if improved:
            self.best_f1, self.best_epoch, self.stale = dev["f1"], epoch, 0
            self.best_dev = summary(dev)
        elif self.best_f1 > 0 and epoch > self.epochs // 2:
            # Patience counts only once the model finds entities at all, and only in the
            # second half of the plan: on small data dev F1 can sit at (or blip off) 0 for
            # many epochs while the loss still falls, and stopping then leaves a model
            # that finds nothing.
            self.stale += 1
        step = self.clock.step
        if self.main:
            yield Eval(
                epoch=epoch,
                step=step,
                split="dev",
                f1=dev["f1"],
                precision=dev["precision"],
                recall=dev["recall"],
                best=improved,
                metrics=summary(dev),
                seconds=round(seconds, 3),
            )
        if improved:
            save_model(self.accelerator, self.raw_model, self.tokenizer, self.scratch)
            if self.main:
                yield Checkpoint(epoch=epoch, step=step, f1=dev["f1"])
        patience = self.config.patience
        if patience and self.stale >= patience and epoch < self.epochs:
            if self.main:
                yield Log(
                    message=f"Early stop after epoch {epoch}: dev F1 has not improved since "
                    f"epoch {self.best_epoch} (best {self.best_f1:.3f})."
                )
            return True
        return False

    # -- 5. the best epoch's model: test scores, files, rename into place -----------------
    def finish(self) -> Iterator[Event]:
        accelerator, main = self.accelerator, self.main
        if not self.dev_ex:
            save_model(accelerator, self.raw_model, self.tokenizer, self.scratch)
        elif self.best_epoch != self.epoch and main:
            load_weights(self.raw_model, self.scratch)
        self.stop_if_asked()
        if main and self.dev_ex and self.inference_context:
            note = self.choose_inference_context()
            if note:
                yield Log(message=note)
        test = None
        if self.test_ex and main:
            test = summary(evaluate(self.predictor(), self.test_ex))
        done = Done(
            output_dir=str(self.output_dir),
            metrics=self.metrics(test),
            seconds=round(time.monotonic() - self.clock.started, 3),
        )
        if main:
            self.write_files(done)
        accelerator.wait_for_everyone()
        accelerator.free_memory()
        if main:
            yield done

    def metrics(self, test: dict | None) -> dict:
        clock = self.clock
        return {
            "f1": self.best_dev["f1"] if self.best_dev else None,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epoch,
            "steps": clock.step,
            "dev": self.best_dev,
            "test": test,
            "labels": self.labels,
            "train_seconds": round(clock.train_seconds, 3),
            "train_tokens_per_s": clock.train_tokens
            * self.accelerator.num_processes
            / max(clock.train_seconds, 1e-9),
            "dev_held_out": not self.data.get("dev"),
            "train_documents": len(self.train_ex),
            "dev_documents": len(self.dev_ex),
            "time_budget_spent": self.out_of_time,
            "data": data_summary(
                {"train": self.train_ex, "dev": self.dev_ex, "test": self.test_ex}, self.source
            ),
        }

    def write_files(self, done: Done) -> None:
        """Metrics, config, event log and model card beside the model; then the rename."""
        chosen = {  # what "auto" became on this machine
            "precision": self.choice.precision,
            "attention": self.attention,
            "reason": self.choice.reason,
            "epochs": self.epochs,
            "total_steps": self.total_steps,
            # Context read when predicting: 0 where dev F1 was better without it.
            "context_tokens": self.inference_context,
        }
        events = [*self.log, done]
        write_model_folder(self.scratch, self.output_dir, self.config, chosen, done.metrics, events)

    # -- small helpers --------------------------------------------------------------------
    def predictor(self, context_tokens: int | None = None) -> Predictor:
        """The model in memory as a predictor; it reads :attr:`inference_context` sub-tokens
        of context unless ``context_tokens`` says otherwise."""
        config = self.config
        return Predictor.from_model(
            self.raw_model,
            self.tokenizer,
            config.eval_batch_size,
            config.max_length,
            config.window_overlap,
            precision=self.choice.precision,
            context_tokens=self.inference_context if context_tokens is None else context_tokens,
        )

    def choose_inference_context(self) -> str | None:
        """Keep document context for prediction only where dev F1 is not worse with it:
        the best model is scored on dev once more, each sentence on its own. Returns the
        log line (None where dev has no documents of several sentences)."""
        if all(ex.get("group") is None for ex in self.dev_ex):
            return None
        with_context, tokens = self.best_f1, self.inference_context
        without = evaluate(self.predictor(context_tokens=0), self.dev_ex)["f1"]
        if without > with_context:
            self.inference_context = 0
            verdict = "context is left off when this model predicts"
        else:
            verdict = "context is kept when this model predicts"
        return (
            f"Document context: dev F1 {with_context:.4f} with {tokens} sub-tokens of "
            f"context on each side, {without:.4f} with each sentence on its own; {verdict}."
        )

    def encode(self, words: list[list[str]], examples: list[dict]) -> list:
        """Windows of examples, each sentence of a group with its neighbours as context."""
        config = self.config
        groups = [ex.get("group") for ex in examples]
        return encode_in_context(
            self.tokenizer, words, groups, config.max_length, config.window_overlap,
            config.context_tokens,
        )  # fmt: skip

    def stop_if_asked(self) -> None:
        if stop_requested(self.accelerator, self.should_stop):
            raise _Stopped


# -- small pure helpers ----------------------------------------------------------------------


def _collate_counting(windows: list, pad_id: int, multiple: int) -> dict:
    batch = collate(windows, pad_id, multiple)
    batch["n_tokens"] = sum(len(w) for w in windows)  # real sub-tokens, for throughput
    return batch
