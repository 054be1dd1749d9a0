"""The "Results" section: every run, and for one run its scores and its errors.

A run's scores come from the store (the trainer evaluates dev and test at the end and
the run row keeps them). Its errors are computed on a worker thread by evaluating the
run's model on the split, when the tab is looked at, so the window never waits for a
model. Beside the runs, the learning curve (dev F1 by annotated training documents)
says whether more annotation still pays.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from core import scratch
from core.errors import SpanlabError, ValidationError
from core.training.card import refit_report
from desktop.compare_view import CompareView
from desktop.controller import ProjectController
from desktop.learning_curve import LearningCurve
from desktop.metrics_table import METRIC_COLUMNS, Column, RowsTable, fmt_ratio, metric_rows
from desktop.model_export import ExportModelDialog, check_text, export_job
from desktop.result_charts import ResultCharts, add_png_saving
from desktop.run_rows import error_rows, micro_f1, run_row, split_report
from desktop.workers import start_worker

RUN_COLUMNS = (
    Column("id", "Run", align_right=True),
    Column("date", "Date"),
    Column("base_model_name", "Base model"),
    Column("status", "Status"),
    Column("epochs", "Epochs", align_right=True),
    Column("dev_f1", "Dev F1", fmt_ratio, True),
    Column("test_f1", "Test F1", fmt_ratio, True),
    Column("duration", "Duration", align_right=True),
)

TOKEN_COLUMNS = (Column("name", "Tag"),) + METRIC_COLUMNS[1:]

ERROR_COLUMNS = (
    Column("kind_text", "Error"),
    Column("shown_text", "Text"),
    Column("gold", "Annotated"),
    Column("pred", "Predicted"),
    Column("document_id", "Document", align_right=True),
    Column("start", "Start", align_right=True),
)


def find_errors(model_dir: str, examples: list[dict]) -> dict:
    """Worker job: evaluate a run's model on examples (loads the model off the GUI thread).

    A wrong-boundary error also gets the annotated span's text, to show beside the
    predicted one.
    """
    from core.training.evaluation import evaluate

    result = evaluate(model_dir, examples)
    texts = {ex["id"]: ex["text"] for ex in examples}
    for error in result["errors"]:
        if "gold_start" in error and error["document_id"] in texts:
            text = texts[error["document_id"]]
            error["gold_text"] = text[error["gold_start"] : error["gold_end"]]
    return result


def copy_model_folder(source: str | Path, target: str | Path) -> Path:
    """Copy a model folder to ``target``; a half-written copy never has the final name.

    The copy goes to a hidden temporary folder beside the target and is renamed when
    complete, so an interrupted export leaves nothing that looks like a model.
    """
    source, target = Path(source), Path(target)
    if not source.is_dir():
        raise ValidationError(f"The run's model folder {source} is missing: train the run again.")
    if target.exists():
        raise ValidationError(f"{target} already exists: choose another folder or name.")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch.remove_stale(target, ".partial")  # what a killed export left behind
    partial = scratch.scratch_path(target, ".partial")
    partial.mkdir()
    try:
        shutil.copytree(source, partial, dirs_exist_ok=True)
        os.replace(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


class ResultsPanel(QWidget):
    """Runs list; per-type and per-tag scores of the chosen run; its errors; model export."""

    errors_ready = Signal(int, str)  # run id, split: the errors table was filled
    exported = Signal(str)  # the exported folder

    def __init__(self, controller: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._errors: dict[tuple[int, str], list[dict]] = {}  # computed, per (run, split)
        self._pending: set[tuple[int, str]] = set()
        self._latest_done: int | None = None  # followed while the user keeps it chosen
        self._build()
        controller.project_changed.connect(self._on_project_changed)
        controller.runs_changed.connect(self.refresh)
        self.refresh()

    def _build(self) -> None:
        self.runs_table = RowsTable("Runs", RUN_COLUMNS, self, stretch="base_model_name")
        self.runs_table.view.selectionModel().currentRowChanged.connect(
            lambda *_: self._show_selected_run()
        )
        self.split_combo = QComboBox(self)
        self.split_combo.addItem("dev", "dev")
        self.split_combo.addItem("test", "test")
        self.split_combo.currentIndexChanged.connect(lambda *_: self._show_selected_run())
        self.export_button = QPushButton("Export model…", self)
        self.export_button.setToolTip(
            "Export the run's model: a Hugging Face folder, ONNX or ONNX int8 (checked on dev)"
        )
        self.export_button.clicked.connect(lambda: self.export_selected())
        self.export_dialog: ExportModelDialog | None = None  # the one last opened
        self._export_message = ""
        self.compare_button = QPushButton("Compare runs…", self)
        self.compare_button.setToolTip(
            "Compare the two runs selected above (Ctrl+click), or the chosen run with the "
            "finished run before it"
        )
        self.compare_button.clicked.connect(lambda: self.compare_selected())
        self.compare_view: CompareView | None = None
        self.summary = QLabel("Choose a run above.", self)
        self.summary.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Scores on", self))
        bar.addWidget(self.split_combo)
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.export_button)
        bar.addWidget(self.compare_button)

        self.entity_table = RowsTable(
            "Entities (strict, per type)", METRIC_COLUMNS, self, stretch="name"
        )
        self.token_table = RowsTable("Tokens (per tag)", TOKEN_COLUMNS, self, stretch="name")
        self.errors_table = RowsTable(
            "Errors — click one to open it", ERROR_COLUMNS, self, stretch="shown_text"
        )
        self.errors_table.activated.connect(self._open_error)

        tables = QSplitter(Qt.Orientation.Horizontal, self)
        tables.addWidget(self.entity_table)
        tables.addWidget(self.token_table)
        self.charts = ResultCharts(self.controller, self)
        self.views = QTabWidget(self)  # the scores as tables or as pictures
        self.views.addTab(tables, "Tables")
        self.views.addTab(self.charts, "Charts")
        lower = QWidget(self)
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addLayout(bar)
        lower_layout.addWidget(self.views, 3)
        lower_layout.addWidget(self.errors_table, 2)
        self.learning_curve = LearningCurve(self)
        add_png_saving(self.learning_curve, "learning-curve", self.controller.show_error)
        upper = QSplitter(Qt.Orientation.Horizontal, self)
        upper.addWidget(self.runs_table)
        upper.addWidget(self.learning_curve)
        upper.setStretchFactor(0, 3)
        upper.setStretchFactor(1, 2)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(upper)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._show_selected_run()  # errors not yet computed are found now

    def _on_project_changed(self) -> None:
        # Run ids start again at 1 in another project: forget what was found for these.
        self._errors.clear()
        self._latest_done = None
        self.refresh()

    # -- runs -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the runs, keeping the chosen one."""
        project = self.controller.project
        selected = self.selected_run_id()
        runs = project.runs() if project is not None else []
        self.runs_table.set_rows([run_row(r) for r in runs])
        self.learning_curve.set_runs(runs)
        rows = self.runs_table.visible_rows()
        done = [r["id"] for r in runs if r["status"] == "done"]
        latest_done = done[0] if done else None
        if selected is None or selected == self._latest_done:
            selected = latest_done  # follow the newest finished run until another is chosen
        self._latest_done = latest_done
        self.compare_button.setEnabled(len(done) >= 2)
        target = next((i for i, r in enumerate(rows) if r["id"] == selected), 0)
        if rows:
            self.select_run(rows[target]["id"])
        else:
            self._show_run(None)

    def select_run(self, run_id: int) -> None:
        """Choose a run, as a click on its line would."""
        for i, row in enumerate(self.runs_table.visible_rows()):
            if row["id"] == run_id:
                self.runs_table.view.selectRow(i)
                self.runs_table.view.setCurrentIndex(self.runs_table.proxy.index(i, 0))
                self._show_selected_run()
                return

    def selected_run_id(self) -> int | None:
        run = self.selected_run()
        return int(run["id"]) if run else None

    def selected_run(self) -> dict | None:
        index = self.runs_table.view.currentIndex()
        if not index.isValid():
            return None
        rows = self.runs_table.visible_rows()
        return rows[index.row()] if index.row() < len(rows) else None

    def split(self) -> str:
        return self.split_combo.currentData()

    # -- one run ----------------------------------------------------------------------
    def _show_selected_run(self) -> None:
        self._show_run(self.selected_run())

    def _show_run(self, run: dict | None) -> None:
        split = self.split()
        self.export_button.setEnabled(bool(run and run["status"] == "done"))
        if run is None:
            self.summary.setText("No runs yet: train a model in the Train tab.")
            for table in (self.entity_table, self.token_table, self.errors_table):
                table.set_rows([])
            self.charts.show_run(None, split, None)
            return
        report = split_report(run["metrics"], split)
        self.charts.show_run(run, split, report)
        self.entity_table.set_rows(metric_rows(report.get("entity")))
        self.token_table.set_rows(metric_rows(report.get("tokens")))
        f1 = micro_f1(report)
        if run["status"] == "failed":
            text = f"Run {run['id']} failed: {run['error'] or 'no reason given'}"
        elif not report:
            text = f"Run {run['id']} is {run['status']}: no {split} scores."
        else:
            text = f"Run {run['id']}: {split} micro F1 {f1:.3f}" if f1 is not None else ""
        refit = refit_report(run["metrics"])
        if split == "dev" and refit and report:
            text += (
                f" — before the refit: the saved model then trained on train + dev for "
                f"{refit.get('epochs')} epochs, so its errors below are on documents it "
                "has seen (test shows errors it has not)"
            )
        self.summary.setText(text)
        self._show_errors(run, split)

    def _show_errors(self, run: dict, split: str) -> None:
        key = (int(run["id"]), split)
        errors = self._errors.get(key)
        if errors is not None:
            self.errors_table.set_rows(error_rows(errors))
            self.errors_table.title.setText(
                f"<b>Errors on {split}: {len(errors)}</b> — click one to open it"
            )
            self.errors_ready.emit(*key)
            return
        self.errors_table.set_rows([])
        if run["status"] != "done" or not run["output_dir"]:
            self.errors_table.title.setText("<b>Errors</b> — none for this run")
            return
        if not self.isVisible():  # evaluating costs a model load: only when looked at
            self.errors_table.title.setText("<b>Errors</b>")
            return
        self.errors_table.title.setText(f"<b>Errors on {split}</b> — finding them…")
        self._compute_errors(run, split)

    def _compute_errors(self, run: dict, split: str) -> None:
        key = (int(run["id"]), split)
        if key in self._pending:
            return
        project = self.controller.project
        examples = project.examples(split)
        if not examples:
            self._errors[key] = []
            self.charts.add_evaluation(key, None, f"No annotated documents on {split}")
            self._show_selected_run()
            return
        self._pending.add(key)
        worker = start_worker(find_errors, run["output_dir"], examples)
        worker.returned.connect(lambda result, k=key: self._on_errors(k, result))
        worker.errored.connect(lambda exc, k=key: self._on_errors_failed(k, exc))

    def _on_errors(self, key: tuple[int, str], result: dict) -> None:
        self._pending.discard(key)
        if not isValid(self.charts):  # the window closed while the model was evaluating
            return
        self._errors[key] = list(result["errors"])
        self.charts.add_evaluation(key, result)
        run = self.selected_run()
        if run and (int(run["id"]), self.split()) == key:  # else stale: kept for later
            self._show_run(run)

    def _on_errors_failed(self, key: tuple[int, str], exc: object) -> None:
        self._pending.discard(key)
        if not isValid(self.charts):
            return
        run = self.selected_run()
        if run and (int(run["id"]), self.split()) == key:
            self.errors_table.title.setText(f"<b>Errors</b> — could not be computed: {exc}")
        self.charts.add_evaluation(key, None, f"The errors could not be computed: {exc}")

    def _open_error(self, row: dict) -> None:
        select = (int(row["start"]), int(row["end"]))
        self.controller.open_document(int(row["document_id"]), select=select)

    # -- compare ----------------------------------------------------------------------
    def compare_selected(self) -> CompareView | None:
        """Open the comparison of :meth:`runs_to_compare` on the split shown."""
        pair = self.runs_to_compare()
        if pair is None:
            return None
        if self.compare_view is None:
            self.compare_view = CompareView(self.controller, self)
        self.compare_view.show_runs(*pair, self.split())
        return self.compare_view

    def runs_to_compare(self) -> tuple[int, int] | None:
        """(A, B): the two newest finished runs selected, the older as A; else the chosen
        run as B and the finished run before it as A."""
        rows = self.runs_table.visible_rows()
        done = sorted(int(r["id"]) for r in rows if r["status"] == "done" and r["output_dir"])
        selected = self.runs_table.view.selectionModel().selectedRows()
        picked = sorted({int(rows[i.row()]["id"]) for i in selected} & set(done))
        if len(picked) >= 2:
            return picked[-2], picked[-1]
        current = self.selected_run_id()
        if current in done and done.index(current) > 0:
            return done[done.index(current) - 1], current
        if current in done and len(done) > 1:  # the oldest: compared with the next one
            return current, done[1]
        return (done[-2], done[-1]) if len(done) >= 2 else None

    # -- export -----------------------------------------------------------------------
    def export_selected(
        self,
        target: str | Path | None = None,
        format: str = "hf",
        force: bool = False,  # noqa: A002
    ) -> None:
        """Export the chosen run's model (on a worker): without ``target``, as the person
        chooses in the Export dialog (hf, ONNX, ONNX int8; the folder)."""
        run = self.selected_run()
        if not run or not run["output_dir"]:
            return
        if target:
            self._start_export(run, str(target), format, force)
            return
        dialog = ExportModelDialog(
            int(run["id"]),
            Path(self.controller.project.path).stem,
            len(self.controller.project.examples("dev")),
            self,
        )
        dialog.accepted.connect(
            lambda: self._start_export(run, dialog.target(), dialog.format(), dialog.force())
        )
        dialog.finished.connect(dialog.deleteLater)
        self.export_dialog = dialog
        dialog.open()

    def _start_export(self, run: dict, target: str, format: str, force: bool) -> None:  # noqa: A002
        if not target:
            return
        # The check reads the dev documents here, on the thread that owns the store.
        examples = self.controller.project.examples("dev") if format != "hf" else []
        self.export_button.setEnabled(False)
        self.export_button.setText("Exporting…")
        worker = start_worker(export_job, run["output_dir"], target, format, examples, force)
        worker.yielded.connect(lambda message: self.summary.setText(str(message)))
        worker.returned.connect(self._on_exported)
        worker.errored.connect(self._on_export_failed)
        worker.finished.connect(self._export_done)

    def _on_exported(self, result: dict) -> None:
        self._export_message = check_text(result)  # shown once the button is back
        self.exported.emit(str(result["target"]))

    def _on_export_failed(self, exc: object) -> None:
        if isinstance(exc, SpanlabError | OSError):
            self.controller.show_error(exc)
        else:
            self.controller.show_error(f"Export failed: {exc}")

    def _export_done(self) -> None:
        self.export_button.setText("Export model…")
        self._show_selected_run()
        if self._export_message:  # where it went and how it did in the check
            self.summary.setText(self._export_message)
            self._export_message = ""
