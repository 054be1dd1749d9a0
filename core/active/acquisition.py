"""Acquisition functions: how useful it would be to annotate a document, from what the
model says about its words. Higher = annotate first.

Each function reads one probability distribution over the tags per word, taken at the
word's first sub-token (as training and prediction read it), and averages a per-word
quantity over the words, so a long document does not win by length alone. The
``word_*`` functions give the per-word values for many words at once; the pool scorer
computes them batch by batch and averages them per document, so a document's score is
exactly the document-level function below applied to its words.
"""

from __future__ import annotations

import hashlib

import torch


def word_mnlp(probs: torch.Tensor) -> torch.Tensor:
    """``-log max_t p[w, t]`` per word (``probs``: words x tags)."""
    if probs.shape[0] == 0:
        return probs.new_zeros(0)
    return -probs.max(dim=-1).values.clamp_min(torch.finfo(probs.dtype).tiny).log()


def word_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (natural log) of each word's tag distribution (``probs``: ... x tags)."""
    return torch.special.entr(probs).sum(dim=-1)


def word_bald(passes: torch.Tensor) -> torch.Tensor:
    """Mutual information between a word's tag and the dropout mask, per word
    (``passes``: passes x words x tags): entropy of the mean prediction minus the mean
    entropy of the passes; 0 when every pass says the same."""
    if passes.shape[1] == 0:
        return passes.new_zeros(0)
    mean = word_entropy(passes.mean(dim=0))
    expected = word_entropy(passes).mean(dim=0)
    return (mean - expected).clamp_min(0.0)  # >= 0 in exact arithmetic


def mnlp(probs: torch.Tensor) -> float:
    """Maximum normalised log-probability (Shen et al. 2018) as a usefulness:
    ``-mean_w log max_t p[w, t]``; 0 for a model sure of every word.

    The greedy tag of each word stands in for the best tag sequence (the model has no
    CRF, so the per-word argmax is what it predicts).
    """
    return _mean(word_mnlp(probs))


def token_entropy(probs: torch.Tensor) -> float:
    """Mean over words of the entropy (natural log) of the tag distribution."""
    return _mean(word_entropy(probs))


def bald(passes: torch.Tensor) -> float:
    """BALD (``passes``: MC-dropout passes x words x tags): mean over words of
    ``H(mean_k p_k) - mean_k H(p_k)``; 0 when all passes agree."""
    return _mean(word_bald(passes))


def random_score(doc_id: int, seed: int) -> float:
    """A number in [0, 1) fixed by (document, seed): the same order in every process
    (Python's ``hash()`` is salted per process, so it is not used)."""
    digest = hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _mean(values: torch.Tensor) -> float:
    """Mean of per-word values; 0.0 for a document without words."""
    return float(values.double().mean()) if values.numel() else 0.0
