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


class TrainingError(SpanlabError):
    """A training run that cannot start or cannot go on (bad data, bad config, out of memory)."""


class ModelLoadError(SpanlabError):
    """A model folder that is missing, is not a token-classification model, or is unusable."""
