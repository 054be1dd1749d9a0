"""The most-useful-first order: highest score first, near-duplicates last, groups spread."""

from __future__ import annotations

import time

from core.active.order import diverse_order, normalised


def row(doc_id: int, score: float, text: str = "", group: str | None = None) -> dict:
    return {"id": doc_id, "score": score, "text": text or f"text {doc_id}", "group": group}


def test_highest_score_first_ties_by_id() -> None:
    rows = [row(1, 0.2), row(2, 0.9), row(3, 0.5), row(4, 0.5), row(5, None)]
    assert diverse_order(rows) == [2, 3, 4, 1, 5]


def test_normalised_text_ignores_case_punctuation_and_spacing() -> None:
    assert normalised("  Paris,   FRANCE!\n") == "paris france"
    assert normalised("«Straße» — Köln.") == normalised("strasse köln")
    assert normalised("U.S. army") == "us army"
    assert normalised("北京。") == "北京"


def test_a_near_duplicate_goes_to_the_end() -> None:
    rows = [
        row(1, 0.9, "RT @bob: great game!"),
        row(2, 0.8, "rt bob great game"),
        row(3, 0.1, "something else"),
        row(4, 0.7, "RT  @bob great game"),
        row(5, 0.05, "one more"),
    ]
    assert diverse_order(rows) == [1, 3, 5, 2, 4]


def test_one_group_has_at_most_per_group_places_in_a_batch() -> None:
    story = [row(i, 1.0 - i / 100, group="story") for i in range(1, 6)]
    others = [row(10 + i, 0.5 - i / 100, group=f"g{i}") for i in range(1, 4)]
    order = diverse_order(story + others, batch=4, per_group=2)
    # Batch 1: the two best of the story, then the best two others; the rest waits.
    assert order[:4] == [1, 2, 11, 12]
    # Batch 2: two more of the story and the last other; then only the story is left,
    # and it fills the batch.
    assert order[4:] == [3, 4, 13, 5]


def test_documents_without_a_group_are_not_capped() -> None:
    rows = [row(i, 1.0 - i / 10) for i in range(1, 8)]
    assert diverse_order(rows, batch=3, per_group=1) == [1, 2, 3, 4, 5, 6, 7]


def test_when_only_one_group_is_left_it_fills_the_batch() -> None:
    rows = [row(i, 1.0 - i / 10, group="only") for i in range(1, 6)] + [row(9, 0.0)]
    assert diverse_order(rows, batch=3, per_group=1) == [1, 9, 2, 3, 4, 5]


def test_a_large_pool_is_ordered_quickly() -> None:
    rows = [
        row(i, (i * 7919) % 1000 / 1000, f"doc {i % 50000}", f"g{i // 40}") for i in range(100_000)
    ]
    started = time.perf_counter()
    order = diverse_order(rows)
    assert time.perf_counter() - started < 10
    assert sorted(order) == list(range(100_000))
