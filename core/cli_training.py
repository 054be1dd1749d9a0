"""Training sub-commands of the ``spanlab`` CLI: train, evaluate, predict, runs.

Each handler takes the parsed arguments and returns the exit code; errors meant for the
user (SpanlabError) are left to ``core.cli.main`` to print.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import sys
import time
import typing
from pathlib import Path
from typing import Any, TextIO

from core.durations import format_duration
from core.errors import NotFoundError, TrainingError
from core.training.config import DEVICES, OPTIMIZERS, PRECISIONS, TrainConfig

# Short spellings for the most used settings; every other TrainConfig field is
# --field-name.
ALIASES = {"learning_rate": ["--lr"]}
CHOICES = {"device": DEVICES, "precision": PRECISIONS, "optimizer": OPTIMIZERS}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the training sub-commands to the CLI."""
    p = subparsers.add_parser(
        "train",
        help="fine-tune a model on a project's annotated documents",
        description="Train on the train split, pick the best epoch on dev, score on test.",
    )
    p.add_argument("project", help="the .spanlab project file")
    _add_config_arguments(p)
    p.add_argument("--json-events", action="store_true", help="print every event as one JSON line")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("evaluate", help="score a trained model on a split")
    p.add_argument("project", help="the .spanlab project file")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--run", type=int, help="run id (default: the latest finished run)")
    source.add_argument("--model", help="a model folder instead of a run")
    p.add_argument("--split", choices=("dev", "test", "train"), default="test")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = subparsers.add_parser("predict", help="tag texts with a trained model")
    p.add_argument("model_dir", help="a model folder (e.g. a run's output folder)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to tag")
    p.add_argument("--file", help="a UTF-8 file with one text per line ('-' for stdin)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json", action="store_true", help="one JSON object per text")
    p.set_defaults(func=cmd_predict)

    p = subparsers.add_parser("runs", help="list a project's training runs")
    p.add_argument("project", help="the .spanlab project file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    group = parser.add_argument_group("training settings (defaults need no tuning)")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        convert = _converter(kind)
        group.add_argument(
            flag,
            *ALIASES.get(field.name, []),
            dest=field.name,
            type=convert,
            choices=CHOICES.get(field.name),
            default=None,
            help=f"default: {field.default}",
        )


def _converter(kind: Any) -> Any:
    args = [a for a in typing.get_args(kind) if a is not type(None)] or [kind]
    base = args[0]
    if base is float:
        return _optional(float)
    if base is int:
        return _optional(int)
    return str


def _optional(kind: type) -> Any:
    def convert(text: str) -> Any:
        return None if text.lower() in ("none", "off") else kind(text)

    convert.__name__ = kind.__name__
    return convert


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if getattr(args, f.name, None) is not None
    }
    return TrainConfig(**values).validate()


# -- train ------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from core.cli import open_project
    from core.training.runs import run_training

    _quiet_transformers()
    config = config_from_args(args)
    stop = _StopOnInterrupt()
    show = _json_printer(sys.stdout) if args.json_events else ProgressPrinter(sys.stderr)
    with open_project(args.project) as project, stop:
        final = run_training(project, config, should_stop=stop, on_event=show)
    if final.get("worker"):  # a helper process of a data-parallel run: the first one reports
        return 0
    if final.get("kind") == "done":
        if not args.json_events:
            print(f"Run {final['run_id']} done: model in {final['output_dir']}", file=sys.stderr)
        return 0
    if final.get("kind") == "cancelled":
        if not args.json_events:
            print(f"Run {final['run_id']} cancelled; no model was written.", file=sys.stderr)
        return 130
    raise TrainingError(final.get("error") or "Training failed.")


#: Signals that end a run as Ctrl+C does: the terminal closing (SIGHUP) and a polite
#: kill (SIGTERM, what `kill`, systemd and most schedulers send first).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class _StopOnInterrupt:
    """Ctrl+C, SIGTERM or SIGHUP ask the run to stop cleanly after the current step
    (it is recorded as cancelled, no model folder is left); a second one aborts."""

    def __init__(self) -> None:
        self.asked = False
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.asked

    def __enter__(self) -> _StopOnInterrupt:
        for signum in STOP_SIGNALS:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread
                break
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True
        with contextlib.suppress(OSError):  # stderr may be gone with the terminal
            name = signal.Signals(signum).name
            again = "Ctrl+C" if signum == signal.SIGINT else name
            print(f"\n{name}: stopping after this step ({again} again to abort)…", file=sys.stderr)


def _json_printer(out: TextIO) -> Any:
    def show(event: dict) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()

    return show


