"""Label Studio's JSON export, read and written.

A file is a JSON list of tasks: ``{"id", "data": {"text": ...}, "annotations": [{"result":
[...], "was_cancelled", "created_at", ...}], "predictions": [{"result": [...], "score"}]}``.

- The text is ``data[text_key]``: by default ``data["text"]``, else the task's only string
  field.
- The latest annotation that was not cancelled is the document's (by ``updated_at``,
  then ``created_at``, then ``id``); its ``labels`` results are the spans. A task whose
  annotations were all cancelled is "skipped", one without any is "new".
- The latest prediction's ``labels`` results become model spans with their score.
- Relations, choices and other result types, and older or cancelled annotations, are
  skipped and counted.
- A result's ``value.text`` must be the text at its offsets (Python's character
  offsets, or the UTF-16 ones of the browser where the text holds characters beyond
  U+FFFF); an error names the task id and its line in the file.

Export writes the same structure: one annotation per task with its human spans, the
model spans as one prediction, the split in the task's ``meta``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path
from typing import IO, Any

from core.domain import SPLITS
from core.errors import ExportError, ImportFormatError
from core.formats import common
from core.formats.common import ASCII_SPACE, Job, quote, source_name, text_file
from core.formats.standoff import Counted, Span, overlap_message, tokens_for, trimmed

_DECODER = json.JSONDecoder()
_WHITE = " \t\n\r"
_FROM_NAME, _TO_NAME = "label", "text"  # the names in Label Studio's NER template


class LabelStudioReader(Counted):
    """Reads one Label Studio export; ``predictions`` holds the model spans of each
    document (by its 1-based number in the import) for the importer to store."""

    def __init__(self, job: Job, text_key: str | None = None) -> None:
        super().__init__(job)
        self.text_key = text_key
        self.predictions: list[tuple[int, list[dict]]] = []

    def documents(self) -> Iterator[dict]:
        job = self.job
        source = source_name(job.path)
        with text_file(job.path) as handle:
            job.total = os.fstat(handle.fileno()).st_size
            content = handle.read()
        lines = content.count("\n") + 1
        for number, (line, task) in enumerate(self._tasks(content), start=1):
            doc, predicted = _Task(self, line, _task_name(task, number)).document(task)
            doc["source"] = source
            if predicted:
                self.predictions.append((number, predicted))
            self.seen(line, len(doc.get("spans", ())), job.total * line // lines)
            yield doc
        job.finish("an empty list of tasks")

    def _tasks(self, content: str) -> Iterator[tuple[int, Any]]:
        """``(line, task)`` for each element of the top-level list, without parsing the
        whole file first, so a bad task is named with its line."""
        pos, line = _skip(content, 0), 1
        if not content.startswith("[", pos):
            found = "an object" if content.startswith("{", pos) else "no JSON list"
            raise ImportFormatError(
                self.job.path,
                _line_at(content, pos),
                f"{found} where a JSON list of tasks was expected",
                "export the project from Label Studio as JSON (not JSON-MIN or JSONL), or "
                "import JSON lines with the jsonl format",
            )
        pos = _skip(content, pos + 1)
        last = 0
        while not content.startswith("]", pos):
            line += content.count("\n", last, pos)
            last = pos
            try:
                task, pos = _DECODER.raw_decode(content, pos)
            except json.JSONDecodeError as error:
                raise ImportFormatError(
                    self.job.path,
                    error.lineno,
                    f"bad JSON: {error.msg} (column {error.colno})",
                    "check that the file is a whole Label Studio JSON export",
                ) from None
            except RecursionError:
                raise ImportFormatError(
                    self.job.path, line, "the JSON is nested too deeply to read"
                ) from None
            yield line, task
            pos = _skip(content, pos)
            if content.startswith(",", pos):
                pos = _skip(content, pos + 1)
            elif not content.startswith("]", pos):
                raise ImportFormatError(
                    self.job.path,
                    _line_at(content, pos),
                    "expected ',' or ']' after a task",
                    "check that the file is a whole Label Studio JSON export",
                )


class _Task:
    """One task made a document; errors name the task and its line."""

    def __init__(self, reader: LabelStudioReader, line: int, name: str) -> None:
        self.reader = reader
        self.job = reader.job
        self.line = line
        self.name = name

    def fail(self, message: str, hint: str = "") -> ImportFormatError:
        return ImportFormatError(self.job.path, self.line, f"{self.name}: {message}", hint)

    def document(self, task: Any) -> tuple[dict, list[dict]]:
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise self.fail(
                'not a task (a JSON object with a "data" object)',
                "export the project from Label Studio as JSON",
            )
        text = self._text(task["data"])
        self.offsets = _Offsets(text)
        doc: dict[str, Any] = {"text": text, "status": "new", "split": self.job.split}
        annotation = self._annotation(task.get("annotations"))
        spans: list[Span] = []
        if annotation is not None:
            spans = self._spans(annotation)
            doc["status"] = "annotated"
        elif task.get("annotations"):
            doc["status"] = "skipped"  # every annotation was cancelled
        message = overlap_message(spans, text)
        if message:
            raise self.fail(message, "Spanlab does flat NER (one label per word): keep one")
        predicted = self._predictions(task.get("predictions"))
        doc["tokens"] = tokens_for(text, spans, self.job.tokenizer)
        if annotation is not None:
            doc["spans"] = spans
        doc["meta"] = {"label_studio": {"id": task["id"]}} if "id" in task else None
        split = (
            (task.get("meta") or {}).get("split") if isinstance(task.get("meta"), dict) else None
        )
        if self.job.split is None and split in SPLITS:
            doc["split"] = split
        return doc, predicted

    def _text(self, data: dict) -> str:
        key = self.reader.text_key
        if key is None:
            strings = [k for k, v in data.items() if isinstance(v, str)]
            if isinstance(data.get("text"), str):
                key = "text"
            elif len(strings) == 1:
                key = strings[0]
            else:
                found = ", ".join(map(repr, strings)) or "none"
                raise self.fail(
                    f'no "text" field in "data" to take the text from (its string fields: {found})',
                    "name the field that holds the text with --text-key",
                )
        text = data.get(key)
        if not isinstance(text, str):
            what = "missing" if key not in data else f"a {type(text).__name__}"
            raise self.fail(
                f'"data" field {key!r} is {what}, not the text',
                "name the field that holds the text with --text-key",
            )
        if not text.strip():
            raise self.fail(f'the text ("data" field {key!r}) is empty', "remove the task")
        if len(text) > common.MAX_DOCUMENT_CHARS:
            raise self.fail(
                f"the text is longer than {common.MAX_DOCUMENT_CHARS:,} characters, the most "
                "one document may hold",
                "split it into shorter tasks",
            )
        return text

    def _annotation(self, annotations: Any) -> dict | None:
        """The latest annotation that was not cancelled (the others are counted)."""
        if annotations is None:
            return None
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            raise self.fail('"annotations" is not a list of objects')
        kept = [a for a in annotations if not a.get("was_cancelled")]
        skipped = self.reader.skipped
        if len(kept) < len(annotations):
            skipped["cancelled annotations"] += len(annotations) - len(kept)
        if len(kept) > 1:
            skipped["older annotations of a task"] += len(kept) - 1
        return max(kept, key=_latest) if kept else None

    def _predictions(self, predictions: Any) -> list[dict]:
        if not predictions:
            return []
        if not isinstance(predictions, list) or not all(isinstance(p, dict) for p in predictions):
            raise self.fail('"predictions" is not a list of objects')
        if len(predictions) > 1:
            self.reader.skipped["older predictions of a task"] += len(predictions) - 1
        latest = max(predictions, key=_latest)
        score = latest.get("score")
        entities = []
        for start, end, label, item in self._results(latest, "prediction"):
            value = item.get("score", score)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                value = None
            entities.append({"start": start, "end": end, "label": label, "score": value})
        return entities

    def _spans(self, annotation: dict) -> list[Span]:
        spans = []
        for start, end, label, _ in self._results(annotation, "annotation"):
            self.job.check_label(label, self.line)
            spans.append((start, end, label))
        return sorted(spans)

    def _results(self, holder: dict, what: str) -> Iterator[tuple[int, int, str, dict]]:
        results = holder.get("result") or []
        if not isinstance(results, list):
            raise self.fail(f'the {what}\'s "result" is not a list')
        for item in results:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind != "labels":
                self.reader.skipped[f"{kind or 'untyped'} results"] += 1
                continue
            yield (*self._region(item, what), item)

    def _region(self, item: dict, what: str) -> tuple[int, int, str]:
        value = item.get("value")
        if not isinstance(value, dict):
            raise self.fail(f'a {what} result without a "value" object')
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        if not (isinstance(labels, list) and len(labels) == 1 and isinstance(labels[0], str)):
            raise self.fail(
                f"a {what} result with labels {quote(labels)}",
                "give each region exactly one label (Spanlab does flat NER)",
            )
        label = labels[0]
        if not label.strip() or ASCII_SPACE.search(label):
            raise self.fail(f"bad label {quote(label)}", "a label is a name without spaces")
        span = self.offsets.python(start, end, value.get("text"))
        if span is None:
            text = self.offsets.text
            at = text[start:end] if _ints(start, end) else None
            raise self.fail(
                f"a {what} region {quote([start, end, label])} says its text is "
                f"{quote(value.get('text'))}, but the text there is {quote(at)}",
                "export the task again from Label Studio, or fix its start and end",
            )
        start, end = trimmed(self.offsets.text, *span)
        if start == end:
            raise self.fail(f"a {what} region {quote(value.get('text'))} holds only white space")
        return start, end, label


class _Offsets:
    """A region's offsets as Python string positions: Label Studio's browser counts
    UTF-16 units, so past a character beyond U+FFFF both readings are tried."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._units: list[int] | None = None
        if any(ord(ch) > 0xFFFF for ch in text):
            self._units = list(accumulate((2 if ord(ch) > 0xFFFF else 1 for ch in text), initial=0))

    def python(self, start: Any, end: Any, said: Any) -> tuple[int, int] | None:
        if not (_ints(start, end) and 0 <= start < end):
            return None
        if end <= len(self.text) and (not isinstance(said, str) or self.text[start:end] == said):
            return start, end
        if self._units is not None:
            index = {unit: i for i, unit in enumerate(self._units)}
            if start in index and end in index:
                a, b = index[start], index[end]
                if not isinstance(said, str) or self.text[a:b] == said:
                    return a, b
        return None


