"""First start, the recent-projects list, and the main window's menus and shortcuts."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from core.errors import ValidationError
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
    assert tabs == ["Annotate", "Train", "Search", "Results", "Try it"]
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus[:3] == ["File", "Edit", "Annotate"]
    file_items = [a.text().replace("&", "") for a in window.menuBar().actions()[0].menu().actions()]
    for item in ("New project…", "Open project…", "Open recent", "Import documents…",
                 "Export annotations…", "Quit"):  # fmt: skip
        assert item in file_items
    assert window.windowTitle().startswith("Sample project")
    assert window.annotate.annotator.document_id is not None


def _unannotated_first_word(project) -> tuple[int, tuple[int, int]]:
    """A new document of the sample whose first word carries no span, and that word."""
    for doc_id in project.document_ids(status="new"):
        first = project.get_document(doc_id)["tokens"][0]
        if not any(s["start"] < first[1] and first[0] < s["end"] for s in project.spans(doc_id)):
            return doc_id, (first[0], first[1])
    raise AssertionError("the sample has no new document with a free first word")


def test_ctrl_z_in_the_window_undoes_a_span(window, qtbot) -> None:
    annotator = window.annotate.annotator
    project = window.controller.project
    doc_id, first = _unannotated_first_word(project)
    annotator.open_document(doc_id)
    before = len(project.spans(doc_id))
    text = annotator.view.text
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


def test_an_error_meant_for_the_person_shows_its_message_alone(window) -> None:
    window.controller.show_error(ValidationError("Label XYZ does not exist: add it first."))
    assert window.errors.messages[-1] == "Label XYZ does not exist: add it first."
    box = window.errors.last_box
    assert box is not None and box.isVisible() and box.detailedText() == ""
    box.close()


def test_an_unexpected_error_in_an_edit_keeps_its_traceback(window, monkeypatch) -> None:
    annotator = window.annotate.annotator
    project = window.controller.project
    doc_id, first = _unannotated_first_word(project)

    def add_span_on_fire(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(project, "add_span", add_span_on_fire)
    annotator.open_document(doc_id)
    drag_select(annotator.view, first[0], first[1])
    QTest.keyClicks(annotator.view, "1")  # the person labels the word: core blows up
    message = window.errors.messages[-1]
    assert message.startswith("Something went wrong: disk on fire")
    box = window.errors.last_box
    assert box is not None and box.isVisible()
    details = box.detailedText()
    assert details.startswith("Traceback (most recent call last):")
    assert "in add_span_on_fire" in details
    assert details.rstrip().endswith("RuntimeError: disk on fire")
    box.close()


def test_open_recent_project(window, isolated_settings) -> None:
    other = Path(isolated_settings) / "second.spanlab"
    first_start.create_empty_project(other).close()
    assert window.open_project(other)
    assert window.controller.path == other
    assert recent.recent_projects()[0] == str(other.resolve())
    assert window.windowTitle().startswith("second")


# -- coming back to a project --------------------------------------------------------------


def _open_through_the_menu(window, path: Path, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    _menu_action(window, "File", "Open project…").trigger()


def _menu_action(window, menu: str, item: str):
    bar = next(a for a in window.menuBar().actions() if a.text().replace("&", "") == menu)
    return next(a for a in bar.menu().actions() if a.text().replace("&", "") == item)


def test_reopening_a_project_shows_the_document_the_person_was_on(
    qtbot, isolated_settings, monkeypatch
) -> None:
    from desktop.main_window import MainWindow

    from annotate_support import make_project

    project = make_project(isolated_settings)
    path, ids = project.path, project.document_ids()
    project.close()

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    _open_through_the_menu(window, path, monkeypatch)
    annotator = window.annotate.annotator
    assert annotator.document_id == ids[0]
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    for _ in range(2):
        QTest.keyClick(annotator.view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert annotator.document_id == ids[2]
    window.close()

    again = MainWindow()  # the next start: the last project, at the same document
    qtbot.addWidget(again)
    again.adopt_project(app.open_start_project(None))
    assert again.controller.path == path
    assert again.annotate.annotator.document_id == ids[2]
    assert again.annotate.documents.selected_document_ids() == [ids[2]]
    again.close()


def test_a_new_project_starts_with_no_filters_and_says_how_to_add_documents(
    window, isolated_settings, qtbot, monkeypatch
) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog

    documents = window.annotate.documents
    QTest.keyClicks(documents.search, "Berlin")
    documents.status.setCurrentIndex(documents.status.findData("new"))
    qtbot.waitUntil(lambda: documents.model.filters.get("search") == "Berlin", timeout=2000)

    target = isolated_settings / "fresh.spanlab"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    _menu_action(window, "File", "New project…").trigger()
    assert window.controller.path == target
    assert documents.search.text() == ""
    assert documents.status.currentData() is None
    assert documents.model.filters == {}
    annotator = window.annotate.annotator
    assert annotator.document_id is None
    assert annotator.hint.text().startswith("No documents yet — File → Import… or type one")
    qtbot.waitUntil(lambda: documents.count.text() == "No documents yet", timeout=2000)

    typed = "Ada Lovelace wrote in London."

    def type_the_text(tries: int = 200) -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QInputDialog):
            dialog.setTextValue(typed)
            dialog.accept()
        elif tries:
            QTimer.singleShot(25, lambda: type_the_text(tries - 1))

    QTimer.singleShot(0, type_the_text)
    _menu_action(window, "File", "New document…").trigger()
    assert annotator.doc is not None and annotator.doc["text"] == typed
    assert window.controller.project.count_documents() == 1
    qtbot.waitUntil(lambda: documents.count.text() == "1 document", timeout=2000)


# -- about, and where the data lives -------------------------------------------------------


def test_help_about_shows_version_licence_and_data_folder(window, qtbot) -> None:
    from importlib.metadata import version

    from PySide6.QtWidgets import QApplication, QMessageBox

    _menu_action(window, "Help", "About Spanlab").trigger()
    box = QApplication.activeModalWidget()
    assert isinstance(box, QMessageBox) and box.isVisible()
    text = box.text()
    assert f"Spanlab {version('spanlab')}" in text
    assert "Licence: MIT" in text
    assert str(first_start.data_folder()) in text
    box.close()


@pytest.fixture
def real_data_paths(tmp_path, monkeypatch):
    """The app's own names and the real QStandardPaths, under a temporary XDG home."""
    from PySide6.QtCore import QCoreApplication, QSettings

    names = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "ini"))
    app.make_application()
    yield tmp_path / "data"
    QSettings().clear()
    QCoreApplication.setOrganizationName(names[0])
    QCoreApplication.setApplicationName(names[1])