class ProgressPrinter:
    """A one-line progress bar with ETA on a terminal; plain lines otherwise."""

    def __init__(self, out: TextIO, width: int = 24) -> None:
        self.out = out
        self.width = width
        self.tty = out.isatty()
        self._last_plain = 0.0

    def __call__(self, event: dict) -> None:
        kind = event["kind"]
        if kind == "start":
            self._line(
                f"Training on {event['device_name']}: {event['train_documents']} documents, "
                f"{event['epochs']} epochs, {event['total_steps']} steps, labels "
                f"{', '.join(event['labels'])}"
            )
        elif kind == "log":
            self._line(event["message"])
        elif kind == "step":
            self._step(event)
        elif kind == "eval":
            best = "  (best so far)" if event.get("best") else ""
            self._line(
                f"epoch {event['epoch']}: dev F1 {event['f1']:.4f}  P {event['precision']:.4f}  "
                f"R {event['recall']:.4f}{best}"
            )
        elif kind == "done":
            m = event["metrics"] or {}
            test = m.get("test") or {}
            text = f"best epoch {m.get('best_epoch')}: dev F1 {_num(m.get('f1'))}"
            if test:
                text += f", test F1 {_num(test.get('f1'))}"
            self._line(text)

    def _step(self, event: dict) -> None:
        step, total = event["step"], event["total_steps"]
        text = (
            f"epoch {event['epoch']:.2f} step {step}/{total}  loss {event['loss']:.4f}  "
            f"lr {event['lr']:.2e}  {event['throughput']:,.0f} tok/s  ETA {format_eta(event['eta_s'])}"
        )
        if self.tty:
            done = int(self.width * step / max(total, 1))
            bar = "█" * done + "·" * (self.width - done)
            self.out.write(f"\r\x1b[2K[{bar}] {text}")
            self.out.flush()
        elif time.monotonic() - self._last_plain >= 10 or step == total:
            self._last_plain = time.monotonic()
            self._line(text)

    def _line(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[2K")
        self.out.write(text + "\n")
        self.out.flush()


def format_eta(seconds: float | None) -> str:
    return format_duration(seconds, unknown="?")


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


# -- evaluate ---------------------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core.cli import open_project
    from core.training.evaluation import evaluate

    _quiet_transformers()
    with open_project(args.project, readonly=True) as project:
        model_dir = args.model or _run_model(project, args.run)
        examples = project.examples(args.split)
    if not examples:
        raise TrainingError(
            f"No annotated documents in the {args.split} split to evaluate on. Assign "
            "splits (or choose another with --split)."
        )
    result = evaluate(model_dir, examples, batch_size=args.batch_size, device=args.device)
    if args.json:
        print(json.dumps({"model_dir": str(model_dir), "split": args.split, **result}, indent=2))
        return 0
    print(f"{model_dir} on {args.split}: {result['documents']} documents")
    print()
    print("Entities (seqeval, strict IOB2)")
    print(format_table(result["entity"]))
    print()
    print("Tags (word level)")
    print(format_table(result["tokens"]))
    if result["misaligned"]:
        print(f"\n{result['misaligned']} gold span(s) miss token boundaries and were not scored.")
    return 0


def _run_model(project: Any, run_id: int | None) -> str:
    run = project.get_run(run_id) if run_id is not None else project.latest_run("done")
    if run is None:
        raise NotFoundError(
            "This project has no finished training run. Train one first ('spanlab train') "
            "or pass --model FOLDER."
        )
    if run["status"] != "done" or not run.get("output_dir"):
        raise TrainingError(f"Run {run['id']} is {run['status']} and has no model to evaluate.")
    return run["output_dir"]


def format_table(table: dict) -> str:
    """A precision / recall / F1 / support table as aligned text."""
    width = max([len(name) for name in table] + [5])
    lines = [f"{'':<{width}}  precision  recall      f1  support"]
    for name, row in table.items():
        if name == "micro avg":
            lines.append("")
        lines.append(
            f"{name:<{width}}  {row['precision']:>9.4f}  {row['recall']:>6.4f}  "
            f"{row['f1']:>6.4f}  {row['support']:>7d}"
        )
    return "\n".join(lines)


# -- predict ----------------------------------------------------------------------------------


def cmd_predict(args: argparse.Namespace) -> int:
    from core.training.predict import Predictor

    _quiet_transformers()
    texts = list(args.texts)
    if args.file:
        stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
        with stream:
            texts += [line.rstrip("\n") for line in stream if line.strip()]
    if not texts:
        raise TrainingError("Nothing to tag: give texts as arguments or --file FILE.")
    predictor = Predictor(Path(args.model_dir), device=args.device, batch_size=args.batch_size)
    for text, entities in zip(texts, predictor.predict(texts), strict=True):
        if args.json:
            print(json.dumps({"text": text, "entities": entities}, ensure_ascii=False))
            continue
        print(text)
        for e in entities:
            where = f"{e['start']}-{e['end']}"
            print(f"  {where:<11} {e['label']:<12} {e['score']:.3f}  {e['text']}")
    return 0


# -- runs -------------------------------------------------------------------------------------


def cmd_runs(args: argparse.Namespace) -> int:
    from core.cli import open_project

    with open_project(args.project, readonly=True) as project:
        runs = project.runs()
    if args.json:
        print(json.dumps(runs, indent=2, default=str))
        return 0
    if not runs:
        print("No training runs yet.")
        return 0
    print(f"{'run':>4}  {'status':<9}  {'dev F1':>6}  {'test F1':>7}  {'started':<19}  model")
    for run in runs:
        m = run.get("metrics") or {}
        test = m.get("test") or {}
        started = (run.get("started") or run.get("created") or "")[:19].replace("T", " ")
        where = run.get("output_dir") or run.get("error") or ""
        print(
            f"{run['id']:>4}  {run['status']:<9}  {_num(m.get('f1')):>6}  "
            f"{_num(test.get('f1')):>7}  {started:<19}  {where}"
        )
    return 0


def _quiet_transformers() -> None:
    """No load reports or progress bars from transformers on the CLI: we print our own."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
