"""The order documents are served in: most useful first, without serving near-duplicates
or one source group back to back.

Uncertainty sampling on its own picks clusters: the same tweet retweeted ten times, or
ten sentences of one hard news story, all score alike and would be annotated one after
the other for little more than one of them teaches. Two simple rules break that up.
"""

from __future__ import annotations

import heapq
import unicodedata
from collections import deque
from collections.abc import Hashable, Sequence


def normalised(text: str) -> str:
    """The text two near-duplicates share: case folded, punctuation removed, runs of
    whitespace made one space ("Paris, France!" and "paris france" are one text)."""
    return " ".join(text.casefold().translate(_PUNCTUATION).split())


class _Punctuation(dict):
    """``str.translate`` table that deletes every Unicode punctuation character,
    filled in as characters are first seen (the table of all of Unicode is large)."""

    __slots__ = ()

    def __missing__(self, code: int) -> int | None:
        value = None if unicodedata.category(chr(code)).startswith("P") else code
        self[code] = value
        return value


_PUNCTUATION = _Punctuation()


def diverse_order(rows: Sequence[dict], batch: int = 20, per_group: int = 3) -> list[int]:
    """The ids of ``rows`` (``{id, score, text, group}``), most useful first.

    Highest ``score`` first (ties by id), but a document whose normalised text equals
    one already placed goes to the end, and within each consecutive batch of ``batch``
    places at most ``per_group`` come from one group (``group`` None: a document of its
    own); the others of that group wait for the next batch. Where nothing else is left
    to fill a batch, the waiting ones fill it, best first: the cap spreads groups out,
    it never drops a document.
    """
    ranked = sorted(rows, key=lambda row: (-_score(row), row["id"]))
    seen: set[str] = set()
    first, repeated = [], []
    for row in ranked:
        text = normalised(row["text"])
        (repeated if text in seen else first).append(row)
        seen.add(text)
    return _spread_groups(first, batch, per_group) + _spread_groups(repeated, batch, per_group)


def _score(row: dict) -> float:
    score = row["score"]
    return float("-inf") if score is None else float(score)


def _spread_groups(ranked: list[dict], batch: int, per_group: int) -> list[int]:
    """``ranked`` (best first) cut into batches with at most ``per_group`` per group.

    One queue per group, and a heap of each queue's best document: a batch takes the
    best head whose group still has room, so the cost is n log(groups), however many
    documents wait behind a full group.
    """
    batch, per_group = max(1, batch), max(1, per_group)
    queues: dict[Hashable, deque[tuple[int, int]]] = {}
    for position, row in enumerate(ranked):
        group = row["group"] if row.get("group") is not None else ("own", row["id"])
        queues.setdefault(group, deque()).append((position, row["id"]))
    heads = [(queue[0][0], key) for key, queue in queues.items()]
    heapq.heapify(heads)
    order: list[int] = []
    while heads:
        taken: dict[Hashable, int] = {}
        waiting: list[tuple[int, Hashable]] = []
        capped = True
        filled = 0
        while filled < batch and (heads or waiting):
            if not heads:  # only full groups are left: they fill the batch
                capped = False
                for head in waiting:
                    heapq.heappush(heads, head)
                waiting = []
            head = heapq.heappop(heads)
            key = head[1]
            if capped and taken.get(key, 0) >= per_group:
                waiting.append(head)
                continue
            queue = queues[key]
            order.append(queue.popleft()[1])
            taken[key] = taken.get(key, 0) + 1
            filled += 1
            if queue:
                heapq.heappush(heads, (queue[0][0], key))
        for head in waiting:
            heapq.heappush(heads, head)
    return order
