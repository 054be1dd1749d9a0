"""Likely annotation mistakes in one document, from a model that never saw it.

A model's tag probabilities for each word (IOB2 tags) are set against the person's
spans; every disagreement is a suspect of one kind:

- ``wrong_type``: the model finds the annotated span exactly, with another label;
- ``missed``: the model sees no entity at all where a span is annotated;
- ``spurious``: the model finds an entity where nothing is annotated;
- ``boundary``: the model's entity overlaps the annotated one with other edges.

Its ``margin`` is how much the model prefers its reading to the person's: over the
words the suspect covers, the mean of (probability of the model's tag − probability of
the annotated tag). The model's tag is each word's most likely one, so the margin is
between 0 and 1: near 1 the model is sure and the annotation unlikely; near 0 it barely
prefers its own reading.

A margin alone over-ranks what the model gets wrong most often: a model that misses
half the entities of a hard corpus is confident about hundreds of ``missed`` suspects
that are its own failures, and they bury the rare, telling ones (the model finds the
entity and reads another type). So the ``score`` a review ranks by weighs each margin
by how rare its kind of disagreement is across the reviewed spans
(:func:`weigh_by_kind`): a disagreement the model seldom makes is better evidence
against the annotation than one it makes all the time. Without a review's counts (one
document) the score is the margin.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace

from core.tagging import spans_to_tags, tags_to_spans

#: The kinds of suspect, in the order the list explains them.
KINDS = ("wrong_type", "missed", "spurious", "boundary")
#: What a person reads for each kind: what the annotation may have got wrong.
KIND_NAMES = {
    "wrong_type": "wrong type",
    "missed": "no entity?",  # the model sees nothing where a span is annotated
    "spurious": "unannotated?",  # the model sees an entity nobody annotated
    "boundary": "boundary",
}

Tokens = Sequence[Sequence[int]]


@dataclass(frozen=True)
class Suspect:
    """One likely mistake: the annotated span (or, for ``spurious``, the model's) and
    what the model suggests instead. ``label`` is None where nothing is annotated,
    ``suggested`` None where the model sees no entity."""

    doc_id: int
    kind: str
    start: int
    end: int
    label: str | None
    suggested: str | None
    suggested_start: int | None
    suggested_end: int | None
    score: float
    fold: int = 0
    margin: float | None = None  # the model's margin; ``score`` is it weighed by kind

    def __post_init__(self) -> None:
        if self.margin is None:
            object.__setattr__(self, "margin", self.score)

    def key(self) -> str:
        """What identifies the suspect across reviews (see :func:`suspect_key`)."""
        return suspect_key(asdict(self))

    def to_dict(self, text: str) -> dict:
        """The suspect as JSON-ready data, with the document's whole ``text``."""
        data = asdict(self)
        data["score"] = round(self.score, 4)
        data["margin"] = round(float(self.margin or 0.0), 4)
        return {
            "doc_id": self.doc_id,
            "text": text,
            **data,
            "span_text": text[self.start : self.end],
        }


def suspect_key(suspect: Mapping) -> str:
    """A suspect's identity as text: the document, the kind, the annotated span and the
    suggestion. A suspect marked reviewed stays hidden while all of these stay the same."""
    fields = ("kind", "start", "end", "label", "suggested", "suggested_start", "suggested_end")
    return json.dumps([suspect[name] for name in fields], ensure_ascii=False)


def find_suspects(
    doc_id: int,
    tokens: Tokens,
    spans: Iterable[Sequence],
    tags: Sequence[str],
    probs: Sequence[Sequence[float]],
    fold: int = 0,
) -> list[Suspect]:
    """The suspects of one document.

    ``spans`` are the person's ``(start, end, label)`` (on token boundaries, as stored);
    ``probs[w][t]`` is the model's probability of tag ``tags[t]`` for word ``w``.
    """
    gold_spans = [(int(s), int(e), str(label)) for s, e, label, *_ in spans]
    gold_tags = spans_to_tags(tokens, gold_spans)
    best = [max(range(len(tags)), key=row.__getitem__) for row in probs]
    model_tags = [tags[t] for t in best]
    index = {tag: t for t, tag in enumerate(tags)}
    model_spans = tags_to_spans(tokens, model_tags)
    first_word = {int(tok[0]): w for w, tok in enumerate(tokens)}
    last_word = {int(tok[1]): w for w, tok in enumerate(tokens)}

    def margin(first: int, last: int) -> float:
        gaps = [
            probs[w][best[w]] - (probs[w][index[gold_tags[w]]] if gold_tags[w] in index else 0.0)
            for w in range(first, last + 1)
        ]
        return sum(gaps) / len(gaps)

    def make(kind: str, gold: tuple | None, model: tuple | None) -> Suspect:
        first = min(first_word[span[0]] for span in (gold, model) if span)
        last = max(last_word[span[1]] for span in (gold, model) if span)
        where = gold or model
        assert where is not None
        return Suspect(
            doc_id=doc_id,
            kind=kind,
            start=where[0],
            end=where[1],
            label=gold[2] if gold else None,
            suggested=model[2] if model else None,
            suggested_start=model[0] if model else None,
            suggested_end=model[1] if model else None,
            score=margin(first, last),
            fold=fold,
        )

    found: list[Suspect] = []
    boundary: dict[tuple, Suspect] = {}
    for gold in gold_spans:
        overlapping = [m for m in model_spans if m[0] < gold[1] and gold[0] < m[1]]
        exact = [m for m in overlapping if m[:2] == gold[:2]]
        if exact:
            if exact[0][2] != gold[2]:
                found.append(make("wrong_type", gold, exact[0]))
        elif not overlapping:
            found.append(make("missed", gold, None))
        else:
            model = max(overlapping, key=lambda m: min(m[1], gold[1]) - max(m[0], gold[0]))
            suspect = make("boundary", gold, model)
            # A model entity across two annotated spans is one suggestion, not two.
            if model not in boundary or boundary[model].score < suspect.score:
                boundary[model] = suspect
    found.extend(boundary.values())
    for model in model_spans:
        if not any(g[0] < model[1] and model[0] < g[1] for g in gold_spans):
            found.append(make("spurious", None, model))
    return rank(found)


def kind_rates(suspects: Iterable[Suspect], spans: int) -> dict[str, float]:
    """How often each kind of disagreement occurs: suspects of the kind per reviewed
    annotated span (``spans``; spurious suspects are counted against it too)."""
    counts: dict[str, int] = {}
    for suspect in suspects:
        counts[suspect.kind] = counts.get(suspect.kind, 0) + 1
    return {kind: n / max(spans, 1) for kind, n in counts.items()}


def weigh_by_kind(suspects: Sequence[Suspect], spans: int) -> list[Suspect]:
    """Each suspect with ``score`` = margin × (rarest kind's rate / its kind's rate).

    If a wrong annotation is almost always disagreed with, the odds that a disagreement
    of kind k points at a wrong annotation grow as 1 / rate(k): the rarer the model
    makes that disagreement, the more it says. Scaled by the rarest kind's rate so the
    score stays between 0 and 1; ranked largest first."""
    rates = kind_rates(suspects, spans)
    if not rates:
        return []
    rarest = min(rates.values())
    return rank(replace(s, score=float(s.margin or 0.0) * rarest / rates[s.kind]) for s in suspects)


def rank(suspects: Iterable[Suspect]) -> list[Suspect]:
    """Most suspicious first (largest margin); ties in document and text order."""
    return sorted(suspects, key=lambda s: (-s.score, s.doc_id, s.start, s.kind))


def suspect_state(suspect: Mapping | Suspect, human_spans: Iterable[Mapping]) -> str:
    """Where a suspect stands against a document's current human spans: ``open`` (the
    annotation is as it was reviewed), ``accepted`` (it reads as the model suggested),
    or ``changed`` (edited some other way since)."""
    s = asdict(suspect) if isinstance(suspect, Suspect) else dict(suspect)
    now = {(int(r["start"]), int(r["end"]), r["label"]) for r in human_spans}
    annotated = {(s["start"], s["end"], s["label"])} if s["label"] is not None else set()
    suggested = (
        {(s["suggested_start"], s["suggested_end"], s["suggested"])}
        if s["suggested"] is not None
        else set()
    )
    low = min(s["start"], s["suggested_start"] if s["suggested_start"] is not None else s["start"])
    high = max(s["end"], s["suggested_end"] if s["suggested_end"] is not None else s["end"])
    here = {span for span in now if span[0] < high and low < span[1]}
    if here == annotated:
        return "open"
    if here == suggested:
        return "accepted"
    return "changed"


def snippet(text: str, suspect: Suspect, chars: int = 24) -> str:
    """The suspect's words in brackets, with ``chars`` of text around them on one line;
    the model's span follows an arrow where it has other edges."""
    left = " ".join(text[max(0, suspect.start - chars) : suspect.start].split())
    right = " ".join(text[suspect.end : suspect.end + chars].split())
    shown = f"{left} [{text[suspect.start : suspect.end]}] {right}".strip()
    model = (suspect.suggested_start, suspect.suggested_end)
    if suspect.suggested_start is not None and model != (suspect.start, suspect.end):
        shown += f"  → [{text[model[0] : model[1]]}]"
    return shown
