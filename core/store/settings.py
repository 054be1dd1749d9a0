"""Choices that belong to a project rather than to a run: the ``settings`` table.

A key without a row has its default. ``tokenizer`` names the word tokenizer that new
text of the project gets (``core.tokenize.TOKENIZERS``): a new project splits text the
way NER corpora are split; a project made before settings existed keeps ``basic``, the
tokenizer its stored tokens were made with (the schema 5 migration writes that row).
``strategy`` says how the model's usefulness of a ``new`` document is scored for the
"most useful first" order (``core.domain.STRATEGIES``); ``retrain_every`` after how many
newly annotated documents the app re-trains the model (0: never by itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.domain import DEFAULT_STRATEGY, DEFAULT_TOKENIZER, STRATEGIES, TOKENIZERS
from core.errors import ProjectFileError, ValidationError
from core.store.connection import ProjectFile
from core.store.values import check_choice


@dataclass(frozen=True)
class WholeNumber:
    """A setting whose value is a whole number from ``low`` to ``high``, stored as text."""

    low: int
    high: int
    note: str = ""  # what a special value means, for messages: "0 = off"

    def accepts(self, value: str) -> bool:
        """Whether ``value`` is such a number written plainly (``"20"``, not ``"+20"``)."""
        return value.isascii() and value.isdigit() and self.low <= int(value) <= self.high

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"a whole number from {self.low} to {self.high:,}{note}"


#: What values a setting takes: one of a few names, or a whole number in a range.
Allowed = tuple[str, ...] | WholeNumber

#: Each setting's allowed values and default.
SETTINGS: dict[str, tuple[Allowed, str]] = {
    "tokenizer": (TOKENIZERS, DEFAULT_TOKENIZER),
    "strategy": (STRATEGIES, DEFAULT_STRATEGY),
    "retrain_every": (WholeNumber(0, 1_000_000, "0 = off"), "20"),
}


class Settings(ProjectFile):
    """Reading and changing the project's settings."""

    def settings(self) -> dict[str, str]:
        """Every setting with its value (the default where the project has none)."""
        return {key: self.setting(key) for key in SETTINGS}

    def setting(self, key: str) -> str:
        """One setting's value; ValidationError for a key Spanlab does not know."""
        allowed, default = _known(key)
        value = self._scalar("SELECT value FROM settings WHERE key = ?", [key])
        if value is None:
            return default
        if not _accepts(allowed, value):
            known = allowed if isinstance(allowed, WholeNumber) else ", ".join(allowed)
            raise ProjectFileError(
                f"{self.path} sets {key} to {value!r}, which this version of Spanlab does not "
                f"know (it knows {known}): open it with the version that wrote it, or set "
                "another value."
            )
        return value

    def set_setting(self, key: str, value: str) -> None:
        """Change one setting (one committed transaction)."""
        allowed, _ = _known(key)
        if isinstance(allowed, WholeNumber):
            if not isinstance(value, str) or not allowed.accepts(value.strip()):
                raise ValidationError(f"The setting {key} is {allowed}, not {value!r}.")
            value = str(int(value))
        else:
            check_choice(key, value, allowed)
        with self.atomic():
            self._conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )

    def tokenizer(self) -> str:
        """The word tokenizer new text of this project gets (one of ``TOKENIZERS``)."""
        return self.setting("tokenizer")

    def set_tokenizer(self, name: str) -> None:
        """Choose the tokenizer for new text; the tokens already stored stay as they are."""
        self.set_setting("tokenizer", name)

    def strategy(self) -> str:
        """How usefulness is scored for the "most useful first" order (``STRATEGIES``)."""
        return self.setting("strategy")

    def retrain_every(self) -> int:
        """After how many newly annotated documents the model re-trains (0: never)."""
        return int(self.setting("retrain_every"))


def _accepts(allowed: Allowed, value: str) -> bool:
    return allowed.accepts(value) if isinstance(allowed, WholeNumber) else value in allowed


def _known(key: str) -> tuple[Allowed, str]:
    try:
        return SETTINGS[key]
    except KeyError:
        raise ValidationError(
            f"Unknown setting {key!r}; the settings are: {', '.join(SETTINGS)}."
        ) from None
