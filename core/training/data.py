"""From annotated documents to tensors: word tags, sub-word alignment, windows, batches.

Spans (character offsets) are the truth. Each document's spans become word-level IOB2
tags over its stored tokens; the fast tokenizer splits each word into sub-tokens and
``word_ids()`` says which word each sub-token came from. The first sub-token of a word
carries its tag; the other sub-tokens and the special tokens get -100 (ignored by the
loss). A document longer than ``max_length`` sub-tokens becomes several overlapping
windows that start and end on word boundaries, so nothing is cut away.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from core.errors import OverlapError, TrainingError
from core.tagging import align_spans, as_span, spans_to_tags

IGNORE = -100  # label of sub-tokens the loss skips (PyTorch's CrossEntropyLoss default)
Span = tuple[int, int, str]


@dataclass(slots=True)
class Window:
    """Sub-tokens of the words ``[first_word, end_word)`` of one document."""

    doc: int  # index of the document in the list that was encoded
    first_word: int
    end_word: int
    input_ids: list[int]
    word_starts: list[int]  # per word of the window: position of its first sub-token, or -1
    labels: list[int] | None = None
    context: int = 0  # sub-tokens of neighbouring sentences around the words (never labelled)

    def __len__(self) -> int:
        return len(self.input_ids)


# -- labels and tags -----------------------------------------------------------------------


def entity_labels(*splits: Sequence[dict]) -> list[str]:
    """The entity types annotated anywhere in the given examples, sorted."""
    return sorted({as_span(s)[2] for examples in splits for ex in examples for s in ex["spans"]})


def tag_names(labels: Sequence[str]) -> list[str]:
    """IOB2 tags for the entity types: ``O`` then ``B-X``, ``I-X`` per type."""
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def word_tags(example: dict) -> tuple[list[str | None], list[Span]]:
    """Word-level IOB2 tags of one document, and its spans that miss token boundaries.

    Words under a misaligned span get ``None`` (masked out of the loss and of scoring),
    never a silent ``O``.
    """
    tokens = example["tokens"]
    spans = [as_span(s) for s in example["spans"]]
    aligned, misaligned = align_spans(tokens, spans)
    try:
        tags: list[str | None] = list(spans_to_tags(tokens, aligned))
    except OverlapError as exc:
        raise TrainingError(
            f"Document {example.get('id')} has overlapping spans ({exc}); Spanlab trains "
            "flat NER (one label per word). Fix the annotation of that document."
        ) from exc
    for start, end, _ in misaligned:
        for i, (t_start, t_end) in enumerate(tokens):
            if t_start < end and start < t_end:
                tags[i] = None
    return tags, misaligned


def words_of(example: dict) -> list[str]:
    text = example["text"]
    return [text[start:end] for start, end in example["tokens"]]


# -- sub-word encoding and windows -----------------------------------------------------------


def encode(
    tokenizer: Any,
    word_lists: Sequence[Sequence[str]],
    max_length: int,
    overlap: int,
    chunk: int = 2048,
) -> list[Window]:
    """Windows of sub-tokens for each document (documents with no words give none)."""
    windows: list[Window] = []
    for encoded in tokenize_words(tokenizer, word_lists, chunk):
        long_docs = []
        for doc, words, ids, word_ids in encoded:
            if len(ids) <= max_length:
                starts = _word_starts(word_ids, len(words))
                windows.append(Window(doc, 0, len(words), ids, starts))
            else:
                long_docs.append((doc, words, word_ids))
        for doc, words, word_ids in long_docs:  # after the chunk's short ones, in order
            windows.extend(_windows_of(tokenizer, doc, words, word_ids, max_length, overlap))
    return windows


def tokenize_words(
    tokenizer: Any, word_lists: Sequence[Sequence[str]], chunk: int = 2048
) -> Iterator[list[tuple[int, list[str], list[int], list[int | None]]]]:
    """The documents that have words, ``chunk`` at a time (one fast-tokenizer call each,
    without truncation): ``(document index, words, sub-token ids, word id of each
    sub-token)`` for each, in order."""
    for offset in range(0, len(word_lists), chunk):
        part = [list(w) for w in word_lists[offset : offset + chunk]]
        index = [i for i, w in enumerate(part) if w]
        if not index:
            continue
        enc = tokenizer(
            [part[i] for i in index],
            is_split_into_words=True,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        yield [
            (offset + i, part[i], enc["input_ids"][row], enc.word_ids(row))
            for row, i in enumerate(index)
        ]


def _word_starts(word_ids: Sequence[int | None], n_words: int) -> list[int]:
    """Position of each word's first sub-token (-1 for a word with none)."""
    starts = [-1] * n_words
    previous = None
    for pos, word in enumerate(word_ids):
        if word is not None and word != previous:
            starts[word] = pos
        previous = word
    return starts


