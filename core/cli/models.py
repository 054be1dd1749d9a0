"""Sub-commands about trained models: evaluate, predict, runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli.common import number, open_project, quiet_transformers
from core.domain import DEFAULT_TOKENIZER, TOKENIZERS
from core.errors import NotFoundError, TrainingError
from core.training.config import DEVICES

if TYPE_CHECKING:
    from core.store import Project


def register(sub: argparse._SubParsersAction) -> None:
    """Add evaluate, predict and runs to the CLI."""
    cmd = sub.add_parser("evaluate", help="score a trained model on a split")
    cmd.add_argument("project", help="the .spanlab project file")
    source = cmd.add_mutually_exclusive_group()
    source.add_argument("--run", type=int, help="run id (default: the latest finished run)")
    source.add_argument("--model", help="a model folder instead of a run")
    cmd.add_argument("--split", choices=("dev", "test", "train"), default="test")
    cmd.add_argument("--device", choices=DEVICES, default="auto")
    cmd.add_argument("--batch-size", type=int, default=32)
    cmd.add_argument("--json", action="store_true", help="print the full result as JSON")
    cmd.set_defaults(func=cmd_evaluate)

    cmd = sub.add_parser("predict", help="tag texts with a trained model")
    cmd.add_argument("model_dir", help="a model folder (e.g. a run's output folder)")
    cmd.add_argument("texts", nargs="*", metavar="TEXT", help="texts to tag")
    cmd.add_argument("--file", help="a UTF-8 file with one text per line ('-' for stdin)")
    cmd.add_argument("--device", choices=DEVICES, default="auto")
    cmd.add_argument("--batch-size", type=int, default=32)
    cmd.add_argument("--json", action="store_true", help="one JSON object per text")
    cmd.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="what runs the model (default: ONNX Runtime where the folder holds an "
        "exported model.onnx, else torch)",
    )
    cmd.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: the machine's cores)"
    )
    cmd.add_argument(
        "--tokenizer",
        choices=TOKENIZERS,
        default=None,
        help="how the texts are split into words (default: as the model's project split "
        f"its text, saved with the model; {DEFAULT_TOKENIZER} for older models)",
    )
    cmd.set_defaults(func=cmd_predict)

    cmd = sub.add_parser("runs", help="list a project's training runs")
    cmd.add_argument("project", help="the .spanlab project file")
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(func=cmd_runs)


# -- evaluate ---------------------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core.training.evaluation import evaluate

    quiet_transformers()
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


def _run_model(project: Project, run_id: int | None) -> str:
    run = project.get_run(run_id) if run_id is not None else project.latest_run("done")
    if run is None:
        raise NotFoundError(
            "This project has no finished training run. Train one first ('spanlab train') "
            "or pass --model FOLDER."
        )
    if run["status"] != "done" or not run["output_dir"]:
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

    quiet_transformers()
    texts = list(args.texts)
    if args.file:
        stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
        with stream:
            texts += [line.rstrip("\n") for line in stream if line.strip()]
    if not texts:
        raise TrainingError("Nothing to tag: give texts as arguments or --file FILE.")
    predictor = Predictor(
        Path(args.model_dir),
        device=args.device,
        batch_size=args.batch_size,
        backend=args.backend,
        threads=args.threads,
    )
    for text, entities in zip(texts, predictor.predict(texts, args.tokenizer), strict=True):
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
        metrics = run["metrics"] or {}
        test = metrics.get("test") or {}
        started = (run["started"] or run["created"] or "")[:19].replace("T", " ")
        where = run["output_dir"] or run["error"] or ""
        print(
            f"{run['id']:>4}  {run['status']:<9}  {number(metrics.get('f1')):>6}  "
            f"{number(test.get('f1')):>7}  {started:<19}  {where}"
        )
    return 0
