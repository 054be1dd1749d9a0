"""Training runs: one row per run (config, status, metrics) and its log of events.

A run is created by whoever trains (the CLI, the desktop queue) and owned by that
process; a run whose process is gone shows, and on the next open for writing is
recorded, as interrupted (``core.run_owner``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core import run_owner
from core.domain import RUN_STATUSES
from core.errors import NotFoundError, ValidationError
from core.store.connection import ProjectFile, now
from core.store.values import check_choice, plain_number, to_json

_RUN_FIELDS = ("status", "started", "finished", "output_dir", "metrics", "error", "base_model")
_EVENT_FIELDS = ("kind", "step", "epoch", "loss", "lr", "throughput")


class Runs(ProjectFile):
    """Recording and reading training runs."""

    def create_run(
        self,
        config: dict,
        base_model: str,
        status: str = "queued",
        study: str | None = None,
        trial: int | None = None,
    ) -> int:
        """Record a new training run; returns its id.

        ``study`` and ``trial`` tag a run that a hyper-parameter search made: a trial's
        run carries both, the run trained with a study's best settings only the study.
        """
        check_choice("run status", status, RUN_STATUSES)
        _check_tags(study, trial)
        with self.atomic():
            cursor = self._conn.execute(
                "INSERT INTO runs (config, status, created, base_model, owner, study, trial)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    to_json(config),
                    status,
                    now(),
                    base_model,
                    run_owner.this_process(),
                    study,
                    trial,
                ],
            )
            return cursor.lastrowid

    def update_run(self, run_id: int, **fields: Any) -> dict:
        """Set some of a run's fields: status, started, finished, output_dir, metrics
        (a dict), error, base_model. Timestamps may be datetimes or ISO strings."""
        unknown = set(fields) - set(_RUN_FIELDS)
        if unknown:
            raise TypeError(f"update_run() got unknown fields: {', '.join(sorted(unknown))}")
        if "status" in fields:
            check_choice("run status", fields["status"], RUN_STATUSES)
        values = {key: _run_value(key, value) for key, value in fields.items()}
        if fields.get("status") == "running":  # whoever starts it is the one running it
            values["owner"] = run_owner.this_process()
        with self.atomic():
            self.get_run(run_id)
            if values:
                assignments = ", ".join(f"{key} = ?" for key in values)
                self._conn.execute(
                    f"UPDATE runs SET {assignments} WHERE id = ?", [*values.values(), run_id]
                )
            return self.get_run(run_id)

    def add_run_events(self, run_id: int, events: Iterable[dict]) -> int:
        """Append events to a run's log. Known keys (kind, step, epoch, loss, lr,
        throughput, time) become columns; ``data`` and any other keys are kept as JSON."""
        with self.atomic():
            self.get_run(run_id)
            rows = [_event_row(run_id, event) for event in events]
            self._conn.executemany(
                "INSERT INTO run_events (run_id, time, kind, step, epoch, loss, lr, throughput,"
                " data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return len(rows)

    def runs(self, study: str | None = None) -> list[dict]:
        """Every run, newest first; only the runs of one search's study when ``study``."""
        if study is None:
            rows = self._rows("SELECT * FROM runs ORDER BY id DESC")
        else:
            rows = self._rows("SELECT * FROM runs WHERE study = ? ORDER BY id DESC", [study])
        return [self._run_view(row) for row in rows]

    def get_run(self, run_id: int) -> dict:
        """One run (NotFoundError when there is none)."""
        row = self._one("SELECT * FROM runs WHERE id = ?", [run_id])
        if row is None:
            raise NotFoundError(f"There is no training run {run_id}.")
        return self._run_view(row)

    def _run_view(self, row: dict) -> dict:
        """A run as a dict; one whose process is gone shows as it will be recorded.

        A project opened for writing has already recorded that on open; a read-only
        one (``spanlab runs`` beside a writer) only shows it.
        """
        fields = run_owner.interrupted_fields(row, self.models_dir)
        if fields is not None:
            row = {**row, **{key: _run_value(key, value) for key, value in fields.items()}}
        return _run_dict(row)

    def run_events(self, run_id: int) -> list[dict]:
        """A run's events in the order they were added."""
        self.get_run(run_id)
        rows = self._rows(
            "SELECT id, run_id, time, kind, step, epoch, loss, lr, throughput, data"
            " FROM run_events WHERE run_id = ? ORDER BY id",
            [run_id],
        )
        for row in rows:
            row["data"] = json.loads(row["data"]) if row["data"] else {}
        return rows

    def latest_run(self, status: str | None = "done") -> dict | None:
        """The newest run with this status (any status when None), or None."""
        if status is None:
            row = self._one("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
        else:
            check_choice("run status", status, RUN_STATUSES)
            row = self._one(
                "SELECT * FROM runs WHERE status = ? ORDER BY id DESC LIMIT 1", [status]
            )
        return self._run_view(row) if row else None

    def delete_run(self, run_id: int) -> None:
        """Forget a run and its events (its model folder on disk is left alone)."""
        with self.atomic():
            self.get_run(run_id)
            self._conn.execute("DELETE FROM runs WHERE id = ?", [run_id])


def _check_tags(study: str | None, trial: int | None) -> None:
    if study is not None and (not isinstance(study, str) or not study.strip()):
        raise ValidationError(f"A run's study must be a non-empty name (got {study!r}).")
    if trial is None:
        return
    if study is None:
        raise ValidationError(f"Trial {trial} of which study? A run's trial needs its study.")
    if isinstance(trial, bool) or not isinstance(trial, int) or trial < 0:
        raise ValidationError(f"A run's trial must be a number 0 or above (got {trial!r}).")


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _run_value(key: str, value: Any) -> Any:
    if key == "metrics":
        return None if value is None else to_json(value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _run_dict(row: dict) -> dict:
    row["config"] = json.loads(row["config"]) if row["config"] else {}
    row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else None
    return row


def _event_row(run_id: int, event: dict) -> tuple:
    if not event.get("kind"):
        raise ValidationError(f"A run event needs a kind (got {event!r}).")
    data = dict(event.get("data") or {})
    for key, value in event.items():
        if key not in (*_EVENT_FIELDS, "data", "time"):
            data[key] = value
    time = event.get("time") or now()
    if isinstance(time, datetime):
        time = _iso(time)
    return (
        run_id,
        time,
        event["kind"],
        *(plain_number(event.get(key)) for key in _EVENT_FIELDS[1:]),
        to_json(data) if data else None,
    )
