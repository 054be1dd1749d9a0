"""First start, the recent-projects list, and the main window's menus and shortcuts."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from desktop import app, first_start, recent

from annotate_support import drag_select


def test_first_start_creates_the_sample_project(isolated_settings) -> None:
    project = app.open_start_project(None)
    try:
        assert project.path == first_start.default_project_path()
        assert [row["name"] for row in project.labels()] == ["PER", "ORG", "LOC"]
        stats = project.stats()
        assert 60 <= stats["documents"] <= 120
        assert stats["splits"]["train"]["annotated"] >= 30
        assert stats["splits"]["dev"]["annotated"] >= 5
        assert project.count_documents(status="new") >= 10
        assert project.count_documents(origin="model") >= 3
        assert project.count_documents(search="北京") >= 1
    finally:
        project.close()


def test_last_project_is_reopened_and_project_argument_wins(isolated_settings) -> None:
    other = isolated_settings / "mine.spanlab"
    project = app.open_start_project(other)  # created, with the default labels
    assert project.path == other.resolve()
    assert [row["name"] for row in project.labels()] == ["PER", "ORG", "LOC"]
    assert project.count_documents() == 0
    project.close()
    recent.remember_project(other)
    again = app.open_start_project(None)
    assert again.path == other.resolve()
    again.close()
    assert recent.recent_projects() == [str(other.resolve())]


@pytest.fixture
def window(qtbot, isolated_settings):
    from desktop.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.adopt_project(app.open_start_project(None))
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.close()


def test_window_has_the_panels_and_menus(window) -> None:
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert tabs == ["Annotate", "Train", "Results", "Try it"]
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus[:3] == ["File", "Edit", "Annotate"]
    file_items = [a.text().replace("&", "") for a in window.menuBar().actions()[0].menu().actions()]
    for item in ("New project…", "Open project…", "Open recent", "Import documents…",
                 "Export annotations…", "Quit"):  # fmt: skip
        assert item in file_items
    assert window.windowTitle().startswith("Sample project")
    assert window.annotate.annotator.document_id is not None


def test_ctrl_z_in_the_window_undoes_a_span(window, qtbot) -> None:
    annotator = window.annotate.annotator
    project = window.controller.project
    doc_id = project.document_ids(status="new")[0]
    annotator.open_document(doc_id)
    before = len(project.spans(doc_id))
    text = annotator.view.text
    first = project.get_document(doc_id)["tokens"][0]
    if any(s["start"] == first[0] for s in project.spans(doc_id)):
        pytest.skip("first token already annotated in the sample")
    drag_select(annotator.view, first[0], first[1])
    QTest.keyClicks(annotator.view, "1")
    assert len(project.spans(doc_id)) == before + 1, text
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    QTest.keyClick(annotator.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(project.spans(doc_id)) == before
    QTest.keyClick(
        annotator.view,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert len(project.spans(doc_id)) == before + 1


def test_errors_show_in_a_dialog_not_a_crash(window) -> None:
    window.controller.show_error(RuntimeError("disk on fire"))
    assert window.errors.messages[-1] == "disk on fire"
    assert window.errors.last_box is not None and window.errors.last_box.isVisible()
    window.errors.last_box.close()


def test_open_recent_project(window, isolated_settings) -> None:
    other = Path(isolated_settings) / "second.spanlab"
    first_start.create_empty_project(other).close()
    assert window.open_project(other)
    assert window.controller.path == other
    assert recent.recent_projects()[0] == str(other.resolve())
    assert window.windowTitle().startswith("second")
