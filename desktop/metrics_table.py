"""Sortable tables of plain rows (metrics, runs, errors, entities) that copy as TSV.

`RowsModel` shows a list of dicts through column specs; `RowsTable` puts it in a sortable
view with a "Copy" button and Ctrl+C. Average rows of a metrics report stay pinned at the
bottom whichever way the table is sorted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

AVERAGE_ROWS = ("micro avg", "macro avg", "weighted avg")
PINNED = "_pinned"
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
_Index = QModelIndex | QPersistentModelIndex


def fmt_ratio(value: Any) -> str:
    """A precision / recall / F1 as the table shows it."""
    return "" if value is None else f"{float(value):.3f}"


def fmt_plain(value: Any) -> str:
    """Any other cell."""
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Column:
    """One column: the row key, its header and how its value reads."""

    key: str
    header: str
    fmt: Callable[[Any], str] = fmt_plain
    align_right: bool = False
    swatch: bool = False  # a colour chip from the row's "_colour" before the text


METRIC_COLUMNS = (
    Column("name", "Type"),
    Column("precision", "Precision", fmt_ratio, True),
    Column("recall", "Recall", fmt_ratio, True),
    Column("f1", "F1", fmt_ratio, True),
    Column("support", "Support", fmt_plain, True),
)


def metric_rows(report: dict | None, name_header: str = "name") -> list[dict]:
    """Turn a per-type report (``{type: {precision, recall, f1|f1-score, support}}``) into rows.

    Average rows ("micro avg", ...) come last, marked as pinned so sorting leaves them there.
    """
    rows: list[dict] = []
    averages: list[dict] = []
    for name, values in (report or {}).items():
        if not isinstance(values, dict):
            continue  # e.g. a plain "accuracy" number in a token report
        row = {
            name_header: name,
            "precision": values.get("precision"),
            "recall": values.get("recall"),
            "f1": values.get("f1", values.get("f1-score", values.get("f1_score"))),
            "support": values.get("support"),
        }
        if name in AVERAGE_ROWS or name.endswith(" avg"):
            row[PINNED] = True
            averages.append(row)
        else:
            rows.append(row)
    order = {n: i for i, n in enumerate(AVERAGE_ROWS)}
    averages.sort(key=lambda r: order.get(r[name_header], len(order)))
    return sorted(rows, key=lambda r: str(r[name_header])) + averages


class RowsModel(QAbstractTableModel):
    """A read-only table over a list of dicts."""

    def __init__(self, columns: Sequence[Column], parent: Any = None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._rows: list[dict] = []

    def set_rows(self, rows: Sequence[dict]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[dict]:
        """The rows in model order."""
        return list(self._rows)

    def columns(self) -> list[Column]:
        return list(self._columns)

    def row(self, index: int) -> dict:
        return self._rows[index]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = self._columns[index.column()]
        value = row.get(column.key)
        if role == Qt.ItemDataRole.DisplayRole:
            return column.fmt(value)
        if role == Qt.ItemDataRole.EditRole:  # the sort key
            return value if isinstance(value, int | float) else column.fmt(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and row.get(PINNED):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.get("_tooltip")
        if role == Qt.ItemDataRole.ForegroundRole and row.get("_foreground"):
            return QColor(row["_foreground"])
        if role == Qt.ItemDataRole.DecorationRole and column.swatch and row.get("_colour"):
            return QColor(row["_colour"])
        if role == ROW_ROLE:
            return row
        return None

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self._columns[section].header
        return None


class PinnedSortProxy(QSortFilterProxyModel):
    """Sorts by the raw value; pinned rows (averages) stay at the bottom in either order."""

    def lessThan(self, left: _Index, right: _Index) -> bool:  # noqa: N802
        left_row = left.data(ROW_ROLE) or {}
        right_row = right.data(ROW_ROLE) or {}
        left_pin, right_pin = bool(left_row.get(PINNED)), bool(right_row.get(PINNED))
        descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
        if left_pin != right_pin:
            # Qt reverses lessThan for a descending sort; answer so the pinned row ends last.
            return left_pin == descending
        if left_pin:  # both pinned: keep their own order
            return (left.row() < right.row()) != descending
        a, b = left.data(Qt.ItemDataRole.EditRole), right.data(Qt.ItemDataRole.EditRole)
        if isinstance(a, int | float) and isinstance(b, int | float):
            return a < b
        return str(a or "") < str(b or "")


class RowsTable(QWidget):
    """A titled, sortable table with a "Copy as TSV" button and Ctrl+C."""

    activated = Signal(object)  # a row clicked (the row's dict)

    def __init__(
        self,
        title: str,
        columns: Sequence[Column],
        parent: QWidget | None = None,
        stretch: str | None = None,
    ) -> None:
        """``stretch``: the key of the column that takes the spare width (else the last)."""
        super().__init__(parent)
        self.model = RowsModel(columns, self)
        self.proxy = PinnedSortProxy(self)
        self.proxy.setSourceModel(self.model)
        self.view = QTableView(self)
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # model order until clicked
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        keys = [c.key for c in columns]
        if stretch in keys:
            self.view.horizontalHeader().setSectionResizeMode(
                keys.index(stretch), QHeaderView.ResizeMode.Stretch
            )
        else:
            self.view.horizontalHeader().setStretchLastSection(True)
        self.view.clicked.connect(self._on_clicked)

        self.title = QLabel(f"<b>{title}</b>", self)
        self.copy_button = QPushButton("Copy as TSV", self)
        self.copy_button.setToolTip("Copy the table, as shown, to the clipboard (Ctrl+C)")
        self.copy_button.clicked.connect(self.copy_tsv)
        shortcut = QShortcut(QKeySequence.StandardKey.Copy, self.view)
        shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        shortcut.activated.connect(self.copy_tsv)

        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.view)

    def set_rows(self, rows: Sequence[dict]) -> None:
        """Show these rows, keeping the user's sort."""
        self.model.set_rows(rows)
        self.view.resizeColumnsToContents()
        self.copy_button.setEnabled(bool(rows))

    def visible_rows(self) -> list[dict]:
        """The rows in the order the view shows them."""
        return [self.proxy.index(i, 0).data(ROW_ROLE) for i in range(self.proxy.rowCount())]

    def to_tsv(self) -> str:
        """The table as shown (sorted), with its header, tab-separated."""
        columns = self.model.columns()
        lines = ["\t".join(c.header for c in columns)]
        for row in self.visible_rows():
            lines.append("\t".join(c.fmt(row.get(c.key)) for c in columns))
        return "\n".join(lines) + "\n"

    def copy_tsv(self) -> None:
        """Put the table on the clipboard."""
        QGuiApplication.clipboard().setText(self.to_tsv())

    def _on_clicked(self, index: QModelIndex) -> None:
        row = index.data(ROW_ROLE)
        if row is not None:
            self.activated.emit(row)
