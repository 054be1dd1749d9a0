"""Charts of a search: each trial's dev F1 and the best so far, and parameter importances.

Drawn with QPainter, as ``desktop.charts`` is: a few dozen dots and one step line.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.charts import (
    F1_COLOUR,
    LOSS_COLOUR,
    TEXT_COLOUR,
    chart_painter,
    draw_unit_grid,
)

BEST_COLOUR = LOSS_COLOUR
PRUNED_COLOUR = QColor("#9aa0a6")
FAILED_COLOUR = QColor("#c0392b")


@dataclass(frozen=True)
class TrialPoint:
    """One trial on the chart: its number, dev F1 (None: no score yet) and state."""

    number: int
    value: float | None
    state: str  # complete / pruned / fail / running


def best_so_far(points: list[TrialPoint]) -> list[tuple[int, float]]:
    """(trial number, best dev F1 of the finished trials up to it), in trial order."""
    out: list[tuple[int, float]] = []
    best: float | None = None
    for point in sorted(points, key=lambda p: p.number):
        if point.state == "complete" and point.value is not None:
            best = point.value if best is None else max(best, point.value)
        if best is not None:
            out.append((point.number, best))
    return out


class TrialChart(QWidget):
    """Dev F1 (0-1) against trial number: a dot per trial, a line for the best so far."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._points: list[TrialPoint] = []

    def set_trials(self, points: list[TrialPoint]) -> None:
        """Show these trials (the whole study: replaces what was shown)."""
        self._points = sorted(points, key=lambda p: p.number)
        self.update()

    def points(self) -> list[TrialPoint]:
        """The trials drawn (for tests)."""
        return list(self._points)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = chart_painter(self)
        metrics = painter.fontMetrics()
        left = metrics.horizontalAdvance("0.00") + 12
        top = metrics.height() * 2 + 8
        plot = QRectF(
            left, top, self.width() - left - 16, self.height() - top - metrics.height() - 12
        )
        if plot.width() >= 20 and plot.height() >= 20:
            self._draw(painter, plot)
        painter.end()

    def _draw(self, painter: QPainter, plot: QRectF) -> None:
        self._draw_legend(painter, plot)
        metrics = painter.fontMetrics()
        painter.setPen(QPen(TEXT_COLOUR, 1))
        painter.drawRect(plot)
        if not self._points:
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "Each trial's dev F1 appears here")
            return
        numbers = [p.number for p in self._points]
        lo, hi = min(numbers), max(max(numbers), min(numbers) + 1)

        def to_px(number: float, value: float) -> QPointF:
            x = plot.left() + 10 + (plot.width() - 20) * (number - lo) / (hi - lo)
            return QPointF(x, plot.bottom() - plot.height() * min(max(value, 0.0), 1.0))

        draw_unit_grid(painter, plot, ".2f", inset=1)
        below = QRectF(plot.left(), plot.bottom() + 4, plot.width(), metrics.height())
        painter.drawText(below, Qt.AlignmentFlag.AlignLeft, f"trial {lo}")
        painter.drawText(below, Qt.AlignmentFlag.AlignRight, f"trial {max(numbers)}")

        best = best_so_far(self._points)
        if best:
            painter.setPen(QPen(BEST_COLOUR, 1.6))
            previous = to_px(*best[0])
            for number, value in best[1:]:
                here = to_px(number, value)
                painter.drawLine(previous, QPointF(here.x(), previous.y()))
                painter.drawLine(QPointF(here.x(), previous.y()), here)
                previous = here
        for point in self._points:
            if point.value is None:
                continue
            colour = {"complete": F1_COLOUR, "fail": FAILED_COLOUR}.get(point.state, PRUNED_COLOUR)
            painter.setPen(QPen(colour, 1.6))
            filled = point.state == "complete"
            painter.setBrush(colour if filled else Qt.BrushStyle.NoBrush)
            painter.drawEllipse(to_px(point.number, point.value), 4, 4)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def _draw_legend(self, painter: QPainter, plot: QRectF) -> None:
        metrics = painter.fontMetrics()
        x = plot.left()
        y = plot.top() - metrics.height()
        for text, colour, dot in (
            ("dev F1 of a trial", F1_COLOUR, True),
            ("pruned / running (last epoch)", PRUNED_COLOUR, True),
            ("best so far", BEST_COLOUR, False),
        ):
            painter.setPen(QPen(colour, 2 if dot else 3))
            if dot:
                painter.setBrush(colour if colour == F1_COLOUR else Qt.BrushStyle.NoBrush)
                painter.drawEllipse(QPointF(x + 7, y), 4, 4)
                painter.setBrush(Qt.BrushStyle.NoBrush)
            else:
                painter.drawLine(QPointF(x, y), QPointF(x + 14, y))
            painter.setPen(TEXT_COLOUR)
            painter.drawText(QPointF(x + 18, y + metrics.ascent() / 2 - 1), text)
            x += 18 + metrics.horizontalAdvance(text) + 16


class ImportanceBars(QWidget):
    """How much each parameter mattered to dev F1 (Optuna's importances), as bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._values: dict[str, float] = {}
        self._note = "Parameter importances appear once 4 trials have finished."

    def set_importances(self, values: dict[str, float] | None, note: str = "") -> None:
        """Show importances (largest first), or a note saying why there are none."""
        self._values = dict(sorted((values or {}).items(), key=lambda kv: -kv[1]))
        if note:
            self._note = note
        self.setMinimumHeight(max(90, 22 * len(self._values) + 8))
        self.updateGeometry()
        self.update()

    def importances(self) -> dict[str, float]:
        """The importances shown (for tests)."""
        return dict(self._values)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = chart_painter(self)
        metrics = painter.fontMetrics()
        if not self._values:
            painter.setPen(TEXT_COLOUR)
            painter.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, self._note)
            painter.end()
            return
        names_w = max(metrics.horizontalAdvance(n) for n in self._values) + 12
        value_w = metrics.horizontalAdvance("100%") + 10
        width = max(self.width() - names_w - value_w - 8, 10)
        top = max(self._values.values()) or 1.0
        for i, (name, value) in enumerate(self._values.items()):
            y = 4 + i * 22
            painter.setPen(TEXT_COLOUR)
            row = QRectF(0, y, names_w - 8, 18)
            painter.drawText(row, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            bar = QRectF(names_w, y + 3, width * value / top, 12)
            painter.fillRect(bar, F1_COLOUR)
            painter.drawText(
                QRectF(bar.right() + 6, y, value_w, 18),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{value:.0%}",
            )
        painter.end()
