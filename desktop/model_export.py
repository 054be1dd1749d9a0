"""The "Export model…" dialog: where to, and as what (Hugging Face, ONNX, ONNX int8).

The export itself is :func:`core.deploy.export.export_model`, run on a worker by the
Results panel; an ONNX export is checked there on the project's dev documents and
refused when it loses more than one F1 point, unless the person keeps it anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from core.deploy import FORMATS

#: What each format is, as the dialog offers it.
CHOICES = {
    "hf": (
        "Hugging Face folder (PyTorch, safetensors)",
        "The model folder as it is: loads in transformers and anywhere Spanlab runs.",
    ),
    "onnx": (
        "ONNX",
        "Runs on ONNX Runtime without PyTorch; the same entities, faster on a CPU.",
    ),
    "onnx-int8": (
        "ONNX int8",
        "Weights of the matrix products in 8 bits: smaller and the fastest on a CPU; "
        "checked to lose at most 1 F1 point.",
    ),
}


def export_job(
    model_dir: str,
    target: str,
    format: str,  # noqa: A002 (export_model's word)
    examples: Sequence[dict],
    force: bool,
    progress: Callable[[str], None],
) -> dict:
    """Worker job: export and return ``{"target", "format", "check"}``."""
    from core.deploy.export import export_model

    check = export_model(model_dir, target, format, examples or None, force, progress)
    return {"target": target, "format": format, "check": check}


def check_text(result: dict) -> str:
    """One line about an export's check, for the Results summary."""
    check = result["check"]
    where = f"Model exported ({result['format']}) to {result['target']}"
    if "skipped" in check:
        return f"{where}; not checked: {check['skipped']}."
    text = (
        f"{where}; on {check['documents']} dev documents: agreement F1 "
        f"{check['agreement_f1']:.3f}, dev F1 {check['exported_f1']:.3f} "
        f"(PyTorch {check['torch_f1']:.3f})"
    )
    return text + (" — below the check, kept as asked." if check.get("forced") else ".")


class ExportModelDialog(QDialog):
    """Choose the format, the folder to create, and whether to keep a failed check."""

    def __init__(self, run_id: int, stem: str, dev_documents: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Export the model of run {run_id}")
        self._stem = f"{stem}-run-{run_id}"
        self._parent_dir = Path.home()
        self.buttons: dict[str, QRadioButton] = {}
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Format</b>", self))
        for fmt in FORMATS:
            title, detail = CHOICES[fmt]
            button = QRadioButton(title, self)
            button.setToolTip(detail)
            button.toggled.connect(self._on_format)
            self.buttons[fmt] = button
            note = QLabel(detail, self)
            note.setWordWrap(True)
            note.setStyleSheet("color: #5f6368; margin-left: 22px;")
            layout.addWidget(button)
            layout.addWidget(note)
        layout.addSpacing(8)
        layout.addWidget(QLabel("<b>Folder to create</b>", self))
        self.folder = QLineEdit(self)
        self.folder.setMinimumWidth(420)
        self.choose_button = QPushButton("Choose…", self)
        self.choose_button.clicked.connect(self._choose)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(self.choose_button)
        layout.addLayout(row)
        self.check_note = QLabel(self)
        self.check_note.setWordWrap(True)
        self.check_note.setText(
            f"ONNX exports are compared with the original on the project's {dev_documents} "
            "dev documents (entity agreement and dev F1 of both, written into the folder)."
            if dev_documents
            else "The project has no annotated dev documents: ONNX exports cannot be checked."
        )
        layout.addWidget(self.check_note)
        self.force_box = QCheckBox("Keep the export even if it loses more than 1 F1 point", self)
        layout.addWidget(self.force_box)
        self.button_box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.export_button = self.button_box.button(QDialogButtonBox.StandardButton.Ok)
        self.export_button.setText("Export")
        self.button_box.accepted.connect(self.accept)
        self.button_box.rejected.connect(self.reject)
        layout.addWidget(self.button_box)
        self.buttons["onnx-int8"].setChecked(True)

    def format(self) -> str:
        return next(fmt for fmt, button in self.buttons.items() if button.isChecked())

    def target(self) -> str:
        return self.folder.text().strip()

    def force(self) -> bool:
        return self.force_box.isChecked() and self.format() != "hf"

    def _name(self, fmt: str) -> str:
        return self._stem if fmt == "hf" else f"{self._stem}-{fmt}"

    def _on_format(self, checked: bool) -> None:
        if not checked:
            return
        fmt = self.format()
        self.force_box.setEnabled(fmt != "hf")
        current = Path(self.target()) if self.target() else None
        # Follow the format in the folder's name while it is still one this dialog made.
        if current is None or current.name in {self._name(f) for f in FORMATS}:
            parent = current.parent if current is not None else self._parent_dir
            self.folder.setText(str(parent / self._name(fmt)))

    def _choose(self) -> None:
        parent = QFileDialog.getExistingDirectory(self, "Export the model into folder")
        if parent:
            self.folder.setText(str(Path(parent) / self._name(self.format())))
