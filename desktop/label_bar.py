"""A row of coloured label buttons; clicking one labels the selection."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


def text_colour_on(background: str) -> str:
    """Black or white, whichever reads better on ``background``."""
    colour = QColor(background)
    luminance = 0.299 * colour.red() + 0.587 * colour.green() + 0.114 * colour.blue()
    return "#000000" if luminance > 150 else "#ffffff"


class LabelBar(QWidget):
    """One button per label, showing its shortcut key; emits ``label_clicked(str)``."""

    label_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self.buttons: dict[str, QPushButton] = {}

    def set_labels(self, labels: list[dict]) -> None:
        """Rebuild the buttons from label rows ``{name, colour, shortcut}``."""
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.buttons = {}
        if not labels:
            self._layout.addWidget(QLabel("No labels yet: add one in the Labels panel."))
        for row in labels:
            key = row.get("shortcut")
            button = QPushButton(f"{row['name']}  [{key}]" if key else row["name"])
            colour = row.get("colour") or "#9e9e9e"
            button.setStyleSheet(
                f"QPushButton {{ background: {colour}; color: {text_colour_on(colour)};"
                " border: 1px solid rgba(0,0,0,60); border-radius: 4px; padding: 3px 10px;"
                " font-weight: bold; }"
                f" QPushButton:pressed {{ background: {QColor(colour).darker(120).name()}; }}"
            )
            tip = f"Label the selection {row['name']}"
            button.setToolTip(f"{tip} (key {key})" if key else tip)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys keep going to the text
            button.clicked.connect(lambda _=False, name=row["name"]: self.label_clicked.emit(name))
            self._layout.addWidget(button)
            self.buttons[row["name"]] = button
        self._layout.addStretch(1)
