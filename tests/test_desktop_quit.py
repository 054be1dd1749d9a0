"""Quitting while a model trains asks first: No keeps the window and the run going,
Yes cancels the run (recorded as cancelled) and closes the window."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from core.store import Project

from desktop_support import build_tiny_model, make_project, tiny_config

TIMEOUT = 90_000


def answer_next_question(button: QMessageBox.StandardButton, tries: int = 400) -> list[str]:
    """Click ``button`` in the next modal message box; returns the texts of the boxes seen."""
    seen: list[str] = []

    def look(left: int = tries) -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.text())
            box.button(button).click()
        elif left:
            QTimer.singleShot(25, lambda: look(left - 1))

    QTimer.singleShot(0, look)
    return seen


def start_a_long_run(window, tmp_path, qtbot) -> int:
    """Queue a run of the tiny model long enough to be interrupted; return once it trains."""
    model = build_tiny_model(tmp_path / "tiny-bert")
    with qtbot.waitSignal(
        window.train.queue.run_event,
        timeout=TIMEOUT,
        check_params_cb=lambda _run, event: event.kind in ("step", "eval"),
    ):
        return window.train.queue.submit(tiny_config(model, epochs=500))


def quit_action(window):
    file_menu = window.menuBar().actions()[0].menu()
    return next(a for a in file_menu.actions() if a.text().replace("&", "") == "Quit")


@pytest.fixture
def window(qtbot, isolated_settings, tmp_path):
    from desktop.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.adopt_project(make_project(tmp_path / "p.spanlab"))
    window.show()
    qtbot.waitExposed(window)
    return window


def test_quitting_during_a_run_asks_and_no_keeps_it_yes_cancels_it(window, tmp_path, qtbot) -> None:
    path = Path(window.controller.path)
    queue = window.train.queue
    run_id = start_a_long_run(window, tmp_path, qtbot)

    seen = answer_next_question(QMessageBox.StandardButton.No)
    quit_action(window).trigger()
    assert seen and f"Run {run_id} is training" in seen[0]
    assert window.isVisible()
    assert queue.running() is not None and queue.running().run_id == run_id
    assert window.controller.project.get_run(run_id)["status"] == "running"

    seen = answer_next_question(QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.train.run_finished, timeout=TIMEOUT) as finished:
        assert window.close()
    assert seen
    assert finished.args == [run_id, "cancelled"]
    assert not window.isVisible()
    assert not queue.is_busy()
    with Project.open(path) as project:
        assert project.get_run(run_id)["status"] == "cancelled"


def test_quitting_with_no_run_asks_nothing(window) -> None:
    seen = answer_next_question(QMessageBox.StandardButton.No, tries=4)
    assert window.close()
    assert not window.isVisible()
    assert seen == []


def test_opening_another_project_during_a_run_asks_first(window, tmp_path, qtbot) -> None:
    first = Path(window.controller.path)
    other = tmp_path / "other.spanlab"
    make_project(other).close()
    queue = window.train.queue
    run_id = start_a_long_run(window, tmp_path, qtbot)

    from desktop import recent

    recent.remember_project(other)

    def recent_action():
        window.recent_menu.aboutToShow.emit()  # the menu fills itself as it opens
        return next(a for a in window.recent_menu.actions() if a.text() == str(other))

    seen = answer_next_question(QMessageBox.StandardButton.No)
    recent_action().trigger()
    assert seen and "Opening another project cancels it" in seen[0]
    assert Path(window.controller.path) == first
    assert queue.running() is not None and queue.running().run_id == run_id

    seen = answer_next_question(QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.train.run_finished, timeout=TIMEOUT):
        recent_action().trigger()
    assert seen and Path(window.controller.path) == other
    with Project.open(first, readonly=True) as project:
        assert project.get_run(run_id)["status"] == "cancelled"
