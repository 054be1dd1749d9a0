"""Scoring a pool of documents for active learning: one usefulness per document.

A :class:`PoolScorer` reads documents the way the Predictor does (the same words,
windows and context, batched longest first with dynamic padding), runs the model once
per window, and reduces the tag distribution at each word's first sub-token to a
per-word value (:mod:`core.active.acquisition`), averaged per document.

BALD follows Shelmanov et al. (EACL 2021): Monte-Carlo dropout on the classification
head only. The head's input at the first sub-tokens is kept from the single forward
pass, and ``passes`` dropout masks are applied to it before the head; the encoder never
runs again. The masks are drawn once per scorer from a seeded generator and shared by
every word (common random numbers): a word's score depends only on the word and its
context, never on which batch it was read in, so the order is the same whatever the
batch size or device.

This module imports torch only when it scores, so the desktop can read
:data:`STRATEGIES` at start-up without loading it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.domain import DEFAULT_STRATEGY, STRATEGIES
from core.errors import ModelLoadError, SpanlabError, ValidationError

if TYPE_CHECKING:
    import torch

    from core.training.data import Window
    from core.training.predict import Predictor

__all__ = ["DEFAULT_STRATEGY", "STRATEGIES", "PoolScorer", "ScoringCancelled"]

#: Dropout of the head's MC passes when the model does not say (BERT's default).
DEFAULT_DROPOUT = 0.1

Progress = Callable[[tuple[int, int]], None]


class ScoringCancelled(SpanlabError):
    """Scoring stopped because the caller asked it to; nothing was returned."""


def check_strategy(strategy: str) -> str:
    """``strategy`` if it is one of :data:`STRATEGIES`, else a ValidationError."""
    if strategy not in STRATEGIES:
        raise ValidationError(
            f"Unknown acquisition strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}."
        )
    return strategy


class PoolScorer:
    """A model folder's predictor turned into acquisition scores.

    ``passes`` is the number of MC-dropout passes of BALD; ``seed`` fixes BALD's dropout
    masks and the ``random`` strategy's order.
    """

    def __init__(self, predictor: Predictor, passes: int = 10, seed: int = 0) -> None:
        if passes < 2:
            raise ValidationError(
                f"BALD needs at least 2 dropout passes to compare, not {passes}: use 10."
            )
        self.predictor = predictor
        self.passes = passes
        self.seed = seed
        self.labels: list[str] = list(predictor.labels)
        self._masks: torch.Tensor | None = None

    @classmethod
    def from_folder(
        cls,
        model_dir: str | Path,
        device: str = "auto",
        passes: int = 10,
        seed: int = 0,
        **predictor_options: Any,
    ) -> PoolScorer:
        """A scorer for the model in ``model_dir``; ``predictor_options`` (batch_size,
        max_length, precision) go to :class:`~core.training.predict.Predictor`."""
        from core.training.predict import Predictor

        predictor = Predictor(model_dir, device=device, **predictor_options)
        return cls(predictor, passes=passes, seed=seed)

    def score(
        self,
        docs: Sequence[dict],
        strategy: str,
        should_stop: Callable[[], bool] = lambda: False,
        progress: Progress | None = None,
    ) -> list[float]:
        """One usefulness per document (``{id, text, tokens, group?}``), in their order.

        ``progress((done, total))`` follows each batch, in documents fully read;
        ``should_stop()`` is asked before each batch, and when it says so the scoring
        raises :class:`ScoringCancelled`. A document without words scores 0.0.
        """
        check_strategy(strategy)
        if strategy == "random":
            return self._random(docs, should_stop, progress)
        word_lists = [[doc["text"][s:e] for s, e in doc["tokens"]] for doc in docs]
        groups = [doc.get("group") for doc in docs]
        windows = self.predictor.encode(word_lists, groups)
        values = self._word_values(windows, strategy, should_stop, progress, len(docs))
        return _per_document(windows, values, [len(words) for words in word_lists])

    # -- internals ----------------------------------------------------------------------------

    def _random(
        self, docs: Sequence[dict], should_stop: Callable[[], bool], progress: Progress | None
    ) -> list[float]:
        from core.active.acquisition import random_score

        if should_stop():
            raise ScoringCancelled("Scoring was cancelled before it started.")
        scores = [random_score(int(doc["id"]), self.seed) if doc["tokens"] else 0.0 for doc in docs]
        if progress is not None:
            progress((len(docs), len(docs)))
        return scores

    def _word_values(
        self,
        windows: list[Window],
        strategy: str,
        should_stop: Callable[[], bool],
        progress: Progress | None,
        n_docs: int,
    ) -> list[list[float | None]]:
        """Per window and word: the strategy's per-word value (None: a word without a
        sub-token), one forward pass of the model per window."""
        import torch

        from core.active.acquisition import word_entropy, word_mnlp
        from core.training.data import collate, sorted_batches

        predictor, model = self.predictor, self.predictor.model
        device = predictor.device
        autocast = predictor.precision == "bf16" and device.type in ("cuda", "cpu")
        pad_id = predictor.tokenizer.pad_token_id
        pad_id = 0 if pad_id is None else pad_id
        head = self._head() if strategy == "bald" else None
        captured: list[torch.Tensor] = []
        hook = (
            head.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
            if head is not None
            else None
        )
        left: dict[int, int] = {}
        for w in windows:
            left[w.doc] = left.get(w.doc, 0) + 1
        done = n_docs - len(left)  # documents without words have nothing to read
        values: list[list[float | None]] = [[] for _ in windows]
        was_training = model.training
        model.eval()  # dropout off: the MC passes below add their own, on the head alone
        try:
            with torch.inference_mode():
                for batch_idx in sorted_batches([len(w) for w in windows], predictor.batch_size):
                    if should_stop():
                        raise ScoringCancelled(
                            f"Scoring was cancelled after {done:,} of {n_docs:,} documents."
                        )
                    batch_windows = [windows[i] for i in batch_idx]
                    rows, cols = _first_subtokens(batch_windows)
                    batch = collate(batch_windows, pad_id)
                    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                    captured.clear()
                    with torch.autocast(
                        device.type if autocast else "cpu", dtype=torch.bfloat16, enabled=autocast
                    ):
                        logits = model(**batch).logits
                    at = (
                        torch.tensor(rows, dtype=torch.long, device=device),
                        torch.tensor(cols, dtype=torch.long, device=device),
                    )
                    if head is not None:
                        word = self._bald_values(head, captured[-1][at])
                    else:
                        probs = logits[at].float().softmax(-1)  # fp32, even under bf16
                        word = word_mnlp(probs) if strategy == "mnlp" else word_entropy(probs)
                    flat = word.tolist()
                    n = 0
                    for i, w in zip(batch_idx, batch_windows, strict=True):
                        k = sum(1 for pos in w.word_starts if pos >= 0)
                        values[i] = _spread(w.word_starts, flat[n : n + k])
                        n += k
                        left[w.doc] -= 1
                        if left[w.doc] == 0:
                            done += 1
                    if progress is not None:
                        progress((done, n_docs))
        finally:
            if hook is not None:
                hook.remove()
            if was_training:
                model.train()
        if not windows and progress is not None:
            progress((n_docs, n_docs))
        return values

    def _bald_values(self, head: Any, hidden: torch.Tensor) -> torch.Tensor:
        """Per word (rows of ``hidden``, the head's input): BALD over the MC passes."""
        import torch

        from core.active.acquisition import word_bald

        hidden = hidden.float()
        masks = self._dropout_masks(hidden.shape[-1], hidden.device)
        with torch.autocast(hidden.device.type, enabled=False):  # the head in fp32
            logits = head(hidden.unsqueeze(0) * masks.unsqueeze(1))
        return word_bald(logits.float().softmax(-1))

    def _dropout_masks(self, width: int, device: torch.device) -> torch.Tensor:
        """``passes`` inverted-dropout masks over the head's input, drawn once (seeded)."""
        import torch

        masks = self._masks
        if masks is None or masks.shape[1] != width or masks.device != device:
            p = head_dropout(self.predictor.model)
            generator = torch.Generator().manual_seed(self.seed)
            keep = torch.full((self.passes, width), 1.0 - p)
            masks = (torch.bernoulli(keep, generator=generator) / (1.0 - p)).to(device)
            self._masks = masks
        return masks

    def _head(self) -> Any:
        from torch import nn

        head = getattr(self.predictor.model, "classifier", None)
        if not isinstance(head, nn.Module):
            raise ModelLoadError(
                "BALD runs dropout on the model's classification head, but this model has no "
                "`classifier` layer: choose another strategy (mnlp, entropy or random)."
            )
        return head


def head_dropout(model: Any) -> float:
    """The dropout the model's head was trained with (its ``dropout`` layer, else the
    config's classifier or hidden dropout); :data:`DEFAULT_DROPOUT` when none is set or it
    is 0 (MC dropout with p = 0 would find every pass equal)."""
    from torch import nn

    layer = getattr(model, "dropout", None)
    if isinstance(layer, nn.Dropout) and 0 < layer.p < 1:
        return float(layer.p)
    for key in ("classifier_dropout", "hidden_dropout_prob", "dropout"):
        value = getattr(model.config, key, None)
        if isinstance(value, int | float) and 0 < value < 1:
            return float(value)
    return DEFAULT_DROPOUT


def _first_subtokens(windows: Sequence[Window]) -> tuple[list[int], list[int]]:
    """(batch row, position) of each word's first sub-token, window by window."""
    rows, cols = [], []
    for r, w in enumerate(windows):
        for pos in w.word_starts:
            if pos >= 0:
                rows.append(r)
                cols.append(pos)
    return rows, cols


def _spread(word_starts: list[int], values: list[float]) -> list[float | None]:
    """Values of the words that have a sub-token, placed among those (None) that have none."""
    it = iter(values)
    return [next(it) if pos >= 0 else None for pos in word_starts]


def _per_document(
    windows: list[Window], values: list[list[float | None]], n_words: Sequence[int]
) -> list[float]:
    """Mean per-word value of each document; a word read in several overlapping windows
    counts once, from the window where it sits farthest from a cut (as prediction does)."""
    from core.training.data import best_window_per_word

    by_doc: list[list[int]] = [[] for _ in n_words]
    for k, w in enumerate(windows):
        by_doc[w.doc].append(k)
    scores = []
    for doc, mine in enumerate(by_doc):
        if len(mine) == 1:
            words = [v for v in values[mine[0]] if v is not None]
        else:
            local = [windows[k] for k in mine]
            words = [
                values[mine[k]][word - local[k].first_word]
                for word, (k, _) in enumerate(best_window_per_word(local, n_words[doc]))
                if k >= 0
            ]
        scores.append(sum(words) / len(words) if words else 0.0)
    return scores
