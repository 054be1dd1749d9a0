"""Checks on the values a caller hands the store, and how values are stored as JSON.

Each check raises ValidationError saying what was wrong and what to write instead.
Span and token checks are not here: they live in ``core.spancheck``, shared with the
readers and the annotation view.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from core.domain import SPLITS, STATUSES
from core.errors import ValidationError

#: The longest label name: it is shown in menus, buttons and tables.
MAX_LABEL_CHARS = 100
_SPLIT_SET = frozenset(SPLITS)
_STATUS_SET = frozenset(STATUSES)


def check_choice(what: str, value: Any, allowed: Sequence[str]) -> None:
    """Refuse a value that is not one of ``allowed`` (a split, status, origin...)."""
    if value not in allowed:
        raise ValidationError(f"Unknown {what} {value!r}; use one of: {', '.join(allowed)}.")


def check_label_name(name: Any) -> str:
    """A label name, stripped: no spaces or invisible characters, not "O", not too long."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("A label needs a name.")
    name = name.strip()
    if " " in name or not name.isprintable():  # a space, a control, an invisible character
        pieces = "".join(ch if _visible(ch) else " " for ch in name).split()
        bad = next(ch for ch in name if not _visible(ch))
        tries = " or ".join(dict.fromkeys(shown(s) for s in ("_".join(pieces), "".join(pieces))))
        raise ValidationError(
            f"Label names cannot contain spaces or invisible characters: {shown(name)} "
            f"contains {_char_name(bad)}; try {tries}."
        )
    if name == "O":
        raise ValidationError("'O' means 'outside any entity' in tags; choose another label name.")
    if len(name) > MAX_LABEL_CHARS:
        raise ValidationError(
            f"The label name {shown(name, 40)} is too long: a label is an entity type such "
            f"as PER or ORG, at most {MAX_LABEL_CHARS} characters."
        )
    return name


def check_colour(colour: Any) -> str:
    """A colour as lower-case ``#rrggbb``."""
    text = str(colour).strip().lower()
    valid = len(text) == 7 and text[0] == "#" and all(c in "0123456789abcdef" for c in text[1:])
    if not valid:
        raise ValidationError(f"A colour is written #rrggbb, for example #8dd3c7 (got {colour!r}).")
    return text


def check_text(text: Any) -> None:
    """A document's text: a string that is not empty."""
    if not isinstance(text, str):
        raise ValidationError(f"A document's text must be a string, not {type(text).__name__}.")
    if not text:
        raise ValidationError("A document cannot be empty.")


def split_and_status(doc: dict) -> tuple[str, str]:
    """An incoming document's split and status, defaulted and checked."""
    split = doc.get("split") or "unassigned"
    if split not in _SPLIT_SET:
        check_choice("split", split, SPLITS)
    status = doc.get("status") or "new"
    if status not in _STATUS_SET:
        check_choice("status", status, STATUSES)
    return split, status


def shown(name: Any, limit: int = 100) -> str:
    """``repr`` of a name for a message, cut to ``limit`` characters (imports can be huge)."""
    if isinstance(name, str) and len(name) > limit:
        return f"{name[:limit]!r}… ({len(name):,} characters)"
    text = repr(name)
    return text if len(text) <= limit + 20 else text[:limit] + "…"


def _visible(ch: str) -> bool:
    return ch != " " and ch.isprintable()


def _char_name(ch: str) -> str:
    """``a no-break space (U+00A0)``: an invisible character, named so a person can find it."""
    name = _CONTROL_NAMES.get(ch) or unicodedata.name(ch, "").lower() or "an invisible character"
    article = "an" if name[0] in "aeiou" else "a"
    return f"{article} {name} (U+{ord(ch):04X})"


_CONTROL_NAMES = {
    "\t": "tab",
    "\n": "line break",
    "\r": "carriage return",
    "\v": "vertical tab",
    "\f": "form feed",
    "\x85": "next-line character",
    **{chr(c): "information separator" for c in range(0x1C, 0x20)},
}


# -- JSON columns ----------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    """Make numpy / torch scalars and paths JSON-friendly."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (Path, datetime)):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot be stored as JSON")


def to_json(value: Any) -> str:
    """A value as stored in a JSON column (meta, config, metrics, event data)."""
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def plain_number(value: Any) -> Any:
    """A numpy / torch scalar as a Python number; anything else unchanged."""
    return value.item() if hasattr(value, "item") else value
