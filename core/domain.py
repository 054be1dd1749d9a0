"""The data model's fixed vocabularies and document types: one source for every module.

The store checks values against these, the readers and the CLI offer them, the desktop
fills its menus from them. Nothing here imports anything of Spanlab's.
"""

from __future__ import annotations

from typing import TypedDict

#: Where a document belongs for training and evaluation.
SPLITS = ("train", "dev", "test", "unassigned")
#: How far a person got with a document.
STATUSES = ("new", "annotated", "skipped")
#: Who made a span: a person, or a model's suggestion.
ORIGINS = ("human", "model")
#: The life of a training run.
RUN_STATUSES = ("queued", "running", "done", "failed", "cancelled")
#: Runs that may still have a process working on them.
OPEN_RUN_STATUSES = ("queued", "running")
#: The tag schemes a CoNLL file may use (spans are the truth; tags exist only on the way
#: in and out).
TAG_SCHEMES = ("iob1", "iob2", "bioes")
#: What an import may be told about the file's scheme: one of TAG_SCHEMES, or "auto".
IMPORT_SCHEMES = ("auto", *TAG_SCHEMES)
#: The file formats an import reads and an export writes (``core.formats``).
IMPORT_FORMATS = ("conll", "jsonl", "text", "label-studio", "brat", "hf-dataset", "hf-parquet")
EXPORT_FORMATS = (
    "conll", "conll-bioes", "jsonl", "doccano", "label-studio", "brat", "spacy",
    "hf-dataset", "hf-parquet",
)  # fmt: skip
#: The formats that are a folder rather than one file (hf-dataset may also be a .parquet file).
FOLDER_FORMATS = ("brat", "hf-dataset", "hf-parquet")
#: The longest name of a document group (``documents.group_key``) the store takes.
MAX_GROUP_CHARS = 1000
#: The word tokenizers a project may choose for its new text (``core.tokenize``): split
#: the way NER corpora are (Penn Treebank / CoNLL), or the basic letters-and-symbols one.
TOKENIZERS = ("corpus", "basic")
#: The tokenizer of a new project and of raw-text prediction.
DEFAULT_TOKENIZER = "corpus"
#: The default base model's name in a TrainConfig: the embedded all-MiniLM-L6-v2.
DEFAULT_MODEL = "default"
#: How a model's usefulness score of a ``new`` document is computed (``core.active``):
#: uncertainty by MNLP, token entropy, BALD with MC dropout, or a seeded random draw.
STRATEGIES = ("mnlp", "entropy", "bald", "random")
#: The strategy of a project that has not chosen one.
DEFAULT_STRATEGY = "mnlp"
#: The splits whose ``new`` documents a model chooses from (the pool): what is chosen is
#: annotated to train on; dev and test stay a sample no model picked.
POOL_SPLITS = ("train", "unassigned")
#: The orders of a document list: by id, or most useful first (the project's strategy).
ORDERS = ("id", "useful")


class DocumentFilter(TypedDict, total=False):
    """The filters of a document list (``Project.list_documents`` and its kin); each one
    left out (or None) does not filter."""

    status: str | None  # one of STATUSES
    split: str | None  # one of SPLITS
    label: str | None  # has a span of this label
    origin: str | None  # has a span of this origin (one of ORIGINS)
    search: str | None  # full-text: every word occurs
    order: str | None  # one of ORDERS: "id" (the default) or "useful" (most useful first)


class ReaderDocument(dict):
    """A document from an import reader that built its tokens and spans itself.

    Its keys are a plain document's (text, tokens, spans, split, status, source), and the
    reader guarantees what the store would otherwise check for every document: ``tokens``
    is a list of ``(start, end)`` int tuples, in order, non-empty and inside the text;
    ``spans`` is a list of ``(start, end, label)`` tuples that start and end on those
    tokens' edges, sorted and not overlapping. Only ``Project.add_reader_documents``
    trusts that (it skips about a fifth of a CoNLL import's time); given to
    ``add_documents`` it is checked in full like any other dict.
    """

    __slots__ = ()
