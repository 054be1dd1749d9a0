"""brat standoff, read and written: a folder of ``NAME.txt`` + ``NAME.ann`` pairs.

- Each ``.txt`` (in the folder or below it) is one document, its text the whole file;
  its source is the file's name within the folder. A ``.txt`` without an ``.ann`` is a
  "new" document; with one it is "annotated". Files in a ``train``, ``dev`` or ``test``
  sub-folder go into that split.
- ``T`` lines (``T1<TAB>LABEL START END<TAB>text``) are the spans; their text must be
  the text at those offsets. A discontinuous span (``START END;START END``) or two
  overlapping spans are errors naming the ``.ann`` file and line: flat NER keeps one
  label per word, and nothing is written.
- ``A``/``M`` (attributes), ``R`` (relations), ``E`` (events), ``N`` (normalizations),
  ``#`` (notes), ``*`` (equivalences) and other lines are skipped and counted.

Export writes one pair per document (the ``.ann`` of a "new" document without spans is
left out), in a sub-folder named after its split (unassigned ones at the top), and an
``annotation.conf`` naming the labels, so brat opens the folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from core.domain import SPLITS
from core.errors import ExportError, ImportFormatError
from core.formats import common
from core.formats.common import ASCII_SPACE, Job, quote
from core.formats.standoff import Counted, Span, overlap_message, tokens_for, trimmed
from core.spancheck import first_overlap

_SKIPPED = {
    "A": "attribute lines",
    "M": "attribute lines",
    "R": "relation lines",
    "E": "event lines",
    "N": "normalization lines",
    "#": "note lines",
    "*": "equivalence lines",
}
_OFFSETS = re.compile(r"(\d+) (\d+)")
_SAFE_NAME = re.compile(r"[\w\-. ]{1,120}")
CONF_NAMES = ("annotation.conf", "visual.conf", "tools.conf", "kb_shortcuts.conf")


class BratReader(Counted):
    """Reads a brat folder into documents, one per ``.txt``."""

    def documents(self) -> Iterator[dict]:
        job = self.job
        folder = job.path
        if not folder.is_dir():
            raise ImportFormatError(
                folder,
                None,
                "brat standoff is a folder of .txt and .ann files",
                "choose the folder",
            )
        texts, annotations = _pairs(folder)
        orphans = sorted(annotations - {p.with_suffix(".ann") for p in texts})
        if orphans:
            raise ImportFormatError(
                orphans[0],
                None,
                "an .ann file without its .txt",
                "put the text beside it, or remove it",
            )
        if not texts:
            raise ImportFormatError(
                folder,
                None,
                "this folder holds no .txt files (brat standoff) and no dataset",
                "choose a file, a folder of brat .txt and .ann files, or a Hugging Face "
                "dataset folder",
            )
        job.total = len(texts)
        for done, path in enumerate(texts, start=1):
            text = _read(path)
            if not text.strip():
                self.skipped["empty .txt files"] += 1
                continue
            if len(text) > common.MAX_DOCUMENT_CHARS:
                raise common.too_long_error(path, None, "this text", common.MAX_DOCUMENT_CHARS)
            ann = path.with_suffix(".ann")
            spans = self._spans(ann, text) if ann in annotations else None
            parts = path.relative_to(folder).parts
            in_split = parts[0] if len(parts) > 1 and parts[0] in SPLITS else None
            doc = {
                "text": text,
                "tokens": tokens_for(text, spans or (), job.tokenizer),
                "status": "new" if spans is None else "annotated",
                "split": job.split or in_split,
                "source": "/".join(parts),
            }
            if spans is not None:
                doc["spans"] = spans
            self.seen(done, len(spans or ()), done)
            yield doc
        job.finish("no .txt files")

    def _spans(self, ann: Path, text: str) -> list[Span]:
        lines: dict[Span, int] = {}
        for number, line in enumerate(_read(ann).splitlines(), start=1):
            if not line.strip():
                continue
            if line[0] != "T":
                self.skipped[_SKIPPED.get(line[0], "other lines")] += 1
                continue
            lines.setdefault(self._span(ann, number, line, text), number)
        spans = sorted(lines)
        overlap = first_overlap(spans)
        if overlap is not None:
            raise ImportFormatError(
                ann,
                max(lines[overlap[0]], lines[overlap[1]]),
                overlap_message(spans, text) or "overlapping spans",
                "Spanlab does flat NER (one label per word): keep one of them",
            )
        return spans

    def _span(self, ann: Path, number: int, line: str, text: str) -> tuple[int, int, str]:
        parts = line.split("\t")
        head = parts[1].split(" ", 1) if len(parts) > 1 else []
        if len(head) < 2:
            raise ImportFormatError(
                ann,
                number,
                f"not a text-bound annotation: {quote(line)}",
                "write T1<TAB>LABEL START END<TAB>text",
            )
        label, offsets = head
        if ";" in offsets:
            raise ImportFormatError(
                ann,
                number,
                f"a discontinuous span ({offsets}) of {label}",
                "Spanlab does flat NER with one piece per span: split it into separate "
                "spans, or keep one piece",
            )
        match = _OFFSETS.fullmatch(offsets)
        if match is None:
            raise ImportFormatError(ann, number, f"bad offsets {quote(offsets)}", "write START END")
        start, end = int(match[1]), int(match[2])
        if not start < end <= len(text):
            raise ImportFormatError(
                ann,
                number,
                f"span {start} {end} is out of range (the text has {len(text)} characters)",
                "check that the .ann belongs to this .txt",
            )
        if len(parts) > 2 and parts[2] != text[start:end]:
            raise ImportFormatError(
                ann,
                number,
                f"the span's text is {quote(parts[2])}, but the text at {start} {end} is "
                f"{quote(text[start:end])}",
                "check that the .ann belongs to this .txt and that the .txt was not edited",
            )
        if ASCII_SPACE.search(label) or not label:
            raise ImportFormatError(ann, number, f"bad label {quote(label)}")
        self.job.check_label(label, number)
        start, end = trimmed(text, start, end)
        return start, end, label


def _pairs(folder: Path) -> tuple[list[Path], set[Path]]:
    """The folder's ``.txt`` files (sorted) and ``.ann`` files, hidden ones left out."""
    texts, annotations = [], set()
    for path in folder.rglob("*"):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.suffix == ".txt" and path.is_file():
            texts.append(path)
        elif path.suffix == ".ann" and path.is_file():
            annotations.add(path)
    return sorted(texts), annotations


