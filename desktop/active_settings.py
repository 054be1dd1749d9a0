"""Annotate ▸ Model in the loop…: how documents are chosen and when the model re-trains.

Both choices belong to the project (its ``strategy`` and ``retrain_every`` settings),
so they travel with the file.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.durations import format_duration

#: What each strategy is called in the dialog, and what it prefers.
STRATEGY_TEXTS = {
    "mnlp": ("Least confident (MNLP)", "documents whose words the model is least sure of"),
    "entropy": ("Token entropy", "documents whose words' tag distributions are most spread"),
    "bald": ("Disagreement (BALD, MC dropout)", "documents the model's dropout samples dispute"),
    "random": ("Random", "a random order (a baseline to compare the others with)"),
}
MAX_RETRAIN_EVERY = 100_000


class ActiveSettingsDialog(QDialog):
    """Choose the acquisition strategy and the re-train interval."""

    def __init__(
        self,
        strategies: tuple[str, ...],
        strategy: str,
        every: int,
        budget_s: float,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model in the loop")
        self.strategy = QComboBox(self)
        for name in strategies:
            text, tip = STRATEGY_TEXTS.get(name, (name, ""))
            self.strategy.addItem(text, name)
            self.strategy.setItemData(
                self.strategy.count() - 1, f"First: {tip}", Qt.ItemDataRole.ToolTipRole
            )
        self.strategy.setCurrentIndex(max(self.strategy.findData(strategy), 0))
        self.explain = QLabel(self)
        self.explain.setWordWrap(True)
        self.explain.setStyleSheet("color: #5f6368;")
        self.strategy.currentIndexChanged.connect(lambda _i: self._explain())
        self.every = QSpinBox(self)
        self.every.setRange(0, MAX_RETRAIN_EVERY)
        self.every.setSpecialValueText("off")
        self.every.setSuffix(" newly annotated documents")
        self.every.setValue(every)
        self.every.setToolTip(
            "After this many newly annotated train documents the model re-trains in the "
            "background (a short warm-start run); 0 turns it off"
        )
        form = QFormLayout()
        form.addRow("Most useful first means:", self.strategy)
        form.addRow("", self.explain)
        form.addRow("Re-train every", self.every)
        note = QLabel(
            "Re-training continues from the newest finished run for at most "
            f"{format_duration(budget_s)}; then the new model scores the new documents "
            "again. A re-train that fails leaves the previous model in use.",
            self,
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.buttons = buttons
        self._explain()
        self.resize(480, self.sizeHint().height())

    def _explain(self) -> None:
        name = self.strategy.currentData()
        self.explain.setText(f"First: {STRATEGY_TEXTS.get(name, (name, name))[1]}.")

    def chosen(self) -> tuple[str, int]:
        """The strategy and the re-train interval (0: off) the person chose."""
        return self.strategy.currentData(), self.every.value()
