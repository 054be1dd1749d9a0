"""Choices that belong to a project rather than to a run: the ``settings`` table.

A key without a row has its default. ``tokenizer`` names the word tokenizer that new
text of the project gets (``core.tokenize.TOKENIZERS``): a new project splits text the
way NER corpora are split; a project made before settings existed keeps ``basic``, the
tokenizer its stored tokens were made with (the schema 5 migration writes that row).
"""

from __future__ import annotations

from core.domain import DEFAULT_TOKENIZER, TOKENIZERS
from core.errors import ProjectFileError, ValidationError
from core.store.connection import ProjectFile
from core.store.values import check_choice

#: Each setting's allowed values and default.
SETTINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "tokenizer": (TOKENIZERS, DEFAULT_TOKENIZER),
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
        if value not in allowed:
            raise ProjectFileError(
                f"{self.path} sets {key} to {value!r}, which this version of Spanlab does not "
                f"know (it knows {', '.join(allowed)}): open it with the version that wrote "
                "it, or set another value."
            )
        return value

    def set_setting(self, key: str, value: str) -> None:
        """Change one setting (one committed transaction)."""
        allowed, _ = _known(key)
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


def _known(key: str) -> tuple[tuple[str, ...], str]:
    try:
        return SETTINGS[key]
    except KeyError:
        raise ValidationError(
            f"Unknown setting {key!r}; the settings are: {', '.join(SETTINGS)}."
        ) from None
