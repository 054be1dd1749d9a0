"""JSON lines, read and written: spaCy / Prodigy (``spans``) and doccano (``label``).

A line is one document. Its spans are checked against its tokens (given, or from the
tokenizer) with ``core.spancheck``, and every problem names the line.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from core.domain import MAX_GROUP_CHARS, SPLITS, STATUSES
from core.errors import ExportError, ImportFormatError
from core.formats import common
from core.formats.common import (
    ASCII_SPACE,
    Job,
    numbered_lines,
    quote,
    source_name,
    text_file,
    too_long,
    too_long_error,
)
from core.spancheck import align_spans, first_overlap, snapped_or_none
from core.tokenize import DEFAULT_TOKENIZER, tokenize

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPAN_KEYS = ("start", "end", "label")
_DOCCANO_KEYS = ("start_offset", "end_offset", "label")


def read_jsonl(
    path: str | Path,
    split: str | None = None,
    snap: bool = False,
    tokenizer: str = DEFAULT_TOKENIZER,
) -> Iterator[dict]:
    """Documents from JSON lines: ``{"text", "spans": [{"start", "end", "label"}]}`` (spaCy,
    Prodigy) or ``{"text", "label": [[start, end, label]]}`` (doccano); ``entities``
    (doccano's newer objects, spaCy's old triples) is read too.

    Optional keys: ``tokens`` (Prodigy token dicts or ``[start, end]`` pairs), ``split``,
    ``meta`` (an object). A document with a spans/label key is "annotated", else "new".
    Lines without tokens are split by ``tokenizer`` (the importing project's).
    Lines with the same ``meta.doc`` (or top-level ``doc`` / ``document``) are the
    sentences of one source document: they form a group, in the order of the file, and
    training reads their neighbours as context. Export writes the group as ``meta.doc``.
    """
    return jsonl_documents(Job(Path(path), split=split, snap=snap, tokenizer=tokenizer))


def jsonl_documents(job: Job) -> Iterator[dict]:
    source = source_name(job.path)
    limit = common.MAX_JSONL_LINE_CHARS
    with text_file(job.path) as handle:
        job.total = os.fstat(handle.fileno()).st_size
        for number, line in numbered_lines(handle, limit):
            if len(line) > limit and too_long(line, limit):
                raise too_long_error(job.path, number, "this line", limit, "one JSON line")
            if not line.strip():
                continue
            doc = _JsonLine(job, number).document(line)
            doc["source"] = source
            job.seen(number, handle, len(doc.get("spans", ())))
            yield doc
    job.finish("only blank lines")


class _NonFinite(ValueError):
    """NaN, Infinity or a number too large for a float: not JSON, and not written back."""


def _non_finite(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400
        raise _NonFinite(text)
    return value


# Strict JSON: Python's json module reads NaN and Infinity, which other readers refuse.
_DECODER = json.JSONDecoder(parse_constant=_non_finite, parse_float=_finite_float)
_STORED_KEYS = ("text", "meta", "spans", "label", "entities")  # what a line keeps


class _JsonLine:
    """Checks one JSONL line and makes a document of it; errors name the line."""

    def __init__(self, job: Job, number: int) -> None:
        self.job = job
        self.number = number

    def fail(self, message: str, hint: str) -> ImportFormatError:
        return ImportFormatError(self.job.path, self.number, message, hint)

    def document(self, line: str) -> dict:
        obj = self._parse(line)
        self._check_values(obj, line)
        text = obj.get("text")
        if not isinstance(text, str):
            missing = "text" not in obj
            raise self.fail(
                'missing "text"' if missing else f'"text" is a {type(text).__name__}',
                'give each line a "text" string',
            )
        if not text.strip():
            raise self.fail('"text" is empty', "remove the line, or give it some text")
        if len(text) > common.MAX_DOCUMENT_CHARS:
            raise self.fail(
                f'"text" is longer than {common.MAX_DOCUMENT_CHARS:,} characters, the most one '
                "document may hold",
                "split it into shorter documents",
            )
        tokens = self._tokens(obj.get("tokens"), text)
        raw_spans = self._raw_spans(obj)
        doc: dict[str, Any] = {"text": text, "tokens": tokens, "status": "new"}
        if raw_spans is not None:
            doc["spans"] = self._spans(raw_spans, text, tokens)
            doc["status"] = "annotated"
        if "status" in obj:  # an explicit status (e.g. from Spanlab's own export) wins
            doc["status"] = self._status(obj["status"])
        doc["split"] = self.job.split or self._split(obj.get("split"))
        meta = obj.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise self.fail('"meta" is not an object', 'make "meta" a JSON object, or drop it')
        if meta:
            doc["meta"] = meta
        group = self._group(obj, meta)
        if group is not None:
            doc["group"] = group
        return doc

    def _group(self, obj: dict, meta: dict | None) -> str | None:
        """The source document this line is a sentence of: ``meta.doc``, else a top-level
        ``doc`` or ``document`` key (a string or a whole number); None without one."""
        if meta and "doc" in meta:
            key, value = "meta.doc", meta["doc"]
        elif "doc" in obj or "document" in obj:
            key = "doc" if "doc" in obj else "document"
            value = obj[key]
        else:
            return None
        if type(value) is int:
            return str(value)
        if (
            isinstance(value, str)
            and value.strip()
            and len(value) <= MAX_GROUP_CHARS
            and not _SURROGATE.search(value)  # SQLite could not store it
        ):
            return value
        raise self.fail(
            f'"{key}" is {quote(value)}: not the name of a document',
            f'give "{key}" as a string of at most {MAX_GROUP_CHARS} characters or a whole '
            "number (lines with the same one are sentences of one document), or drop it",
        )

    def _parse(self, line: str) -> dict:
        hint = 'each line must be one JSON object, e.g. {"text": "..."}'
        try:
            obj = _DECODER.decode(line)
        except _NonFinite as error:
            raise self.fail(
                f"{quote(error.args[0])} is not a number JSON can hold (no NaN or Infinity)",
                'write null, or the value as a string such as "NaN"',
            ) from None
        except json.JSONDecodeError as error:
            raise self.fail(f"bad JSON: {error.msg} (column {error.colno})", hint) from None
        except RecursionError:
            raise self.fail(
                "the JSON is nested too deeply to read",
                f"nest it at most {common.MAX_JSON_DEPTH} levels deep",
            ) from None
        if not isinstance(obj, dict):
            raise self.fail(f"a JSON {type(obj).__name__} where an object was expected", hint)
        return obj

    def _check_values(self, obj: dict, line: str) -> None:
        """Refuse what the store could not hold or write back: a lone surrogate (a
        ``\\ud800`` escape without its other half) and meta nested too deeply.

        Cheap searches of the raw line decide whether the values need walking at all.
        """
        surrogates = "\\u" in line and _SURROGATE_ESCAPE.search(line) is not None
        if not surrogates and line.count("[") + line.count("{") <= common.MAX_JSON_DEPTH:
            return
        for key in _STORED_KEYS:
            if key in obj:
                self._walk(key, obj[key], surrogates)

    def _walk(self, key: str, value: Any, surrogates: bool) -> None:
        stack = [(value, 1)]  # without recursion: the value may be nested deeply
        while stack:
            item, depth = stack.pop()
            if depth > common.MAX_JSON_DEPTH:
                raise self.fail(
                    f'"{key}" is nested more than {common.MAX_JSON_DEPTH} levels deep',
                    "flatten it: Spanlab stores it and writes it back as JSON",
                )
            if isinstance(item, str):
                bad = _SURROGATE.search(item) if surrogates else None
                if bad:
                    raise self.fail(
                        f'"{key}" holds a lone surrogate \\u{ord(bad.group()):04x} (half of a '
                        "UTF-16 pair, not a character)",
                        "fix or remove that \\u escape: a character beyond U+FFFF is "
                        "written as both halves, e.g. \\ud83d\\ude00",
                    )
            elif isinstance(item, dict):
                stack.extend((part, depth + 1) for pair in item.items() for part in pair)
            elif isinstance(item, list):
                stack.extend((part, depth + 1) for part in item)

    def _status(self, status: Any) -> str:
        if status in STATUSES:
            return status
        raise self.fail(f"unknown status {quote(status)}", f"use one of {', '.join(STATUSES)}")

    def _split(self, split: Any) -> str | None:
        if split is None or split in SPLITS:
            return split
        raise self.fail(f"unknown split {quote(split)}", f"use one of {', '.join(SPLITS)}")

    def _raw_spans(self, obj: dict) -> list[tuple[Any, Any, Any]] | None:
        """Spans as loose triples from whichever style the line uses (None: no annotation).

        Each entry may be an object (``start``/``end``/``label``, or doccano's
        ``start_offset``/``end_offset``/``label``) or a ``[start, end, label]`` list.
        """
        for key in ("spans", "label", "entities"):  # spaCy/Prodigy, doccano, both
            if key in obj:
                return self._triples(obj[key], key)
        return None

    def _triples(self, items: Any, key: str) -> list[tuple[Any, Any, Any]]:
        if not isinstance(items, list):
            raise self.fail(f'"{key}" is not a list', f'make "{key}" a list of spans')
        triples = []
        for item in items:
            if isinstance(item, list) and len(item) == 3:
                triples.append(tuple(item))
                continue
            names = _SPAN_KEYS if isinstance(item, dict) and "start" in item else _DOCCANO_KEYS
            if not (isinstance(item, dict) and all(name in item for name in names)):
                raise self.fail(
                    f"a {key} entry {json.dumps(item, ensure_ascii=False)[:60]} is not a span",
                    'write each span as {"start": 0, "end": 5, "label": "PER"} or [0, 5, "PER"]',
                )
            triples.append(tuple(item[name] for name in names))
        return triples

    def _spans(self, triples: list, text: str, tokens: list) -> list[tuple[int, int, str]]:
        spans = []
        for start, end, label in triples:
            if not (type(start) is int and type(end) is int and 0 <= start < end <= len(text)):
                raise self.fail(
                    f"span {quote([start, end, label])} is out of range (the text has {len(text)} "
                    "characters)",
                    "offsets are 0-based character positions with start < end <= length",
                )
            if not isinstance(label, str) or not label.strip() or ASCII_SPACE.search(label):
                raise self.fail(f"bad label {quote(label)}", "a label is a name without spaces")
            self.job.check_label(label, self.number)
            spans.append((start, end, label))
        _, misaligned = align_spans(tokens, spans)
        if misaligned and self.job.snap:
            spans = [snapped_or_none(tokens, span) or span for span in spans]
            _, misaligned = align_spans(tokens, spans)
        if misaligned:
            start, end, label = misaligned[0]
            raise self.fail(
                f"span {quote([start, end, label])} ({quote(text[start:end])}) does not start "
                "and end on word boundaries",
                "fix its offsets, or import with snapping to grow it to the enclosing words",
            )
        overlap = first_overlap(spans)
        if overlap is not None:
            before, after = overlap
            raise self.fail(
                f"overlapping spans {quote(list(before))} and {quote(list(after))}",
                "Spanlab does flat NER (one label per word): keep one of them",
            )
        return spans

    def _tokens(self, raw: Any, text: str) -> list[tuple[int, int]]:
        if raw is None:
            return tokenize(text, self.job.tokenizer)
        tokens: list[tuple[int, int]] = []
        previous = 0
        for item in raw if isinstance(raw, list) else [None]:
            pair = (item.get("start"), item.get("end")) if isinstance(item, dict) else item
            ok = isinstance(pair, (list, tuple)) and len(pair) == 2
            start, end = pair if ok else (None, None)
            if not (type(start) is int and type(end) is int and previous <= start < end):
                raise self.fail(
                    f"bad tokens (at {json.dumps(item)[:40]})",
                    'give "tokens" as [start, end] pairs or {"start", "end"} objects, in order '
                    "and within the text — or leave them out",
                )
            if end > len(text) or ASCII_SPACE.search(text, start, end):
                raise self.fail(
                    f"token {[start, end]} runs past the text or holds a space",
                    "fix the token offsets, or leave the tokens out",
                )
            tokens.append((start, end))
            previous = end
        return tokens


def _jsonl_extras(doc: dict) -> dict:
    extras: dict[str, Any] = {}
    meta = doc.get("meta") or {}
    group = doc.get("group")
    if group is not None and meta.get("doc") != group:  # the group goes back as meta.doc
        meta = {**meta, "doc": group}
    if meta:
        extras["meta"] = meta
    if doc["split"] != "unassigned":
        extras["split"] = doc["split"]
    if doc["status"] != "annotated":
        extras["status"] = doc["status"]
    return extras


def _json_line(obj: dict, doc: dict) -> str:
    """One line of strict JSON (no NaN or Infinity, which most JSON readers refuse)."""
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError:
        raise ExportError(
            f"Document {doc['id']} has NaN or Infinity in its meta, which JSON cannot hold: "
            "remove those values from its meta, or export as CoNLL."
        ) from None


def _has_annotation(doc: dict, spans: list[dict]) -> bool:
    return doc["status"] == "annotated" or bool(spans)


def write_spacy(out: IO[str], doc: dict, spans: list[dict]) -> None:
    obj: dict[str, Any] = {"text": doc["text"]}
    if _has_annotation(doc, spans):
        obj["spans"] = [{"start": s["start"], "end": s["end"], "label": s["label"]} for s in spans]
    tokens = [tuple(t) for t in doc["tokens"]]
    if tokens != tokenize(doc["text"]):  # only tokens the tokenizer would not give back
        text = doc["text"]
        obj["tokens"] = [
            {"text": text[s:e], "start": s, "end": e, "id": i, "ws": text[e : e + 1].isspace()}
            for i, (s, e) in enumerate(tokens)
        ]
    obj.update(_jsonl_extras(doc))
    out.write(_json_line(obj, doc))


def write_doccano(out: IO[str], doc: dict, spans: list[dict]) -> None:
    obj: dict[str, Any] = {"text": doc["text"]}
    if _has_annotation(doc, spans):
        obj["label"] = [[s["start"], s["end"], s["label"]] for s in spans]
    obj.update(_jsonl_extras(doc))
    out.write(_json_line(obj, doc))