def test_the_data_folder_names_spanlab_once(real_data_paths) -> None:
    assert first_start.data_folder() == real_data_paths / "Spanlab"
    assert first_start.default_project_path() == real_data_paths / "Spanlab" / (
        first_start.DEFAULT_PROJECT_NAME
    )


def test_a_sample_project_in_the_earlier_folder_stays_in_use(real_data_paths) -> None:
    earlier = real_data_paths / "Spanlab" / "Spanlab"
    earlier.mkdir(parents=True)
    first_start.create_sample_project(earlier / first_start.DEFAULT_PROJECT_NAME).close()
    project = app.open_start_project(None)
    try:
        assert project.path == earlier / first_start.DEFAULT_PROJECT_NAME
    finally:
        project.close()


def test_assign_splits_from_the_menu_makes_a_project_trainable(qtbot, tmp_path, isolated_settings):
    """Imported documents arrive unassigned; Annotate ▸ Assign splits… shuffles them."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from core.store import Project
    from desktop.main_window import MainWindow
    from desktop.splits_dialog import SplitsDialog

    project = Project.create(tmp_path / "p.spanlab", labels=["PER"])
    for i in range(20):
        project.add_document(f"Alice number {i} .")
    window = MainWindow()
    qtbot.addWidget(window)
    window.adopt_project(project)
    window.show()
    qtbot.waitExposed(window)

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, SplitsDialog)
        dialog.train.setValue(60)
        dialog.dev.setValue(20)
        dialog.test.setValue(20)
        dialog.ok.click()

    QTimer.singleShot(0, answer)
    annotate_menu = next(
        a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Annotate"
    )
    action = next(
        a for a in annotate_menu.actions() if a.text().replace("&", "") == "Assign splits…"
    )
    action.trigger()
    assert project.count_documents(split="train") == 12
    assert project.count_documents(split="dev") == 4 and project.count_documents(split="test") == 4
    assert "12 to train" in window.statusBar().currentMessage()
    shown = window.annotate.annotator
    assert shown.split.currentText() == project.get_document(shown.document_id)["split"]
    window.close()


def test_the_window_follows_documents_another_process_adds(qtbot, tmp_path, isolated_settings):
    """`spanlab import` from a terminal while the app has the project open: the list and
    its count follow within a few seconds, without touching a filter."""
    from core.store import Project
    from desktop.main_window import MainWindow

    from process_support import spanlab

    project = Project.create(tmp_path / "p.spanlab", labels=["PER"])
    project.add_document("Alice met Bob .")
    window = MainWindow()
    qtbot.addWidget(window)
    window.adopt_project(project)
    window.show()
    qtbot.waitExposed(window)
    documents = window.annotate.documents
    qtbot.waitUntil(lambda: documents.count.text() == "1 document", timeout=5000)
    source = tmp_path / "more.txt"
    source.write_text("Carol met Dave .\nErin met Frank .\n", encoding="utf-8")
    result = spanlab("import", str(project.path), str(source))
    assert result.returncode == 0, result.stderr
    qtbot.waitUntil(lambda: documents.count.text() == "3 documents", timeout=10_000)
    assert documents.model.rowCount() == 3
    window.close()


def test_a_first_window_fits_a_small_screen() -> None:
    from PySide6.QtCore import QSize

    from desktop.main_window import _first_size

    assert _first_size(QSize(1366, 728)).height() <= 728
    assert _first_size(QSize(1280, 720)).width() <= 1280
    assert _first_size(QSize(2560, 1400)) == QSize(1360, 860)
