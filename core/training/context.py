"""Document context: a sentence read together with its neighbours from the same document.

News, clinical notes and contracts arrive as documents cut into sentences (a CoNLL
``-DOCSTART-`` section, the lines of a JSONL file that share ``meta.doc``), and the
neighbouring sentences carry evidence: the same name spelt out in full one sentence
earlier, a title that says what kind of text this is. A sentence of a group is encoded
with up to ``context_tokens`` sub-tokens of the sentences before it on the left and of
those after it on the right, whole words only, never from another group:

    [CLS] …end of the previous sentences | the sentence | start of the next ones… [SEP]

Only the sentence's own words have a place in ``Window.word_starts``, so only they are
labelled (context sub-tokens keep -100, like every other unread position), read back
and scored. Context never pushes the sentence out of the window: it fills only the room
``max_length`` leaves, and a sentence too long for one window is cut into windows as
before, without context. Sentences without a group, and ``context_tokens=0``, are
encoded exactly as :func:`core.training.data.encode` encodes them.

The sentences of a group are those of the list being encoded, in list order (the
store's examples come in id order, which is the order of the file).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from core.training.data import Window, encode, tokenize_words


def encode_in_context(
    tokenizer: Any,
    word_lists: Sequence[Sequence[str]],
    groups: Sequence[Hashable | None] | None,
    max_length: int,
    overlap: int,
    context_tokens: int,
    chunk: int = 2048,
    read: Sequence[bool] | None = None,
) -> list[Window]:
    """Windows of each document (see :func:`core.training.data.encode`), a document of a
    group read with up to ``context_tokens`` sub-tokens of its neighbours on each side.

    ``groups`` gives each document's group (None: a document of its own); None or
    ``context_tokens=0`` is :func:`encode` itself. ``read`` marks the documents that get
    windows; the others only lend their words as context (default: all get windows).
    """
    if read is not None and len(read) != len(word_lists):
        raise ValueError(f"{len(read)} read flags for {len(word_lists)} documents")
    if not context_tokens or groups is None or all(g is None for g in groups):
        if read is not None:  # documents given only as context give nothing without it
            word_lists = [w if r else [] for w, r in zip(word_lists, read, strict=True)]
        return encode(tokenizer, word_lists, max_length, overlap, chunk)
    if len(groups) != len(word_lists):
        raise ValueError(f"{len(groups)} groups for {len(word_lists)} documents")
    pieces, edges = _word_pieces(tokenizer, word_lists, chunk)
    members: dict[Hashable, list[int]] = {}
    for i, group in enumerate(groups):
        if group is not None and word_lists[i]:
            members.setdefault(group, []).append(i)
    place = {i: (group, k) for group, docs in members.items() for k, i in enumerate(docs)}
    windows: list[Window] = []
    alone: list[int] = []  # encoded without context: no group, no sub-tokens, too long
    for i, words in enumerate(word_lists):
        if not words or (read is not None and not read[i]):
            continue
        n = sum(len(p) for p in pieces[i])
        prefix, suffix = edges[i]
        room = max_length - len(prefix) - len(suffix) - n
        if i not in place or n == 0 or room < 0:
            alone.append(i)
            continue
        group, k = place[i]
        docs = members[group]
        before, after = range(k - 1, -1, -1), range(k + 1, len(docs))  # nearest first
        left = _gather(pieces, docs, before, min(context_tokens, room), from_end=True)
        right = _gather(pieces, docs, after, min(context_tokens, room), from_end=False)
        if len(left) + len(right) > room:  # share the room; a side that needs less gives
            cap = max(room - len(right), room // 2)
            left = _gather(pieces, docs, before, cap, from_end=True)
            right = _gather(pieces, docs, after, room - len(left), from_end=False)
        starts, pos = [], len(prefix) + len(left)
        ids = [*prefix, *left]
        for word in pieces[i]:
            starts.append(pos if word else -1)
            ids.extend(word)
            pos += len(word)
        ids.extend(right)
        ids.extend(suffix)
        windows.append(Window(i, 0, len(words), ids, starts, context=len(left) + len(right)))
    if alone:
        for w in encode(tokenizer, [word_lists[i] for i in alone], max_length, overlap, chunk):
            w.doc = alone[w.doc]
            windows.append(w)
        windows.sort(key=lambda w: w.doc)  # documents in order, as encode gives them
    return windows


def _word_pieces(
    tokenizer: Any, word_lists: Sequence[Sequence[str]], chunk: int
) -> tuple[list[list[list[int]]], list[tuple[list[int], list[int]]]]:
    """Each document's sub-token ids word by word, and the special tokens around them.

    A fast tokenizer given words (``is_split_into_words``) cuts each word on its own, so
    a window put together from these pieces is the encoding of its words in one call.
    """
    pieces: list[list[list[int]]] = [[] for _ in word_lists]
    edges: list[tuple[list[int], list[int]]] = [([], []) for _ in word_lists]
    encoded = (item for part in tokenize_words(tokenizer, word_lists, chunk) for item in part)
    for doc, words, ids, word_ids in encoded:
        by_word: list[list[int]] = [[] for _ in words]
        first = last = None
        for pos, word in enumerate(word_ids):
            if word is not None:
                by_word[word].append(ids[pos])
                first = pos if first is None else first
                last = pos
        if first is None:  # no word has a sub-token: the whole row is special
            edges[doc] = (list(ids), [])
        else:
            edges[doc] = (list(ids[:first]), list(ids[last + 1 :]))
        pieces[doc] = by_word
    return pieces, edges


def _gather(
    pieces: list[list[list[int]]], docs: list[int], order: range, budget: int, from_end: bool
) -> list[int]:
    """Up to ``budget`` sub-tokens of whole words from ``docs[j]`` for ``j`` in ``order``
    (nearest first): the end of the sentences before (``from_end``) or the start of those
    after, in text order."""
    taken: list[list[int]] = []
    used = 0
    for j in order:
        doc = docs[j]
        words = reversed(pieces[doc]) if from_end else pieces[doc]
        for word in words:
            if used + len(word) > budget:
                break
            taken.append(word)
            used += len(word)
        else:
            continue
        break
    if from_end:
        taken.reverse()
    return [i for word in taken for i in word]


def context_note(examples: Sequence[dict], context_tokens: int) -> str | None:
    """What the run log says about context (None where no document has a group)."""
    grouped = [ex.get("group") for ex in examples if ex.get("group") is not None]
    if not grouped:
        return None
    if not context_tokens:
        return (
            f"Context: off (context tokens 0), though {len(grouped)} training sentences come "
            f"in {len(set(grouped))} documents."
        )
    return (
        f"Context: each of {len(grouped)} training sentences of {len(set(grouped))} "
        f"documents is read with up to {context_tokens} sub-tokens of its neighbours on "
        "each side (labels and scores on the sentence only)."
    )
