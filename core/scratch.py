"""Scratch files and folders beside a target, named after the process that writes them.

Every file Spanlab writes in place (an export, a backup, a copied model folder) is
first written to ``.NAME.<pid>-<random><suffix>`` beside it and renamed into place.
A process killed half-way leaves that scratch behind; the next write to the same
target removes the scratch of processes that no longer exist (never another live
process's).
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


def scratch_path(target: Path, suffix: str) -> Path:
    """A fresh scratch name beside ``target`` that carries this process's id."""
    return target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def remove_stale(target: Path, suffix: str) -> list[Path]:
    """Delete the scratch files or folders of ``target`` whose process has ended."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)-[0-9a-f]{{8}}{re.escape(suffix)}")
    removed = []
    for found in target.parent.glob(f".{glob.escape(target.name)}.*{suffix}"):
        match = pattern.fullmatch(found.name)
        if match is None or pid_alive(int(match[1])):
            continue
        if found.is_dir() and not found.is_symlink():
            shutil.rmtree(found, ignore_errors=True)
        else:
            found.unlink(missing_ok=True)
        removed.append(found)
    return removed
