"""Hugging Face ``datasets``, written and read back: the layout of ``conll2003`` on the Hub.

One row per annotated document: ``id`` (the document's id), ``tokens`` (its words) and
``ner_tags`` (a list of ``ClassLabel`` with the project's IOB2 names: ``O``, then ``B-``
and ``I-`` of each label in the project's order). Each Spanlab split is a dataset split
(dev is ``validation``, as on the Hub). Written as a ``save_to_disk`` folder
(``hf-dataset``) or as Parquet files ``data/SPLIT-00000-of-00001.parquet`` (``hf-parquet``;
the features, with the tag names, ride in the Parquet schema), so HF training scripts
(``run_ner.py``) and ``datasets.load_from_disk`` / ``load_dataset`` take it as it is.

Import reads either form (a folder or one ``.parquet`` file): ``tokens`` and
``ner_tags`` as ``ClassLabel`` indices or as tag strings; the text is rebuilt from the
tokens as for CoNLL, and the tokens are kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.domain import ReaderDocument
from core.errors import ExportError, ImportFormatError, SpanlabError, TagSequenceError
from core.formats.common import ASCII_SPACE, Job, quote, source_name
from core.formats.standoff import Counted
from core.tagging import decode_tags, detect_scheme, spans_to_tags
from core.tokenize import join_tokens

#: Spanlab's split -> the dataset split, and back (the Hub's usual names are read too).
TO_HF_SPLIT = {"train": "train", "dev": "validation", "test": "test", "unassigned": "unassigned"}
FROM_HF_SPLIT = {
    **{hf: ours for ours, hf in TO_HF_SPLIT.items()},
    "dev": "dev",
    "valid": "dev",
}
_BATCH = 1000


def tag_names(labels: list[str]) -> list[str]:
    """The ClassLabel names: ``O``, then ``B-`` and ``I-`` of each label."""
    return ["O", *(f"{prefix}-{label}" for label in labels for prefix in "BI")]


@contextmanager
def _quiet() -> Iterator[Any]:
    """``datasets`` without its progress bars (they would go to the CLI's output)."""
    import datasets

    was_off = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield datasets
    finally:
        if not was_off:
            datasets.enable_progress_bars()


# -- export --------------------------------------------------------------------------------


def build(items: Iterator[tuple[dict, list[dict], list[dict]]], labels: list[str]) -> Any:
    """A ``DatasetDict`` of the documents, one split per Spanlab split that has any."""
    names = tag_names(labels)
    index = {name: i for i, name in enumerate(names)}
    rows: dict[str, dict[str, list]] = {}
    for doc, spans, _ in items:
        if not doc["tokens"]:
            continue
        text = doc["text"]
        try:
            tags = spans_to_tags(doc["tokens"], spans, scheme="iob2")
        except SpanlabError as error:
            raise ExportError(f"Document {doc['id']}: {error}") from None
        split = rows.setdefault(TO_HF_SPLIT[doc["split"]], {"id": [], "tokens": [], "ner_tags": []})
        split["id"].append(str(doc["id"]))
        split["tokens"].append([text[start:end] for start, end in doc["tokens"]])
        split["ner_tags"].append([index[tag] for tag in tags])
    if not rows:
        raise ExportError(
            "There are no annotated documents to export: a dataset for training holds "
            "annotated documents only. Mark some documents annotated first."
        )
    with _quiet() as datasets:
        features = datasets.Features(
            {
                "id": datasets.Value("string"),
                "tokens": datasets.List(datasets.Value("string")),
                "ner_tags": datasets.List(datasets.ClassLabel(names=names)),
            }
        )
        order = [hf for hf in TO_HF_SPLIT.values() if hf in rows]
        return datasets.DatasetDict(
            {
                split: datasets.Dataset.from_dict(rows[split], features=features, split=split)
                for split in order
            }
        )


def write_folder(folder: Path, items: Iterator, labels: list[str]) -> None:
    """Write the documents as a ``save_to_disk`` folder."""
    dataset = build(items, labels)
    with _quiet():
        dataset.save_to_disk(str(folder))


def write_parquet(folder: Path, items: Iterator, labels: list[str]) -> None:
    """Write the documents as ``data/SPLIT-00000-of-00001.parquet`` files."""
    dataset = build(items, labels)
    (folder / "data").mkdir()
    with _quiet():
        for split, part in dataset.items():
            part.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))


def looks_like_dataset(folder: Path) -> bool:
    """Whether a folder holds a dataset written by ``save_to_disk`` or as Parquet files."""
    return (
        (folder / "dataset_dict.json").is_file()
        or (folder / "state.json").is_file()
        or any(folder.rglob("*.parquet"))
    )


# -- import --------------------------------------------------------------------------------


