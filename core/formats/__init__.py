"""Import and export: CoNLL column files, JSONL (spaCy/Prodigy and doccano), plain text,
Label Studio JSON, brat standoff folders, spaCy DocBin (export) and Hugging Face datasets.

One module per format holds its reader and its writer (``conll``, ``jsonl``, ``text``,
``label_studio``, ``brat``, ``spacy_docbin``, ``hf_dataset``);
``common`` holds what the readers share (opening files safely, limits, line numbers in
messages), ``importer`` and ``export`` the two directions.

Readers are generators of plain document dicts (the keys of ``Project.add_document``), so
a million-sentence file streams through without being held in memory. ``import_file``
feeds a reader to the store, which writes everything in one transaction: any error —
raised by the reader half-way through the file or by the store — rolls the whole import
back, and the ImportFormatError names the file, the 1-based line, what is wrong and what
to do. ``interchange`` feeds the other tools' formats to the store the same way. Only
the CoNLL and Hugging Face readers' documents, built from one tokenization, skip the store's
token and span checks (``Project.add_reader_documents``).
"""

from __future__ import annotations

from core.domain import FOLDER_FORMATS
from core.formats.brat import read_brat
from core.formats.common import (
    MAX_DOCUMENT_CHARS,
    MAX_JSON_DEPTH,
    MAX_JSONL_LINE_CHARS,
    Progress,
    ShouldStop,
)
from core.formats.conll import read_conll
from core.formats.export import EXPORT_FORMATS, export_file
from core.formats.hf_dataset import read_hf_dataset
from core.formats.importer import IMPORT_FORMATS, ImportResult, guess_format, import_file
from core.formats.jsonl import read_jsonl
from core.formats.label_studio import read_label_studio
from core.formats.text import read_text

__all__ = [
    "EXPORT_FORMATS",
    "FOLDER_FORMATS",
    "IMPORT_FORMATS",
    "MAX_DOCUMENT_CHARS",
    "MAX_JSONL_LINE_CHARS",
    "MAX_JSON_DEPTH",
    "ImportResult",
    "Progress",
    "ShouldStop",
    "export_file",
    "guess_format",
    "import_file",
    "read_brat",
    "read_conll",
    "read_hf_dataset",
    "read_jsonl",
    "read_label_studio",
    "read_text",
]
