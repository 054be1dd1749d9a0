"""Batches by token budget: within budget, every window once an epoch, seeded, real steps."""

from __future__ import annotations

import random

import pytest

from core.errors import TrainingError
from core.training.config import TrainConfig
from core.training.data import TokenBudgetBatches
from core.training.events import Log, Start, Step
from core.training.trainer import auto_epochs_reason, train

from training_support import sentence_corpus


def lengths(n: int = 500, seed: int = 3) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice([3, 5, 8, 12, 20, 40, 90]) for _ in range(n)]


def test_no_batch_over_the_budget_counting_its_padding():
    sizes = lengths()
    sampler = TokenBudgetBatches(sizes, budget=128, seed=1)
    for epoch in (1, 2):
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert len(batch) * max(sizes[i] for i in batch) <= 128


def test_a_window_longer_than_the_budget_is_a_batch_of_its_own():
    sizes = [5, 300, 6, 7, 200]
    batches = TokenBudgetBatches(sizes, budget=64, seed=0).batches(1)
    assert [1] in batches and [4] in batches
    assert all(len(b) == 1 for b in batches if any(sizes[i] > 64 for i in b))


def test_every_window_exactly_once_per_epoch():
    sizes = lengths()
    sampler = TokenBudgetBatches(sizes, budget=200, seed=5)
    for epoch in (1, 2, 3):
        flat = [i for batch in sampler.batches(epoch) for i in batch]
        assert sorted(flat) == list(range(len(sizes)))


def test_deterministic_for_a_seed_and_different_across_epochs_and_seeds():
    sizes = lengths()
    a = TokenBudgetBatches(sizes, budget=200, seed=5)
    b = TokenBudgetBatches(sizes, budget=200, seed=5)
    assert a.batches(1) == b.batches(1)
    assert a.batches(1) != a.batches(2)
    assert a.batches(1) != TokenBudgetBatches(sizes, budget=200, seed=6).batches(1)


def test_short_windows_share_a_step_and_length_grouping_keeps_padding_small():
    sizes = lengths()
    batches = TokenBudgetBatches(sizes, budget=256, seed=2).batches(1)
    assert len(batches) < len(sizes) / 4  # many windows a step, not a fixed count
    real = sum(sizes)
    padded = sum(len(b) * max(sizes[i] for i in b) for b in batches)
    assert padded / real < 1.25


def test_len_and_iteration_follow_the_epoch_set():
    sampler = TokenBudgetBatches(lengths(), budget=150, seed=9)
    sampler.set_epoch(4)
    assert len(sampler) == sampler.count(4) == len(list(sampler))


def test_negative_budget_is_refused():
    with pytest.raises(TrainingError, match="batch tokens"):
        TrainConfig(batch_tokens=-1).validate()


def test_training_by_token_budget_schedules_the_real_steps(tmp_path, tiny_model_dir):
    config = TrainConfig(
        base_model=str(tiny_model_dir),
        epochs=3,
        learning_rate=5e-3,
        batch_tokens=64,
        batch_size=1,  # ignored with a token budget
        warmup=0,
        precision="no",
    )
    corpus = sentence_corpus(60)
    data = {"train": corpus, "dev": sentence_corpus(10, seed=1, start_id=500)}
    events = list(train(config, data, tmp_path / "run"))
    assert events[-1].kind == "done", events[-1]
    start = events[0]
    assert isinstance(start, Start)
    # The schedule's total is the steps really taken (the last step event says so) ...
    steps = [e for e in events if isinstance(e, Step)]
    assert steps[-1].step == start.total_steps == events[-1].metrics["steps"]
    assert steps[-1].lr == pytest.approx(config.learning_rate / start.total_steps)
    # ... and far fewer than one step a sentence.
    assert start.total_steps < 3 * len(corpus) / 3
    assert any(isinstance(e, Log) and "up to 64 sub-tokens" in e.message for e in events)


def test_auto_epochs_says_why_in_the_log(tmp_path, tiny_model_dir):
    config = TrainConfig(
        base_model=str(tiny_model_dir), epochs=0, batch_size=8, warmup=0, patience=1
    )
    data = {"train": sentence_corpus(24), "dev": sentence_corpus(4, seed=1, start_id=500)}
    events = list(train(config, data, tmp_path / "run"))
    start = events[0]
    assert start.epochs == 20 and start.steps_per_epoch == 3
    notes = [e.message for e in events if isinstance(e, Log)]
    assert "Epochs: automatic, 20 (3 steps an epoch; the most it takes)." in " ".join(notes)


def test_auto_epochs_reason_names_the_rule_that_decided():
    assert "the fewest it takes" in auto_epochs_reason(3, 5000)
    assert "about 1000 updates" in auto_epochs_reason(5, 200)
