"""Which process runs a training run, and what to do when that process is gone.

A run's row carries its owner: host, pid and the process's start time (so a reused pid
is not mistaken for the run's process). A run left ``queued`` or ``running`` by a
process that no longer exists (killed with SIGKILL, crashed, the machine shut down) is
marked failed with the reason when the project is next opened for writing — or
``done`` when its model folder was complete and renamed into place just before the
end. A read-only open shows the same verdict without writing it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.scratch import pid_alive

OPEN_STATUSES = ("queued", "running")
#: Files that make a run's model folder complete (the trainer renames them into place
#: together, metrics.json included, as the last step of a run).
_MODEL_FILES = ("config.json", "model.safetensors", "metrics.json")


def run_folder(models_dir: Path, run_id: int) -> Path:
    """Where a run's model folder goes: ``NAME/run-<id>`` beside the project file."""
    return Path(models_dir) / f"run-{run_id}"


def this_process() -> str:
    """The owner value for a run started by this process (JSON)."""
    pid = os.getpid()
    return json.dumps({"host": socket.gethostname(), "pid": pid, "start": _start_time(pid)})


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def owner_gone(owner: str | None) -> bool | None:
    """True when the owning process has ended, False when it runs, None when unknowable.

    A run recorded without an owner (by an earlier version) counts as gone: nothing can
    still be running it under this version's eyes.
    """
    if not owner:
        return True
    try:
        info = json.loads(owner)
        pid = int(info["pid"])
    except (ValueError, KeyError, TypeError):
        return True
    if info.get("host") != socket.gethostname():
        return None  # another machine (a shared folder): cannot tell from here
    if not pid_alive(pid):
        return True
    started = info.get("start")
    return started is not None and _start_time(pid) not in (None, started)


def interrupted_fields(run: dict, models_dir: Path) -> dict[str, Any] | None:
    """The fields that close a run whose process is gone, or None if it may still run."""
    if run["status"] not in OPEN_STATUSES or not owner_gone(run.get("owner")):
        return None
    owner = _owner_pid(run.get("owner"))
    folder = run_folder(models_dir, run["id"])
    if all((folder / name).is_file() for name in _MODEL_FILES):
        try:
            metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            metrics = None
        if isinstance(metrics, dict):
            return {
                "status": "done",
                "output_dir": str(folder),
                "metrics": metrics,
                "finished": _mtime(folder / "metrics.json"),
                "error": f"The process running it{owner} ended before it could record the "
                "end, but its model was complete: linked to this run.",
            }
    when = "before it started" if run["status"] == "queued" else "before it finished"
    return {
        "status": "failed",
        "finished": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "error": f"Interrupted: the process running it{owner} ended {when} (killed, "
        "crashed or shut down). No model was kept; start the run again.",
    }


def _owner_pid(owner: str | None) -> str:
    try:
        return f" (pid {int(json.loads(owner)['pid'])})" if owner else ""
    except (ValueError, KeyError, TypeError):
        return ""


def _mtime(path: Path) -> str:
    stamp = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    return stamp.isoformat(timespec="milliseconds")


def recover_runs(project: Any) -> list[int]:
    """Close the project's runs whose process is gone; remove their scratch folders.

    Runs on every open for writing. Takes the write lock only when a run needs closing.
    Returns the ids of the runs it closed.
    """
    rows = project._rows("SELECT * FROM runs WHERE status IN ('queued', 'running') ORDER BY id")
    closing = {}
    for row in rows:
        fields = interrupted_fields(row, project.models_dir)
        if fields is not None:
            closing[row["id"]] = fields
    if closing:
        with project.atomic():
            for run_id, fields in closing.items():
                project.update_run(run_id, **fields)
    remove_dead_scratch(project.models_dir)
    return list(closing)


def remove_dead_scratch(models_dir: Path) -> list[Path]:
    """Delete ``.run-N.partial-PID`` folders (and a refit's ``.run-N.first.partial-PID``
    and the trainer's scratch inside its name) whose training process has ended."""
    removed = []
    if not Path(models_dir).is_dir():
        return removed
    for folder in Path(models_dir).glob(".*run-*.partial-*"):
        pid = folder.name.rpartition("-")[2]
        if pid.isdigit() and not pid_alive(int(pid)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
