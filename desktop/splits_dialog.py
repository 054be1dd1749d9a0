"""Documents ▸ Assign splits…: shuffle documents into train / dev / test by percentage.

CoNLL files and plain text usually arrive without splits; training needs a train split
(and learns best with a dev split to choose its epoch). The shuffle is seeded, so the
same project gives the same assignment.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)


class SplitsDialog(QDialog):
    """Percentages for train / dev / test, and whether to move only unassigned documents."""

    def __init__(self, unassigned: int, total: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Assign splits")
        self.train, self.dev, self.test = (self._percent(v) for v in (80, 10, 10))
        self.only_unassigned = QCheckBox(f"Only the {unassigned:,} unassigned documents")
        self.only_unassigned.setChecked(True)
        self.only_unassigned.setToolTip(
            f"Unticked, all {total:,} documents are shuffled again (their splits change)."
        )
        self.summary = QLabel(self)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Assign")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Train %:", self.train)
        form.addRow("Dev %:", self.dev)
        form.addRow("Test %:", self.test)
        form.addRow(self.only_unassigned)
        form.addRow(self.summary)
        form.addRow(buttons)
        for box in (self.train, self.dev, self.test):
            box.valueChanged.connect(self._check)
        self._check()

    def _percent(self, value: int) -> QSpinBox:
        box = QSpinBox(self)
        box.setRange(0, 100)
        box.setSuffix(" %")
        box.setValue(value)
        return box

    def _check(self) -> None:
        total = self.train.value() + self.dev.value() + self.test.value()
        self.ok.setEnabled(total > 0)
        self.summary.setText(
            "Choose at least one split."
            if total == 0
            else "Shares are taken relative to their sum."
            if total != 100
            else ""
        )

    def ratios(self) -> tuple[float, float, float]:
        """(train, dev, test) as fractions of their sum."""
        values = [self.train.value(), self.dev.value(), self.test.value()]
        total = sum(values) or 1
        return tuple(v / total for v in values)  # type: ignore[return-value]
