"""The form over `TrainConfig`: the common fields up front, the rest folded away.

The form is built from the dataclass's fields, so a field added to `TrainConfig` shows
up here with its default and type without touching this module: ints become spin
boxes, floats a text box that takes ``5e-5``, bools a check box, ``Literal`` choices a
combo box, optional values an empty box meaning "none".
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.domain import DEFAULT_MODEL
from core.errors import ValidationError
from core.training.config import DEVICES, METHODS, OPTIMIZERS, PRECISIONS, TrainConfig

DEFAULT_MODEL_TEXT = "all-MiniLM-L6-v2 (embedded)"


def model_name(base_model: str) -> str:
    """How a base model reads in lists and logs: a name, not a long path."""
    if not base_model or base_model == DEFAULT_MODEL:
        return "all-MiniLM-L6-v2"
    return Path(base_model).name or str(base_model)


# Shown up front; every other field goes under "Advanced".
BASIC_FIELDS = ("base_model", "epochs", "batch_size", "learning_rate")

# Set by the project (the word tokenizer) or by a federation's rounds (the part of the
# schedule), not per run: no editor (the form gives their defaults).
HIDDEN_FIELDS = ("word_tokenizer", "schedule_from", "schedule_to")

# Friendlier names than the field names; the other fields get a capitalised name.
FIELD_LABELS = {
    "base_model": "Base model",
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "batch_tokens": "Batch by sub-tokens",
    "learning_rate": "Learning rate",
    "weight_decay": "Weight decay",
    "warmup": "Warm-up",
    "max_length": "Max length (sub-words)",
    "max_grad_norm": "Gradient clipping",
    "patience": "Early stopping patience",
    "refit": "Refit on train + dev",
    "context_tokens": "Document context (sub-words)",
    "warm_start": "Warm start from",
    "time_budget_s": "Time budget (seconds)",
    "method": "Training method",
    "lora_r": "LoRA rank",
    "lora_alpha": "LoRA alpha",
    "lora_dropout": "LoRA dropout",
}


# Fields whose values come from a fixed set (editable: other values are allowed too).
CHOICES: dict[str, tuple[tuple, bool]] = {
    "optimizer": (OPTIMIZERS, False),
    "device": (DEVICES, False),
    "precision": (PRECISIONS, False),
    "method": (METHODS, False),
    "freeze": (("none", "embeddings", "head", "top-2", "top-4"), True),
}

# Spin boxes whose 0 means something: shown as a word instead of "0".
ZERO_MEANS = {
    "epochs": "auto",
    "patience": "never stop early",
    "batch_tokens": "off (batch size)",
    "context_tokens": "off",
    "time_budget_s": "no limit",
}

HELP = {
    "base_model": "The embedded all-MiniLM-L6-v2, or a local Hugging Face model folder",
    "epochs": "Passes over the training data; auto picks them from the data size",
    "batch_size": "Sentences (windows) per step; smaller uses less memory",
    "batch_tokens": "Fill each step up to this many sub-tokens instead of a number of "
    "sentences (e.g. 1024): short sentences share a step, long ones do not blow memory",
    "learning_rate": "Step size of the optimiser, e.g. 1e-4",
    "warmup": "Below 1: fraction of all steps; 1 or more: number of steps",
    "freeze": "none, embeddings, head (classifier only) or top-N (train only the top N layers)",
    "patience": "Epochs without a better dev F1 before the run stops",
    "refit": "Once dev has chosen the best epoch, train once more on train + dev for that "
    "many epochs and keep that model (dev scores stay the first pass's; about 1.6x the "
    "time)",
    "context_tokens": "Sub-words of the neighbouring sentences of the same document read on "
    "each side of a sentence (CoNLL -DOCSTART- sections, JSONL meta.doc); labels stay on "
    "the sentence",
    "warm_start": "Model folder of an earlier run to continue training from",
    "device": "auto uses the GPU when there is one",
    "precision": "auto: bf16 on a GPU or a CPU that has it natively, else fp32; no: fp32",
    "time_budget_s": "Stop training after this many seconds; the best epoch so far is kept",
    "method": "full: every weight trains; lora: small adapters on the attention layers and "
    "the head train (faster; wants a higher learning rate, e.g. 2e-3); the saved model is "
    "a plain merged folder, the adapter is saved beside it",
    "lora_r": "Rank of the LoRA adapters (method lora)",
    "lora_alpha": "Scale of the LoRA adapters (method lora)",
    "lora_dropout": "Dropout inside the LoRA adapters (method lora)",
}


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(the inner type, whether None is allowed) for ``X | None``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _choices(field: dataclasses.Field, tp: Any) -> tuple[list | None, bool]:
    """(the values a field may take, whether others may be typed) — None: free input."""
    if typing.get_origin(tp) is typing.Literal:
        return list(typing.get_args(tp)), False
    if field.name in CHOICES:
        values, editable = CHOICES[field.name]
        return list(values), editable
    return None, False


class FieldEditor:
    """One field's widget and how to read / write it."""

    def __init__(self, field: dataclasses.Field, tp: Any, default: Any, parent: QWidget) -> None:
        self.name = field.name
        self.type, self.optional = _unwrap_optional(tp)
        self.choices, self.editable = _choices(field, self.type)
        self.widget = self._make_widget(parent, default)
        help_text = HELP.get(self.name)
        if help_text:
            self.widget.setToolTip(str(help_text))
        self.set(default)

    def _make_widget(self, parent: QWidget, default: Any) -> QWidget:
        if self.choices is not None:
            box = QComboBox(parent)
            box.setEditable(self.editable)
            if self.optional:
                box.addItem("none", None)
            for choice in self.choices:
                box.addItem(str(choice), choice)
            return box
        if self.type is bool:
            return QCheckBox(parent)
        if self.type is int and not self.optional:
            spin = QSpinBox(parent)
            spin.setRange(-1_000_000, 1_000_000_000)
            if self.name in ZERO_MEANS:
                spin.setRange(0, 1_000_000)
                spin.setSpecialValueText(ZERO_MEANS[self.name])
            return spin
        edit = QLineEdit(parent)
        if self.type is float:
            validator = QDoubleValidator(edit)
            validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
            edit.setValidator(validator)
        if self.optional:
            edit.setPlaceholderText("none")
        return edit

    def set(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, QComboBox):
            index = w.findData(value)
            if index < 0 and w.isEditable() and value is not None:
                w.addItem(str(value), value)
                index = w.count() - 1
            w.setCurrentIndex(max(index, 0))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value or 0))
        elif isinstance(w, QLineEdit):
            w.setText(
                "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
            )

    def get(self) -> Any:
        w = self.widget
        if isinstance(w, QComboBox):
            if w.isEditable() and w.currentText() != w.itemText(w.currentIndex()):
                return w.currentText().strip()
            return w.currentData()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            return w.value()
        text = w.text().strip()
        if not text:
            if self.optional:
                return None
            if self.type is str:
                return ""
            raise ValidationError(
                f"{FIELD_LABELS.get(self.name, self.name)} is empty: enter a value."
            )
        if self.type in (int, float):
            try:
                return self.type(float(text)) if self.type is int else float(text)
            except ValueError:
                label = FIELD_LABELS.get(self.name, self.name)
                raise ValidationError(f"{label}: {text!r} is not a number.") from None
        return text