class DatasetReader(Counted):
    """Reads a dataset folder or Parquet file into CoNLL-like documents."""

    def __init__(self, job: Job, scheme: str = "auto", strict: bool = True) -> None:
        super().__init__(job)
        self.scheme = None if scheme == "auto" else scheme
        self.strict = strict
        self.source = source_name(job.path)
        self.row = 0

    def documents(self) -> Iterator[ReaderDocument]:
        with _quiet():
            parts = list(self._parts())
        self.job.total = sum(rows for _, _, rows, _ in parts)
        for split, names, _, batches in parts:
            for number, (words, tags) in enumerate(self._rows(batches, names), start=1):
                yield self._document(split, number, words, tags)
        self.job.scheme = self.scheme
        self.job.finish("no rows")

    def _parts(self) -> Iterator[tuple[str, list[str] | None, int, Iterator[dict]]]:
        """``(split name, tag names or None, rows, batches)`` for each split."""
        path = self.job.path
        if path.is_file() and path.suffix == ".parquet":
            yield self._parquet(path)
            return
        if not path.is_dir():
            raise ImportFormatError(
                path,
                None,
                "not a dataset: choose a folder written by save_to_disk, or a .parquet file",
            )
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            import datasets

            try:
                loaded = datasets.load_from_disk(str(path))
            except (OSError, ValueError, json.JSONDecodeError, FileNotFoundError) as error:
                raise ImportFormatError(
                    path, None, f"cannot load the dataset ({error})", "save it again"
                ) from None
            if isinstance(loaded, datasets.Dataset):
                loaded = {str(loaded.split or "train"): loaded}
            for split, part in loaded.items():
                names = self._names(path, split, part.features)
                yield split, names, part.num_rows, part.iter(batch_size=_BATCH)
            return
        files = sorted(path.rglob("*.parquet"))
        if not files:
            raise ImportFormatError(
                path,
                None,
                "no dataset here (no dataset_dict.json, state.json or .parquet files)",
                "choose the folder written by save_to_disk, or one with Parquet files",
            )
        for file in files:
            yield self._parquet(file)

    def _parquet(self, file: Path) -> tuple[str, list[str] | None, int, Iterator[dict]]:
        import datasets
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            handle = pq.ParquetFile(file)
        except (OSError, pa.ArrowException) as error:
            raise ImportFormatError(file, None, f"not a Parquet file ({error})") from None
        features = datasets.Features.from_arrow_schema(handle.schema_arrow)
        split = _split_of(file)
        names = self._names(file, split, features)
        batches = (
            batch.to_pydict()
            for batch in handle.iter_batches(batch_size=_BATCH, columns=["tokens", "ner_tags"])
        )
        return split, names, handle.metadata.num_rows, batches

    def _names(self, where: Path, split: str, features: Any) -> list[str] | None:
        """The tag names of ``ner_tags`` (None: the column holds the tags as strings)."""
        import datasets

        missing = [c for c in ("tokens", "ner_tags") if c not in features]
        if missing:
            raise ImportFormatError(
                where,
                None,
                f"split {split!r} has no {' or '.join(missing)} column (it has "
                f"{', '.join(features) or 'none'})",
                "rename the columns to tokens and ner_tags, as in conll2003",
            )
        inner = getattr(features["ner_tags"], "feature", None)
        if isinstance(inner, datasets.ClassLabel):
            return list(inner.names)
        if isinstance(inner, datasets.Value) and inner.dtype == "string":
            return None
        raise ImportFormatError(
            where,
            None,
            f"split {split!r}: ner_tags is {features['ner_tags']}, not a list of ClassLabel "
            "or of tag strings",
            "cast it to a list of ClassLabel with the tag names (IOB2: O, B-PER, I-PER, …)",
        )

    def _rows(self, batches: Iterator[dict], names: list[str] | None) -> Iterator[tuple]:
        for batch in batches:
            for words, tags in zip(batch["tokens"], batch["ner_tags"], strict=True):
                if names is not None:
                    tags = [names[t] if type(t) is int and 0 <= t < len(names) else t for t in tags]
                yield words, tags

    def _document(self, split: str, number: int, words: Any, tags: Any) -> ReaderDocument:
        job = self.job
        self.row += 1
        where = f"split {split!r}, row {number}"

        def fail(message: str, hint: str = "") -> ImportFormatError:
            return ImportFormatError(job.path, None, f"{where}: {message}", hint)

        ours = job.split or FROM_HF_SPLIT.get(split)
        if ours is None:
            raise fail(
                f"unknown split {split!r}",
                "name the splits train, validation and test, or choose the split to import into",
            )
        if not isinstance(words, list) or not words:
            raise fail("no tokens", "remove the row")
        for word in words:
            if not isinstance(word, str) or not word or ASCII_SPACE.search(word):
                raise fail(f"bad token {quote(word)}", "a token is a non-empty word without spaces")
        if not isinstance(tags, list) or len(tags) != len(words):
            raise fail(
                f"{len(words)} tokens but {len(tags) if isinstance(tags, list) else 'no'} tags",
                "give one tag per token",
            )
        if not all(isinstance(tag, str) for tag in tags):
            bad = next(tag for tag in tags if not isinstance(tag, str))
            raise fail(f"tag index {quote(bad)} is not one of the ClassLabel's names")
        text, offsets = join_tokens(words)
        entities: list[tuple[int, int, str]] = []
        if tags.count("O") != len(tags):
            if self.scheme is None:
                self.scheme = detect_scheme(tags)
            try:
                entities = decode_tags(tags, scheme=self.scheme, strict=self.strict)
            except TagSequenceError as error:
                raise fail(f"{error} (tag scheme {self.scheme})") from None
        spans = [(offsets[a][0], offsets[b][1], label) for a, b, label in entities]
        if job.locked is not None:
            for _, _, label in spans:
                if label not in job.locked:
                    raise fail(
                        f"unknown label {quote(label)}",
                        "the label set is locked: add the label to the project first",
                    )
        self.seen(self.row, len(spans), self.row)
        return ReaderDocument(
            text=text,
            tokens=offsets,
            spans=spans,
            split=ours,
            status="annotated",
            source=f"{self.source}/{split}",
            group=None,
        )


def _split_of(file: Path) -> str:
    """A Parquet file's split: ``train-00000-of-00001.parquet`` or ``train/0000.parquet``."""
    stem = file.stem.split("-")[0]
    if stem in FROM_HF_SPLIT or file.parent.name not in FROM_HF_SPLIT:
        return stem
    return file.parent.name


def read_hf_dataset(path: str | Path, split: str | None = None) -> Iterator[ReaderDocument]:
    """Documents from a dataset folder or Parquet file (see the module notes)."""
    return DatasetReader(Job(Path(path), split=split)).documents()
