"""A light live chart of a training run: loss per step and dev F1 per epoch.

Drawn with QPainter rather than QtCharts: two series and a few axis labels do not need
a scene graph, and a repaint stays well under a millisecond while a run is going.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

LOSS_COLOUR = QColor("#3a78c2")
F1_COLOUR = QColor("#d9822b")
GRID_COLOUR = QColor("#e3e6ea")
TEXT_COLOUR = QColor("#4a4f55")

HEADROOM = 8  # pixels between the frame's top and the highest grid line

# At most this many loss points are drawn; older ones are thinned, never the newest.
MAX_POINTS = 2000


def chart_painter(widget: QWidget) -> QPainter:
    """A painter on ``widget`` as every chart begins one: antialiased, over the palette's
    base colour, in a font a point smaller than the widget's (the caller ends it)."""
    painter = QPainter(widget)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.fillRect(widget.rect(), widget.palette().base())
    font = QFont(widget.font())
    font.setPointSizeF(max(font.pointSizeF() - 1, 7))
    painter.setFont(font)
    return painter


def draw_unit_grid(painter: QPainter, plot: QRectF, label: str, inset: float = 0) -> None:
    """Five grid lines across ``plot`` for 0 to 1 (an F1), each labelled at the left
    with ``label`` (a format spec, e.g. ``.2f``); ``inset`` keeps the lines off the frame."""
    metrics = painter.fontMetrics()
    for i in range(5):
        y = plot.bottom() - plot.height() * i / 4
        painter.setPen(QPen(GRID_COLOUR, 1))
        painter.drawLine(QPointF(plot.left() + inset, y), QPointF(plot.right() - inset, y))
        painter.setPen(TEXT_COLOUR)
        painter.drawText(
            QRectF(0, y - metrics.height() / 2, plot.left() - 6, metrics.height()),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            format(i / 4, label),
        )


class TrainingChart(QWidget):
    """Training loss (left axis, per step) and dev F1 (right axis, 0-1, per epoch)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._loss: list[tuple[float, float]] = []  # (step, loss)
        self._f1: list[tuple[float, float]] = []  # (step at the end of the epoch, f1)
        self._total_steps = 0

    # -- data -------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every point (a new run starts)."""
        self._loss.clear()
        self._f1.clear()
        self._total_steps = 0
        self.update()

    def set_total_steps(self, total: int) -> None:
        """Fix the x axis to the run's length so the curve grows from left to right."""
        self._total_steps = max(int(total or 0), 0)
        self.update()

    def add_loss(self, step: float, loss: float) -> None:
        """Append one training-loss point."""
        self._loss.append((float(step), float(loss)))
        if len(self._loss) > MAX_POINTS:
            # Keep every other point of the older half: the curve's shape survives.
            half = len(self._loss) // 2
            self._loss = self._loss[:half:2] + self._loss[half:]
        self.update()

    def add_f1(self, step: float, f1: float) -> None:
        """Append one dev-F1 point, placed at the step where its epoch ended."""
        self._f1.append((float(step), float(f1)))
        self.update()

    def loss_points(self) -> list[tuple[float, float]]:
        """The loss points drawn (for tests)."""
        return list(self._loss)

    def f1_points(self) -> list[tuple[float, float]]:
        """The dev-F1 points drawn (for tests)."""
        return list(self._f1)

    # -- drawing ----------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = chart_painter(self)
        metrics = painter.fontMetrics()
        left = metrics.horizontalAdvance("0.000") + 12
        right = metrics.horizontalAdvance("1.0") + 12
        top = metrics.height() + 10 + HEADROOM
        bottom = metrics.height() + 10
        plot = QRectF(left, top, self.width() - left - right, self.height() - top - bottom)
        if plot.width() >= 20 and plot.height() >= 20:
            self._draw(painter, plot)
        painter.end()

    def _draw(self, painter: QPainter, plot: QRectF) -> None:
        self._draw_legend(painter, plot)
        if not self._loss and not self._f1:  # no axes to read yet: just say what will come
            painter.setPen(QPen(GRID_COLOUR, 1))
            painter.drawRect(plot.adjusted(0, -HEADROOM, 0, 0))
            painter.setPen(TEXT_COLOUR)
            painter.drawText(
                plot, Qt.AlignmentFlag.AlignCenter, "The curves appear here during a run"
            )
            return
        x_max = max(
            [self._total_steps, 1] + [s for s, _ in self._loss[-1:]] + [s for s, _ in self._f1[-1:]]
        )
        loss_max = max([v for _, v in self._loss] or [1.0]) * 1.05 or 1.0
        self._draw_grid(painter, plot, loss_max, x_max)
        self._draw_series(painter, plot, self._loss, x_max, loss_max, LOSS_COLOUR, dots=False)
        self._draw_series(painter, plot, self._f1, x_max, 1.0, F1_COLOUR, dots=True)

    def _draw_grid(self, painter: QPainter, plot: QRectF, loss_max: float, x_max: float) -> None:
        metrics = painter.fontMetrics()
        for i in range(5):
            frac = i / 4
            y = plot.bottom() - frac * plot.height()
            painter.setPen(QPen(GRID_COLOUR, 1))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(LOSS_COLOUR)
            label = f"{loss_max * frac:.3g}"
            painter.drawText(
                QRectF(0, y - metrics.height() / 2, plot.left() - 6, metrics.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
            painter.setPen(F1_COLOUR)
            painter.drawText(
                QRectF(plot.right() + 6, y - metrics.height() / 2, 60, metrics.height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{frac:.2g}",
            )
        painter.setPen(QPen(TEXT_COLOUR, 1))
        painter.drawRect(plot.adjusted(0, -HEADROOM, 0, 0))  # room above 1.0 for the dots
        painter.drawText(
            QRectF(plot.left(), plot.bottom() + 4, plot.width(), metrics.height()),
            Qt.AlignmentFlag.AlignRight,
            f"step {int(x_max)}",
        )
        painter.drawText(
            QRectF(plot.left(), plot.bottom() + 4, plot.width(), metrics.height()),
            Qt.AlignmentFlag.AlignLeft,
            "0",
        )

    def _draw_series(
        self,
        painter: QPainter,
        plot: QRectF,
        points: list[tuple[float, float]],
        x_max: float,
        y_max: float,
        colour: QColor,
        dots: bool,
    ) -> None:
        if not points:
            return

        def to_px(x: float, y: float) -> QPointF:
            return QPointF(
                plot.left() + plot.width() * (x / x_max),
                plot.bottom() - plot.height() * (min(max(y, 0.0), y_max) / y_max),
            )

        path = QPainterPath(to_px(*points[0]))
        for x, y in points[1:]:
            path.lineTo(to_px(x, y))
        painter.setPen(QPen(colour, 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        if dots:
            painter.setBrush(colour)
            for x, y in points:
                painter.drawEllipse(to_px(x, y), 3.5, 3.5)

    def _draw_legend(self, painter: QPainter, plot: QRectF) -> None:
        metrics = painter.fontMetrics()
        x = plot.left()
        for text, colour in (("training loss", LOSS_COLOUR), ("dev F1 (per epoch)", F1_COLOUR)):
            painter.setPen(QPen(colour, 3))
            y = plot.top() - HEADROOM - metrics.height() / 2 - 4
            painter.drawLine(QPointF(x, y), QPointF(x + 14, y))
            painter.setPen(TEXT_COLOUR)
            painter.drawText(QPointF(x + 18, y + metrics.ascent() / 2 - 1), text)
            x += 18 + metrics.horizontalAdvance(text) + 16
