"""``spanlab review``: the annotations most likely to be wrong, most suspicious first.

Each annotated document of the split is predicted by a model trained (with the usual
settings, every ``spanlab train`` flag) on the other folds; the fold models are scratch
and are not kept as runs. Suspects a person kept in the app are not listed again.
Ctrl+C stops after the current step and lists what the finished folds found.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from core.cli.common import number, open_project, quiet_transformers
from core.cli.progress import ProgressPrinter
from core.cli.train import _add_config_arguments, _StopOnInterrupt, config_from_args
from core.errors import ValidationError
from core.insight.review import DEFAULT_FOLDS, REVIEW_SPLITS, FoldDone, FoldStarted
from core.insight.suspects import KIND_NAMES, snippet
from core.training.events import Log, Step


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``review`` to the CLI."""
    cmd = sub.add_parser(
        "review",
        help="list likely annotation mistakes (cross-validated predictions)",
        description="Train a model on k-1 folds of the annotated documents, predict the "
        "fold it never saw, and list where the annotation and the model disagree most "
        "confidently: a wrong type, a span that is no entity, a missed entity, a boundary.",
    )
    cmd.add_argument("project", help="the .spanlab project file")
    cmd.add_argument("--n", type=int, default=20, help="how many suspects (default: 20)")
    cmd.add_argument(
        "--folds",
        type=int,
        default=DEFAULT_FOLDS,
        help=f"models to train (default: {DEFAULT_FOLDS}; fewer for a project with fewer documents)",
    )
    cmd.add_argument(
        "--split",
        choices=REVIEW_SPLITS,
        default="train",
        help="whose annotated documents to review (default: train)",
    )
    cmd.add_argument(
        "--json",
        action="store_true",
        help="print one JSON array, most suspicious first: doc_id, text, start, end, "
        "label, suggested, score, kind, suggested_start, suggested_end, fold, span_text",
    )
    _add_config_arguments(cmd)
    cmd.set_defaults(func=cmd_review)


def cmd_review(args: argparse.Namespace) -> int:
    from core.insight.review import open_suspects, run_review

    if args.n < 1:
        raise ValidationError(f"--n {args.n}: ask for at least 1 suspect (e.g. --n 20).")
    quiet_transformers()
    config = config_from_args(args)
    printer = ProgressPrinter(sys.stderr)
    with open_project(args.project, readonly=True) as project, _StopOnInterrupt() as stop:
        try:
            plan, result = run_review(
                project, config, args.folds, args.split, stop, _progress(printer)
            )
        finally:
            printer.end()
        shown = open_suspects(project, result.suspects)
    hidden = len(result.suspects) - len(shown)
    texts = plan.texts()
    summary = (
        f"Reviewed {result.documents:,} documents in {result.folds_done} of {result.folds} "
        f"folds: {len(result.suspects):,} suspects"
        + (f" ({hidden:,} already reviewed, not shown)" if hidden else "")
        + "."
    )
    printer.line(summary)
    if result.labels_unknown:
        printer.line(
            "note: spans labelled " + ", ".join(sorted(result.labels_unknown)) + " were not "
            "judged in folds whose training documents had no such span."
        )
    if result.cancelled:
        printer.line("Stopped: the list holds what the finished folds found.")
    top = shown[: args.n]
    if args.json:
        print(json.dumps([s.to_dict(texts[s.doc_id]) for s in top], ensure_ascii=False))
    else:
        _print_table(top, texts)
    return 130 if result.cancelled else 0


def _progress(printer: ProgressPrinter) -> Callable[[object], None]:
    """Fold lines, and the fold's training progress on the redrawn line."""
    state = {"fold": 0, "folds": 1}

    def show(event: object) -> None:
        if isinstance(event, FoldStarted):
            state.update(fold=event.fold, folds=event.folds)
            printer.line(
                f"Fold {event.fold + 1}/{event.folds}: training on {event.train_documents:,} "
                f"documents, predicting {event.predict_documents:,}"
            )
        elif isinstance(event, FoldDone):
            printer.line(
                f"Fold {event.fold + 1}/{event.folds}: {event.suspects:,} suspects "
                f"({event.seconds:.0f} s)"
            )
        elif isinstance(event, Step):
            done = (state["fold"] + event.step / max(event.total_steps, 1)) / state["folds"]
            printer.redraw(
                f"fold {state['fold'] + 1}/{state['folds']} step {event.step}/{event.total_steps}",
                done,
            )
        elif isinstance(event, Log) and event.level != "info":
            printer.line(event.message)

    return show


def _print_table(suspects: list, texts: dict[int, str]) -> None:
    if not suspects:
        print("No likely mistakes found.")
        return
    print(f"{'score':>6}  {'doc':>6}  {'kind':<15} {'annotated':<12} {'suggested':<12} text")
    for s in suspects:
        print(
            f"{number(s.score):>6}  {s.doc_id:>6}  {KIND_NAMES[s.kind]:<15} "
            f"{s.label or '-':<12} {s.suggested or '-':<12} {snippet(texts[s.doc_id], s)}"
        )