def _read(path: Path) -> str:
    """A file's text as brat counts it: UTF-8, line ends kept as they are."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise common.read_error(path, error) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ImportFormatError(
            path,
            line,
            f"not UTF-8 text (byte 0x{raw[error.start]:02x})",
            "save the file as UTF-8 and import it again",
        ) from None


def read_brat(path: str | Path, split: str | None = None) -> Iterator[dict]:
    """Documents from a brat folder (see the module notes)."""
    return BratReader(Job(Path(path), split=split)).documents()


# -- export --------------------------------------------------------------------------------


def looks_like_brat(folder: Path) -> bool:
    """Whether a folder holds only what a brat export writes (it may be replaced)."""
    return all(
        p.is_dir() or p.suffix in (".txt", ".ann") or p.name in CONF_NAMES
        for p in folder.rglob("*")
    )


def write_folder(
    folder: Path, items: Iterator[tuple[dict, list[dict], list[dict]]], labels: list[str]
) -> None:
    """Write each ``(document, human spans, model spans)`` as a ``.txt`` + ``.ann`` pair."""
    used: set[str] = set()
    for doc, spans, _ in items:
        place = folder if doc["split"] == "unassigned" else folder / doc["split"]
        place.mkdir(exist_ok=True)
        name = _name(doc, place.name, used)
        used.add(f"{place.name}/{name}".casefold())
        text = doc["text"]
        (place / f"{name}.txt").write_text(text, encoding="utf-8", newline="")
        if doc["status"] == "new" and not spans:
            continue
        lines = []
        for number, span in enumerate(spans, start=1):
            piece = text[span["start"] : span["end"]]
            if "\n" in piece or "\r" in piece:
                raise ExportError(
                    f"Document {doc['id']}: the {span['label']} span {piece!r} runs across a "
                    "line break, which a brat .ann line cannot hold: shorten it, or export "
                    "as JSONL."
                )
            lines.append(f"T{number}\t{span['label']} {span['start']} {span['end']}\t{piece}\n")
        (place / f"{name}.ann").write_text("".join(lines), encoding="utf-8", newline="")
    conf = ["[entities]", *labels, "", "[relations]", "", "[events]", "", "[attributes]", ""]
    (folder / "annotation.conf").write_text("\n".join(conf), encoding="utf-8")


def _name(doc: dict, place: str, used: set[str]) -> str:
    """The pair's name: the source's (``NAME.txt`` from a brat import) when it is free and
    safe, else ``doc-ID``."""
    source = (doc.get("source") or "").rsplit("/", 1)[-1]
    if source.endswith(".txt"):
        stem = source[:-4]
        free = f"{place}/{stem}".casefold() not in used
        if _SAFE_NAME.fullmatch(stem) and not stem.startswith(".") and free:
            return stem
    return f"doc-{doc['id']}"