def _ints(*values: Any) -> bool:
    return all(type(v) is int for v in values)


def _latest(item: dict) -> tuple[str, str, float]:
    """Newest last: ISO timestamps compare as strings; the id breaks ties."""
    ident = item.get("id")
    number = ident if isinstance(ident, (int, float)) and not isinstance(ident, bool) else -1
    return (str(item.get("updated_at") or ""), str(item.get("created_at") or ""), number)


def _task_name(task: Any, number: int) -> str:
    if isinstance(task, dict) and "id" in task:
        return f"task {quote(task['id'])}"
    return f"task {number} of the list"


def _skip(content: str, pos: int) -> int:
    while pos < len(content) and content[pos] in _WHITE:
        pos += 1
    return pos


def _line_at(content: str, pos: int) -> int:
    return content.count("\n", 0, pos) + 1


# -- export --------------------------------------------------------------------------------


def write_tasks(
    out: IO[str], items: Iterator[tuple[dict, list[dict], list[dict]]], text_key: str = "text"
) -> None:
    """Write ``(document, human spans, model spans)`` as a Label Studio JSON list, the
    text under ``data[text_key]``."""
    out.write("[")
    for number, (doc, human, model) in enumerate(items):
        out.write(",\n" if number else "\n")
        out.write(_dump(task_of(doc, human, model, text_key), doc))
    out.write("\n]\n")


