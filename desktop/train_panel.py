"""The "Train" section: settings, one Train button, and a live view of the run.

Clicking Train reads the form, queues the run (see `training_queue`), and from then on
the panel only reacts to the run's events: progress and ETA, the loss / dev-F1 chart,
the log, and the final status. All of it arrives on the GUI thread at most ~10 times a
second, so the window stays responsive while the model trains.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.durations import format_eta, run_duration
from core.errors import ProjectBusyError, SpanlabError
from core.training.config import TrainConfig
from core.training.events import (
    Cancelled,
    Checkpoint,
    Done,
    Eval,
    Event,
    Failed,
    Final,
    Log,
    Start,
    Step,
)
from desktop.charts import TrainingChart
from desktop.controller import ProjectController
from desktop.errors import error_label
from desktop.train_form import TrainForm, model_name
from desktop.training_queue import TrainingQueue
from desktop.workers import start_worker

#: How the status line ends a run, by its final event.
STATUS_WORDS = {Done: "finished", Cancelled: "was cancelled", Failed: "failed"}


def describe_device(choice: str) -> str:
    """Worker job: the name of the device ``choice`` resolves to, or why it cannot."""
    from core.training.loading import device_name, resolve_device

    try:
        return device_name(resolve_device(choice))
    except SpanlabError:
        return f"{choice} is not available here"


class TrainPanel(QWidget):
    """Train a model on the open project and watch it learn."""

    run_finished = Signal(int, str)  # run id, final status; after the panel has updated

    def __init__(self, controller: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.queue = TrainingQueue(controller, self)
        self.queue.queue_changed.connect(self._refresh_queue)
        self.queue.run_started.connect(self._on_run_started)
        self.queue.run_event.connect(self._on_event)
        self.queue.run_finished.connect(self._on_run_finished)
        self._last_step = 0
        self._epochs = 0
        self._logged_tenths = 0
        self._shown_run: int | None = None
        self._build()
        self._show_device()
        self.form.editor("device").currentIndexChanged.connect(lambda _i: self._show_device())
        controller.project_changed.connect(self._on_project_changed)
        controller.writes_unblocked.connect(self._on_writes_unblocked)
        self._refused_busy = False  # the error shown says a long write refused the run

    # -- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        self.form = TrainForm(self)
        self.train_button = QPushButton("Train", self)
        self.train_button.setDefault(True)
        self.train_button.setToolTip(
            "Train a model on the annotated documents (queued if a run is going)"
        )
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop the current run; no model is kept")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_current)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button, 1)
        buttons.addWidget(self.cancel_button)

        self.queue_list = QListWidget(self)
        self.queue_list.setMaximumHeight(90)
        self.error_label = error_label(self)

        settings = QGroupBox("Settings", self)
        settings_layout = QVBoxLayout(settings)
        scroll = QScrollArea(settings)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.form)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        settings_layout.addWidget(scroll)

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(settings, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.error_label)
        left_layout.addWidget(QLabel("Runs waiting or running:", self))
        left_layout.addWidget(self.queue_list)

        self.device_label = QLabel("", self)
        self.device_label.setToolTip("Where the model trains; change it under Advanced ▸ Device")
        self.status_label = QLabel("No run yet.", self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.eta_label = QLabel("", self)
        self.eta_label.setMinimumWidth(130)
        self.eta_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.eta_label)
        self.chart = TrainingChart(self)
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        mono = QFont("Monospace")
        mono.setStyleHint(QFont.StyleHint.TypeWriter)
        mono.setPointSizeF(max(self.font().pointSizeF() - 1, 7))
        self.log.setFont(mono)
        self.log.setPlaceholderText("The run's log appears here.")

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.status_label, 1)
        head.addWidget(self.device_label)
        right_layout.addLayout(head)
        right_layout.addLayout(progress_row)
        charts_and_log = QSplitter(Qt.Orientation.Vertical, right)
        charts_and_log.addWidget(self.chart)
        charts_and_log.addWidget(self.log)
        charts_and_log.setStretchFactor(0, 3)
        charts_and_log.setStretchFactor(1, 2)
        right_layout.addWidget(charts_and_log, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        left.setMinimumWidth(360)
        splitter.setSizes([380, 800])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # -- actions ----------------------------------------------------------------------
    def start_training(self) -> int | None:
        """Queue a run with the form's settings; returns its id (None on a bad setting)."""
        self.show_error(None)
        try:
            config = self.form.config()
            run_id = self.queue.submit(config)
        except SpanlabError as exc:
            self.show_error(str(exc))
            self._refused_busy = isinstance(exc, ProjectBusyError)
            return None
        self._append_log(f"Run {run_id} queued (base model: {model_name(config.base_model)}).")
        return run_id

    def cancel_current(self) -> None:
        """Stop the running run; queued ones stay queued."""
        job = self.queue.running()
        if job is not None:
            self._append_log(f"Run {job.run_id}: stopping…")
            self.queue.cancel(job.run_id)

    def shutdown(self, wait_ms: int = 10000) -> None:
        """Stop every run and wait for the worker (the window is closing)."""
        self.queue.cancel_all()
        self.queue.wait(wait_ms)
        self._device_worker.wait(wait_ms)

    def _show_device(self) -> None:
        """The device the next run will use (the GPU's name, or the CPU).

        Found on a worker: it imports torch, which takes seconds the first time.
        """
        choice = self.form.editor("device").currentData() or "auto"
        self._device_worker = start_worker(describe_device, choice)
        self._device_worker.returned.connect(
            lambda text: self.device_label.setText(f"Device: {text}")
        )

    def show_error(self, message: str | None) -> None:
        """Show a readable error above the queue, or hide it with None."""
        self._refused_busy = False
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))

    def _on_writes_unblocked(self) -> None:
        """The import that refused a run has ended: its refusal no longer holds."""
        if self._refused_busy:
            self.show_error(None)
            self._append_log("The import has finished: Train can start a run again.")

    # -- run events -------------------------------------------------------------------
    def _on_run_started(self, run_id: int) -> None:
        self._shown_run = run_id
        self._last_step = 0
        self._logged_tenths = 0
        self.chart.clear()
        self.progress.setRange(0, 0)  # busy until the first step says how long
        self.eta_label.setText("starting…")
        self.status_label.setText(f"Run {run_id}: loading the model and the data…")
        self.cancel_button.setEnabled(True)

    def _on_event(self, run_id: int, event: Event) -> None:
        if run_id != self._shown_run:
            return
        if isinstance(event, Start):
            self._on_start(run_id, event)
        elif isinstance(event, Step):
            self._on_step(run_id, event)
        elif isinstance(event, Eval):
            if event.step > self._last_step and self.progress.maximum() > 0:
                # Short epochs may end between two step updates: catch the bar up.
                self._last_step = event.step
                self.progress.setValue(min(event.step, self.progress.maximum()))
            self.chart.add_f1(event.step, event.f1)
            self._append_log(f"epoch {event.epoch}: dev F1 {event.f1:.3f}")
        elif isinstance(event, Log):
            self._append_log(event.message)
        elif isinstance(event, Checkpoint):
            self._append_log(f"epoch {event.epoch}: best model so far kept")

    def _on_start(self, run_id: int, event: Start) -> None:
        self.device_label.setText(f"Device: {event.device_name}")
        self._epochs = event.epochs
        self.chart.set_total_steps(event.total_steps)
        self.progress.setRange(0, event.total_steps)
        self.status_label.setText(f"Run {run_id}: training…")
        self._append_log(f"Run {run_id} started on {event.device_name}.")

    def _on_step(self, run_id: int, event: Step) -> None:
        step, total = event.step, event.total_steps
        self._last_step = step
        self.chart.set_total_steps(total)
        self.progress.setRange(0, total)
        self.progress.setValue(min(step, total))
        self.chart.add_loss(step, event.loss)
        eta = format_eta(event.eta_s)
        self.eta_label.setText(eta)
        epoch = math.ceil(event.epoch) or 1
        parts = [
            f"Run {run_id}: {event.epoch_word} {epoch}/{event.epochs or self._epochs}",
            f"step {step}/{total}",
            f"loss {event.loss:.4f}",
            f"{event.throughput:,.0f} sub-words/s",
        ]
        self.status_label.setText(" · ".join(parts))
        # The log gets a line at every tenth of the run, not one per update.
        if total and step * 10 // total > self._logged_tenths:
            self._logged_tenths = step * 10 // total
            self._append_log(" · ".join(parts[1:] + ([eta] if eta else [])))

    def _on_run_finished(self, run_id: int, final: Final, run: dict | None) -> None:
        if run_id == self._shown_run:
            self.cancel_button.setEnabled(self.queue.running() is not None)
            if self.progress.maximum() == 0:
                self.progress.setRange(0, 1)
            if isinstance(final, Done):
                self.progress.setValue(self.progress.maximum())
            # The stored timestamps, as the Results tab shows them: one duration, not two.
            took = run_duration(run) if run is not None else ""
            self.eta_label.setText(f"took {took}" if took else "")
            status = f"Run {run_id} {STATUS_WORDS[type(final)]}."
            if isinstance(final, Done) and final.f1 is not None:
                status += f" Dev F1 {final.f1:.3f}."
            self.status_label.setText(status)
            self._append_log(status)
        if isinstance(final, Failed):
            self.show_error(f"Run {run_id} failed: {final.error}")
        self.run_finished.emit(run_id, final.status)

    def _refresh_queue(self) -> None:
        self.queue_list.clear()
        for job in self.queue.jobs():
            self.queue_list.addItem(
                f"Run {job.run_id} — {job.state} ({model_name(job.config.base_model)})"
            )
        self.cancel_button.setEnabled(self.queue.running() is not None)

    def _on_project_changed(self) -> None:
        # A run writes into the project it started in: stop it before that one closes.
        self.queue.cancel_all()
        self._show_last_run()

    def _show_last_run(self) -> None:
        """Say what the newest run of the project opened is, instead of "No run yet"."""
        project = self.controller.project
        runs = project.runs() if project is not None else []
        if not runs:
            self.status_label.setText("No run yet.")
            return
        run = runs[0]
        self._restore_settings(run)
        f1 = (run.get("metrics") or {}).get("f1")
        text = f"Last run: run {run['id']}, {run['status']}"
        if run["status"] == "done" and isinstance(f1, int | float):
            text += f", dev F1 {f1:.3f}"
        self.status_label.setText(text + " (details in the Results tab).")

    def _restore_settings(self, run: dict) -> None:
        """Fill the form with the settings of the project's newest run, so they outlive
        the session (they travel with the project file); a warm start is not carried."""
        try:
            config = TrainConfig.from_dict({**(run.get("config") or {}), "warm_start": None})
            config.validate()
        except (TypeError, ValueError, SpanlabError) as exc:
            self._append_log(f"The settings of run {run['id']} could not be restored ({exc}).")
            return
        self.form.set_config(config)

    def _append_log(self, line: str) -> None:
        if line:
            self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {line}")
