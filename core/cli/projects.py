"""Sub-commands about a project's contents: init, import, export, stats, settings."""

from __future__ import annotations

import argparse
import json
import sys

from core.cli.common import open_project, project_path
from core.cli.progress import ProgressPrinter
from core.domain import (
    DEFAULT_TOKENIZER,
    EXPORT_FORMATS,
    IMPORT_FORMATS,
    IMPORT_SCHEMES,
    SPLITS,
    TOKENIZERS,
)
from core.errors import SpanlabError

_LABELS_SHOWN = 20  # the success line names at most this many new labels


def register(sub: argparse._SubParsersAction) -> None:
    """Add init, import, export, stats and settings to the CLI."""
    cmd = sub.add_parser("init", help="create a project file")
    cmd.add_argument("project", help="the project file (NAME or NAME.spanlab)")
    cmd.add_argument("--labels", default="", help="entity labels, comma-separated: PER,ORG,LOC")
    cmd.add_argument(
        "--tokenizer",
        choices=TOKENIZERS,
        default=DEFAULT_TOKENIZER,
        help="how new text is split into words: as NER corpora are (corpus, the default) "
        "or letters and symbols apart (basic)",
    )
    cmd.set_defaults(func=cmd_init)

    cmd = sub.add_parser(
        "import",
        help="import documents (CoNLL, JSONL, text, Label Studio, brat, HF datasets), all or nothing",
        description="Import a file (or a brat / Hugging Face dataset folder) into a project. "
        "Nothing is written if any line is bad.",
    )
    cmd.add_argument("project")
    cmd.add_argument("file", help="the file, or the folder for brat and hf-dataset")
    cmd.add_argument(
        "--format",
        choices=IMPORT_FORMATS,
        help="default: guessed (a folder: hf-dataset or brat; a JSON list: label-studio)",
    )
    cmd.add_argument("--split", choices=SPLITS)
    cmd.add_argument(
        "--scheme",
        choices=IMPORT_SCHEMES,
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
    cmd.add_argument(
        "--text-key",
        metavar="KEY",
        help="the Label Studio data field with the text (default: text, or the only string field)",
    )
    cmd.set_defaults(func=cmd_import)

    cmd = sub.add_parser("export", help="export documents and their entities")
    cmd.add_argument("project")
    cmd.add_argument("file", help="the file, or the folder for brat, hf-dataset and hf-parquet")
    cmd.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        help="default: jsonl for a .jsonl/.json file, else conll (spacy needs "
        "pip install 'spanlab[spacy]')",
    )
    cmd.add_argument("--split", choices=SPLITS)
    cmd.add_argument(
        "--text-key", metavar="KEY", default="text", help="Label Studio: the data field of the text"
    )
    cmd.set_defaults(func=cmd_export)

    cmd = sub.add_parser("stats", help="documents and entities per split and label")
    cmd.add_argument("project")
    cmd.add_argument("--json", action="store_true", help="print the figures as JSON")
    cmd.set_defaults(func=cmd_stats)

    cmd = sub.add_parser(
        "settings",
        help="show or change a project's settings (tokenizer, strategy, retrain_every)",
        description="Without KEY: every setting. With KEY: its value. With VALUE: change it "
        "(the tokens already stored stay as they are; new text gets the new tokenizer).",
    )
    cmd.add_argument("project")
    cmd.add_argument("key", nargs="?")
    cmd.add_argument("value", nargs="?")
    cmd.set_defaults(func=cmd_settings)


def cmd_init(args: argparse.Namespace) -> int:
    from core.store import Project

    labels = [name.strip() for name in args.labels.split(",") if name.strip()]
    path = project_path(args.project)
    if path.exists():
        raise SpanlabError(f"{path} already exists: choose another name, or use it as it is.")
    with Project.create(path, labels=labels or None) as project:
        if args.tokenizer != project.tokenizer():
            project.set_tokenizer(args.tokenizer)
        names = ", ".join(label["name"] for label in project.labels()) or "none yet"
    print(f"Created {path} (labels: {names}; tokenizer: {args.tokenizer}).")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from core.formats import import_file
    from core.formats.interchange import describe_skipped

    printer = ProgressPrinter(sys.stderr)
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
            progress=printer.counter("importing", unit="bytes"),
            strict=not args.lenient,
            snap=args.snap,
            text_key=args.text_key,
        )
    printer.end()
    scheme = f", tags {result.scheme.upper()}" if result.scheme else ""
    print(
        f"Imported {result.documents:,} documents with {result.spans:,} entities from "
        f"{args.file} ({result.format}{scheme}) in {result.seconds:.1f} s."
    )
    if result.model_spans:
        print(f"Stored {result.model_spans:,} predicted entities as model suggestions.")
    if result.skipped:
        print(f"Skipped: {describe_skipped(result.skipped)}.")
    if result.new_labels:
        shown, more = result.new_labels[:_LABELS_SHOWN], len(result.new_labels) - _LABELS_SHOWN
        print(f"New labels: {', '.join(shown)}{f' … and {more:,} more' if more > 0 else ''}.")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from core.formats import export_file

    printer = ProgressPrinter(sys.stderr)
    with open_project(args.project, readonly=True) as project:
        n = export_file(
            project,
            args.file,
            format=args.format,
            split=args.split,
            progress=printer.counter("exporting", unit="documents"),
            text_key=args.text_key,
        )
    printer.end()
    which = f" of the {args.split} split" if args.split else ""
    print(f"Exported {n:,} documents{which} to {args.file}.")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
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
    splits = [s for s in SPLITS if s in stats["splits"]]
    labels = [label["name"] for label in stats["labels"]]
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


def cmd_settings(args: argparse.Namespace) -> int:
    with open_project(args.project, readonly=args.value is None) as project:
        if args.value is not None:
            project.set_setting(args.key, args.value)
        values = project.settings() if args.key is None else {args.key: project.setting(args.key)}
    for key, value in values.items():
        print(f"{key} = {value}")
    return 0
