"""The search space as an editable table: one row per training setting searched.

Each row is a ``core.search.space.Param``: a range (low, high, log scale) for a number,
or a list of choices. Unticking a row leaves that setting as the Train tab has it. The
table reads back what was typed as the space file's JSON would say it, so the same
checks (and messages) apply to both.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from core.errors import ValidationError
from core.search.space import Param

COLUMNS = ("Parameter", "Low", "High", "Log", "Choices")
NAME, LOW, HIGH, LOG, CHOICES = range(len(COLUMNS))


def format_number(value: float) -> str:
    """A bound as a person types it: 0.0001 -> 1e-04, 0.2 -> 0.2, 8 -> 8."""
    if isinstance(value, int):
        return str(value)
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.0e}"
    return f"{value:g}"


class SpaceTable(QTableWidget):
    """Parameter / low / high / log / choices, editable; ticked rows are searched."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(CHOICES, QHeaderView.ResizeMode.Stretch)
        self.setAlternatingRowColors(True)
        self.setToolTip(
            "Untick a parameter to keep the Train tab's value. Numbers: low and high "
            "(log: searched on a log scale). Lists: choices separated by commas."
        )
        self._params: dict[str, Param] = {}

    def set_space(self, space: dict[str, Param]) -> None:
        """Show a space (every parameter ticked)."""
        self._params = dict(space)
        self.setRowCount(0)
        for name, param in space.items():
            self._add_row(name, param)
        self.resizeColumnsToContents()

    def _add_row(self, name: str, param: Param) -> None:
        row = self.rowCount()
        self.insertRow(row)
        label = QTableWidgetItem(name)
        label.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
        label.setCheckState(Qt.CheckState.Checked)
        self.setItem(row, NAME, label)
        editable = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        editable |= Qt.ItemFlag.ItemIsEditable
        off = Qt.ItemFlag.NoItemFlags
        numeric = not param.choices
        for column, text in (
            (LOW, format_number(param.low) if numeric else ""),
            (HIGH, format_number(param.high) if numeric else ""),
            (CHOICES, "" if numeric else ", ".join(str(c) for c in param.choices)),
        ):
            item = QTableWidgetItem(text)
            item.setFlags(editable if (column == CHOICES) != numeric else off)
            self.setItem(row, column, item)
        log = QTableWidgetItem("")
        if numeric:
            log.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            log.setCheckState(Qt.CheckState.Checked if param.log else Qt.CheckState.Unchecked)
        else:
            log.setFlags(off)
        self.setItem(row, LOG, log)

    def row_of(self, name: str) -> int:
        """The row showing a parameter (KeyError if none does)."""
        for row in range(self.rowCount()):
            if self.item(row, NAME).text() == name:
                return row
        raise KeyError(name)

    def spec(self) -> dict[str, dict[str, Any]]:
        """The ticked rows as a space file would hold them (ValidationError on a typo)."""
        out: dict[str, dict[str, Any]] = {}
        for row in range(self.rowCount()):
            name = self.item(row, NAME).text()
            if self.item(row, NAME).checkState() != Qt.CheckState.Checked:
                continue
            param = self._params[name]
            if param.choices:
                texts = [t.strip() for t in self.item(row, CHOICES).text().split(",")]
                kind = type(param.choices[0])
                out[name] = {"choices": [_typed(name, t, kind) for t in texts if t]}
            else:
                kind = int if isinstance(param.low, int) and isinstance(param.high, int) else float
                out[name] = {
                    "low": _typed(name, self.item(row, LOW).text(), kind),
                    "high": _typed(name, self.item(row, HIGH).text(), kind),
                    "log": self.item(row, LOG).checkState() == Qt.CheckState.Checked,
                }
        return out


def _typed(name: str, text: str, kind: type) -> Any:
    """``text`` read as the parameter's type, or a ValidationError that names it."""
    text = text.strip()
    if kind is str:
        return text
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ValidationError(
            f"Search space, {name}: {text!r} is not {what}; type {what} (e.g. "
            f"{'8' if kind is int else '1e-4'})."
        ) from None
