"""A run, its metrics and its errors as rows for the Results and Try-it tables.

The store keeps a run's metrics as the trainer wrote them (``{"dev": {...}, "test":
{...}}``, each an evaluation summary); these helpers read them without assuming more.
"""

from __future__ import annotations

from core.durations import run_duration, timestamp
from desktop.train_form import model_name

ERROR_KINDS = {
    "false_positive": "false positive",
    "false_negative": "false negative",
    "wrong_type": "wrong type",
    "wrong_boundary": "wrong boundary",
}


# -- reading a run's metrics ---------------------------------------------------------
def split_report(metrics: dict | None, split: str) -> dict:
    """The evaluation summary of one split ("dev" / "test") from a run's metrics."""
    report = (metrics or {}).get(split)
    return report if isinstance(report, dict) else {}


def micro_f1(report: dict | None) -> float | None:
    """A split's entity-level micro-averaged F1 (None when the split was not scored)."""
    value = (report or {}).get("f1")
    return float(value) if isinstance(value, int | float) else None


def run_row(run: dict) -> dict:
    """A run as one line of the runs table."""
    metrics = run["metrics"] or {}
    config = run["config"]
    created = timestamp(run["created"]) or timestamp(run["started"])
    base = str(run["base_model"])
    epochs = metrics.get("epochs_run") or config.get("epochs") or None
    row = dict(run)
    row.update(
        date=created.astimezone().strftime("%Y-%m-%d %H:%M") if created else "",
        base_model_name=model_name(base),
        epochs=epochs if epochs else ("auto" if config else ""),
        dev_f1=micro_f1(split_report(metrics, "dev")),
        test_f1=micro_f1(split_report(metrics, "test")),
        duration=run_duration(run),
        _tooltip=run["error"] or base,
    )
    if run["status"] == "failed":
        row["_foreground"] = "#a1260d"
    return row


def error_rows(errors: list[dict] | None) -> list[dict]:
    """A run's errors as table lines."""
    rows = []
    for error in errors or []:
        row = dict(error)
        kind = str(error.get("kind", ""))
        row["kind_text"] = ERROR_KINDS.get(kind, kind.replace("_", " "))
        label = error.get("label")
        row["gold"] = error.get("gold_label") or (label if kind == "false_negative" else "")
        row["pred"] = error.get("pred_label") or (label if kind == "false_positive" else "")
        row["shown_text"] = error.get("text")
        if error.get("gold_text") and error["gold_text"] != error.get("text"):
            row["shown_text"] = f"{error.get('text')}   (annotated: {error['gold_text']})"
        rows.append(row)
    return rows
