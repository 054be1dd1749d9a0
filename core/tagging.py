"""Character spans <-> word tags (IOB2, BIOES), in small pure functions that come in pairs.

Spans ``(start, end, label)`` in character offsets are the truth; tags exist only for
training, evaluation and the CoNLL format, and are computed against a document's tokens.
A span whose edges do not fall on token boundaries is reported, never silently turned
into ``O``; it may be grown to the enclosing tokens, but only when the caller asks
(``snap=True``). Spanlab does flat NER, so overlapping spans are an error. Those span
checks themselves live in ``core.spancheck``.

Tags are ``"O"`` or ``PREFIX-LABEL``; the prefixes are B/I (IOB1, IOB2) and B/I/E/S (BIOES).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import compress, count
from typing import Any

from core.domain import TAG_SCHEMES
from core.errors import TagSequenceError
from core.spancheck import (
    Span,
    Token,
    align_spans,
    as_span,
    check_aligned,
    check_overlaps,
    snap_span,
    snap_spans,
)

# The span checks live in core.spancheck; tagging is where training and the tests meet
# them beside the tag functions, so they are named here too.
__all__ = [
    "SCHEMES",
    "Span",
    "Token",
    "align_spans",
    "as_span",
    "bioes_to_iob2",
    "check_overlaps",
    "decode_tags",
    "detect_scheme",
    "iob1_to_iob2",
    "iob2_to_bioes",
    "snap_span",
    "snap_spans",
    "spans_to_tags",
    "tags_to_spans",
    "to_iob2",
    "validate_tags",
]

SCHEMES = TAG_SCHEMES
_PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}
_OUTSIDE = ("O", "")
_OUTSIDE_TAG = "O"


# -- spans <-> tags ---------------------------------------------------------------------


def spans_to_tags(
    tokens: Sequence[Sequence[int]],
    spans: Iterable[Sequence[Any] | Mapping[str, Any]],
    scheme: str = "iob2",
    snap: bool = False,
) -> list[str]:
    """One tag per token for ``spans`` in ``scheme`` ("iob2" or "bioes").

    Raises SpanAlignmentError listing the spans off token boundaries (unless ``snap``, which
    grows them to the enclosing tokens), and OverlapError on overlapping spans.
    """
    if scheme not in ("iob2", "bioes"):
        raise ValueError(f"spans_to_tags writes iob2 or bioes, not {scheme!r}")
    spans = [as_span(s) for s in spans]
    if snap:
        spans = snap_spans(tokens, spans)
    else:
        check_aligned(tokens, spans)
    check_overlaps(spans)
    tags = ["O"] * len(tokens)
    index_of_start = {tok[0]: i for i, tok in enumerate(tokens)}
    index_of_end = {tok[1]: i for i, tok in enumerate(tokens)}
    for start, end, label in spans:
        first, last = index_of_start[start], index_of_end[end]
        if scheme == "bioes" and first == last:
            tags[first] = f"S-{label}"
            continue
        tags[first] = f"B-{label}"
        for i in range(first + 1, last + 1):
            tags[i] = f"I-{label}"
        if scheme == "bioes":
            tags[last] = f"E-{label}"
    return tags


def tags_to_spans(tokens: Sequence[Sequence[int]], tags: Sequence[str]) -> list[Span]:
    """Character spans from per-token tags, leniently.

    Reads IOB2 (a stray ``I-X`` starts an entity, as in IOB1) and BIOES (``E-``/``S-`` close
    one), so it decodes model predictions and every scheme Spanlab imports. Malformed tag
    strings raise TagSequenceError.
    """
    if len(tags) != len(tokens):
        raise TagSequenceError(
            f"{len(tags)} tags for {len(tokens)} tokens: give exactly one tag per token.",
            index=min(len(tags), len(tokens)),
        )
    return [
        (tokens[first][0], tokens[last][1], label)
        for first, last, label in decode_tags(tags, scheme=None, strict=False)
    ]


# -- tag sequences ----------------------------------------------------------------------


def _split_tag(tag: str, index: int, prefixes: str) -> tuple[str, str]:
    """``("B", "PER")`` from ``"B-PER"``; TagSequenceError for anything malformed."""
    parsed = _PARSED.get(tag)
    if parsed is None:
        prefix, dash, label = tag[:1], tag[1:2], tag[2:]
        if dash == "-" and label and prefix in "BIES" and not label.isspace():
            parsed = (prefix, label)
            if len(_PARSED) < 10_000:  # tags repeat; a cache keeps parsing off the hot path
                _PARSED[tag] = parsed
    if parsed is None or parsed[0] not in prefixes:
        allowed = "/".join(prefixes)
        raise TagSequenceError(
            f"Bad tag {_shown(tag)} at token {index + 1}: a tag is O or {allowed} followed by '-' "
            "and a label (e.g. B-PER). Fix the tag, or choose the scheme the file uses.",
            index=index,
        )
    return parsed


_PARSED: dict[str, tuple[str, str]] = {}


def decode_tags(
    tags: Sequence[str], scheme: str | None = "iob2", strict: bool = True
) -> list[tuple[int, int, str]]:
    """Entities as token-index triples ``(first, last, label)`` (``last`` inclusive).

    ``scheme`` limits the allowed prefixes (None: any of B/I/E/S). With ``strict`` the
    sequence must be valid in ``scheme`` (TagSequenceError with the index otherwise);
    without it, a stray ``I-X`` starts an entity and ``E-``/``S-`` close one.
    """
    if scheme == "iob2" and strict:
        return _decode_strict_iob2(tags)
    prefixes = "BIES" if scheme is None else _PREFIXES[scheme]
    check = _STRICT_CHECKS[scheme] if strict and scheme is not None else None
    entities: list[tuple[int, int, str]] = []
    first = -1  # start of the open entity, -1 when none
    label = ""
    previous = _OUTSIDE
    previous_index = -1
    # Only the non-O tags are visited (most tags are O); O runs are handled as gaps.
    for i in compress(count(), map(_OUTSIDE_TAG.__ne__, tags)):
        current = _split_tag(tags[i], i, prefixes)
        if i != previous_index + 1 and previous is not _OUTSIDE:  # O tags in between
            if check is not None:
                check(previous, _OUTSIDE, previous_index + 1, tags)
            if first >= 0:
                entities.append((first, previous_index, label))
                first = -1
            previous = _OUTSIDE
        if check is not None:
            check(previous, current, i, tags)
        prefix, name = current
        if first >= 0 and (prefix == "B" or prefix == "S" or name != label):
            entities.append((first, i - 1, label))
            first = -1
        if first < 0:
            first, label = i, name
        if prefix == "E" or prefix == "S":
            entities.append((first, i, label))
            first = -1
        previous, previous_index = current, i
    if previous is not _OUTSIDE:
        if check is not None:
            check(previous, _OUTSIDE, previous_index + 1, tags)
        if first >= 0:
            entities.append((first, previous_index, label))
    return entities


def _decode_strict_iob2(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """``decode_tags`` for strict IOB2, the import's common case, without the general
    machinery: B- opens an entity, I- must continue one of its type."""
    entities: list[tuple[int, int, str]] = []
    first = last = -2  # the open entity's first and last token
    label = ""
    parsed = _PARSED
    for i in compress(count(), map(_OUTSIDE_TAG.__ne__, tags)):
        tag = tags[i]
        prefix, name = parsed.get(tag) or _split_tag(tag, i, "BI")
        if prefix == "I" and last == i - 1 and name == label:
            last = i
            continue
        if prefix != "B" and prefix != "I":
            _split_tag(tag, i, "BI")  # raises: E-/S- are not IOB2
        if prefix == "I":  # not a continuation: say what came before
            before = _split_tag(tags[i - 1], i - 1, "BI") if last == i - 1 else _OUTSIDE
            _check_iob2(before, ("I", name), i, tags)
        if first >= 0:
            entities.append((first, last, label))
        first = last = i
        label = name
    if first >= 0:
        entities.append((first, last, label))
    return entities


def _shown(tag: str, limit: int = 100) -> str:
    """``repr`` of a tag for a message, cut to ``limit`` characters (a file's can be huge)."""
    return repr(tag) if len(tag) <= limit else f"{tag[:limit]!r}… ({len(tag):,} characters)"


def _fail(message: str, index: int, tags: Sequence[str]) -> None:
    shown = tags[index] if index < len(tags) else "the end of the sentence"
    if len(message) > 300:  # it names labels, which a broken file can make huge
        message = message[:300] + "…"
    raise TagSequenceError(
        f"{message} at token {index + 1} ({_shown(shown)}). Fix the tags, choose the scheme the "
        "file really uses, or import leniently (a stray I- then starts an entity).",
        index=index,
    )


def _check_iob2(previous: tuple[str, str], current: tuple[str, str], i: int, tags: Any) -> None:
    if current[0] == "I" and (previous[0] == "O" or previous[1] != current[1]):
        after = "O" if previous[0] == "O" else f"{previous[0]}-{previous[1]}"
        _fail(f"I-{current[1]} follows {after} (IOB2 starts every entity with B-)", i, tags)


def _check_iob1(previous: tuple[str, str], current: tuple[str, str], i: int, tags: Any) -> None:
    if current[0] == "B" and (previous[0] == "O" or previous[1] != current[1]):
        _fail(f"B-{current[1]} does not follow an entity of the same type (IOB1)", i, tags)


def _check_bioes(previous: tuple[str, str], current: tuple[str, str], i: int, tags: Any) -> None:
    open_entity = previous[0] in "BI"
    continues = current[0] in "IE"
    if open_entity and not (continues and current[1] == previous[1]):
        _fail(f"{previous[0]}-{previous[1]} is not closed by I-/E-{previous[1]}", i, tags)
    if continues and not open_entity:
        _fail(f"{current[0]}-{current[1]} does not continue a B-/I-{current[1]}", i, tags)


_STRICT_CHECKS = {"iob1": _check_iob1, "iob2": _check_iob2, "bioes": _check_bioes}


def validate_tags(tags: Sequence[str], scheme: str = "iob2", strict: bool = True) -> None:
    """Raise TagSequenceError (with ``index``) unless ``tags`` is a valid sequence in ``scheme``.

    Without ``strict`` only the tag strings themselves are checked.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    decode_tags(tags, scheme=scheme, strict=strict)


def detect_scheme(tags_iterable: Iterable[str] | Iterable[Sequence[str]]) -> str:
    """Guess "iob1", "iob2" or "bioes" from tags (one sequence, or an iterable of sentences).

    Any E-/S- tag means BIOES. An entity opened by B- (after O, at a sentence start or
    after another type) means IOB2 — IOB1 uses B- only between two entities of one type;
    failing that, an entity opened by I- means IOB1. Otherwise IOB2.
    """
    opened_by = set()
    for sentence in _sentences(tags_iterable):
        previous = "O"
        for tag in sentence:
            prefix = tag[:1]
            if tag[1:2] == "-":
                if prefix in ("E", "S"):
                    return "bioes"
                if prefix in ("B", "I") and (previous == "O" or previous[2:] != tag[2:]):
                    opened_by.add(prefix)
            previous = tag
    return "iob1" if opened_by == {"I"} else "iob2"


def _sentences(tags_iterable: Iterable[str] | Iterable[Sequence[str]]) -> Iterable[Sequence[str]]:
    items = iter(tags_iterable)
    first = next(items, None)
    if first is None:
        return
    if isinstance(first, str):  # one flat sequence
        yield [first, *items]  # type: ignore[list-item]
        return
    yield first
    yield from items  # type: ignore[misc]


# -- conversions ------------------------------------------------------------------------


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 (``I-`` opens an entity unless it touches one of its type) to IOB2.

    Also repairs stray ``I-`` tags in IOB2, so valid IOB2 passes through unchanged.
    """
    out: list[str] = []
    previous = "O"
    for tag in tags:
        if tag[:2] == "I-" and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def bioes_to_iob2(tags: Sequence[str]) -> list[str]:
    """BIOES to IOB2: ``S-`` becomes ``B-``, ``E-`` becomes ``I-``."""
    out: list[str] = []
    for tag in tags:
        prefix = tag[:2]
        if prefix == "S-":
            tag = "B-" + tag[2:]
        elif prefix == "E-":
            tag = "I-" + tag[2:]
        out.append(tag)
    return out


def iob2_to_bioes(tags: Sequence[str]) -> list[str]:
    """IOB2 to BIOES: an entity's last token gets ``E-``, a one-token entity ``S-``."""
    tags = iob1_to_iob2(tags)  # stray I- would otherwise yield a broken BIOES sequence
    out: list[str] = []
    for i, tag in enumerate(tags):
        if tag == "O":
            out.append(tag)
            continue
        following = tags[i + 1] if i + 1 < len(tags) else "O"
        closes = following != "I-" + tag[2:]
        if tag[:2] == "B-":
            out.append(("S-" if closes else "B-") + tag[2:])
        else:
            out.append(("E-" if closes else "I-") + tag[2:])
    return out


def to_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert ``tags`` from ``scheme`` (iob1 / iob2 / bioes) to IOB2."""
    if scheme == "iob1":
        return iob1_to_iob2(tags)
    if scheme == "bioes":
        return bioes_to_iob2(tags)
    if scheme == "iob2":
        return list(tags)
    raise ValueError(f"unknown tag scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
