"""The files a run writes beside its model, and the rename that puts the folder in place.

The trainer saves the weights and tokenizer into a scratch folder beside the output
folder; :func:`write_model_folder` adds the metrics, the settings, the event log and the
model card (``core.training.card``), then renames the scratch folder to its final name.
Until that rename nothing has the output folder's name, so a run stopped half-way never
leaves a half-written model folder behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from core.training.card import write_card
from core.training.config import TrainConfig
from core.training.events import Event


def write_model_folder(
    scratch: Path,
    output_dir: Path,
    config: TrainConfig,
    chosen: dict,
    metrics: dict,
    events: Sequence[Event],
) -> Path:
    """Write metrics.json, train_config.json, events.jsonl and README.md into ``scratch``
    (which holds the saved model) and rename it to ``output_dir``; returns ``output_dir``.

    ``chosen`` is what the run's "auto" settings became on this machine; it is saved
    under ``"chosen"`` in train_config.json (``TrainConfig.from_dict`` ignores the key).
    """
    (scratch / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    saved = {**config.to_dict(), "chosen": chosen}
    (scratch / "train_config.json").write_text(json.dumps(saved, indent=2), encoding="utf-8")
    with open(scratch / "events.jsonl", "w", encoding="utf-8") as f:
        for event in events:
            f.write(json.dumps(event.to_dict()) + "\n")
    write_card(scratch, name=output_dir.name)
    os.replace(scratch, output_dir)
    return output_dir
