"""Running Spanlab in processes of its own, as a person or a script would.

Tests of what crosses a process boundary (two processes on one project, a killed run,
a full disk) start the real command line here rather than calling it in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120
#: The ``spanlab`` command line, as ``python -c`` code (the console script runs the same).
CLI = "import sys; from core.cli import main; sys.exit(main())"
#: "$0" is the folder to mount; the rest is the command to run with it mounted. Used
#: as root, where permission bits are not enforced, in a mount namespace of the
#: command's own (nothing outside it sees the mount).
READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
SMALL_DISK_MOUNT = 'mount -t tmpfs -o size=1m spanlab-test "$0" && exec "$@"'


def child_env() -> dict[str, str]:
    """The environment of a child process: this checkout first, never the network."""
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}


def spanlab(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``spanlab ARGS`` in a process of its own; stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        input=input,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=TIMEOUT_S,
    )


def python_in_namespace(mount: str, folder: Path, code: str) -> subprocess.CompletedProcess:
    """Run Python ``code`` with ``folder`` mounted as ``mount`` says (root only)."""
    command = ["unshare", "-m", "sh", "-c", mount, str(folder), sys.executable, "-c", code]
    return subprocess.run(
        command, capture_output=True, text=True, env=child_env(), timeout=TIMEOUT_S
    )


def can_mount(folder: Path) -> bool:
    """Whether this process may mount file systems in a namespace (root, unshare)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    return python_in_namespace(SMALL_DISK_MOUNT, folder, "pass").returncode == 0
