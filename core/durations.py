"""Durations for people: ``1 h 02 min`` / ``3 min 05 s`` / ``12 s`` (CLI and desktop).

A training run's duration has one source, its stored ``started`` and ``finished``
timestamps, so every place that shows it (Train tab, Results tab) says the same.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def format_duration(seconds: float | None, unknown: str = "") -> str:
    """A number of seconds as a short human duration; ``unknown`` when there is none."""
    if seconds is None or seconds < 0:
        return unknown
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def format_eta(seconds: float | None) -> str:
    """A training run's estimate of the time left: ``ETA 3 min 05 s``; empty when none."""
    text = format_duration(seconds)
    return f"ETA {text}" if text else ""


def timestamp(value: Any) -> datetime | None:
    """A stored timestamp (ISO 8601, or epoch seconds) as an aware datetime, or None.

    The store writes UTC; a timestamp without a zone is read as UTC too.
    """
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def run_seconds(run: dict) -> float | None:
    """How long a run trained: from its ``started`` to its ``finished`` timestamp.

    None while either is missing (a run cancelled before it started, or still going).
    """
    started, finished = timestamp(run.get("started")), timestamp(run.get("finished"))
    if started is None or finished is None:
        return None
    return (finished - started).total_seconds()


def run_duration(run: dict, unknown: str = "") -> str:
    """A run's duration for people (see :func:`run_seconds`)."""
    return format_duration(run_seconds(run), unknown)
