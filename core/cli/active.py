"""``spanlab next``: the new documents most worth annotating next, most useful first.

The project is opened for writing: the scores are stored, so a second call (and the
app) reuses them and scores only what changed since.
"""

from __future__ import annotations

import argparse
import json
import sys

from core.cli.common import number, open_project, quiet_transformers
from core.cli.progress import ProgressPrinter
from core.domain import STRATEGIES
from core.errors import ValidationError

#: How much of a document's text the table shows.
TEXT_CHARS = 70


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``next`` to the CLI."""
    cmd = sub.add_parser(
        "next",
        help="list the new documents most worth annotating next",
        description="Score the project's new documents with a trained model (only those "
        "whose text or model changed) and list the most useful first.",
    )
    cmd.add_argument("project", help="the .spanlab project file")
    cmd.add_argument("--n", type=int, default=10, help="how many documents (default: 10)")
    cmd.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="how usefulness is scored (default: the project's setting, mnlp unless set)",
    )
    cmd.add_argument(
        "--model",
        metavar="RUN_OR_DIR",
        help="a run id (7 or run-7) or a model folder (default: the latest finished run)",
    )
    cmd.add_argument("--json", action="store_true", help="print one JSON array")
    cmd.set_defaults(func=cmd_next)


def cmd_next(args: argparse.Namespace) -> int:
    from core.active.pool import next_documents, require_pool, score_pool

    if args.n < 1:
        raise ValidationError(f"--n {args.n}: ask for at least 1 document (e.g. --n 10).")
    quiet_transformers()
    printer = ProgressPrinter(sys.stderr)
    show = printer.counter("Scoring", "documents")
    with open_project(args.project) as project:
        strategy = args.strategy or project.strategy()
        require_pool(project)
        try:
            result = score_pool(
                project, strategy, model=args.model, progress=lambda pair: show(*pair)
            )
        finally:
            printer.end()
        model = f"run {result.run_id}" if result.run_id is not None else args.model
        printer.line(
            f"Scored {result.scored:,} new documents with {model} ({strategy}); "
            f"{result.reused:,} kept their score."
        )
        if result.warning:
            printer.line(f"warning: {result.warning}")
        docs = next_documents(project, max(0, args.n), strategy)
    if args.json:
        print(json.dumps(docs, ensure_ascii=False))
        return 0
    print(f"{'rank':>5}  {'id':>7}  {'score':>7}  text")
    for doc in docs:
        text = " ".join(doc["text"].split())
        if len(text) > TEXT_CHARS:
            text = text[: TEXT_CHARS - 1] + "…"
        print(f"{doc['rank']:>5}  {doc['id']:>7}  {number(doc['score']):>7}  {text}")
    return 0
