"""The "Search" tab: find good training settings automatically (Optuna).

The person edits the space (defaults fitted to the project's size and the Train tab's
base model), sets how many trials and how long, and presses Start. Each trial is an
ordinary run on the Train tab's queue (see ``desktop.search_loop``); the tab shows them
live — a table, a chart of each trial's dev F1 and the best so far, the parameters'
importances once enough trials have finished — and "Train with best" queues a normal
run with the best trial's settings. The study lives beside the project (``studies.db``
in its models folder), so pressing Start again with the same study name continues it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.durations import format_duration
from core.errors import SpanlabError
from core.search.space import Param, default_space, space_from_dict
from core.training.config import TrainConfig
from desktop.controller import ProjectController
from desktop.errors import error_label
from desktop.search_chart import ImportanceBars, TrialChart, TrialPoint
from desktop.search_loop import SearchLoop
from desktop.search_space import SpaceTable
from desktop.training_queue import TrainingQueue
from desktop.workers import Worker, start_worker

TRIAL_COLUMNS = ("Trial", "State", "Dev F1", "Duration", "Run", "Parameters")


def open_search(
    project_path: str, study: str | None, space: dict[str, Param], base: TrainConfig
) -> Any:
    """The ``core.search.study.Search`` to run: created, or continued when a study of that
    name exists with this space and these settings (else a ValidationError says how)."""
    from core.search.study import Search  # imports Optuna: only when a search starts

    return Search(project_path, None, study, space, base)


def held_out_note(project: Any, search: Any) -> str:
    """What the search says when the project has no dev split ("" when it has one)."""
    from core.search import study

    notes: list[str] = []
    study.note_held_out_dev(project, search, lambda note: notes.append(note.message))
    return " ".join(notes)


def trial_importances(search: Any) -> dict[str, float] | None:
    """Worker job: the parameters' importances (Optuna fits a forest: not on the GUI)."""
    return search.importances()


def trial_state(row: dict[str, Any]) -> str:
    """``complete``; ``running, epoch 2``; ``pruned after epoch 1``; ``fail``."""
    state, epochs = row["state"], len(row["scores"])
    if state == "running" and epochs:
        return f"running, epoch {epochs}"
    if state == "pruned" and epochs:
        return f"pruned after epoch {epochs}"
    return state


def describe_params(params: dict[str, Any]) -> str:
    """``learning_rate 0.000316 · epochs 4 · freeze none`` (3 significant digits)."""
    parts = []
    for name, value in params.items():
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        parts.append(f"{name} {shown}")
    return " · ".join(parts)


