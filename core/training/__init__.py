"""Training, evaluation and prediction of NER models.

Every run goes through ``session.RunSession`` (prepare, record, finish); the trainer
(``trainer.train``) yields the typed events of ``events``; ``recorder`` writes them
into the store.

Submodules load torch and transformers, so they are imported on first use: importing
``core.training`` itself stays cheap (the desktop starts faster).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "core.training.config",
    "train": "core.training.trainer",
    "evaluate": "core.training.evaluation",
    "Predictor": "core.training.predict",
    "RunRecorder": "core.training.recorder",
    "RunSession": "core.training.session",
    "run_training": "core.training.session",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'core.training' has no attribute {name!r}")