class Collapsible(QWidget):
    """A titled section that opens and closes with an arrow button."""

    def __init__(self, title: str, content: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QToolButton(self)
        self.toggle.setText(title)
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.toggle.toggled.connect(self.set_open)
        self.content = content
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(content)
        self.set_open(False)

    def set_open(self, on: bool) -> None:
        self.toggle.setChecked(on)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.content.setVisible(on)

    def is_open(self) -> bool:
        return self.toggle.isChecked()


class BaseModelPicker(QWidget):
    """The embedded default, or a local model folder the user picks."""

    changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox(self)
        self.combo.addItem(DEFAULT_MODEL_TEXT, DEFAULT_MODEL)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(12)
        self.combo.currentIndexChanged.connect(lambda _i: self.changed.emit(self.value()))
        self.choose_button = QPushButton("Folder…", self)
        self.choose_button.setToolTip("Use a local Hugging Face model folder as the base model")
        self.combo.setToolTip(HELP["base_model"])
        self.choose_button.clicked.connect(self.choose_folder)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.choose_button)

    def value(self) -> str:
        return self.combo.currentData() or DEFAULT_MODEL

    def set_value(self, value: str) -> None:
        value = str(value or DEFAULT_MODEL)
        index = self.combo.findData(value)
        if index < 0:
            self.combo.addItem(Path(value).name or value, value)
            index = self.combo.count() - 1
            self.combo.setItemData(index, value, Qt.ItemDataRole.ToolTipRole)
        self.combo.setCurrentIndex(index)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if folder:
            self.set_value(folder)


class TrainForm(QWidget):
    """Edits a `TrainConfig`; `config()` reads it back (ValidationError on a bad value)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.base_model = BaseModelPicker(self)
        self.editors: dict[str, FieldEditor] = {}
        basic = QFormLayout()
        advanced_widget = QWidget(self)
        advanced = QFormLayout(advanced_widget)
        advanced.setContentsMargins(12, 0, 0, 0)
        for form in (basic, advanced):
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        defaults = TrainConfig()
        hints = typing.get_type_hints(TrainConfig)
        for field in dataclasses.fields(TrainConfig):
            label = FIELD_LABELS.get(field.name, field.name.replace("_", " ").capitalize())
            if field.name == "base_model":
                basic.insertRow(0, label, self.base_model)
                continue
            if field.name in HIDDEN_FIELDS:
                continue
            editor = FieldEditor(field, hints[field.name], getattr(defaults, field.name), self)
            self.editors[field.name] = editor
            (basic if field.name in BASIC_FIELDS else advanced).addRow(label, editor.widget)
        self.advanced = Collapsible("Advanced", advanced_widget, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(basic)
        layout.addWidget(self.advanced)
        layout.addStretch(1)
        self.set_config(defaults)

    def set_config(self, config: TrainConfig) -> None:
        """Show these values."""
        self.base_model.set_value(config.base_model)
        for name, editor in self.editors.items():
            editor.set(getattr(config, name))

    def config(self) -> TrainConfig:
        """The config the form shows."""
        values = {name: editor.get() for name, editor in self.editors.items()}
        values["base_model"] = self.base_model.value()
        try:
            config = TrainConfig(**values)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"Training settings: {exc}") from exc
        return config.validate()

    def editor(self, name: str) -> QWidget:
        """The widget editing one field (for tests and focus)."""
        return self.editors[name].widget