def plan_windows(counts: Sequence[int], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Word ranges whose sub-token counts fit ``budget``; neighbours share ~``overlap``.

    A single word longer than the budget gets a window of its own (its tail is cut, its
    first sub-token, the one that carries the tag, is kept).
    """
    ranges: list[tuple[int, int]] = []
    n = len(counts)
    start = 0
    while start < n:
        end, used = start, 0
        while end < n and (end == start or used + counts[end] <= budget):
            used += counts[end]
            end += 1
        ranges.append((start, end))
        if end >= n:
            break
        # Step back from the end while the shared part stays within the overlap, but
        # always move forward by at least one word.
        nxt, shared = end, 0
        while nxt - 1 > start and shared + counts[nxt - 1] <= overlap:
            nxt -= 1
            shared += counts[nxt]
        start = nxt
    return ranges


def _windows_of(
    tokenizer: Any,
    doc: int,
    words: list[str],
    word_ids: Sequence[int | None],
    max_length: int,
    overlap: int,
) -> list[Window]:
    counts = [0] * len(words)
    for word in word_ids:
        if word is not None:
            counts[word] += 1
    specials = len(word_ids) - sum(counts)
    ranges = plan_windows(counts, max_length - specials, overlap)
    enc = tokenizer(
        [words[a:b] for a, b in ranges],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return [
        Window(doc, a, b, enc["input_ids"][k], _word_starts(enc.word_ids(k), b - a))
        for k, (a, b) in enumerate(ranges)
    ]


def add_labels(
    windows: list[Window], doc_tags: Sequence[Sequence[str | None]], tag2id: dict
) -> None:
    """Label the first sub-token of each word with its tag id; the rest stay -100."""
    for w in windows:
        labels = [IGNORE] * len(w.input_ids)
        tags = doc_tags[w.doc]
        for k, pos in enumerate(w.word_starts):
            tag = tags[w.first_word + k]
            if pos >= 0 and tag is not None:
                labels[pos] = tag2id[tag]
        w.labels = labels


def best_window_per_word(windows: Sequence[Window], n_words: int) -> list[tuple[int, int]]:
    """For each word of one document: (window index, position) of its first sub-token.

    Where windows overlap, the window in which the word sits farthest from a cut edge
    wins, so each prediction sees the most context. Words without sub-tokens get (-1, -1).
    """
    best = [(-1, -1)] * n_words
    score = [-1.0] * n_words
    for k, w in enumerate(windows):
        for j, pos in enumerate(w.word_starts):
            if pos < 0:
                continue
            word = w.first_word + j
            left = word - w.first_word if w.first_word > 0 else math.inf
            right = w.end_word - 1 - word if w.end_word < n_words else math.inf
            s = min(left, right)
            if s > score[word]:
                score[word], best[word] = s, (k, pos)
    return best


# -- batches ---------------------------------------------------------------------------------


class LengthGroupedBatches:
    """Batches of windows of similar length, reshuffled every epoch.

    Windows are shuffled, cut into mega-batches of ``group`` batches, each sorted by
    length and sliced into batches; batch order is shuffled again. Padding stays small
    while every epoch still sees new batch mixes. Deterministic per (seed, epoch), so
    every process of a data-parallel run draws the same batches.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, seed: int = 0, group: int = 64
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group = group
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def count(self, epoch: int) -> int:
        """How many batches an epoch has (the same in every epoch)."""
        return len(self)

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        size = self.batch_size * self.group
        batches: list[list[int]] = []
        for start in range(0, len(order), size):
            mega = sorted(order[start : start + size], key=self.lengths.__getitem__, reverse=True)
            batches.extend(
                mega[i : i + self.batch_size] for i in range(0, len(mega), self.batch_size)
            )
        rng.shuffle(batches)
        return iter(batches)


class TokenBudgetBatches:
    """Batches filled up to ``budget`` sub-tokens each, grouped by length, reshuffled
    every epoch: many short sentences in one step, few long ones.

    A batch's padded size (rows x its longest window) stays within the budget, so its
    real sub-tokens do too, and memory is bounded whatever the lengths; a window longer
    than the budget is a batch of its own. Windows are shuffled, cut into chunks of about
    ``group`` budgets, each chunk sorted longest first and filled greedily, and the batch
    order shuffled again. The number of batches can differ from one epoch to the next
    (:meth:`count` gives it ahead of time, for the learning-rate schedule). Deterministic
    per (seed, epoch).
    """

    def __init__(self, lengths: Sequence[int], budget: int, seed: int = 0, group: int = 64) -> None:
        self.lengths = list(lengths)
        self.budget = budget
        self.seed = seed
        self.group = group
        self.epoch = 0
        self._cached: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def count(self, epoch: int) -> int:
        """How many batches epoch ``epoch`` has."""
        return len(self.batches(epoch))

    def __len__(self) -> int:
        return self.count(self.epoch)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches(self.epoch))

    def batches(self, epoch: int) -> list[list[int]]:
        """The batches (lists of window indices) of epoch ``epoch``."""
        if self._cached is not None and self._cached[0] == epoch:
            return self._cached[1]
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        batches: list[list[int]] = []
        chunk: list[int] = []
        chunk_tokens = 0
        for i in order:
            chunk.append(i)
            chunk_tokens += self.lengths[i]
            if chunk_tokens >= self.group * self.budget:
                batches.extend(self._fill(chunk))
                chunk, chunk_tokens = [], 0
        if chunk:
            batches.extend(self._fill(chunk))
        rng.shuffle(batches)
        self._cached = (epoch, batches)
        return batches

    def _fill(self, chunk: list[int]) -> list[list[int]]:
        """Greedy batches of one chunk, longest first (the first window sets the padding)."""
        chunk = sorted(chunk, key=self.lengths.__getitem__, reverse=True)
        batches: list[list[int]] = []
        batch: list[int] = []
        for i in chunk:
            if batch and (len(batch) + 1) * self.lengths[batch[0]] > self.budget:
                batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            batches.append(batch)
        return batches


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches for inference: longest first, so padding is minimal and memory peaks early."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(windows: Sequence[Window], pad_id: int, pad_to_multiple: int = 1) -> dict:
    """Pad a batch to its own longest window (dynamic padding)."""
    longest = max(len(w) for w in windows)
    longest = -(-longest // pad_to_multiple) * pad_to_multiple
    ids, mask, labels = [], [], []
    for w in windows:
        pad = longest - len(w)
        ids.append(w.input_ids + [pad_id] * pad)
        mask.append([1] * len(w) + [0] * pad)
        if w.labels is not None:
            labels.append(w.labels + [IGNORE] * pad)
    batch = {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "attention_mask": torch.tensor(mask, dtype=torch.long),
    }
    if labels:
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
    return batch


def hold_out(examples: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Split off a seeded ``fraction`` of ``examples`` as a dev set: (train, dev).

    Where documents come in groups (the sentences of one source document), whole groups
    are held out, so a dev sentence is read with its own neighbours as context and no
    training sentence shares a document with it.
    """
    if len(examples) < 2:
        return examples, []
    if any(ex.get("group") is not None for ex in examples):
        return _hold_out_groups(examples, fraction, seed)
    n_dev = max(1, round(len(examples) * fraction))
    picked = set(random.Random(seed).sample(range(len(examples)), n_dev))
    train = [ex for i, ex in enumerate(examples) if i not in picked]
    dev = [ex for i, ex in enumerate(examples) if i in picked]
    return train, dev


def _hold_out_groups(
    examples: list[dict], fraction: float, seed: int
) -> tuple[list[dict], list[dict]]:
    """:func:`hold_out` by group (a document without one is a group of its own)."""
    keys = [("group", ex["group"]) if ex.get("group") is not None else ("id", i)
            for i, ex in enumerate(examples)]  # fmt: skip
    units = list(dict.fromkeys(keys))
    if len(units) < 2:
        return examples, []
    rng = random.Random(seed)
    rng.shuffle(units)
    wanted = max(1, round(len(examples) * fraction))
    sizes: dict = {}
    for key in keys:
        sizes[key] = sizes.get(key, 0) + 1
    picked, held = set(), 0
    for unit in units[:-1]:  # at least one unit stays for training
        if held >= wanted:
            break
        picked.add(unit)
        held += sizes[unit]
    train = [ex for ex, key in zip(examples, keys, strict=True) if key not in picked]
    dev = [ex for ex, key in zip(examples, keys, strict=True) if key in picked]
    return train, dev
