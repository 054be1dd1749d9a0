"""The settings of one training run, saved as JSON beside the model it produced."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from core.domain import DEFAULT_MODEL, TOKENIZERS
from core.errors import TrainingError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "no", "bf16", "fp16")
OPTIMIZERS = ("adamw", "sgd")
METHODS = ("full", "lora")
_FREEZE = re.compile(r"^(none|embeddings|head|top-[0-9]+)$")


@dataclass
class TrainConfig:
    """Everything that decides how a model is trained; the defaults need no tuning.

    ``epochs=0`` picks the number of epochs from the data size (more passes over a few
    hundred sentences, fewer over tens of thousands); early stopping on dev F1 ends a run
    that no longer improves, and the best epoch is the one kept. Sentences of one source
    document (a group) are read with ``context_tokens`` sub-tokens of their neighbours on
    each side (see ``core.training.context``); sentences without a group are unaffected.
    """

    base_model: str = DEFAULT_MODEL  # the embedded all-MiniLM-L6-v2, a folder, or a hub name
    epochs: int = 0  # 0 = automatic
    batch_size: int = 16
    batch_tokens: int = 0  # > 0: batches hold up to this many sub-tokens (batch_size is ignored)
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup: float = 0.1  # < 1: fraction of all steps; >= 1: number of steps
    optimizer: str = "adamw"  # adamw | sgd
    dropout: float | None = None  # None keeps the base model's own dropout
    max_grad_norm: float | None = 1.0  # gradient clipping; None = off
    seed: int = 13
    max_length: int = 256  # sub-tokens per window; longer documents are split, never cut
    window_overlap: int = 64  # sub-tokens shared by two neighbouring windows
    # Sub-tokens of the neighbouring sentences of the same document (group) read on each
    # side of a sentence; only the sentence is labelled and scored. 0 = off.
    context_tokens: int = 64
    freeze: str = "none"  # none | embeddings | top-N (train only the top N layers) | head
    # full: every weight not frozen trains; lora: low-rank adapters on the attention's
    # query and value, the head trained in full, saved merged (see core.training.lora).
    method: str = "full"
    lora_r: int = 8  # rank of the LoRA adapters
    lora_alpha: int = 16  # LoRA scaling: the adapters' update is multiplied by alpha / r
    lora_dropout: float = 0.1  # dropout on the adapters' input
    # > 0: a proximal term (mu / 2) * ||w - w_start||^2 keeps the weights near the ones
    # the run started from (FedProx, for a federated round; see core.federated). 0 = off.
    proximal_mu: float = 0.0
    # The part of a longer run's learning-rate schedule this run takes (fractions): a
    # federation's round r of R takes (r-1)/R..r/R, so warmup happens once and the rate
    # decays over the rounds. 0..1 = the run's own schedule.
    schedule_from: float = 0.0
    schedule_to: float = 1.0
    # With a dev split of the project's own: once dev has chosen the best epoch, train
    # once more from the start on train + dev for that many epochs and save that model
    # (its dev scores stay the first pass's; see core.training.refit). False = one pass.
    refit: bool = True
    patience: int = 3  # epochs without a better dev F1 (counted in the second half of the plan) before stopping; 0 = never
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = (
        "auto"  # auto (bf16/fp16 on a GPU, bf16 on a CPU that has it) | no | bf16 | fp16
    )
    warm_start: str | None = None  # model folder of an earlier run to continue from
    dev_fraction: float = 0.1  # share of train held out when the project has no dev split
    eval_batch_size: int = 64
    # > 0: stop taking steps after this many seconds of training (evaluation not
    # counted); the epoch under way is scored and the best epoch kept. 0 = no limit.
    time_budget_s: float = 0
    # How raw text is split into words before this model reads it (Try it, `spanlab
    # predict`, the pipeline of a server): the project's tokenizer, filled in when the run
    # is prepared and saved beside the model. "" = the default (as NER corpora are split).
    word_tokenizer: str = ""

    def validate(self) -> TrainConfig:
        """Raise TrainingError naming the first setting that cannot work; return self."""
        checks = [
            (self.epochs >= 0, "epochs must be 0 (automatic) or more"),
            (self.batch_size >= 1, "batch size must be at least 1"),
            (
                self.batch_tokens >= 0,
                "batch tokens must be 0 (off: the batch size counts sentences) or more",
            ),
            (self.eval_batch_size >= 1, "evaluation batch size must be at least 1"),
            (self.learning_rate > 0, "learning rate must be above 0"),
            (self.weight_decay >= 0, "weight decay cannot be negative"),
            (self.warmup >= 0, "warmup cannot be negative"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (
                self.dropout is None or 0 <= self.dropout < 1,
                "dropout must be between 0 and 1 (or unset)",
            ),
            (
                self.max_grad_norm is None or self.max_grad_norm > 0,
                "gradient clipping must be above 0 (or unset)",
            ),
            (self.max_length >= 8, "max length must be at least 8 sub-tokens"),
            (
                0 <= self.window_overlap <= self.max_length // 2,
                "window overlap must be between 0 and half the max length",
            ),
            (
                bool(_FREEZE.match(self.freeze)),
                "freeze must be none, embeddings, head or top-N (e.g. top-2)",
            ),
            (self.method in METHODS, f"method must be one of {', '.join(METHODS)}"),
            (self.lora_r >= 1, "LoRA rank (lora_r) must be at least 1"),
            (self.lora_alpha > 0, "LoRA alpha must be above 0"),
            (0 <= self.lora_dropout < 1, "LoRA dropout must be between 0 and 1"),
            (self.proximal_mu >= 0, "proximal mu must be 0 (off) or more"),
            (
                0 <= self.schedule_from < self.schedule_to <= 1,
                "the schedule's part must run from 0 <= start < end <= 1",
            ),
            (
                self.method != "lora" or self.freeze != "head",
                "freeze 'head' trains the classification head alone, which leaves nothing "
                "for LoRA to adapt: with method lora choose freeze none (or top-N to adapt "
                "only the top N layers), or use method full",
            ),
            (
                self.context_tokens >= 0,
                "context tokens must be 0 (off: each sentence on its own) or more",
            ),
            (self.patience >= 0, "patience must be 0 (off) or more"),
            (self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
            (0 < self.dev_fraction < 1, "dev fraction must be between 0 and 1"),
            (self.time_budget_s >= 0, "time budget must be 0 (no limit) or more seconds"),
            (
                self.word_tokenizer in ("", *TOKENIZERS),
                f"word tokenizer must be one of {', '.join(TOKENIZERS)} (or unset)",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise TrainingError(f"Invalid training setting: {message}.")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict; keys this version does not know (from a newer one) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls.from_dict(json.loads(text))
