"""The labels panel: add, rename, recolour, set a shortcut key, delete.

Names and keys are edited in place in the table (double-click); the colour swatch opens
a colour picker; deleting asks first, saying how many spans go with the label. The Spans
column counts a person's spans; model suggestions are shown apart ("48 (+1 suggested)").
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.controller import ProjectController

COL_COLOUR, COL_NAME, COL_KEY, COL_SPANS = range(4)


def count_text(human: int, suggested: int) -> str:
    """The Spans cell: a person's spans, then the model's suggestions if there are any."""
    return f"{human} (+{suggested} suggested)" if suggested else str(human)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def swatch(colour: str, size: int = 14) -> QIcon:
    """A small square icon of one colour."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


class LabelsPanel(QWidget):
    """A table of the project's labels with the edits a person needs."""

    def __init__(self, controller: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._in_edit = False
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["", "Label", "Key", "Spans"])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        for column in (COL_COLOUR, COL_KEY, COL_SPANS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)

        self.new_name = QLineEdit(placeholderText="New label, e.g. PRODUCT")
        self.add_button = QPushButton("Add")
        self.colour_button = QPushButton("Colour…")
        self.delete_button = QPushButton("Delete…")
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_name, 1)
        add_row.addWidget(self.add_button)
        edit_row = QHBoxLayout()
        edit_row.addWidget(self.colour_button)
        edit_row.addStretch(1)
        edit_row.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(edit_row)
        layout.addLayout(add_row)

        self.add_button.clicked.connect(self.add_label)
        self.new_name.returnPressed.connect(self.add_label)
        self.colour_button.clicked.connect(self.recolour_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.cellDoubleClicked.connect(self._on_double_click)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        controller.labels_changed.connect(self.refresh)
        # Counting spans per label reads the whole spans table: do it once things settle.
        self._count_timer = QTimer(self, singleShot=True, interval=400)
        self._count_timer.timeout.connect(self._refresh_counts)
        controller.spans_changed.connect(lambda _doc: self._count_timer.start())
        controller.documents_changed.connect(self._count_timer.start)
        self.refresh()

    # -- reading -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Rebuild the table from the controller's labels (keeps the selected label)."""
        if self._in_edit:
            QTimer.singleShot(0, self.refresh)
            return
        selected = self.selected_label()
        self.table.blockSignals(True)
        labels = self.controller.labels()
        self.table.setRowCount(len(labels))
        for i, row in enumerate(labels):
            colour_item = QTableWidgetItem(swatch(row["colour"] or "#9e9e9e"), "")
            colour_item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            colour_item.setToolTip("Double-click to change the colour")
            name_item = QTableWidgetItem(row["name"])
            name_item.setData(Qt.ItemDataRole.UserRole, row["name"])
            name_item.setToolTip("Double-click to rename")
            key_item = QTableWidgetItem(row["shortcut"] or "")
            key_item.setToolTip("Double-click to set the shortcut key (one character)")
            count_item = QTableWidgetItem("")
            count_item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            count_item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for column, item in enumerate((colour_item, name_item, key_item, count_item)):
                self.table.setItem(i, column, item)
        self.table.blockSignals(False)
        self._refresh_counts()
        if selected is not None:
            self.select_label(selected)
        self._update_buttons()

    def _refresh_counts(self) -> None:
        if self.controller.project is None:
            return
        self.table.blockSignals(True)
        for i in range(self.table.rowCount()):
            name = self._name_at(i)
            item = self.table.item(i, COL_SPANS)
            if name is not None and item is not None:
                human = self.controller.count_label_spans(name, "human")
                suggested = self.controller.count_label_spans(name, "model")
                item.setText(count_text(human, suggested))
                item.setToolTip(
                    f"{plural(human, 'span')} by a person, {plural(suggested, 'model suggestion')}"
                )
        self.table.blockSignals(False)

    def _name_at(self, row: int) -> str | None:
        item = self.table.item(row, COL_NAME)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def selected_label(self) -> str | None:
        """The name of the selected label, or None."""
        rows = self.table.selectionModel().selectedRows()
        return self._name_at(rows[0].row()) if rows else None

    def select_label(self, name: str) -> None:
        """Select a label's row."""
        for i in range(self.table.rowCount()):
            if self._name_at(i) == name:
                self.table.selectRow(i)
                return

    # -- edits ---------------------------------------------------------------------------

    def add_label(self) -> None:
        """Add the label typed in the box."""
        name = self.new_name.text().strip()
        if not name:
            return
        if self.controller.add_label(name):
            self.new_name.clear()
            self.select_label(name)

    def recolour_selected(self) -> None:
        """Pick a new colour for the selected label."""
        name = self.selected_label()
        if name is None:
            return
        current = QColor(self.controller.label_colour(name))
        colour = QColorDialog.getColor(current, self, f"Colour of {name}")
        if colour.isValid():
            self.controller.recolour_label(name, colour.name())

    def delete_selected(self) -> None:
        """Delete the selected label after confirming how many spans go with it."""
        name = self.selected_label()
        if name is None:
            return
        human = self.controller.count_label_spans(name, "human")
        suggested = self.controller.count_label_spans(name, "model")
        removed = plural(human, "span")
        if suggested:
            removed += f" and {plural(suggested, 'model suggestion')}"
        question = (
            f"Delete the label {name}?\n\nThis also removes {removed} "
            "labelled with it, in every document. It cannot be undone."
        )
        if self.confirm("Delete label", question):
            self.controller.delete_label(name)

    def confirm(self, title: str, question: str) -> bool:
        """Ask a yes / no question (a separate method so tests can answer it)."""
        answer = QMessageBox.question(
            self,
            title,
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        name = self._name_at(item.row())
        if name is None:
            return
        value = item.text().strip()
        # The table is rebuilt (labels_changed) after the edit returns: the item being
        # edited must outlive this slot.
        self._in_edit = True
        try:
            if item.column() == COL_NAME:
                ok = bool(value) and self.controller.rename_label(name, value)
            elif item.column() == COL_KEY:
                ok = self.controller.set_label_shortcut(name, value or None)
            else:
                ok = True
        finally:
            self._in_edit = False
        if not ok:
            QTimer.singleShot(0, self.refresh)

    def _on_double_click(self, row: int, column: int) -> None:
        if column == COL_COLOUR:
            self.table.selectRow(row)
            self.recolour_selected()

    def _update_buttons(self) -> None:
        has = self.selected_label() is not None
        self.colour_button.setEnabled(has)
        self.delete_button.setEnabled(has)
