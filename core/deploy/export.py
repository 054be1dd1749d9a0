"""Export a trained model folder: as it is (``hf``), as ONNX, or as ONNX with int8 weights.

The exported folder keeps what loads and describes the model — tokenizer, config.json
(the label map), train_config.json, metrics.json — so ``spanlab predict``, Try it and
Pre-annotate load it like any model folder, and adds ``export.json``: the format and the
check (:mod:`core.deploy.verify`) on the dev documents given. It is written into a
hidden scratch folder beside the target and renamed into place only when complete and
checked, so an interrupted or refused export leaves nothing that looks like a model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from core import scratch
from core.deploy import FORMATS
from core.errors import ExportError, ValidationError

Progress = Callable[[str], None]

#: Files of a torch model folder an ONNX folder does not need (its weights are in the graph).
_WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.onnx", "*.onnx.data", "*.msgpack")


def export_model(
    model_dir: str | Path,
    out: str | Path,
    format: str = "onnx",  # noqa: A002 (the word the CLI and the issue use)
    dev_examples: Sequence[dict] | None = None,
    force: bool = False,
    progress: Progress | None = None,
    threads: int | None = None,
) -> dict:
    """Write ``model_dir`` to the new folder ``out`` in ``format``; returns the check.

    With ``dev_examples`` an ONNX export is compared with the original on them and
    refused (ExportError) when it loses more than one F1 point, unless ``force``.
    Without them the check says it was skipped.
    """
    say = progress or (lambda _message: None)
    source, target = Path(model_dir), Path(out)
    if format not in FORMATS:
        raise ValidationError(f"Unknown export format {format!r}: choose {', '.join(FORMATS)}.")
    if not (source / "config.json").is_file():
        raise ValidationError(
            f"{source} is not a model folder (no config.json): choose a run's model folder."
        )
    if target.exists():
        raise ExportError(f"{target} already exists: choose another folder or name.")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch.remove_stale(target, ".partial")  # what a killed export left behind
    partial = scratch.scratch_path(target, ".partial")
    try:
        if format == "hf":
            say("Copying the model folder…")
            shutil.copytree(source, partial)
            check: dict = {"skipped": "the same weights as the original: nothing to compare"}
        else:
            partial.mkdir()
            _copy_metadata(source, partial)
            from core.deploy.onnx_export import write_onnx

            int8 = format == "onnx-int8"
            say("Exporting to ONNX and quantizing to int8…" if int8 else "Exporting to ONNX…")
            write_onnx(source, partial, int8=int8)
            check = _check(source, partial, dev_examples, force, threads, say)
        _write_export_json(partial, format, source, check)
        _write_card(partial)
        os.replace(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    say(f"Exported to {target}")
    return check


def _check(
    source: Path,
    exported: Path,
    examples: Sequence[dict] | None,
    force: bool,
    threads: int | None,
    say: Progress,
) -> dict:
    from core.deploy.verify import MAX_LOSS_POINTS, check_export

    if not examples:
        return {"skipped": "no dev documents were given to compare the export on"}
    say(f"Checking the export on {len(examples)} dev documents…")
    check = check_export(source, exported, examples, threads=threads)
    if not check["passed"]:
        if not force:
            raise ExportError(
                f"The exported model loses {check['f1_loss_points']:.2f} F1 points on "
                f"{check['documents']} dev documents (dev F1 {check['exported_f1']:.4f} "
                f"against {check['torch_f1']:.4f}; agreement F1 {check['agreement_f1']:.4f}), "
                f"more than the {MAX_LOSS_POINTS:g} allowed. Export as 'onnx' (fp32) or "
                "'hf', or pass --force to keep it anyway."
            )
        check["forced"] = True
    return check


def _copy_metadata(source: Path, target: Path) -> None:
    """Every top-level file of ``source`` but its weights."""
    weights = {p for pattern in _WEIGHTS for p in source.glob(pattern)}
    for file in source.iterdir():
        if file.is_file() and file not in weights:
            shutil.copy2(file, target / file.name)


def _write_export_json(folder: Path, format: str, source: Path, check: dict) -> None:  # noqa: A002
    data = {
        "format": format,
        "source": str(source.resolve()),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "check": check,
    }
    (folder / "export.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _write_card(folder: Path) -> None:
    """The model card (README.md) with the export check, where the card writer exists."""
    if importlib.util.find_spec("core.training.card") is None:
        return
    from core.training.card import write_card

    write_card(folder)