class SearchPanel(QWidget):
    """Space, budget, Start / Stop, the trials live, the best and its importances."""

    def __init__(
        self,
        controller: ProjectController,
        queue: TrainingQueue,
        base_config: Callable[[], TrainConfig],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.queue = queue
        self.base_config = base_config
        self.loop = SearchLoop(controller, queue, self)
        self.loop.trial_started.connect(lambda *_: self._refresh_trials())
        self.loop.trial_progress.connect(lambda *_: (self._refresh_trials(), self._tick()))
        self.loop.trial_ended.connect(self._on_trial_ended)
        self.loop.finished.connect(self._on_finished)
        self._started = 0.0
        self._note = ""  # said under the status while the search runs
        self._importances: Worker | None = None
        self._importances_again = False  # a trial finished while they were computed
        self._build()
        self._clock = QTimer(self, interval=1000)
        self._clock.timeout.connect(self._tick)
        controller.project_changed.connect(self.reset_space)
        self.reset_space()

    # -- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        self.space = SpaceTable(self)
        self.reset_button = QPushButton("Reset to defaults", self)
        self.reset_button.setToolTip("The default ranges for this project's size and model")
        self.reset_button.clicked.connect(self.reset_space)
        space_box = QGroupBox("Search space", self)
        space_layout = QVBoxLayout(space_box)
        space_layout.addWidget(self.space, 1)
        space_layout.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignRight)

        self.trials_spin = QSpinBox(self)
        self.trials_spin.setRange(1, 1000)
        self.trials_spin.setValue(10)
        self.minutes_spin = QSpinBox(self)
        self.minutes_spin.setRange(0, 7 * 24 * 60)
        self.minutes_spin.setSpecialValueText("no limit")
        self.minutes_spin.setSuffix(" min")
        self.minutes_spin.setToolTip("No trial starts after this; the one running finishes")
        self.study_edit = QLineEdit(self)
        self.study_edit.setPlaceholderText("the project's name")
        self.study_edit.setToolTip(
            "The study's name: the same name continues that study (with the same space)"
        )
        budget = QGroupBox("Budget", self)
        form = QFormLayout(budget)
        form.addRow("Trials:", self.trials_spin)
        form.addRow("Time budget:", self.minutes_spin)
        form.addRow("Study:", self.study_edit)

        self.start_button = QPushButton("Start search", self)
        self.start_button.setToolTip("Train one run per trial on the Train tab's queue")
        self.start_button.clicked.connect(self.start_search)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Cancel the running trial and start no more")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_search)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.stop_button)
        self.error_label = error_label(self)

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(space_box, 1)
        left_layout.addWidget(budget)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.error_label)

        self.status_label = QLabel("No search yet.", self)
        self.status_label.setWordWrap(True)
        self.chart = TrialChart(self)
        self.table = QTableWidget(0, len(TRIAL_COLUMNS), self)
        self.table.setHorizontalHeaderLabels(TRIAL_COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.importance = ImportanceBars(self)
        self.best_label = QLabel("Best: none yet.", self)
        self.best_label.setWordWrap(True)
        self.best_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.best_button = QPushButton("Train with best", self)
        self.best_button.setToolTip("Queue a normal run with the best trial's settings")
        self.best_button.setEnabled(False)
        self.best_button.clicked.connect(self.train_with_best)
        best_row = QHBoxLayout()
        best_row.addWidget(self.best_label, 1)
        best_row.addWidget(self.best_button)
        importance_box = QGroupBox("Parameter importances", self)
        QVBoxLayout(importance_box).addWidget(self.importance)

        bottom = QWidget(self)
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addLayout(best_row)
        bottom_layout.addWidget(importance_box)
        views = QSplitter(Qt.Orientation.Vertical, self)
        views.addWidget(self.chart)
        views.addWidget(self.table)
        views.addWidget(bottom)
        views.setStretchFactor(0, 3)
        views.setStretchFactor(1, 3)
        views.setStretchFactor(2, 1)

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.status_label)
        right_layout.addWidget(views, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        left.setMinimumWidth(380)
        splitter.setSizes([420, 800])
        QVBoxLayout(self).addWidget(splitter)

    # -- actions ----------------------------------------------------------------------
    def reset_space(self) -> None:
        """The default space for the open project's train size and the base model."""
        project = self.controller.project
        n_train = project.count_documents(split="train", status="annotated") if project else 0
        try:
            base_model = self.base_config().base_model
        except SpanlabError:
            base_model = TrainConfig().base_model
        self.space.set_space(default_space(n_train, base_model))

    def start_search(self) -> bool:
        """Start a search with the space and budget shown; False (and why) if refused."""
        self.show_error(None)
        project = self.controller.project
        if project is None:
            self.show_error("Open a project first (File ▸ Open).")
            return False
        if self.loop.is_running():
            return False
        try:
            base = self.base_config()
            space = space_from_dict(self.space.spec(), "the search space table")
            if not space:
                raise SpanlabError("Tick at least one parameter to search.")
            search = open_search(
                str(project.path), self.study_edit.text().strip() or None, space, base
            )
        except SpanlabError as exc:
            self.show_error(str(exc))
            return False
        self.study_edit.setText(search.name)
        self._note = held_out_note(project, search)
        self._started = time.monotonic()
        self.loop.start(search, self.trials_spin.value(), self.minutes_spin.value() * 60)
        if self.loop.is_running():
            self._set_running(True)
        self._refresh_trials()
        return True

    def stop_search(self) -> None:
        """Stop: the running trial is cancelled; no more start."""
        if self.loop.is_running():
            self.status_label.setText("Stopping: the running trial ends within a step…")
            self.loop.stop()

    def train_with_best(self) -> int | None:
        """Queue a normal run with the best trial's settings (tagged with the study, no
        trial number); its run id."""
        search = self.loop.search
        best = search.best() if search is not None else None
        if best is None:
            return None
        self.show_error(None)
        try:
            run_id = self.queue.submit(dataclasses.replace(best["config"]), study=search.name)
        except SpanlabError as exc:
            self.show_error(str(exc))
            return None
        self.status_label.setText(
            f"Run {run_id} queued with trial {best['number']}'s settings (see the Train tab)."
        )
        return run_id

    def show_error(self, message: str | None) -> None:
        """Show a readable error under the buttons, or hide it with None."""
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))

    # -- updates ----------------------------------------------------------------------
    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.space.setEnabled(not running)
        self.reset_button.setEnabled(not running)
        self.study_edit.setEnabled(not running)
        self.trials_spin.setEnabled(not running)
        self.minutes_spin.setEnabled(not running)
        if running:
            self._clock.start()
            self._tick()
        else:
            self._clock.stop()

    def _tick(self) -> None:
        """The status line while a search runs (once a second: the clock moves)."""
        if not self.loop.is_running():
            return
        current = self.loop.current
        parts = [f"Searching ({self.loop.search.name})"]
        if current is not None:
            text = f"trial {current.number} (run {current.run_id})"
            if current.epochs:
                text += f", epoch {len(current.epochs)} dev F1 {current.epochs[-1]:.3f}"
            parts.append(text)
        parts.append(f"{format_duration(time.monotonic() - self._started)} so far")
        left = self.loop.time_left()
        if left is not None:
            parts.append(f"{format_duration(left)} of budget left")
        self.status_label.setText(
            " · ".join(parts) + "." + (f"\n{self._note}" if self._note else "")
        )
        if current is not None:
            self._set_duration(current.number, time.monotonic() - current.started)

    def _on_trial_ended(self, number: int, status: str) -> None:
        self._refresh_trials()
        self._refresh_best()
        if status == "complete":
            self._refresh_importances()

    def _on_finished(self, why: str) -> None:
        self._set_running(False)
        self._refresh_trials()
        self._refresh_best()
        self.status_label.setText(f"Search {self.loop.search.name}: {why}")

    def _refresh_trials(self) -> None:
        """The table and chart from the study (other processes' trials included)."""
        search = self.loop.search
        if search is None:
            return
        rows = search.trials()
        self.table.setRowCount(len(rows))
        points = []
        for i, row in enumerate(rows):
            scores = row["scores"]
            last = scores[max(scores)] if scores else None
            value = row["value"] if row["value"] is not None else last
            cells = (
                str(row["number"]),
                trial_state(row),
                f"{value:.3f}" if value is not None else "",
                format_duration(row["seconds"]),
                str(row["run_id"] or ""),
                describe_params(row["params"]),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if row["error"]:
                    item.setToolTip(row["error"])
                self.table.setItem(i, column, item)
            points.append(TrialPoint(row["number"], value, row["state"]))
        self.chart.set_trials(points)

    def _set_duration(self, number: int, seconds: float) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == str(number):
                self.table.item(row, 3).setText(format_duration(seconds))

    def _refresh_best(self) -> None:
        search = self.loop.search
        best = search.best() if search is not None else None
        self.best_button.setEnabled(best is not None)
        if best is None:
            self.best_label.setText("Best: none yet (no trial has finished).")
            return
        self.best_label.setText(
            f"Best: trial {best['number']} (run {best['run_id']}), dev F1 {best['value']:.3f} — "
            f"{describe_params(best['params'])}"
        )

    def _refresh_importances(self) -> None:
        """Recompute the importances on a worker (one at a time; the latest wins)."""
        search = self.loop.search
        if search is None:
            return
        if self._importances is not None:
            self._importances_again = True
            return
        from core.search.study import MIN_TRIALS_FOR_IMPORTANCE as needed

        done = sum(1 for row in search.trials() if row["state"] == "complete")
        if done < needed:
            self.importance.set_importances(
                None,
                f"Parameter importances appear once {needed} trials have finished ({done} so far).",
            )
            return
        worker = start_worker(trial_importances, search)
        self._importances = worker
        worker.returned.connect(lambda values: self.importance.set_importances(values))
        worker.errored.connect(self.controller.show_error)
        worker.finished.connect(self._importances_done)

    def _importances_done(self) -> None:
        self._importances = None
        if self._importances_again:
            self._importances_again = False
            self._refresh_importances()
