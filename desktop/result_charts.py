"""A run's results as pictures: per-type scores as bars, the confusion matrix as a heat map.

The chart data are pure functions (:func:`score_bars`, :func:`heat_cells`,
:func:`cell_errors`), tested without pixels; the widgets only draw them with QPainter
(as :mod:`desktop.charts`) in the project's label colours. A click on a heat-map cell
lists that cell's errors, and a click on an error opens its document. Every chart saves
itself as PNG from its context menu (:func:`add_png_saving`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QFileDialog,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.errors import ValidationError
from desktop.charts import GRID_COLOUR, TEXT_COLOUR, chart_painter
from desktop.controller import ProjectController
from desktop.label_bar import text_colour_on
from desktop.metrics_table import AVERAGE_ROWS, Column, RowsTable
from desktop.run_rows import error_rows

NONE = "O"  # the confusion matrix's row / column of "no entity"
ERROR_COLOUR = QColor("#c0392b")  # off-diagonal cells: annotated one thing, predicted another
NONE_COLOUR = "#9e9e9e"
#: How strongly a bar shows its metric's label colour: precision, recall, F1.
METRIC_ALPHA = (("precision", 90), ("recall", 160), ("f1", 255))

CELL_COLUMNS = (
    Column("kind_text", "Error"),
    Column("shown_text", "Text"),
    Column("document_id", "Document", align_right=True),
    Column("start", "Start", align_right=True),
)


# -- chart data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeScores:
    """One entity type's bar group."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int


def score_bars(entity: dict | None) -> list[TypeScores]:
    """The per-type rows of an entity report (``{type: {precision, recall, f1, support}}``),
    averages left out, by type name."""
    bars = []
    for name, row in (entity or {}).items():
        if name in AVERAGE_ROWS or not isinstance(row, dict):
            continue
        bars.append(
            TypeScores(
                name=name,
                precision=float(row.get("precision") or 0.0),
                recall=float(row.get("recall") or 0.0),
                f1=float(row.get("f1") or 0.0),
                support=int(row.get("support") or 0),
            )
        )
    return sorted(bars, key=lambda b: b.name)


@dataclass(frozen=True)
class Cell:
    """One heat-map cell: annotated ``gold`` (row), predicted ``pred`` (column)."""

    row: int
    column: int
    gold: str
    pred: str
    count: int
    intensity: float  # 0-1: the count against the largest of its kind (correct / error)

    @property
    def diagonal(self) -> bool:
        return self.gold == self.pred


def heat_cells(confusion: dict | None) -> list[Cell]:
    """The cells of a confusion matrix (``{"labels": [..., "O"], "matrix": rows}``, rows
    annotated, columns predicted), row by row.

    Diagonal and error cells are shaded each against the largest count of their own
    kind: the correct counts dwarf the errors, which would otherwise all look empty.
    """
    if not confusion:
        return []
    names, matrix = list(confusion["labels"]), confusion["matrix"]
    diagonal = [matrix[i][i] for i in range(len(names)) if names[i] != NONE]
    errors = [matrix[i][j] for i in range(len(names)) for j in range(len(names)) if i != j] or [0]
    top_diagonal, top_error = max(diagonal or [0]) or 1, max(errors) or 1
    cells = []
    for i, gold in enumerate(names):
        for j, pred in enumerate(names):
            count = int(matrix[i][j])
            top = top_diagonal if i == j else top_error
            cells.append(Cell(i, j, gold, pred, count, count / top))
    return cells


def cell_of(error: dict) -> tuple[str, str]:
    """The (annotated, predicted) cell an error is counted in (``O`` for none)."""
    return error.get("gold_label") or NONE, error.get("pred_label") or NONE


def cell_errors(errors: Sequence[dict], gold: str, pred: str) -> list[dict]:
    """The errors counted in one cell. A diagonal cell holds the correct entities and
    the boundary errors of that type: only the latter are errors."""
    return [e for e in errors if cell_of(e) == (gold, pred)]


# -- saving ------------------------------------------------------------------------------------


