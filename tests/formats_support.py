"""Small helpers for the import/export tests: tiny corpora and a store snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Two-column IOB2 with TABs and a blank line after every sentence: the layout Spanlab
# exports, so it must come back byte for byte.
EN_CONLL = (
    "EU\tB-ORG\nrejects\tO\nGerman\tB-MISC\ncall\tO\nto\tO\nboycott\tO\n"
    "British\tB-MISC\nlamb\tO\n.\tO\n\n"
    "Peter\tB-PER\nBlackburn\tI-PER\n\n"
    "The\tO\nEuropean\tB-ORG\nCommission\tI-ORG\nsaid\tO\non\tO\nThursday\tO\n.\tO\n\n"
)
ZH_CONLL = (
    "我\tO\n在\tO\n北\tB-ORG\n京\tI-ORG\n大\tI-ORG\n学\tI-ORG\n读\tO\n书\tO\n。\tO\n\n"
    "苹\tB-ORG\n果\tI-ORG\n公\tI-ORG\n司\tI-ORG\n发\tO\n布\tO\niPhone\tB-PROD\n15\tI-PROD\n。\tO\n\n"
    "张\tB-PER\n三\tI-PER\n去\tO\n了\tO\n上\tB-LOC\n海\tI-LOC\n\n"
)


def write(folder: Path, name: str, content: str | bytes) -> Path:
    """Write a test file (text as UTF-8, bytes as they are) and return its path."""
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))
    return path


def snapshot(project: Any) -> dict:
    """Everything an import could change: documents, their spans, labels, statistics."""
    ids = project.document_ids()
    return {
        "ids": ids,
        "texts": [project.get_document(i)["text"] for i in ids],
        "spans": [[(s["start"], s["end"], s["label"]) for s in project.spans(i)] for i in ids],
        "labels": [(lb["name"], lb["colour"], lb["shortcut"]) for lb in project.labels()],
        "stats": project.stats(),
    }
