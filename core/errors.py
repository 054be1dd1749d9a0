"""The errors Spanlab raises on purpose.

Every message is meant for the person at the keyboard: it says what was wrong, where
(file and line for imports), and what to do about it. The CLI prints ``str(error)``;
the desktop shows it in one place. Nothing here is raised for programming mistakes.
"""

from __future__ import annotations

from pathlib import Path


class SpanlabError(Exception):
    """Base of every error meant for the user."""


class NotFoundError(SpanlabError):
    """A label, document, span or run that does not exist."""


class ProjectFileError(SpanlabError):
    """A file that cannot be opened as a Spanlab project (not one, or from a newer version)."""


class ProjectDamagedError(ProjectFileError):
    """A Spanlab project whose file fails SQLite's integrity check."""


class ProjectNeedsUpgradeError(ProjectFileError):
    """A project from an older version of Spanlab, opened read-only (which cannot migrate)."""


class ProjectBusyError(SpanlabError):
    """A write refused because another connection holds the project's write lock."""


class ValidationError(SpanlabError):
    """An edit or a value that breaks a rule of the data model."""


class SpanAlignmentError(ValidationError):
    """A span whose edges do not fall on token boundaries."""

    def __init__(self, message: str, spans: list | None = None) -> None:
        super().__init__(message)
        self.spans = spans or []


class OverlapError(ValidationError):
    """Two spans that overlap: Spanlab does flat NER, one label per token."""


class TagSequenceError(ValidationError):
    """A tag sequence that is not valid in its scheme (e.g. ``I-`` after ``O`` in strict IOB2)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class ImportFormatError(SpanlabError):
    """Bad input in an imported file; carries the file and the 1-based line."""

    def __init__(self, path: str | Path, line: int | None, message: str, hint: str = "") -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        self.hint = hint
        where = f"{self.path}:{line}" if line else self.path
        text = f"{where}: {message}"
        if hint:
            text += f" — {hint}"
        super().__init__(text)

    def __reduce__(self) -> tuple:
        # Rebuilt from its parts, so it crosses a process boundary (a CoNLL import's
        # reading process) as it was raised.
        return type(self), (self.path, self.line, self.reason, self.hint)


class TrainingError(SpanlabError):
    """A training run that cannot start or cannot go on (bad data, bad config, out of memory)."""


class ModelLoadError(SpanlabError):
    """A model folder that is missing, is not a token-classification model, or is unusable."""


def from_system_error(exc: BaseException) -> SpanlabError | None:
    """A user-facing error for an OS or SQLite failure that reached the top, or None.

    The last line of defence for the CLI and the desktop: a full disk, a write-protected
    file or a damaged database file get one readable sentence instead of a traceback.
    """
    import errno
    import sqlite3

    if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
        where = f" {exc.filename}" if exc.filename else ""
        reason = exc.strerror or str(exc)
        hint = {
            errno.ENOSPC: "Free some disk space and try again; nothing was half-written.",
            errno.EDQUOT: "Free some of your disk quota and try again.",
            errno.EACCES: "Check the permissions of the file and its folder.",
            errno.EPERM: "Check the permissions of the file and its folder.",
            errno.EROFS: "The file system is read-only: choose another place.",
            errno.ENOENT: "Check the path.",
        }.get(exc.errno or 0, "Check the path, its permissions and the free disk space.")
        return SpanlabError(f"Cannot use{where}: {reason}. {hint}")
    if isinstance(exc, sqlite3.DatabaseError):
        text = str(exc)
        if "malformed" in text or "not a database" in text:
            return ProjectDamagedError(
                f"The project file is damaged (SQLite: {text}). Restore it from its backup "
                "(NAME.spanlab.bak beside it, made before each import) or from one of yours."
            )
        if "readonly" in text:
            return ProjectFileError(
                f"The project file cannot be written ({text}): make it and its folder "
                "writable, or copy it to a folder you can write to."
            )
        if "locked" in text or "busy" in text:
            return ProjectBusyError(
                f"The project is busy: another window or process is writing to it ({text}). "
                "Try again when it has finished."
            )
        if "full" in text:
            return SpanlabError(f"The disk is full ({text}): free some space and try again.")
        return SpanlabError(f"The project file could not be used: SQLite says “{text}”.")
    return None


class ExportError(SpanlabError):
    """A file that export cannot write: a read-only file or folder, a full disk."""


class FederationError(SpanlabError):
    """A federation cannot go on: labels that differ, a server out of reach, too few sites."""
