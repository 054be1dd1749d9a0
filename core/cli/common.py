"""What every sub-command of the ``spanlab`` CLI shares: names, opening a project."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ProjectNeedsUpgradeError, SpanlabError

if TYPE_CHECKING:
    from core.store import Project

PROG = "spanlab"
SUFFIX = ".spanlab"


def project_path(name: str) -> Path:
    """``NAME`` → ``NAME.spanlab``; a name with an extension is used as it is."""
    path = Path(name)
    return path if path.suffix else path.with_name(path.name + SUFFIX)


def open_project(name: str, readonly: bool = False) -> Project:
    """Open an existing project; a command that only reads opens it read-only, so it
    works while another process writes (the store is imported lazily: quick --help)."""
    from core.store import Project

    path = project_path(name)
    if not path.exists():
        raise SpanlabError(f"There is no project {path}: create it with `spanlab init {name}`.")
    try:
        return Project.open(path, readonly=readonly)
    except ProjectNeedsUpgradeError:
        # Saved by an earlier version: bring it up to date once (a short write, the
        # migration), then read it as asked.
        Project.open(path).close()
        return Project.open(path, readonly=True)


def number(value: Any) -> str:
    """A score with four decimals, or ``-`` when there is none."""
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def quiet_transformers() -> None:
    """No load reports or progress bars from transformers on the CLI: we print our own."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
