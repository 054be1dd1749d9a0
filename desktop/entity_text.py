"""A text box that shows entities as coloured highlights, with label and confidence on hover.

Entities are Python offsets into ``toPlainText()``; :class:`desktop.text_offsets.OffsetMap`
turns them into Qt positions (an emoji takes two of those).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor, QHelpEvent, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit, QToolTip, QWidget

from desktop.text_offsets import OffsetMap


class EntityTextEdit(QPlainTextEdit):
    """A text box that highlights entities and shows label and confidence on hover."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._entities: list[dict] = []

    def entities(self) -> list[dict]:
        return list(self._entities)

    def set_entities(self, entities: list[dict], colour_of: Callable[[str], str]) -> None:
        """Highlight these entities (character offsets into the current text)."""
        self._entities = list(entities)
        offsets = OffsetMap(self.toPlainText())
        selections = []
        for entity in self._entities:
            selection = QTextEdit.ExtraSelection()
            cursor = QTextCursor(self.document())
            cursor.setPosition(offsets.to_qt(int(entity["start"])))
            cursor.setPosition(offsets.to_qt(int(entity["end"])), QTextCursor.MoveMode.KeepAnchor)
            selection.cursor = cursor
            fmt = QTextCharFormat()
            colour = QColor(colour_of(entity["label"]))
            fmt.setBackground(colour)
            # A darker line under the span keeps neighbouring entities apart.
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SingleUnderline)
            fmt.setUnderlineColor(colour.darker(170))
            selection.format = fmt
            selections.append(selection)
        self.setExtraSelections(selections)

    def keep_matching(self, colour_of: Callable[[str], str]) -> None:
        """After an edit, keep only the highlights whose text is still where it was."""
        text = self.toPlainText()
        kept = [e for e in self._entities if text[e["start"] : e["end"]] == e.get("text")]
        if len(kept) != len(self._entities):
            self.set_entities(kept, colour_of)

    def entity_at(self, position: int) -> dict | None:
        """The entity holding the character at Python offset ``position``, or None."""
        return next((e for e in self._entities if e["start"] <= position < e["end"]), None)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            cursor = self.cursorForPosition(self.viewport().mapFromGlobal(event.globalPos()))
            position = OffsetMap(self.toPlainText()).from_qt(cursor.position())
            entity = self.entity_at(position)
            if entity is not None:
                QToolTip.showText(event.globalPos(), tooltip_text(entity), self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)


def tooltip_text(entity: dict) -> str:
    score = entity.get("score")
    confidence = f" — confidence {float(score):.2f}" if score is not None else ""
    return f"{entity['label']}{confidence}"
