"""A read-only text view that draws entity spans and snaps selections to tokens.

The text is laid out once by Qt (``QTextEdit``, which handles CJK and long documents);
spans are not text formats but are painted over the viewport from the layout's line
geometry, and only the spans in the visible part of the document are painted. So adding,
relabelling or deleting a span costs one repaint of what is on screen, whatever the
length of the document. Lines get extra height, and each span's label is written in the
gap under it.

The view knows nothing of the store: it gets text, tokens and span rows (dicts with
``id, start, end, label, origin, score``; character offsets into the Python string) and
reports what the person did through signals. Selections snap to whole tokens by the
rules of ``core.spancheck``, which the store checks spans with.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QFont,
    QFontMetricsF,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QTextBlockFormat,
    QTextCursor,
    QTextOption,
)
from PySide6.QtWidgets import QTextEdit, QWidget

from core.spancheck import snap_range, token_at
from desktop.text_offsets import OffsetMap

LINE_HEIGHT_PERCENT = 190
CAPTION_POINT_SIZE_DELTA = -3


class SpanView(QTextEdit):
    """Shows one document with its spans; drag or double-click to select tokens.

    Signals: ``selection_changed(int start, int end)`` (snapped; ``-1, -1`` when cleared),
    ``span_selected(object row_or_None)``, ``label_key_pressed(str key)``,
    ``delete_pressed()``, ``accept_pressed()``, ``context_menu_requested(object row, QPoint
    global_pos)``, ``painted()`` (after each repaint; used by tests and the benchmark).
    """

    selection_changed = Signal(int, int)
    span_selected = Signal(object)
    label_key_pressed = Signal(str)
    delete_pressed = Signal()
    accept_pressed = Signal()
    context_menu_requested = Signal(object, QPoint)
    painted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setAcceptRichText(False)
        font = self.font()
        font.setPointSizeF(max(font.pointSizeF(), 10.0) * 1.25)
        self.setFont(font)
        self.document().setDocumentMargin(14)
        self._text = ""
        self._tokens: Sequence[Sequence[int]] = []
        self._spans: list[dict] = []
        self._starts: list[int] = []
        self._offsets = OffsetMap("")
        self._selected_id: int | None = None
        self._colour: Callable[[str], str] = lambda _label: "#9e9e9e"
        self._shortcut_keys: set[str] = set()
        self._drag_origin: QPoint | None = None
        self._press_offset: int | None = None
        self._word_picked = False  # a double-click chose a word: its release keeps it
        self._caption_font = QFont()
        self._caption_ascent = 0.0
        self._geometry: dict[tuple[int, int], list[QRectF]] = {}
        self._styles: dict[tuple[str, bool, bool], tuple[QPen, QColor, QColor]] = {}
        self._update_caption_font()
        layout = self.document().documentLayout()
        layout.documentSizeChanged.connect(self._forget_geometry)
        layout.update.connect(self._forget_geometry)

    def _update_caption_font(self) -> None:
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, font.pointSizeF() + CAPTION_POINT_SIZE_DELTA))
        font.setBold(True)
        self._caption_font = font
        self._caption_metrics = QFontMetricsF(font)
        self._caption_ascent = self._caption_metrics.ascent()
        self._caption_gap = QFontMetricsF(self.font()).height() * 0.15
        self._geometry = {}

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.FontChange:
            self._update_caption_font()
        super().changeEvent(event)

    # -- content ------------------------------------------------------------------------

    def set_document(self, text: str, tokens: Sequence[Sequence[int]], spans: list[dict]) -> None:
        """Show a new document (lays the text out once)."""
        self._text = text
        self._tokens = tokens
        self._offsets = OffsetMap(text)
        self._selected_id = None
        # "\r" would become a line break of its own in Qt; one space keeps offsets equal.
        self._geometry = {}
        self.setPlainText(text.replace("\r", " "))
        block_format = QTextBlockFormat()
        block_format.setLineHeight(
            LINE_HEIGHT_PERCENT, QTextBlockFormat.LineHeightTypes.ProportionalHeight.value
        )
        cursor = QTextCursor(self.document())
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.mergeBlockFormat(block_format)
        cursor.clearSelection()
        self.setTextCursor(cursor)
        self.set_spans(spans)
        self.verticalScrollBar().setValue(0)

    def set_spans(self, spans: list[dict]) -> None:
        """Replace the spans drawn over the text; repaints only the visible part."""
        self._spans = sorted(spans, key=lambda s: s["start"])
        self._starts = [s["start"] for s in self._spans]
        if self._selected_id is not None and self.span_by_id(self._selected_id) is None:
            self._selected_id = None
        self.viewport().update()

    def set_label_style(self, colour: Callable[[str], str], shortcut_keys: set[str]) -> None:
        """How to colour a label, and which keys are label shortcuts."""
        self._colour = colour
        self._styles = {}
        self._shortcut_keys = set(shortcut_keys)
        self.viewport().update()

    @property
    def text(self) -> str:
        """The document text shown."""
        return self._text

    @property
    def spans(self) -> list[dict]:
        """The span rows shown, sorted by start."""
        return self._spans

    def span_by_id(self, span_id: int) -> dict | None:
        """The shown span with this id, or None."""
        return next((s for s in self._spans if s["id"] == span_id), None)

    # -- selection ----------------------------------------------------------------------

    def selected_range(self) -> tuple[int, int] | None:
        """The text selection snapped to tokens, as Python offsets, or None."""
        cursor = self.textCursor()
        if not cursor.hasSelection():
            return None
        start = self._offsets.from_qt(cursor.selectionStart())
        end = self._offsets.from_qt(cursor.selectionEnd())
        return snap_range(self._tokens, start, end)

    def select_range(self, start: int, end: int, scroll: bool = True) -> None:
        """Select ``[start, end)`` (Python offsets) and scroll it into view."""
        doc_len = self.document().characterCount() - 1
        cursor = QTextCursor(self.document())
        cursor.setPosition(min(self._offsets.to_qt(start), doc_len))
        cursor.setPosition(min(self._offsets.to_qt(end), doc_len), QTextCursor.MoveMode.KeepAnchor)
        self.setTextCursor(cursor)
        if scroll:
            self.ensureCursorVisible()
        self.selection_changed.emit(start, end)

    def clear_selection(self) -> None:
        """Drop the text selection and the selected span."""
        cursor = self.textCursor()
        cursor.clearSelection()
        self.setTextCursor(cursor)
        self.select_span(None)
        self.selection_changed.emit(-1, -1)

    @property
    def selected_span(self) -> dict | None:
        """The span the person clicked, or None."""
        return self.span_by_id(self._selected_id) if self._selected_id is not None else None

    def select_span(self, span: dict | None) -> None:
        """Mark one span as selected (drawn with a frame)."""
        new_id = span["id"] if span is not None else None
        if new_id != self._selected_id:
            self._selected_id = new_id
            self.viewport().update()
            self.span_selected.emit(span)

    def span_at(self, point: QPoint) -> dict | None:
        """The span drawn under a viewport point, or None."""
        pos = QPointF(point)
        for span, rects, _ in self._visible_span_geometry():
            if any(r.adjusted(-1, -2, 1, 2).contains(pos) for r in rects):
                return span
        return None

    def char_rect(self, pos: int) -> QRectF:
        """The viewport rectangle of the character at Python offset ``pos`` (for tests)."""
        rects = self._range_rects(pos, pos + 1)
        return rects[0] if rects else QRectF()

    # -- mouse and keys -----------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self._word_picked = False
            self._drag_origin = event.position().toPoint()
            press = self.cursorForPosition(self._drag_origin).position()
            self._press_offset = self._offsets.from_qt(press)
            if self.textCursor().hasSelection() and not (
                event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            ):
                # A press inside the selection would make Qt drag the selected text away;
                # here a press always starts a new selection (Shift+click still extends).
                cursor = self.textCursor()
                cursor.clearSelection()
                self.setTextCursor(cursor)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        super().mouseMoveEvent(event)
        if self._drag_origin is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._snap_selection()  # show whole words while dragging

    def _snap_selection(self) -> None:
        """Select the whole tokens between the press point and the mouse, live.

        The word pressed on stays selected whichever way the drag goes.
        """
        if self._press_offset is None or not self.textCursor().hasSelection():
            return
        here = self._offsets.from_qt(self.textCursor().position())
        lo, hi = sorted((self._press_offset, here))
        if lo == hi:
            return
        snapped = snap_range(self._tokens, lo, hi)
        if snapped is None:
            return
        anchor, position = snapped if here >= self._press_offset else snapped[::-1]
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._offsets.to_qt(anchor))
        cursor.setPosition(self._offsets.to_qt(position), QTextCursor.MoveMode.KeepAnchor)
        self.setTextCursor(cursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        super().mouseReleaseEvent(event)
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if self._word_picked:  # the release that ends a double-click
            self._word_picked = False
            self._drag_origin = None
            return
        origin, self._drag_origin = self._drag_origin, None
        point = event.position().toPoint()
        moved = origin is not None and (origin - point).manhattanLength() > 3
        snapped = self.selected_range() if moved else None
        if snapped is not None:
            self.select_span(None)
            self.select_range(*snapped, scroll=False)
            return
        span = self.span_at(point)
        cursor = self.textCursor()
        cursor.clearSelection()
        self.setTextCursor(cursor)
        self.select_span(span)
        self.selection_changed.emit(-1, -1)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mouseDoubleClickEvent(event)
        pos = self._offset_at(event.position().toPoint())
        token = token_at(self._tokens, pos) if pos is not None else None
        if token is None and pos is not None and pos > 0:
            token = token_at(self._tokens, pos - 1)
        if token is not None:
            self.select_span(None)
            self.select_range(*token, scroll=False)
            self._word_picked = True
        event.accept()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802 - Qt API
        span = self.span_at(event.pos())
        if span is not None:
            self.select_span(span)
        self.context_menu_requested.emit(span, event.globalPos())

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        plain = modifiers in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier)
        key = event.key()
        text = event.text().lower()
        if plain and text and (text in self._shortcut_keys or text in "123456789"):
            self.label_key_pressed.emit(text)  # a digit with no label: the annotator says so
        elif plain and key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_pressed.emit()
        elif modifiers == Qt.KeyboardModifier.NoModifier and key in (
            Qt.Key.Key_Return,
            Qt.Key.Key_Enter,
        ):
            self.accept_pressed.emit()
        elif key == Qt.Key.Key_Escape:
            self.clear_selection()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def _offset_at(self, point: QPoint) -> int | None:
        """The Python offset of the character under a viewport point."""
        cursor = self.cursorForPosition(point)
        pos = self._offsets.from_qt(cursor.position())
        rect = self.char_rect(pos)
        if pos > 0 and (rect.isNull() or point.x() < rect.left()):
            pos -= 1
        return pos if 0 <= pos < len(self._text) else None

    # -- painting -----------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setFont(self._caption_font)
        dirty = QRectF(event.rect()).adjusted(-4, -4, 4, 4)
        last_caption: tuple[float, float] = (-1.0, -1e9)  # (baseline y, right edge)
        for span, rects, caption_at in self._visible_span_geometry():
            caption = self._caption(span)
            if caption_at.y() == last_caption[0] and caption_at.x() < last_caption[1] + 4:
                caption = span["label"]  # crowded: drop the score, then shift right
                caption_at.setX(max(caption_at.x(), last_caption[1] + 4))
            width = self._caption_metrics.horizontalAdvance(caption)
            last_caption = (caption_at.y(), caption_at.x() + width)
            bounds = (
                rects[0]
                .united(rects[-1])
                .united(QRectF(caption_at.x(), caption_at.y() - self._caption_ascent, width, 1))
            )
            if bounds.intersects(dirty):  # a cursor blink repaints a few pixels only
                self._paint_span(painter, span, rects, caption_at, caption)
        painter.end()
        super().paintEvent(event)
        self.painted.emit()

    @staticmethod
    def _caption(span: dict) -> str:
        if span.get("origin") == "model" and span.get("score") is not None:
            return f"{span['label']} {float(span['score']):.2f}"
        return span["label"]

    def _style(self, label: str, is_model: bool, selected: bool) -> tuple[QPen, QColor, QColor]:
        """Border pen, fill and caption colour of a span (cached per label and state)."""
        key = (label, is_model, selected)
        style = self._styles.get(key)
        if style is None:
            colour = QColor(self._colour(label))
            fill = QColor(colour)
            fill.setAlpha(55 if is_model else 120)
            pen = QPen(QColor(colour).darker(135), 2.2 if selected else 1.2)
            if is_model:
                pen.setStyle(Qt.PenStyle.DashLine)
            elif not selected:
                pen = QPen(Qt.PenStyle.NoPen)
            style = self._styles[key] = (pen, fill, QColor(colour).darker(170))
        return style

    def _paint_span(
        self, painter: QPainter, span: dict, rects: list[QRectF], caption_at: QPointF, caption: str
    ) -> None:
        pen, fill, text_colour = self._style(
            span["label"], span.get("origin") == "model", span["id"] == self._selected_id
        )
        painter.setPen(pen)
        painter.setBrush(fill)
        for rect in rects:
            painter.drawRoundedRect(rect, 3, 3)
        painter.setPen(text_colour)
        painter.drawText(caption_at, caption)

    def _visible_span_geometry(self) -> list[tuple[dict, list[QRectF], QPointF]]:
        """(span, its rectangles, where its caption goes) for each span on screen."""
        if not self._spans:
            return []
        viewport = self.viewport().rect()
        top = self._offsets.from_qt(self.cursorForPosition(QPoint(0, 0)).position())
        bottom_pos = self.cursorForPosition(QPoint(viewport.width(), viewport.height()))
        bottom = self._offsets.from_qt(bottom_pos.position()) + 1
        first = max(0, bisect_left(self._starts, top) - 1)
        last = bisect_right(self._starts, bottom)
        dx, dy = -self.horizontalScrollBar().value(), -self.verticalScrollBar().value()
        out = []
        for span in self._spans[first:last]:
            if span["end"] <= top - 1:
                continue
            rects = [r.translated(dx, dy) for r in self._document_rects(span["start"], span["end"])]
            if not rects:
                continue
            first_rect = rects[0]
            caption_at = QPointF(
                first_rect.left() + 1,
                first_rect.bottom() + self._caption_gap + self._caption_ascent,
            )
            out.append((span, rects, caption_at))
        return out

    def _range_rects(self, start: int, end: int) -> list[QRectF]:
        """Viewport rectangles covering ``[start, end)``, one per laid-out line."""
        dx, dy = -self.horizontalScrollBar().value(), -self.verticalScrollBar().value()
        return [r.translated(dx, dy) for r in self._document_rects(start, end)]

    def _document_rects(self, start: int, end: int) -> list[QRectF]:
        """Rectangles of ``[start, end)`` in document coordinates, cached until the text is
        laid out again (resize, font, new document): scrolling only translates them."""
        key = (start, end)
        cached = self._geometry.get(key)
        if cached is not None:
            return cached
        doc = self.document()
        qs, qe = self._offsets.to_qt(start), self._offsets.to_qt(end)
        layout = doc.documentLayout()
        rects: list[QRectF] = []
        block = doc.findBlock(qs)
        while block.isValid() and block.position() < qe:
            text_layout = block.layout()
            origin = layout.blockBoundingRect(block).topLeft()
            b_start = max(qs - block.position(), 0)
            b_end = min(qe - block.position(), block.length() - 1)
            if text_layout is not None and text_layout.lineCount() and b_end > b_start:
                first = text_layout.lineForTextPosition(b_start).lineNumber()
                last = text_layout.lineForTextPosition(max(b_end - 1, b_start)).lineNumber()
                for n in range(max(first, 0), max(last, first) + 1):
                    line = text_layout.lineAt(n)
                    a = max(b_start, line.textStart())
                    b = min(b_end, line.textStart() + line.textLength())
                    if b <= a:
                        continue
                    x1 = line.cursorToX(a)[0]
                    x2 = line.cursorToX(b)[0]
                    height = line.ascent() + line.descent()
                    rects.append(
                        QRectF(origin.x() + x1 - 1, origin.y() + line.y(), x2 - x1 + 2, height)
                    )
            block = block.next()
        if rects:  # a block not laid out yet gives none: ask again next time
            self._geometry[key] = rects
        return rects

    def _forget_geometry(self, *_args: object) -> None:
        self._geometry.clear()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        self._geometry.clear()
        super().resizeEvent(event)
