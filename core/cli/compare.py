"""``spanlab compare``: two runs on the same split — what got fixed, what broke, and
whether the difference is beyond noise (see :mod:`core.insight.compare`)."""

from __future__ import annotations

import argparse
import json

from core.cli.common import open_project, quiet_transformers
from core.training.config import DEVICES

#: Places of each list printed without --json (the JSON has them all).
SHOWN = 20


def register(sub: argparse._SubParsersAction) -> None:
    """Add compare to the CLI."""
    cmd = sub.add_parser(
        "compare",
        help="compare two runs on the same split",
        description="Evaluate two runs on the same documents: per-type F1 of both and the "
        "difference, the entities fixed (wrong in RUN_A, right in RUN_B), broken and wrong "
        "in both, and a paired bootstrap over documents saying whether the difference in "
        "micro F1 is beyond noise.",
    )
    cmd.add_argument("project", help="the .spanlab project file")
    cmd.add_argument("run_a", type=int, metavar="RUN_A", help="the run compared against")
    cmd.add_argument("run_b", type=int, metavar="RUN_B", help="the run compared")
    cmd.add_argument("--split", choices=("dev", "test"), default="dev")
    cmd.add_argument(
        "--resamples", type=int, default=None, help="bootstrap resamples (default: 1000)"
    )
    cmd.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    cmd.add_argument("--device", choices=DEVICES, default="auto")
    cmd.add_argument("--batch-size", type=int, default=32)
    cmd.add_argument("--json", action="store_true", help="print the full comparison as JSON")
    cmd.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    # Loaded here, not at start-up: numpy and torch would slow every `spanlab --help`.
    from core.insight.compare import (
        RESAMPLES,
        compare_models,
        run_model_dir,
        seen_split_note,
        significance_line,
    )

    quiet_transformers()
    with open_project(args.project, readonly=True) as project:
        run_a, run_b = project.get_run(args.run_a), project.get_run(args.run_b)
        model_a, model_b = run_model_dir(run_a), run_model_dir(run_b)
        examples = project.examples(args.split)
    note = seen_split_note([run_a, run_b], args.split)
    result = compare_models(
        model_a,
        model_b,
        examples,
        batch_size=args.batch_size,
        device=args.device,
        resamples=RESAMPLES if args.resamples is None else args.resamples,
        seed=args.seed,
    )
    name_a, name_b = f"Run {args.run_a}", f"Run {args.run_b}"
    if args.json:
        runs = {"a": {"run": args.run_a, "model_dir": model_a}}
        runs["b"] = {"run": args.run_b, "model_dir": model_b}
        line = significance_line(result, name_a, name_b)
        report = {"split": args.split, "runs": runs, **result, "summary": line, "note": note}
        print(json.dumps(report, indent=2))
        return 0
    print(f"Run {args.run_a} (A) against run {args.run_b} (B) on {args.split}:")
    print()
    print(format_types(result["per_type"]))
    print()
    print(significance_line(result, name_a, name_b))
    if note:
        print(note)
    counts = result["counts"]
    print(
        f"\nFixed {counts['fixed']}, broken {counts['broken']}, wrong in both "
        f"{counts['both_wrong']}, right in both {counts['both_right']}."
    )
    for name, title in (("fixed", "Fixed (wrong in A, right in B)"), ("broken", "Broken")):
        if result[name]:
            print(f"\n{title}:")
            print(format_places(result[name]))
    return 0


def format_types(rows: list[dict]) -> str:
    """The per-type table: support, F1 of A and of B, and the difference."""
    width = max([len(r["label"]) for r in rows] + [5])
    lines = [f"{'':<{width}}  support    F1 A    F1 B   delta"]
    for row in rows:
        if row["label"] == "micro avg":
            lines.append("")
        lines.append(
            f"{row['label']:<{width}}  {row['support']:>7d}  {row['f1_a']:>6.4f}  "
            f"{row['f1_b']:>6.4f}  {row['delta']:>+6.4f}"
        )
    return "\n".join(lines)


def format_places(places: list[dict], shown: int = SHOWN) -> str:
    """The first ``shown`` places: document, offsets, text, and the three labels."""
    lines = [f"  {'doc':>6}  {'span':<11}  {'annotated':<10} {'A':<10} {'B':<10} text"]
    for place in places[:shown]:
        where = f"{place['start']}-{place['end']}"
        labels = [place[k] or "-" for k in ("gold", "a", "b")]
        lines.append(
            f"  {place['document_id']:>6}  {where:<11}  {labels[0]:<10} {labels[1]:<10} "
            f"{labels[2]:<10} {place['text']}"
        )
    if len(places) > shown:
        lines.append(f"  … and {len(places) - shown} more (--json lists them all)")
    return "\n".join(lines)
