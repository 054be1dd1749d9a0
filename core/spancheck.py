"""Spans against tokens: alignment, snapping, overlaps and token lists, checked in one place.

Spans are ``(start, end, label)`` character offsets and must start and end on token
edges; Spanlab does flat NER, so two spans never share a character. The store, the
import readers, tagging and the annotation view all check spans through these
functions, so the rules (and the messages that explain a broken one) cannot drift
apart. Every check that fails says which span, why, and what to do.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.errors import OverlapError, SpanAlignmentError, ValidationError

Span = tuple[int, int, str]
Token = tuple[int, int]
#: A span as callers give it: ``(start, end, label[, score])`` or a dict with those keys.
SpanLike = Sequence[Any] | Mapping[str, Any]

_SHOWN = 5  # how many bad spans an error message lists


# -- reading spans and tokens ---------------------------------------------------------------


def as_span(span: SpanLike) -> Span:
    """``(start, end, label)`` from a tuple/list or a store row dict."""
    if isinstance(span, Mapping):
        return (span["start"], span["end"], span["label"])
    start, end, label = span
    return (start, end, label)


def span_fields(span: SpanLike) -> tuple[int, int, str, float | None]:
    """``(start, end, label, score)`` from a span tuple or dict; ValidationError if neither."""
    if isinstance(span, Mapping):
        try:
            return span["start"], span["end"], span["label"], span.get("score")
        except KeyError as error:
            raise ValidationError(f"A span needs start, end and label (missing {error}).") from None
    try:
        start, end, label, *rest = span
    except (TypeError, ValueError):
        raise ValidationError(f"A span is (start, end, label) (got {span!r}).") from None
    return start, end, label, (rest[0] if rest else None)


def check_tokens(text: str, tokens: Iterable[Sequence[int]]) -> list[Token]:
    """Tokens as (start, end) pairs, checked to be in order, non-empty and inside the text."""
    checked = []
    previous_end = 0
    for token in tokens:
        try:
            start, end = token
        except (TypeError, ValueError):
            raise ValidationError(f"A token is a [start, end] pair (got {token!r}).") from None
        if not (isinstance(start, int) and isinstance(end, int)):
            raise ValidationError(f"Token offsets must be whole numbers (got {token!r}).")
        if start < previous_end or end <= start or end > len(text):
            raise ValidationError(
                f"Token {[start, end]} is out of order, empty or past the end of the text "
                f"({len(text)} characters)."
            )
        checked.append((start, end))
        previous_end = end
    return checked


def describe(spans: Sequence[Span]) -> str:
    """``PER [0:5], ORG [10:14] and 3 more``: spans named for a message."""
    shown = ", ".join(f"{label} [{start}:{end}]" for start, end, label in spans[:_SHOWN])
    more = len(spans) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


# -- alignment and snapping ---------------------------------------------------------------


def align_spans(
    tokens: Sequence[Sequence[int]], spans: Iterable[SpanLike]
) -> tuple[list[Span], list[Span]]:
    """Sort spans into ``(aligned, misaligned)``: aligned ones start and end on token edges.

    Training reports and masks the misaligned ones instead of failing; nothing is raised.
    """
    starts = {tok[0] for tok in tokens}
    ends = {tok[1] for tok in tokens}
    aligned: list[Span] = []
    misaligned: list[Span] = []
    for raw in spans:
        span = as_span(raw)
        start, end, _ = span
        if start < end and start in starts and end in ends:
            aligned.append(span)
        else:
            misaligned.append(span)
    return aligned, misaligned


def check_aligned(tokens: Sequence[Sequence[int]], spans: list[Span]) -> None:
    """Raise SpanAlignmentError listing the spans that do not fall on token edges."""
    _, misaligned = align_spans(tokens, spans)
    if misaligned:
        raise SpanAlignmentError(
            f"{len(misaligned)} span(s) do not fall on word boundaries: {describe(misaligned)}. "
            "Move their edges to the start and end of words, or snap them to the enclosing "
            "words (snap=True).",
            spans=misaligned,
        )


def snap_span(tokens: Sequence[Sequence[int]], span: SpanLike) -> Span:
    """Grow a span to the edges of the tokens it touches.

    Raises SpanAlignmentError when it touches no token at all (e.g. only whitespace).
    """
    start, end, label = as_span(span)
    token_ends = [tok[1] for tok in tokens]
    token_starts = [tok[0] for tok in tokens]
    first = bisect_right(token_ends, start)  # first token ending after start
    last = bisect_left(token_starts, end) - 1  # last token starting before end
    if first > last:
        raise SpanAlignmentError(
            f"The span {describe([(start, end, label)])} covers no word, so it cannot be "
            "snapped to one; select at least part of a word.",
            spans=[(start, end, label)],
        )
    return (tokens[first][0], tokens[last][1], label)


def snap_spans(tokens: Sequence[Sequence[int]], spans: Iterable[SpanLike]) -> list[Span]:
    """Every span grown to its enclosing tokens (see ``snap_span``)."""
    return [snap_span(tokens, span) for span in spans]


def snapped_or_none(tokens: Sequence[Sequence[int]], span: SpanLike) -> Span | None:
    """``snap_span``, or None for a span that covers no word."""
    try:
        return snap_span(tokens, span)
    except SpanAlignmentError:
        return None


def check_span(
    tokens: Sequence[Sequence[int]], start: Any, end: Any, label: str, snap: bool = False
) -> tuple[int, int]:
    """One span's offsets, checked to lie on token edges; with ``snap``, grown to them.

    ValidationError for offsets that are not whole numbers with 0 <= start < end;
    SpanAlignmentError for a span that cuts a word (naming the enclosing words).
    """
    if type(start) is not int or type(end) is not int or start < 0 or end <= start:
        raise ValidationError(
            f"Span {(start, end, label)} has bad offsets: they must be whole numbers with "
            "0 <= start < end."
        )
    span = (start, end, label)
    if snap:
        return snap_span(tokens, span)[:2]
    if align_spans(tokens, [span])[1]:
        snapped = snapped_or_none(tokens, span)
        hint = f"the enclosing words are {snapped[:2]}" if snapped else "it covers no word"
        raise SpanAlignmentError(
            f"Span {span} does not start and end on word boundaries ({hint}). Select "
            "whole words, or snap the span to them.",
            spans=[span],
        )
    return start, end


# -- overlaps -------------------------------------------------------------------------------


def first_overlap(spans: Iterable[SpanLike]) -> tuple[Span, Span] | None:
    """The first two spans (in start order) that share a character, or None."""
    ordered = sorted(as_span(s) for s in spans)
    for before, after in itertools.pairwise(ordered):
        if after[0] < before[1]:
            return before, after
    return None


def check_overlaps(spans: Iterable[SpanLike]) -> None:
    """Raise OverlapError when two spans share a character (Spanlab does flat NER)."""
    pair = first_overlap(spans)
    if pair is not None:
        raise OverlapError(
            f"The spans {describe(list(pair))} overlap. Spanlab does flat NER "
            "(one label per word): keep one of them or shorten one."
        )


def check_no_overlap(span: Span, others: Iterable[Mapping[str, Any]]) -> None:
    """Raise OverlapError when ``span`` overlaps one of a document's stored span rows."""
    start, end, label = span
    for other in others:
        if start < other["end"] and other["start"] < end:
            raise OverlapError(
                f"Span {(start, end, label)} overlaps the {other['origin']} span "
                f"{(other['start'], other['end'], other['label'])}; a word can have only one "
                "label. Remove that span first."
            )


