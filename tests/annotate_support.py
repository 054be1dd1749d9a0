"""Helpers for the annotation tests: a tiny project, and a person's mouse and keys."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from core.store import Project
from desktop.errors import describe

TEXTS = [
    "Maria Lopez opened a bakery in Porto last spring.",
    "Northwind Bank moved from Leeds to Manchester.",
    "王小明在北京的一家书店工作。",
    "Tom Hale walked from Cardiff to Swansea.",
]


def tokens_of(text: str) -> list[tuple[int, int]]:
    """Words, single punctuation marks, single CJK characters (what core's tokenizer does)."""
    out = []
    for m in re.finditer(r"[A-Za-z0-9]+|\S", text):
        out.append((m.start(), m.end()))
    return out


def make_project(folder: Path, model_spans: bool = True) -> Project:
    """Four documents (one Chinese), labels PER / ORG / LOC, model suggestions on doc 4."""
    project = Project.create(folder / "test.spanlab")
    for name, colour, key in (
        ("PER", "#f4a259", "1"),
        ("ORG", "#6ca6d9", "2"),
        ("LOC", "#8cc46e", "3"),
    ):
        project.add_label(name, colour=colour, shortcut=key)
    ids = [project.add_document(t, tokens=tokens_of(t), split="train") for t in TEXTS]
    project.add_span(ids[1], 0, 14, "ORG")
    if model_spans:
        project.set_model_spans(
            ids[3],
            [
                {"start": 0, "end": 8, "label": "PER", "score": 0.91},
                {"start": 21, "end": 28, "label": "LOC", "score": 0.64},
            ],
        )
    return project


def char_point(view, pos: int, side: str = "left") -> QPoint:
    """A viewport point just inside the left or right edge of the character at ``pos``."""
    rect = view.char_rect(pos)
    assert not rect.isNull(), f"character {pos} is not laid out / visible"
    x = rect.left() + 2 if side == "left" else rect.right() - 2
    return QPoint(int(x), int(rect.center().y()))


def drag_select(view, start: int, end: int) -> None:
    """Press on character ``start``, drag to character ``end - 1``, release."""
    viewport = view.viewport()
    a, b = char_point(view, start, "left"), char_point(view, end - 1, "right")
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    steps = 4
    for i in range(1, steps + 1):
        p = a + (b - a) * (i / steps)
        QTest.mouseMove(viewport, p)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def click_char(view, pos: int) -> None:
    """Click in the middle of the character at ``pos``."""
    rect = view.char_rect(pos)
    point = QPoint(int(rect.center().x()), int(rect.center().y()))
    QTest.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point
    )


def human_spans(project: Project, doc_id: int) -> list[tuple[int, int, str]]:
    return [(s["start"], s["end"], s["label"]) for s in project.spans(doc_id, origin="human")]


def collect_errors(controller) -> list[str]:
    """The messages of every error the controller reports, as the person reads them."""
    messages: list[str] = []
    controller.error.connect(lambda exc: messages.append(describe(exc)))
    return messages
