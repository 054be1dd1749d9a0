"""The one place where errors reach the person: a message box, never a crash.

A ``SpanlabError`` (from core) is shown with its message, which already says what was
wrong, where, and what to do. Anything else is unexpected: it is logged with its
traceback and shown as a readable dialog with the details folded away.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from core.errors import ImportFormatError, SpanlabError

log = logging.getLogger(__name__)


def error_label(parent: QWidget) -> QLabel:
    """A hidden, selectable red box for a panel's last error (shown with its text)."""
    label = QLabel(parent)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet(
        "QLabel { color: #a1260d; background: #fdecea; border: 1px solid #f5c2bd;"
        " border-radius: 4px; padding: 6px; }"
    )
    label.hide()
    return label


def describe(exc: BaseException | str) -> str:
    """A message for the user: the error's own text, or its type for a silent one."""
    if isinstance(exc, str):
        return exc
    if isinstance(exc, ImportFormatError):
        where = f"File: {exc.path}"
        if exc.line:
            where += f"\nLine: {exc.line}"
        text = f"Nothing was imported.\n\n{where}\nReason: {exc.reason}"
        return f"{text}\n{exc.hint}" if exc.hint else text
    return str(exc) or type(exc).__name__


class ErrorReporter(QObject):
    """Shows errors in non-blocking message boxes over one parent window.

    ``messages`` keeps every message shown (tests and the status bar read it).
    """

    def __init__(self, parent_window: QWidget) -> None:
        super().__init__(parent_window)
        self._window = parent_window
        self.messages: list[str] = []
        self.last_box: QMessageBox | None = None

    def show_message(self, message: str, title: str = "Spanlab", details: str = "") -> None:
        """Show a message box (window-modal, does not block the caller)."""
        self.messages.append(message)
        box = QMessageBox(self._window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setText(message)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_box = box

    def show_error(self, exc: BaseException | str) -> None:
        """Show a SpanlabError (or a plain message); an unexpected error with details."""
        if isinstance(exc, BaseException) and not isinstance(exc, SpanlabError):
            self.show_unexpected(type(exc), exc, exc.__traceback__)
            return
        self.show_message(describe(exc))

    def show_unexpected(
        self,
        kind: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        """Log an unexpected exception and show it readably (traceback under Details)."""
        log.error("unexpected error", exc_info=(kind, exc, tb))
        details = "".join(traceback.format_exception(kind, exc, tb))
        self.show_message(
            f"Something went wrong: {describe(exc)}\n\nYour work is saved. "
            "If this keeps happening, please report it with the details below.",
            title="Unexpected error",
            details=details,
        )


def install_excepthook(reporter: ErrorReporter) -> None:
    """Route uncaught exceptions (e.g. in a slot) to the reporter instead of aborting."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, exc, tb)
            return
        try:
            if isinstance(exc, SpanlabError):
                reporter.show_error(exc)
            else:
                reporter.show_unexpected(kind, exc, tb)
        except Exception:  # the reporter itself failed: fall back to stderr
            previous(kind, exc, tb)

    sys.excepthook = hook