def save_png(widget: QWidget, path: str | Path) -> Path:
    """Save what ``widget`` shows as a PNG file (``.png`` added when missing)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_name(path.name + ".png")
    if not widget.grab().save(str(path), "PNG"):
        raise ValidationError(
            f"Could not write the chart to {path}: check that the folder exists and that "
            "you may write there, then save again."
        )
    return path


def add_png_saving(widget: QWidget, file_stem: str, on_error: Callable[[object], None]) -> QAction:
    """Give ``widget`` a "Save as PNG…" context-menu action; returns the action."""
    action = QAction("Save as PNG…", widget)

    def save() -> None:
        path, _ = QFileDialog.getSaveFileName(
            widget, "Save the chart as PNG", f"{file_stem}.png", "PNG images (*.png)"
        )
        if not path:
            return
        try:
            save_png(widget, path)
        except ValidationError as exc:
            on_error(exc)

    action.triggered.connect(save)
    widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
    widget.addAction(action)
    return action


# -- widgets -----------------------------------------------------------------------------------


class ScoreBars(QWidget):
    """Per-type precision, recall and F1 as horizontal bars in the type's label colour."""

    def __init__(self, colour_of: Callable[[str], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colour_of = colour_of
        self.setMinimumSize(260, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._bars: list[TypeScores] = []
        self._title = "Per type: precision, recall, F1"

    def set_report(self, entity: dict | None, split: str) -> None:
        self._bars = score_bars(entity)
        self._title = f"Per type on {split}: precision, recall, F1"
        self.update()

    def bars(self) -> list[TypeScores]:
        """The bar groups drawn (for tests)."""
        return list(self._bars)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = chart_painter(self)
        metrics = painter.fontMetrics()
        line = metrics.height()
        painter.setPen(TEXT_COLOUR)
        painter.drawText(QRectF(8, 2, self.width() - 16, line), self._title)
        self._draw_legend(painter, QPointF(8, line + 6))
        names = [b.name for b in self._bars]
        left = max([metrics.horizontalAdvance(n) for n in names] + [40]) + 30
        right = metrics.horizontalAdvance("0.000") + 12
        plot = QRectF(left, 2 * line + 14, self.width() - left - right, 0)
        plot.setBottom(self.height() - line - 8)
        if plot.width() < 20 or plot.height() < 20:
            painter.end()
            return
        if not self._bars:
            painter.setPen(TEXT_COLOUR)
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "No per-type scores")
            painter.end()
            return
        for i in range(5):  # 0, .25, .5, .75, 1 down the plot
            x = plot.left() + plot.width() * i / 4
            painter.setPen(QPen(GRID_COLOUR, 1))
            painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            painter.setPen(TEXT_COLOUR)
            painter.drawText(
                QRectF(x - 30, plot.bottom() + 2, 60, line),
                Qt.AlignmentFlag.AlignHCenter,
                format(i / 4, ".2g"),
            )
        group = plot.height() / len(self._bars)
        bar = max(min((group - 8) / 3, 16.0), 2.0)
        for k, scores in enumerate(self._bars):
            self._draw_group(painter, plot, scores, plot.top() + k * group, group, bar)
        painter.end()

    def _draw_group(
        self, painter: QPainter, plot: QRectF, scores: TypeScores, top: float, group: float,
        bar: float,
    ) -> None:  # fmt: skip
        metrics = painter.fontMetrics()
        colour = QColor(self.colour_of(scores.name))
        middle = top + group / 2
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRect(QRectF(8, middle - 5, 10, 10))
        painter.setPen(TEXT_COLOUR)
        painter.drawText(
            QRectF(22, middle - metrics.height() / 2, plot.left() - 26, metrics.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            scores.name,
        )
        y = middle - 1.5 * bar
        for key, alpha in METRIC_ALPHA:
            value = min(max(getattr(scores, key), 0.0), 1.0)
            shade = QColor(colour)
            shade.setAlpha(alpha)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(shade)
            painter.drawRect(QRectF(plot.left(), y, plot.width() * value, bar - 1))
            if bar >= metrics.height() - 4:
                painter.setPen(TEXT_COLOUR)
                painter.drawText(
                    QRectF(plot.left() + plot.width() * value + 4, y, 60, bar),
                    Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                    f"{value:.3f}",
                )
            y += bar

    def _draw_legend(self, painter: QPainter, at: QPointF) -> None:
        metrics = painter.fontMetrics()
        x = at.x()
        for key, alpha in METRIC_ALPHA:
            shade = QColor(TEXT_COLOUR)
            shade.setAlpha(alpha)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(shade)
            painter.drawRect(QRectF(x, at.y() + 2, 14, metrics.height() - 4))
            painter.setPen(TEXT_COLOUR)
            text = "F1" if key == "f1" else key
            painter.drawText(QPointF(x + 18, at.y() + metrics.ascent()), text)
            x += 18 + metrics.horizontalAdvance(text) + 14


class ConfusionHeatMap(QWidget):
    """The entity-type confusion matrix with counts; a click on a cell chooses it."""

    cell_clicked = Signal(str, str)  # annotated, predicted

    def __init__(self, colour_of: Callable[[str], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colour_of = colour_of
        self.setMinimumSize(260, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self._cells: list[Cell] = []
        self._names: list[str] = []
        self._note = "The confusion matrix appears once the run's errors are found"
        self._chosen: tuple[str, str] | None = None

    def set_confusion(self, confusion: dict | None, split: str = "", note: str = "") -> None:
        """Show ``confusion`` (None: nothing yet, with ``note`` saying why)."""
        self._cells = heat_cells(confusion)
        self._names = list(confusion["labels"]) if confusion else []
        self._split = split
        if note:
            self._note = note
        self._chosen = None
        self.update()

    def cells(self) -> list[Cell]:
        """The cells drawn (for tests)."""
        return list(self._cells)

    def choose(self, gold: str | None, pred: str | None = None) -> None:
        """Outline a cell (None: none)."""
        self._chosen = (gold, pred) if gold is not None and pred is not None else None
        self.update()

    # -- geometry ------------------------------------------------------------------------
    def _grid(self) -> QRectF:
        """The cells' area: as tall as there is room, cells up to twice as wide as tall."""
        metrics = self.fontMetrics()
        names = self._names or [NONE]
        n = len(names)
        head = max(metrics.horizontalAdvance(name) for name in names) + 28
        top = 3 * metrics.height() + 12
        height = max(self.height() - top - 8, 0)
        width = max(min(self.width() - head - 12, 2 * height), 0)
        width = max(width, min(self.width() - head - 12, n * metrics.horizontalAdvance("0000")))
        return QRectF(head, top, width, height)

    def cell_rect(self, gold: str, pred: str) -> QRectF:
        """Where a cell is drawn (for a click)."""
        grid, n = self._grid(), len(self._names)
        i, j = self._names.index(gold), self._names.index(pred)
        w, h = grid.width() / n, grid.height() / n
        return QRectF(grid.left() + j * w, grid.top() + i * h, w, h)

    def cell_at(self, pos: QPointF) -> tuple[str, str] | None:
        """The (annotated, predicted) cell under a point, if any."""
        if not self._names:
            return None
        grid, n = self._grid(), len(self._names)
        if not grid.contains(pos) or grid.width() <= 0:
            return None
        i = min(int((pos.y() - grid.top()) / (grid.height() / n)), n - 1)
        j = min(int((pos.x() - grid.left()) / (grid.width() / n)), n - 1)
        return self._names[i], self._names[j]

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        cell = self.cell_at(event.position())
        if event.button() == Qt.MouseButton.LeftButton and cell is not None:
            self.choose(*cell)
            self.cell_clicked.emit(*cell)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        cell = self.cell_at(event.position())
        if cell is None:
            self.setToolTip("")
        else:
            count = next(c.count for c in self._cells if (c.gold, c.pred) == cell)
            self.setToolTip(f"annotated {cell[0]}, predicted {cell[1]}: {count}")
        super().mouseMoveEvent(event)

    # -- drawing -------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = chart_painter(self)
        metrics = painter.fontMetrics()
        line = metrics.height()
        painter.setPen(TEXT_COLOUR)
        split = f" on {self._split}" if getattr(self, "_split", "") else ""
        painter.drawText(
            QRectF(8, 2, self.width() - 16, line),
            f"Confusion{split}: rows annotated, columns predicted — click a cell for its errors",
        )
        if not self._cells:
            painter.drawText(
                QRectF(0, line, self.width(), self.height() - line),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._note,
            )
            painter.end()
            return
        grid = self._grid()
        if grid.width() >= 20 and grid.height() >= 20:
            self._draw_headers(painter, grid)
            for cell in self._cells:
                self._draw_cell(painter, cell)
        painter.end()

    def _draw_headers(self, painter: QPainter, grid: QRectF) -> None:
        metrics = painter.fontMetrics()
        line = metrics.height()
        w, h = grid.width() / len(self._names), grid.height() / len(self._names)
        painter.setPen(TEXT_COLOUR)
        painter.drawText(
            QRectF(grid.left(), line + 4, grid.width(), line),
            Qt.AlignmentFlag.AlignHCenter,
            "predicted →",
        )
        for k, name in enumerate(self._names):
            colour = QColor(NONE_COLOUR if name == NONE else self.colour_of(name))
            column = QRectF(grid.left() + k * w, 2 * line + 6, w, line)
            row = QRectF(8, grid.top() + k * h, grid.left() - 22, h)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRect(QRectF(column.left() + 2, grid.top() - 5, w - 4, 3))
            painter.drawRect(QRectF(grid.left() - 8, row.top() + 2, 3, h - 4))
            painter.setPen(TEXT_COLOUR)
            painter.drawText(column, Qt.AlignmentFlag.AlignHCenter, name)
            painter.drawText(row, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)

    def _draw_cell(self, painter: QPainter, cell: Cell) -> None:
        rect = self.cell_rect(cell.gold, cell.pred)
        base = self.palette().base().color()
        if cell.diagonal and cell.gold != NONE:
            tint = QColor(self.colour_of(cell.gold))
        elif cell.diagonal:
            tint = QColor(base)
        else:
            tint = QColor(ERROR_COLOUR)
        strength = 0.15 + 0.85 * cell.intensity if cell.count else 0.0
        fill = QColor(
            round(base.red() + (tint.red() - base.red()) * strength),
            round(base.green() + (tint.green() - base.green()) * strength),
            round(base.blue() + (tint.blue() - base.blue()) * strength),
        )
        painter.setPen(QPen(GRID_COLOUR, 1))
        painter.setBrush(fill)
        painter.drawRect(rect)
        if self._chosen == (cell.gold, cell.pred):
            painter.setPen(QPen(TEXT_COLOUR, 2.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(1.5, 1.5, -1.5, -1.5))
        if cell.count or (cell.diagonal and cell.gold != NONE):  # O-O is never counted
            painter.setPen(QColor(text_colour_on(fill.name())))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"{cell.count:,}")


class ResultCharts(QWidget):
    """The Results tab's pictures of one run on one split: score bars beside the heat map,
    and below the heat map the errors of the chosen cell (a click opens the document).

    The confusion matrix and the errors come from evaluating the run's model (the
    Results panel does it on a worker and hands the result to :meth:`add_evaluation`);
    the bars come from the run's stored metrics.
    """

    cell_listed = Signal(str, str, int)  # annotated, predicted, errors listed

    def __init__(self, controller: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._evaluations: dict[tuple[int, str], dict] = {}  # (run, split) -> evaluation
        self._key: tuple[int, str] | None = None
        self._has_model = False
        colour = controller.label_colour
        self.bars = ScoreBars(colour, self)
        self.heat_map = ConfusionHeatMap(colour, self)
        self.heat_map.cell_clicked.connect(self.list_cell)
        self.cell_table = RowsTable(
            "Errors in a cell — click a cell above", CELL_COLUMNS, self, stretch="shown_text"
        )
        self.cell_table.activated.connect(self._open_error)
        on_error = controller.show_error
        self.save_actions = {
            "bars": add_png_saving(self.bars, "scores-per-type", on_error),
            "heat_map": add_png_saving(self.heat_map, "confusion-matrix", on_error),
        }
        right = QSplitter(Qt.Orientation.Vertical, self)
        right.addWidget(self.heat_map)
        right.addWidget(self.cell_table)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.bars)
        splitter.addWidget(right)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        controller.labels_changed.connect(self._recolour)
        controller.project_changed.connect(self._forget)

    def add_evaluation(self, key: tuple[int, str], result: dict | None, note: str = "") -> None:
        """Keep a run's evaluation on a split (``{"confusion", "errors", ...}``); None
        where there is none, with ``note`` saying why."""
        self._evaluations[key] = {
            "confusion": result["confusion"] if result else None,
            "errors": result["errors"] if result else [],
            "note": note,
        }
        if key == self._key:
            self._show_evaluation()

    def show_run(self, run: dict | None, split: str, report: dict | None) -> None:
        """Show a run (a store row; None: none) on ``split`` with its stored ``report``."""
        key = (int(run["id"]), split) if run else None
        self.bars.set_report((report or {}).get("entity"), split)
        if key != self._key:
            self._key = key
            self.cell_table.set_rows([])
            self.cell_table.title.setText("<b>Errors in a cell</b> — click a cell above")
        self._has_model = bool(run and run["status"] == "done" and run["output_dir"])
        self._show_evaluation()

    def _show_evaluation(self) -> None:
        evaluation = self._evaluations.get(self._key) if self._key else None
        if evaluation is None:
            if self._key is None:
                note = "No run chosen"
            elif not self._has_model:
                note = "This run has no model to evaluate"
            else:
                note = "Finding the run's errors…"
            self.heat_map.set_confusion(None, note=note)
            return
        self.heat_map.set_confusion(evaluation["confusion"], self._key[1], evaluation["note"])

    def list_cell(self, gold: str, pred: str) -> None:
        """List the errors counted in a cell (what a click on it does)."""
        evaluation = self._evaluations.get(self._key) if self._key else None
        errors = cell_errors(evaluation["errors"] if evaluation else [], gold, pred)
        self.heat_map.choose(gold, pred)
        self.cell_table.set_rows(error_rows(errors))
        what = "boundary errors" if gold == pred else "errors"
        self.cell_table.title.setText(
            f"<b>Annotated {gold}, predicted {pred}: {len(errors)} {what}</b>"
            + (" — click one to open it" if errors else "")
        )
        self.cell_listed.emit(gold, pred, len(errors))

    def _open_error(self, row: dict) -> None:
        if row.get("document_id") is None:
            return
        select = (int(row["start"]), int(row["end"]))
        self.controller.open_document(int(row["document_id"]), select=select)

    def _forget(self) -> None:
        # Run ids start again at 1 in another project.
        self._evaluations.clear()
        self._key = None

    def _recolour(self) -> None:
        self.bars.update()
        self.heat_map.update()
