"""Compare two runs on one split: per-type F1 of both, the significance line, and the
entities one run fixed or broke, each opening its document on a click.

The comparison predicts every document of the split with both models, so it runs on a
worker (:func:`core.insight.compare.compare_models`); a result is kept per (run A,
run B, split) for as long as the project is open. A result that arrives for a choice
no longer shown is kept and not displayed.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.insight.compare import compare_models, seen_split_note, significance_line
from desktop.controller import ProjectController
from desktop.metrics_table import PINNED, Column, RowsTable, fmt_ratio
from desktop.run_rows import micro_f1, split_report
from desktop.workers import start_worker

Key = tuple[int, int, str]  # run A, run B, split


def fmt_delta(value: object) -> str:
    """A difference of two scores, with its sign."""
    return "" if value is None else f"{float(value):+.3f}"


def fmt_label(value: object) -> str:
    """A label, or a dash where there is none."""
    return "—" if value is None else str(value)


TYPE_COLUMNS = (
    Column("label", "Type"),
    Column("support", "Support", align_right=True),
    Column("f1_a", "F1 A", fmt_ratio, True),
    Column("f1_b", "F1 B", fmt_ratio, True),
    Column("delta", "Delta", fmt_delta, True),
)

PLACE_COLUMNS = (  # narrow: two of these tables stand side by side
    Column("text", "Text"),
    Column("gold", "Annotated", fmt_label),
    Column("a", "A", fmt_label),
    Column("b", "B", fmt_label),
    Column("document_id", "Document", align_right=True),
)


def type_rows(result: dict) -> list[dict]:
    """The per-type rows of a comparison, the micro average pinned last."""
    return [
        dict(row, **({PINNED: True} if row["label"] == "micro avg" else {}))
        for row in result["per_type"]
    ]


def place_rows(places: list[dict]) -> list[dict]:
    """Fixed or broken places as table lines."""
    return [
        dict(
            p,
            _tooltip=f"Document {p['document_id']}, characters {p['start']}–{p['end']}: "
            "click to open it",
        )
        for p in places
    ]


class CompareView(QWidget):
    """A window comparing two finished runs of the open project."""

    compared = Signal(object)  # the (run A, run B, split) now shown

    def __init__(self, controller: ProjectController, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.controller = controller
        self._results: dict[Key, dict] = {}
        self._notes: dict[Key, str | None] = {}
        self._pending: set[Key] = set()
        self.setWindowTitle("Compare runs")
        self._build()
        controller.project_changed.connect(self._on_project_changed)
        controller.runs_changed.connect(self.refresh_runs)
        self.refresh_runs()

    def _build(self) -> None:
        self.run_a_combo = QComboBox(self)
        self.run_b_combo = QComboBox(self)
        self.split_combo = QComboBox(self)
        self.split_combo.addItem("dev", "dev")
        self.split_combo.addItem("test", "test")
        for combo in (self.run_a_combo, self.run_b_combo, self.split_combo):
            combo.activated.connect(lambda *_: self.compare())
        self.swap_button = QPushButton("Swap", self)
        self.swap_button.setToolTip("Compare the other way round")
        self.swap_button.clicked.connect(self.swap)
        bar = QHBoxLayout()
        for text, widget in (
            ("A:", self.run_a_combo),
            ("B:", self.run_b_combo),
            ("on", self.split_combo),
        ):
            bar.addWidget(QLabel(text, self))
            bar.addWidget(widget)
        bar.addWidget(self.swap_button)
        bar.addStretch(1)
        self.summary = QLabel("Choose two runs.", self)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.type_table = RowsTable("F1 per type", TYPE_COLUMNS, self, stretch="label")
        self.fixed_table = RowsTable(
            "Fixed (wrong in A, right in B)", PLACE_COLUMNS, self, stretch="text"
        )
        self.broken_table = RowsTable(
            "Broken (right in A, wrong in B)", PLACE_COLUMNS, self, stretch="text"
        )
        for table in (self.fixed_table, self.broken_table):
            table.activated.connect(self._open_place)
        lists = QSplitter(Qt.Orientation.Horizontal, self)
        lists.addWidget(self.fixed_table)
        lists.addWidget(self.broken_table)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.type_table)
        splitter.addWidget(lists)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)
        self.resize(980, 680)

    # -- choosing -----------------------------------------------------------------------
    def refresh_runs(self) -> None:
        """List the finished runs in both choosers, keeping what was chosen."""
        project = self.controller.project
        runs = [r for r in (project.runs() if project else []) if r["status"] == "done"]
        runs = [r for r in runs if r["output_dir"]]
        for combo in (self.run_a_combo, self.run_b_combo):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for run in runs:
                f1 = micro_f1(split_report(run["metrics"], "dev"))
                text = f"Run {run['id']}" + (f" — dev F1 {f1:.3f}" if f1 is not None else "")
                combo.addItem(text, int(run["id"]))
            index = combo.findData(current)
            combo.setCurrentIndex(max(index, 0))
            combo.blockSignals(False)

    def show_runs(self, run_a: int, run_b: int, split: str) -> None:
        """Compare run A with run B on a split, as choosing them here would."""
        self.refresh_runs()
        for combo, value in (
            (self.run_a_combo, run_a),
            (self.run_b_combo, run_b),
            (self.split_combo, split),
        ):
            combo.setCurrentIndex(max(combo.findData(value), 0))
        self.show()
        self.raise_()
        self.activateWindow()
        self.compare()

    def swap(self) -> None:
        a, b = self.run_a_combo.currentIndex(), self.run_b_combo.currentIndex()
        self.run_a_combo.setCurrentIndex(b)
        self.run_b_combo.setCurrentIndex(a)
        self.compare()

    def chosen(self) -> Key | None:
        a, b = self.run_a_combo.currentData(), self.run_b_combo.currentData()
        if a is None or b is None:
            return None
        return int(a), int(b), str(self.split_combo.currentData())

    # -- comparing ----------------------------------------------------------------------
    def compare(self) -> None:
        """Show the comparison of the chosen runs, computing it on a worker if needed."""
        key = self.chosen()
        if key is None:
            self._clear("Train two runs to compare them.")
            return
        result = self._results.get(key)
        if result is not None:
            self._show(key, result)
            return
        self._clear(f"Comparing run {key[0]} with run {key[1]} on {key[2]}…")
        if key in self._pending:
            return
        project = self.controller.project
        examples = project.examples(key[2])
        if not examples:
            self._clear(f"No annotated {key[2]} documents to compare the runs on.")
            return
        runs = [project.get_run(run) for run in key[:2]]
        models = [run["output_dir"] for run in runs]
        self._notes[key] = seen_split_note(runs, key[2])
        self._pending.add(key)
        worker = start_worker(compare_models, models[0], models[1], examples)
        worker.returned.connect(lambda result, k=key: self._on_compared(k, result))
        worker.errored.connect(lambda exc, k=key: self._on_failed(k, exc))

    def _on_compared(self, key: Key, result: dict) -> None:
        self._pending.discard(key)
        self._results[key] = result
        if self.chosen() == key:
            self._show(key, result)

    def _on_failed(self, key: Key, exc: object) -> None:
        self._pending.discard(key)
        if self.chosen() == key:
            self._clear("The runs could not be compared.")
        self.controller.show_error(exc if isinstance(exc, BaseException) else str(exc))

    def _clear(self, message: str) -> None:
        self.summary.setText(message)
        for table in (self.type_table, self.fixed_table, self.broken_table):
            table.set_rows([])

    def _show(self, key: Key, result: dict) -> None:
        a, b, split = key
        counts = result["counts"]
        line = significance_line(result, f"run {a} (A)", f"Run {b} (B)")
        note = self._notes.get(key)  # a refit run has seen dev (found when compared)
        self.summary.setText(
            f"{line}\nFixed {counts['fixed']}, broken {counts['broken']}, wrong in both "
            f"{counts['both_wrong']}, right in both {counts['both_right']} on {split}."
            + (f"\n{note}" if note else "")
        )
        self.type_table.set_rows(type_rows(result))
        self.fixed_table.set_rows(place_rows(result["fixed"]))
        self.broken_table.set_rows(place_rows(result["broken"]))
        self.fixed_table.title.setText(f"<b>Fixed: {counts['fixed']}</b> (wrong in A, right in B)")
        self.broken_table.title.setText(
            f"<b>Broken: {counts['broken']}</b> (right in A, wrong in B)"
        )
        self.compared.emit(key)

    def _open_place(self, row: dict) -> None:
        start, end = int(row["start"]), int(row["end"])
        self.controller.open_document(int(row["document_id"]), select=(start, end))

    def _on_project_changed(self) -> None:
        # Run ids start again at 1 in another project: forget what was compared.
        self._results.clear()
        self._notes.clear()
        self.refresh_runs()
        self._clear("Choose two runs.")
