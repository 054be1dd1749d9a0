"""``spanlab export-model``: a model folder as Hugging Face, ONNX or ONNX int8, checked."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli.common import open_project, quiet_transformers
from core.deploy import FORMATS
from core.errors import SpanlabError

SPLITS = ("dev", "test", "train")


def register(sub: argparse._SubParsersAction) -> None:
    """Add export-model to the CLI."""
    cmd = sub.add_parser(
        "export-model",
        help="export a model folder (hf, onnx, onnx-int8), checked on dev documents",
        description="Write a model folder as it is (hf), as ONNX, or as ONNX with int8 "
        "weights. An ONNX export is compared with the original on the dev documents of "
        "the run's project and refused when it loses more than 1 F1 point (--force keeps it).",
    )
    cmd.add_argument("model_dir", help="a model folder (e.g. a run's output folder)")
    cmd.add_argument("out", help="the folder to create")
    cmd.add_argument("--format", choices=FORMATS, default="onnx")
    cmd.add_argument(
        "--project",
        help="the project whose documents check the export (default: the run's project, "
        "found beside the model folder)",
    )
    cmd.add_argument("--split", choices=SPLITS, default="dev", help="documents for the check")
    cmd.add_argument("--force", action="store_true", help="keep an export that fails the check")
    cmd.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (the check)")
    cmd.add_argument("--json", action="store_true", help="print the check as JSON")
    cmd.set_defaults(func=cmd_export_model)


def cmd_export_model(args: argparse.Namespace) -> int:
    from core.deploy.export import export_model

    quiet_transformers()
    model_dir = Path(args.model_dir)
    examples = None
    if args.format != "hf":
        examples = _check_documents(model_dir, args.project, args.split)
    check = export_model(
        model_dir,
        Path(args.out),
        format=args.format,
        dev_examples=examples,
        force=args.force,
        progress=None if args.json else lambda message: print(message, file=sys.stderr),
        threads=args.threads,
    )
    if args.json:
        print(json.dumps({"out": str(args.out), "format": args.format, "check": check}, indent=2))
    elif "skipped" in check:
        print(f"{args.out}: {args.format}; not checked ({check['skipped']})")
    else:
        print(
            f"{args.out}: {args.format}; on {check['documents']} {args.split} documents: "
            f"agreement F1 {check['agreement_f1']:.4f}, dev F1 {check['exported_f1']:.4f} "
            f"(torch {check['torch_f1']:.4f}, loss {check['f1_loss_points']:.2f} points)"
            + ("; FAILED the check, kept because of --force" if check.get("forced") else "")
        )
    return 0


def run_project(model_dir: Path) -> Path | None:
    """The project a run's model folder belongs to: ``NAME/run-N`` → ``NAME.spanlab``."""
    if not model_dir.name.startswith("run-"):
        return None
    candidate = model_dir.resolve().parent.with_suffix(".spanlab")
    return candidate if candidate.is_file() else None


def _check_documents(model_dir: Path, project: str | None, split: str) -> list[dict] | None:
    """The annotated documents the export is checked on, or None (with a warning)."""
    path = project or run_project(model_dir)
    if path is None:
        _warn(
            f"the project of {model_dir} was not found, so the export is not checked; pass "
            "--project P to check it on P's dev documents."
        )
        return None
    with open_project(str(path), readonly=True) as opened:
        examples = opened.examples(split)
    if not examples:
        if project:
            raise SpanlabError(
                f"{path} has no annotated documents in the {split} split to check the export "
                "on: assign some, or choose another with --split."
            )
        _warn(f"{path} has no annotated {split} documents, so the export is not checked.")
        return None
    return examples


def _warn(message: str) -> None:
    print(f"spanlab: warning: {message}", file=sys.stderr)
