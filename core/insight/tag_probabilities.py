"""Every word's probability of every tag under a loaded model.

``Predictor`` keeps each word's most likely tag; a review needs the whole distribution
(how likely the annotated tag was). The words, windows and stitching are the
predictor's own (``Predictor.encode`` and ``best_window_per_word``), so a word is read
exactly as prediction reads it: at its first sub-token, in the window where it sits
farthest from a cut edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from core.training.data import Window, best_window_per_word, collate, sorted_batches
from core.training.predict import Predictor


def tag_probabilities(predictor: Predictor, docs: Sequence[dict]) -> list[list[list[float]]]:
    """Per document (``{text, tokens, group}``), per word: the probability of each of
    ``predictor.tags``. A word the tokenizer gives no sub-token (a lone zero-width
    character) is certain to be ``O``."""
    word_lists = [[doc["text"][s:e] for s, e in doc["tokens"]] for doc in docs]
    windows = predictor.encode(word_lists, [doc.get("group") for doc in docs])
    rows = _window_probabilities(predictor, windows)
    by_doc: list[list[int]] = [[] for _ in docs]
    for k, window in enumerate(windows):
        by_doc[window.doc].append(k)
    outside = [1.0 if tag == "O" else 0.0 for tag in predictor.tags]
    out = []
    for doc, words in enumerate(word_lists):
        mine = [windows[k] for k in by_doc[doc]]
        probs = [list(outside) for _ in words]
        for word, (k, _) in enumerate(best_window_per_word(mine, len(words))):
            if k >= 0:
                probs[word] = rows[by_doc[doc][k]][word - mine[k].first_word]
        out.append(probs)
    return out


@torch.inference_mode()
def _window_probabilities(predictor: Predictor, windows: list[Window]) -> list[list[list[float]]]:
    """Per window, per word of the window: the tag distribution at its first sub-token
    (an empty list for a word without one)."""
    model = predictor.model
    pad_id = predictor.tokenizer.pad_token_id or 0
    autocast = predictor.precision == "bf16"
    out: list[list[list[float]]] = [[] for _ in windows]
    for batch_idx in sorted_batches([len(w) for w in windows], predictor.batch_size):
        batch_windows = [windows[i] for i in batch_idx]
        batch = {k: v.to(predictor.device) for k, v in collate(batch_windows, pad_id).items()}
        with torch.autocast(predictor.device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(**batch).logits
        probs = logits.float().softmax(-1).cpu()
        for r, (i, window) in enumerate(zip(batch_idx, batch_windows, strict=True)):
            out[i] = [probs[r, pos].tolist() if pos >= 0 else [] for pos in window.word_starts]
    return out
