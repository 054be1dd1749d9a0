"""Acquisition functions against values worked out by hand."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.active.acquisition import (
    bald,
    mnlp,
    random_score,
    token_entropy,
    word_bald,
    word_entropy,
    word_mnlp,
)

LN2 = math.log(2)


def h(*p: float) -> float:
    """Entropy (natural log) of a distribution, by hand."""
    return -sum(x * math.log(x) for x in p if x > 0)


def test_mnlp_of_a_known_distribution():
    # word 1: max p = 0.5 -> -log 0.5 = ln 2; word 2: max p = 1 -> 0; mean ln2 / 2
    assert mnlp(torch.tensor([[0.5, 0.5], [1.0, 0.0]])) == pytest.approx(LN2 / 2)
    assert mnlp(torch.tensor([[0.2, 0.7, 0.1]])) == pytest.approx(-math.log(0.7))


def test_mnlp_of_a_confident_model_is_zero_and_grows_with_doubt():
    sure = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert mnlp(sure) == 0.0
    unsure = torch.tensor([[0.4, 0.3, 0.3], [0.34, 0.33, 0.33]])
    assert mnlp(unsure) == pytest.approx(-(math.log(0.4) + math.log(0.34)) / 2)
    assert mnlp(unsure) > mnlp(torch.tensor([[0.9, 0.05, 0.05]])) > 0


def test_token_entropy_of_known_distributions():
    assert token_entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]])) == pytest.approx(LN2 / 2)
    assert token_entropy(torch.full((3, 4), 0.25)) == pytest.approx(math.log(4))
    assert token_entropy(torch.tensor([[0.9, 0.1]])) == pytest.approx(h(0.9, 0.1))


def test_bald_is_zero_when_all_passes_agree():
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    assert bald(probs.expand(5, -1, -1)) == pytest.approx(0.0, abs=1e-7)


def test_bald_of_passes_that_disagree():
    # two passes, each sure, of opposite tags: H(mean) = ln 2, mean H = 0
    assert bald(torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])) == pytest.approx(LN2)
    # [0.9, 0.1] and [0.1, 0.9]: H([0.5, 0.5]) - H(0.9, 0.1)
    passes = torch.tensor([[[0.9, 0.1], [0.5, 0.5]], [[0.1, 0.9], [0.5, 0.5]]])
    assert bald(passes) == pytest.approx((LN2 - h(0.9, 0.1) + 0.0) / 2)
    # uncertain but consistent passes carry entropy, not mutual information
    consistent = torch.tensor([[[0.5, 0.5]], [[0.5, 0.5]]])
    assert token_entropy(consistent[0]) == pytest.approx(LN2)
    assert bald(consistent) == pytest.approx(0.0, abs=1e-7)


def test_per_word_values_match_the_document_functions():
    probs = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.8, 0.2]])
    assert word_mnlp(probs).tolist() == pytest.approx([LN2, 0.0, -math.log(0.8)])
    assert word_entropy(probs).tolist() == pytest.approx([LN2, 0.0, h(0.8, 0.2)])
    passes = torch.stack([probs, probs.flip(-1)])
    assert word_bald(passes).tolist() == pytest.approx([0.0, LN2, LN2 - h(0.8, 0.2)])
    assert bald(passes) == pytest.approx(sum(word_bald(passes).tolist()) / 3)


def test_a_document_without_words_scores_zero():
    empty = torch.zeros(0, 5)
    assert mnlp(empty) == 0.0
    assert token_entropy(empty) == 0.0
    assert bald(torch.zeros(10, 0, 5)) == 0.0


def test_random_score_is_deterministic_per_seed_and_in_range():
    first = [random_score(i, seed=0) for i in range(200)]
    assert first == [random_score(i, seed=0) for i in range(200)]
    assert all(0.0 <= s < 1.0 for s in first)
    assert len(set(first)) == 200
    assert first != [random_score(i, seed=1) for i in range(200)]
    assert 0.4 < sum(first) / 200 < 0.6  # spread over [0, 1), not bunched


def test_random_score_is_the_same_in_another_process():
    """Not Python's hash(): that changes with PYTHONHASHSEED from one process to the next."""
    code = "from core.active.acquisition import random_score; print(repr(random_score(42, 7)))"
    root = Path(__file__).resolve().parents[1]
    values = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert values == {repr(random_score(42, 7))}
