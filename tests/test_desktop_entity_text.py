"""The Try-it text box highlights entities on the right characters, emoji or not."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication, QHelpEvent, QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip

import desktop.try_panel as try_module
from desktop.controller import ProjectController
from desktop.try_panel import TryPanel

from annotate_support import make_project

TEXT = "Fun 😀😀 trip to Lisbon with 𝒜na Berg"


def fake_predict(model, text: str):
    """What the model would say: Python offsets into the text, as core gives them."""
    entities = []
    for word, label, score in (("Lisbon", "LOC", 0.93), ("Berg", "PER", 0.71)):
        start = text.find(word)
        if start >= 0:
            end = start + len(word)
            entities.append(
                {"start": start, "end": end, "label": label, "score": score, "text": word}
            )
    return model, text, entities


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.fixture
def panel(qtbot, tmp_path, monkeypatch):
    project = make_project(tmp_path)
    run_id = project.create_run({}, "tiny", status="done")
    project.update_run(run_id, output_dir=str(tmp_path / "model"))
    controller = ProjectController()
    controller.set_project(project)
    monkeypatch.setattr(try_module, "predict_text", fake_predict)
    panel = TryPanel(controller)
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    qtbot.waitExposed(panel)
    yield panel
    controller.close_project()


def test_highlights_cover_the_entity_after_an_emoji(panel, qtbot) -> None:
    QGuiApplication.clipboard().setText(TEXT)
    panel.editor.setFocus()
    with qtbot.waitSignal(panel.predicted, timeout=10_000, check_params_cb=bool):
        QTest.keyClick(panel.editor, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert panel.editor.toPlainText() == TEXT
    shown = [s.cursor.selectedText() for s in panel.editor.extraSelections()]
    assert shown == ["Lisbon", "Berg"]


def test_hover_names_the_entity_under_the_mouse_after_an_emoji(panel, qtbot) -> None:
    panel.editor.setPlainText(TEXT)
    qtbot.waitUntil(lambda: len(panel.editor.extraSelections()) == 2, timeout=10_000)
    editor = panel.editor
    cursor = QTextCursor(editor.document())
    last = TEXT.index("Lisbon") + 5  # the "n" of "Lisbon": two emoji before it
    cursor.setPosition(utf16_length(TEXT[:last]))
    rect = editor.cursorRect(cursor)
    point = QPoint(rect.center().x() + 2, rect.center().y())
    event = QHelpEvent(QHelpEvent.Type.ToolTip, point, editor.viewport().mapToGlobal(point))
    QApplication.sendEvent(editor, event)
    qtbot.waitUntil(QToolTip.isVisible, timeout=2000)
    assert QToolTip.text() == "LOC — confidence 0.93"
    QToolTip.hideText()