def task_of(doc: dict, human: list[dict], model: list[dict], text_key: str = "text") -> dict:
    """One Label Studio task: the document's text, its annotation and its prediction."""
    text = doc["text"]
    task: dict[str, Any] = {"id": doc["id"], "data": {text_key: text}}
    if doc["split"] != "unassigned":
        task["meta"] = {"split": doc["split"]}
    if doc["status"] == "annotated" or human:
        task["annotations"] = [{"result": _results(text, human), "was_cancelled": False}]
    elif doc["status"] == "skipped":
        task["annotations"] = [{"result": [], "was_cancelled": True}]
    else:
        task["annotations"] = []
    if model:
        scores = [s["score"] for s in model if s["score"] is not None]
        prediction: dict[str, Any] = {"model_version": "spanlab", "result": _results(text, model)}
        if scores:
            prediction["score"] = sum(scores) / len(scores)
        task["predictions"] = [prediction]
    return task


def _results(text: str, spans: list[dict]) -> list[dict]:
    results = []
    for number, span in enumerate(spans, start=1):
        start, end = span["start"], span["end"]
        item: dict[str, Any] = {
            "id": f"s{span.get('id', number)}",
            "from_name": _FROM_NAME,
            "to_name": _TO_NAME,
            "type": "labels",
            "value": {
                "start": start,
                "end": end,
                "text": text[start:end],
                "labels": [span["label"]],
            },
        }
        if span.get("origin") == "model" and span.get("score") is not None:
            item["score"] = span["score"]
        results.append(item)
    return results


def _dump(task: dict, doc: dict) -> str:
    try:
        return json.dumps(task, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ExportError(
            f"Document {doc['id']} has a NaN or infinite score, which JSON cannot hold: "
            "pre-annotate it again, or export as CoNLL."
        ) from None


def read_label_studio(
    path: str | Path, split: str | None = None, text_key: str | None = None
) -> list[dict]:
    """The documents of a Label Studio export (predictions under ``"predictions"``)."""
    reader = LabelStudioReader(Job(Path(path), split=split), text_key)
    docs = list(reader.documents())
    for number, entities in reader.predictions:
        docs[number - 1]["predictions"] = entities
    return docs
