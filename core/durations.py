"""Durations for people: ``1 h 02 min`` / ``3 min 05 s`` / ``12 s`` (CLI and desktop)."""

from __future__ import annotations


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
