"""The learning curve: dev F1 against the number of annotated training documents.

One dot per finished run (``metrics["train_documents"]`` and ``metrics["f1"]``), the line
through the best F1 at each size, so a person sees whether more annotation still pays.
Drawn with QPainter like :mod:`desktop.charts`.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.charts import F1_COLOUR, GRID_COLOUR, TEXT_COLOUR, chart_painter, draw_unit_grid

EMPTY_TEXT = "The learning curve appears here once a run has finished"


def curve_points(runs: list[dict]) -> list[tuple[int, float, int]]:
    """``(train_documents, dev F1, run id)`` of every finished run whose metrics say
    both, by size then run id. Runs from before runs counted their documents are left
    out: their size is not known."""
    points = []
    for run in runs:
        metrics = run.get("metrics") or {}
        size, f1 = metrics.get("train_documents"), metrics.get("f1")
        if run["status"] == "done" and isinstance(size, int) and isinstance(f1, int | float):
            points.append((size, float(f1), int(run["id"])))
    return sorted(points)


def best_per_size(points: list[tuple[int, float, int]]) -> list[tuple[int, float]]:
    """The best F1 at each number of documents (the line drawn), by size."""
    best: dict[int, float] = {}
    for size, f1, _ in points:
        best[size] = max(f1, best.get(size, f1))
    return sorted(best.items())


class LearningCurve(QWidget):
    """Dev F1 (0-1) over annotated training documents, across the project's runs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(260, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._points: list[tuple[int, float, int]] = []

    def set_runs(self, runs: list[dict]) -> None:
        """Show the finished runs among ``runs`` (the store's run rows)."""
        self._points = curve_points(runs)
        self.setToolTip(
            "\n".join(f"run {r}: {n:,} documents, dev F1 {f:.3f}" for n, f, r in self._points)
        )
        self.update()

    def points(self) -> list[tuple[int, float, int]]:
        """The dots drawn, ``(train_documents, f1, run id)`` (for tests)."""
        return list(self._points)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = chart_painter(self)
        metrics = painter.fontMetrics()
        left = metrics.horizontalAdvance("0.75") + 12
        top, bottom, right = metrics.height() + 12, metrics.height() + 8, 16
        plot = QRectF(left, top, self.width() - left - right, self.height() - top - bottom)
        if plot.width() >= 20 and plot.height() >= 20:
            self._draw(painter, plot)
        painter.end()

    def _draw(self, painter: QPainter, plot: QRectF) -> None:
        metrics = painter.fontMetrics()
        painter.setPen(TEXT_COLOUR)
        painter.drawText(
            QRectF(plot.left(), 2, plot.width(), metrics.height()),
            Qt.AlignmentFlag.AlignLeft,
            "Learning curve: dev F1 by annotated training documents",
        )
        painter.setPen(QPen(GRID_COLOUR, 1))
        painter.drawRect(plot)
        if not self._points:
            painter.setPen(TEXT_COLOUR)
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, EMPTY_TEXT)
            return
        x_max = max(size for size, _, _ in self._points) or 1

        def to_px(x: float, y: float) -> QPointF:
            return QPointF(
                plot.left() + plot.width() * x / x_max,
                plot.bottom() - plot.height() * min(max(y, 0.0), 1.0),
            )

        draw_unit_grid(painter, plot, ".2g")
        below = QRectF(plot.left(), plot.bottom() + 4, plot.width(), metrics.height())
        painter.drawText(below, Qt.AlignmentFlag.AlignLeft, "0")
        painter.drawText(below, Qt.AlignmentFlag.AlignRight, f"{x_max:,} documents")
        line = best_per_size(self._points)
        path = QPainterPath(to_px(*line[0]))
        for x, y in line[1:]:
            path.lineTo(to_px(x, y))
        painter.setPen(QPen(F1_COLOUR, 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        painter.setBrush(QColor(F1_COLOUR))
        for size, f1, _ in self._points:
            painter.drawEllipse(to_px(size, f1), 3.5, 3.5)
