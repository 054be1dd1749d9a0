"""The headless ``spanlab`` sub-commands: init, import, export, stats.

``core.cli_training`` adds train, evaluate, predict and runs. The console script is
``desktop.launch:main``: without arguments it opens the desktop app, otherwise it hands
over here, so core never imports the GUI. Each sub-command sets ``func``
(``func(args) -> int``) with ``set_defaults``. An error meant for the user (SpanlabError)
is printed as ``spanlab: error: <message>`` on stderr with exit status 1; usage errors
exit with 2. A PROJECT argument without an extension means ``PROJECT.spanlab``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from core.errors import SpanlabError, from_system_error

if TYPE_CHECKING:
    from core.store import Project

PROG = "spanlab"
SUFFIX = ".spanlab"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exit_:  # --help, or a usage error (argparse printed it)
        return exit_.code if isinstance(exit_.code, int) else 2
    if getattr(args, "func", None) is None:  # no sub-command: the app is desktop.launch's job
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: choose a command (or run {PROG} alone for the app)", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except SpanlabError as error:
        return _fail(error)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`spanlab stats P | head -1`): stop quietly,
        # as other Unix tools do, and keep Python from complaining at exit.
        _silence_stdout()
        return 141
    except (OSError, sqlite3.Error) as error:
        known = from_system_error(error)
        if known is None:
            raise
        return _fail(known)


def _fail(error: SpanlabError) -> int:
    with contextlib.suppress(BrokenPipeError):
        print(f"{PROG}: error: {error}", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Build named-entity recognisers: annotate, train, measure, try. "
        "Without arguments, spanlab opens the desktop app.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_init(sub)
    _add_import(sub)
    _add_export(sub)
    _add_stats(sub)
    from core import cli_training

    cli_training.register(sub)
    return parser


def project_path(name: str) -> Path:
    """``NAME`` → ``NAME.spanlab``; a name with an extension is used as it is."""
    path = Path(name)
    return path if path.suffix else path.with_name(path.name + SUFFIX)


def open_project(name: str, readonly: bool = False) -> Project:
    """Open an existing project; a command that only reads opens it read-only, so it
    works while another process writes (the store is imported lazily: quick --help)."""
    from core.store import Project

    path = project_path(name)
    if not path.exists():
        raise SpanlabError(f"There is no project {path}: create it with `spanlab init {name}`.")
    return Project.open(path, readonly=readonly)


# -- init ----------------------------------------------------------------------------------


def _add_init(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("init", help="create a project file")
    cmd.add_argument("project", help="the project file (NAME or NAME.spanlab)")
    cmd.add_argument("--labels", default="", help="entity labels, comma-separated: PER,ORG,LOC")
    cmd.set_defaults(func=_init)


def _init(args: argparse.Namespace) -> int:
    from core.store import Project

    labels = [name.strip() for name in args.labels.split(",") if name.strip()]
    path = project_path(args.project)
    if path.exists():
        raise SpanlabError(f"{path} already exists: choose another name, or use it as it is.")
    with Project.create(path, labels=labels or None) as project:
        names = ", ".join(label["name"] for label in project.labels()) or "none yet"
    print(f"Created {path} (labels: {names}).")
    return 0


# -- import --------------------------------------------------------------------------------


def _add_import(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "import",
        help="import documents (CoNLL, JSONL, plain text), all or nothing",
        description="Import a file into a project. Nothing is written if any line is bad.",
    )
    cmd.add_argument("project")
    cmd.add_argument("file")
    cmd.add_argument("--format", choices=("conll", "jsonl", "text"), help="default: guessed")
    cmd.add_argument("--split", choices=("train", "dev", "test", "unassigned"))
    cmd.add_argument(
        "--scheme",
        choices=("auto", "iob1", "iob2", "bioes"),
        default="auto",
        help="tag scheme of a CoNLL file (default: detected)",
    )
    cmd.add_argument(
        "--lock-labels", action="store_true", help="reject labels the project does not have"
    )
    cmd.add_argument(
        "--lenient", action="store_true", help="accept sloppy tags (a stray I- starts an entity)"
    )
    cmd.add_argument(
        "--snap", action="store_true", help="grow JSONL spans that cut words to whole words"
    )
    cmd.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    from core.formats import import_file

    reporter = _Progress(sys.stderr, "importing", unit="bytes")
    with open_project(args.project) as project:
        if project.count_documents():  # a copy to go back to if anything goes wrong later
            project.backup()
        result = import_file(
            project,
            args.file,
            format=args.format,
            split=args.split,
            scheme=args.scheme,
            lock_labels=args.lock_labels,
            progress=reporter,
            strict=not args.lenient,
            snap=args.snap,
        )
    reporter.done()
    scheme = f", tags {result.scheme.upper()}" if result.scheme else ""
    print(
        f"Imported {result.documents:,} documents with {result.spans:,} entities from "
        f"{args.file} ({result.format}{scheme}) in {result.seconds:.1f} s."
    )
    if result.new_labels:
        shown, more = result.new_labels[:_LABELS_SHOWN], len(result.new_labels) - _LABELS_SHOWN
        print(f"New labels: {', '.join(shown)}{f' … and {more:,} more' if more > 0 else ''}.")
    return 0


_LABELS_SHOWN = 20  # the success line names at most this many new labels


# -- export --------------------------------------------------------------------------------


def _add_export(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("export", help="export documents and their entities")
    cmd.add_argument("project")
    cmd.add_argument("file")
    cmd.add_argument(
        "--format",
        choices=("conll", "conll-bioes", "jsonl", "doccano"),
        help="default: jsonl for a .jsonl/.json file, else conll",
    )
    cmd.add_argument("--split", choices=("train", "dev", "test", "unassigned"))
    cmd.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from core.formats import export_file

    reporter = _Progress(sys.stderr, "exporting", unit="documents")
    with open_project(args.project, readonly=True) as project:
        n = export_file(project, args.file, format=args.format, split=args.split, progress=reporter)
    reporter.done()
    which = f" of the {args.split} split" if args.split else ""
    print(f"Exported {n:,} documents{which} to {args.file}.")
    return 0


# -- stats ---------------------------------------------------------------------------------


def _add_stats(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("stats", help="documents and entities per split and label")
    cmd.add_argument("project")
    cmd.add_argument("--json", action="store_true", help="print the figures as JSON")
    cmd.set_defaults(func=_stats)


def _stats(args: argparse.Namespace) -> int:
    with open_project(args.project, readonly=True) as project:
        stats = project.stats()
        name = project.path.name
    if args.json:
        print(json.dumps(stats, indent=2, ensure_ascii=False, default=str))
    else:
        print(format_stats(stats, name))
    return 0


def format_stats(stats: dict, title: str = "") -> str:
    """A table: rows are documents, annotated and one per label; columns are the splits."""
    splits = [s for s in ("train", "dev", "test", "unassigned") if s in stats["splits"]]
    labels = [lb["name"] if isinstance(lb, dict) else str(lb) for lb in stats.get("labels", [])]
    rows: list[tuple[str, list[int]]] = [
        ("documents", [stats["splits"][s]["documents"] for s in splits]),
        ("annotated", [stats["splits"][s]["annotated"] for s in splits]),
    ]
    for label in labels:
        rows.append((f"  {label}", [stats["splits"][s]["entities"].get(label, 0) for s in splits]))
    header = ["", *splits, "total"]
    body = [[name, *(f"{n:,}" for n in counts), f"{sum(counts):,}"] for name, counts in rows]
    if labels:
        body.insert(2, ["entities:", *([""] * (len(splits) + 1))])
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [f"{title}: {stats['documents']:,} documents"] if title else []
    for row in [header, *body]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    if not labels:
        lines.append("No labels yet: add some with `spanlab init --labels` or by importing.")
    return "\n".join(lines)


# -- progress on a terminal ------------------------------------------------------------------


class _Progress:
    """``progress(done, total)`` callback that redraws one line on a terminal (stderr)."""

    def __init__(self, stream: TextIO, verb: str, unit: str) -> None:
        self.stream = stream
        self.verb = verb
        self.unit = unit
        self.shown = False
        self.started = time.monotonic()
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.started < 1.0:
            return
        percent = f"{100 * done / total:5.1f}%" if total else ""
        amount = f"{done / 1e6:,.1f} MB" if self.unit == "bytes" else f"{done:,} {self.unit}"
        self.stream.write(f"\r{self.verb} {percent} ({amount})")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


if __name__ == "__main__":
    raise SystemExit(main())
