"""The document list: filters, full-text search, and a lazily paged table.

The table model never counts or loads the whole project: it asks core for one page
(``project.list_documents(offset, limit)``) when the view scrolls near the end
(``canFetchMore`` / ``fetchMore``), so a project of a million documents opens at once.

The order is document order or "most useful first" (the model's ranking, see
``core.active``); next / previous in the annotator follow the list's filters and order.
The choice is remembered per project.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSettings,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.domain import ORDERS, SPLITS, STATUSES
from core.errors import NotFoundError, SpanlabError
from desktop.controller import ProjectController

PAGE_SIZE = 200
PREVIEW_CHARS = 80
#: The colour each document status is shown in (list rows and the annotator's badge).
STATUS_COLOURS = {"new": "#8a8a8a", "annotated": "#2e7d32", "skipped": "#b26a00"}
#: The column of the usefulness score (shown in the "most useful first" order only).
USEFUL_COLUMN = 5
#: What each order of ``core.domain.ORDERS`` is called in the order box.
ORDER_TEXTS = {"id": "Document order", "useful": "Most useful first"}
USEFUL_SHORTCUT = "Ctrl+U"
ORDERS_KEY = "document_orders"  # QSettings: JSON {project path: order}
MAX_ORDERS = 50


def remembered_order(project_path: str | Path) -> str:
    """The order last chosen in a project ("id" when none was)."""
    orders = _orders()
    return orders.get(str(Path(project_path).resolve()), "id")


def remember_order(project_path: str | Path, order: str) -> None:
    """Remember the order chosen in a project (reopening it shows the same)."""
    path = str(Path(project_path).resolve())
    orders = {path: order, **{k: v for k, v in _orders().items() if k != path}}
    QSettings().setValue(ORDERS_KEY, json.dumps(dict(list(orders.items())[:MAX_ORDERS])))


def _orders() -> dict[str, str]:
    try:
        value = json.loads(str(QSettings().value(ORDERS_KEY, "{}")))
    except ValueError:  # written by hand or by another version: start afresh
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if v in ORDERS}


Index = QModelIndex | QPersistentModelIndex


class DocumentTableModel(QAbstractTableModel):
    """Rows of ``list_documents``, fetched a page at a time under the current filters."""

    COLUMNS = ("#", "Text", "Status", "Split", "Entities", "Useful")

    def __init__(self, controller: ProjectController, parent: Any = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self._rows: list[dict] = []
        self._filters: dict[str, Any] = {}
        self._exhausted = True
        self._pending: set[int] = set()
        self._refresh_timer = QTimer(self, singleShot=True, interval=60)
        self._refresh_timer.timeout.connect(self._refresh_pending)

    # -- filters and loading -------------------------------------------------------------

    @property
    def filters(self) -> dict[str, Any]:
        """The filters in force (keyword arguments of ``project.list_documents``)."""
        return dict(self._filters)

    def set_filters(self, **filters: Any) -> None:
        """Show documents matching these filters (None values are dropped)."""
        self._filters = {k: v for k, v in filters.items() if v not in (None, "")}
        self.reload()

    def reload(self) -> None:
        """Forget the loaded pages and fetch the first one again."""
        self.beginResetModel()
        self._rows = []
        self._exhausted = self._controller.project is None
        self.endResetModel()
        if self.canFetchMore(QModelIndex()):
            self.fetchMore(QModelIndex())

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: N802, B008
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: N802, B008
        project = self._controller.project
        if parent.isValid() or project is None:
            return
        try:
            page = project.list_documents(offset=len(self._rows), limit=PAGE_SIZE, **self._filters)
        except Exception as exc:  # a bad search query, say: show it, stop fetching
            self._exhausted = True
            self._controller.show_error(exc)
            return
        if len(page) < PAGE_SIZE:
            self._exhausted = True
        if page:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
            self._rows.extend(page)
            self.endInsertRows()

    def fetch_all_loaded_until(self, doc_id: int, max_pages: int = 5) -> int | None:
        """Row of ``doc_id``, fetching a few more pages if it may lie just beyond."""
        for _ in range(max_pages + 1):
            row = self.row_of(doc_id)
            if row is not None:
                return row
            past = self._rows and self._rows[-1]["id"] > doc_id and "order" not in self._filters
            if not self.canFetchMore() or past:  # in id order it cannot lie further down
                return None
            self.fetchMore()
        return self.row_of(doc_id)

    # -- rows ----------------------------------------------------------------------------

    def document_id(self, row: int) -> int | None:
        """The document id shown in a row."""
        return self._rows[row]["id"] if 0 <= row < len(self._rows) else None

    def row_of(self, doc_id: int) -> int | None:
        """The row showing a document, if it is loaded."""
        for i, row in enumerate(self._rows):
            if row["id"] == doc_id:
                return i
        return None

    def schedule_refresh(self, doc_id: int) -> None:
        """Re-read a row soon: after an edit the highlight is drawn first, the list after."""
        self._pending.add(int(doc_id))
        self._refresh_timer.start()

    def _refresh_pending(self) -> None:
        pending, self._pending = self._pending, set()
        for doc_id in pending:
            self.refresh_document(doc_id)

    def refresh_document(self, doc_id: int) -> None:
        """Re-read one loaded row (status or span count changed)."""
        i = self.row_of(doc_id)
        project = self._controller.project
        if i is None or project is None:
            return
        try:
            doc = project.get_document(doc_id)
            spans = project.spans(doc_id)
        except NotFoundError:  # the document is gone: the next reload drops it
            return
        self._rows[i] = {
            **self._rows[i],  # its score stays: a rescore reloads the whole list
            "id": doc_id,
            "preview": doc["text"][:PREVIEW_CHARS],
            "split": doc["split"],
            "status": doc["status"],
            "n_spans": sum(1 for s in spans if s["origin"] == "human"),
            "n_model_spans": sum(1 for s in spans if s["origin"] == "model"),
        }
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.COLUMNS) - 1))

    # -- Qt model API --------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(  # noqa: N802 - Qt API
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return row["id"]
            if column == 1:
                return " ".join(row["preview"].split())
            if column == 2:
                return row["status"]
            if column == 3:
                return row["split"]
            if column == 4:
                n, model = row["n_spans"], row["n_model_spans"]
                return f"{n} (+{model})" if model else str(n)
            if column == 5:
                return "" if row["score"] is None else f"{row['score']:.3g}"
        elif role == Qt.ItemDataRole.ToolTipRole and column == 1:
            return row["preview"]
        elif role == Qt.ItemDataRole.ToolTipRole and column == 4:
            return f"{row['n_spans']} entities, {row['n_model_spans']} suggested by a model"
        elif role == Qt.ItemDataRole.ToolTipRole and column == 5:
            return (
                "Not scored: the model scores documents with status new"
                if row["score"] is None
                else "How much the model expects to learn from this document (higher: sooner)"
            )
        elif role == Qt.ItemDataRole.ForegroundRole and column == 2:
            return QColor(STATUS_COLOURS.get(row["status"], "#000000"))
        elif role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 4, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class DocumentList(QWidget):
    """Filter bar + search box + paged table; emits ``document_activated(int)``.

    In the search box, Down moves to the first result and Enter opens it. Every project
    starts with no filters: a search made in one means nothing in another.
    """

    document_activated = Signal(int)
    order_changed = Signal(str)  # the person chose another order ("id" / "useful")

    def __init__(self, controller: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self.model = DocumentTableModel(controller, self)

        self.search = QLineEdit(placeholderText="Search text…", clearButtonEnabled=True)
        self.status = self._combo("Any status", STATUSES)
        self.split = self._combo("Any split", SPLITS)
        self.label = self._combo("Any label", ())
        self.order = QComboBox()
        for value in ORDERS:
            self.order.addItem(ORDER_TEXTS[value], value)
        self.order.setToolTip(
            "Most useful first: the documents the model expects to learn most from come "
            f"first; next / previous follow this order ({USEFUL_SHORTCUT} switches)"
        )
        #: Annotate ▸ Most useful first: the same choice as the order box, with a key.
        self.useful_action = QAction("Most &useful first", self, checkable=True)
        self.useful_action.setShortcut(QKeySequence(USEFUL_SHORTCUT))
        self.useful_action.setToolTip("Serve the documents the model finds most useful first")
        self.addAction(self.useful_action)
        self.count = QLabel()
        self.count.setObjectName("documentCount")

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        # Fixed widths from the font: sizing columns to their contents would ask for
        # every loaded row's data each time a page arrives.
        metrics = self.table.fontMetrics()
        for column, sample in (
            (0, "00000"),
            (2, "annotated"),
            (3, "unassigned"),
            (4, "000 (+00)"),
            (5, "Useful"),
        ):
            header.resizeSection(column, metrics.horizontalAdvance(sample) + 18)
        # The score column is shown in the order it explains, leaving the text its room.
        self.table.setColumnHidden(USEFUL_COLUMN, True)

        filters = QHBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        for combo in (self.status, self.split, self.label):
            filters.addWidget(combo)
        order_row = QHBoxLayout()
        order_row.setContentsMargins(0, 0, 0, 0)
        order_row.addWidget(QLabel("Order:"))
        order_row.addWidget(self.order, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addLayout(order_row)
        #: Where the page puts what it says about the order (the model's status).
        self.order_notes = QVBoxLayout()
        self.order_notes.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.order_notes)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count)

        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(self._search_timer.start)
        # On a large project the count takes a moment: say a search is under way.
        self.search.textChanged.connect(lambda _text: self.count.setText("Searching…"))
        self.search.returnPressed.connect(self.open_first_result)
        self.search.installEventFilter(self)
        self.table.installEventFilter(self)
        self._moving_by_key = False  # the table's current row is being moved by a key
        for combo in (self.status, self.split, self.label):
            combo.currentIndexChanged.connect(self.apply_filters)
        self.order.currentIndexChanged.connect(self._on_order_chosen)
        self.useful_action.toggled.connect(lambda on: self.set_order("useful" if on else "id"))
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)

        controller.set_selection_provider(self.selected_document_ids)
        controller.project_changed.connect(self._on_project)
        controller.documents_changed.connect(self.apply_filters)
        controller.labels_changed.connect(self._fill_labels)
        controller.document_changed.connect(self.model.schedule_refresh)
        controller.spans_changed.connect(self.model.schedule_refresh)
        if controller.project is not None:
            self._on_project()

    @staticmethod
    def _combo(any_text: str, values: tuple[str, ...]) -> QComboBox:
        combo = QComboBox()
        combo.addItem(any_text, None)
        for value in values:
            combo.addItem(value, value)
        return combo

    # -- filters -------------------------------------------------------------------------

    def filters(self) -> dict[str, Any]:
        """The filters and order chosen in the bar (for next / previous document too);
        ``order`` is given only when it is not document order."""
        chosen = {
            "status": self.status.currentData(),
            "split": self.split.currentData(),
            "label": self.label.currentData(),
            "search": self.search.text().strip() or None,
        }
        if self.order.currentData() != "id":
            chosen["order"] = self.order.currentData()
        return chosen

    def set_order(self, order: str) -> None:
        """Show the documents in this order ("id" or "useful"), as the order box does."""
        index = self.order.findData(order)
        if index < 0:
            raise ValueError(f"unknown order {order!r}: one of {', '.join(ORDERS)}")
        self.order.setCurrentIndex(index)

    def _on_order_chosen(self, _index: int) -> None:
        order = self.order.currentData()
        self.useful_action.blockSignals(True)
        self.useful_action.setChecked(order == "useful")
        self.useful_action.blockSignals(False)
        self.table.setColumnHidden(USEFUL_COLUMN, order != "useful")
        if self._controller.path is not None:
            remember_order(self._controller.path, order)
        self.apply_filters()
        self.order_changed.emit(order)

    def reset_filters(self) -> None:
        """Clear the search and set every filter to "any" (the table is not reloaded)."""
        widgets = (self.search, self.status, self.split, self.label)
        for widget in widgets:
            widget.blockSignals(True)
        self.search.clear()
        for combo in (self.status, self.split, self.label):
            combo.setCurrentIndex(0)
        for widget in widgets:
            widget.blockSignals(False)
        self._search_timer.stop()

    def apply_filters(self) -> None:
        """Reload the table under the chosen filters and update the count."""
        self._search_timer.stop()
        self.model.set_filters(**self.filters())
        QTimer.singleShot(0, self._update_count)

    def _update_count(self) -> None:
        project = self._controller.project
        if project is None:
            self.count.setText("No project")
            return
        try:
            n = project.count_documents(**self.model.filters)
        except SpanlabError:  # the table already reported the filter's error
            n = 0
        if n == 0 and not self.model.filters:
            self.count.setText("No documents yet")
        else:
            self.count.setText(f"{n:,} document{'s' if n != 1 else ''}")

    def _fill_labels(self) -> None:
        current = self.label.currentData()
        self.label.blockSignals(True)
        self.label.clear()
        self.label.addItem("Any label", None)
        for row in self._controller.labels():
            self.label.addItem(row["name"], row["name"])
        index = self.label.findData(current) if current is not None else 0
        self.label.setCurrentIndex(max(index, 0))
        self.label.blockSignals(False)
        if current is not None and index < 0:
            self.apply_filters()

    def _on_project(self) -> None:
        self.reset_filters()
        self._show_order(remembered_order(self._controller.path))
        self._fill_labels()
        self.apply_filters()

    def _show_order(self, order: str) -> None:
        """Set the order box and action without reloading (the caller reloads)."""
        for widget in (self.order, self.useful_action):
            widget.blockSignals(True)
        self.order.setCurrentIndex(max(self.order.findData(order), 0))
        self.useful_action.setChecked(self.order.currentData() == "useful")
        self.table.setColumnHidden(USEFUL_COLUMN, self.order.currentData() != "useful")
        for widget in (self.order, self.useful_action):
            widget.blockSignals(False)

    # -- keys in the search box ----------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent):
            return super().eventFilter(watched, event)
        plain = not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if watched is self.search and event.key() == Qt.Key.Key_Down and plain:
            self.focus_first_result()
            return True
        if watched is self.table:
            # The row change this key causes keeps the focus in the list (see below).
            self._moving_by_key = True
            QTimer.singleShot(0, self._key_move_done)
        return super().eventFilter(watched, event)

    def _key_move_done(self) -> None:
        self._moving_by_key = False

    def _results_now(self) -> bool:
        """Apply a search still waiting for its timer; True when there are results."""
        if self._search_timer.isActive():
            self.apply_filters()
        return self.model.rowCount() > 0

    def focus_first_result(self) -> None:
        """Move the keyboard focus from the search box to the first result (and show it)."""
        if not self._results_now():
            return
        self._moving_by_key = True  # focusing the table may already make row 0 current
        try:
            self.table.setFocus(Qt.FocusReason.TabFocusReason)
            self.table.selectionModel().setCurrentIndex(
                self.model.index(0, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
        finally:
            self._moving_by_key = False

    def open_first_result(self) -> None:
        """Enter in the search box: search now and open the first result."""
        if not self._results_now():
            return
        doc_id = self.model.document_id(0)
        if doc_id is not None:
            self.show_document(doc_id)
            self.document_activated.emit(doc_id)

    # -- selection -----------------------------------------------------------------------

    def selected_document_ids(self) -> list[int]:
        """Ids of the selected rows (for pre-annotate and the like)."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [doc_id for r in rows if (doc_id := self.model.document_id(r)) is not None]

    def show_document(self, doc_id: int) -> None:
        """Select the row of a document if it is loaded (no signal is emitted)."""
        row = self.model.fetch_all_loaded_until(doc_id)
        selection = self.table.selectionModel()
        selection.blockSignals(True)
        if row is None:
            selection.clearSelection()
            selection.setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.Clear)
        else:
            index = self.model.index(row, 0)
            selection.setCurrentIndex(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            self.table.scrollTo(index)
        selection.blockSignals(False)
        self.table.viewport().update()

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        doc_id = self.model.document_id(current.row()) if current.isValid() else None
        if doc_id is None:
            return
        # Opening a document gives its text the focus, ready for label keys; a person
        # moving through the list with the arrow keys keeps it in the list instead.
        keep_focus = self._moving_by_key
        self.document_activated.emit(doc_id)
        if keep_focus:
            self.table.setFocus(Qt.FocusReason.OtherFocusReason)