def check_document_spans(tokens: Sequence[Sequence[int]], spans: Iterable[SpanLike]) -> list[Span]:
    """A new document's spans as sorted (start, end, label), checked against its tokens.

    The rules of ``check_span`` and ``check_overlaps`` in plain loops and set lookups,
    because an import runs this once per sentence; those functions explain what fails.
    """
    starts = {t[0] for t in tokens}
    ends = {t[1] for t in tokens}
    checked = []
    for span in spans:
        if type(span) is tuple and len(span) == 3:
            start, end, label = span
        else:
            start, end, label, _ = span_fields(span)
        if start not in starts or end not in ends or end <= start:
            check_span(tokens, start, end, label)  # raises with the details
        checked.append((start, end, label))
    if len(checked) > 1:
        checked.sort()
        if any(b[0] < a[1] for a, b in itertools.pairwise(checked)):
            check_overlaps(checked)  # raises with the details
    return checked


# -- selections (the annotation view) -------------------------------------------------------


def snap_range(tokens: Sequence[Sequence[int]], start: int, end: int) -> tuple[int, int] | None:
    """Grow ``[start, end)`` to the edges of the tokens it touches; None if it touches none.

    ``tokens`` are sorted ``(start, end)`` offsets. A selection that only covers spaces
    between tokens touches none. Called on every mouse move while a person drags, so the
    token edges are indexed once per token list.
    """
    if end <= start or not tokens:
        return None
    index = _TokenIndex.of(tokens)
    first = bisect_right(index.ends, start)  # first token ending after `start`
    if first >= len(tokens) or tokens[first][0] >= end:
        return None
    last = bisect_left(index.starts, end) - 1  # last token starting before `end`
    return int(tokens[first][0]), int(tokens[last][1])


def token_at(tokens: Sequence[Sequence[int]], pos: int) -> tuple[int, int] | None:
    """The token that holds character ``pos``, or None (whitespace)."""
    index = _TokenIndex.of(tokens)
    i = bisect_right(index.starts, pos) - 1
    if i >= 0 and tokens[i][0] <= pos < tokens[i][1]:
        return int(tokens[i][0]), int(tokens[i][1])
    return None


class _TokenIndex:
    """Starts and ends of one token list as flat lists, kept for the last list asked about.

    The list itself is held, not its ``id``: a freed list's id can be handed to the next
    document's tokens.
    """

    _cache: tuple[Sequence[Sequence[int]], _TokenIndex] | None = None

    def __init__(self, tokens: Sequence[Sequence[int]]) -> None:
        self.starts = [int(t[0]) for t in tokens]
        self.ends = [int(t[1]) for t in tokens]

    @classmethod
    def of(cls, tokens: Sequence[Sequence[int]]) -> _TokenIndex:
        cached = cls._cache
        if cached is not None and cached[0] is tokens and len(cached[1].starts) == len(tokens):
            return cached[1]
        index = cls(tokens)
        cls._cache = (tokens, index)
        return index
