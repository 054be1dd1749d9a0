"""spaCy's binary training format (``.spacy``, a ``DocBin``), written for ``spacy train``.

Each annotated document becomes a ``Doc`` whose words are the stored tokens (white
space between them kept: a single space as the token's trailing space, anything else as
spaCy's own white-space tokens, so ``doc.text`` is the document's text) and whose
``ents`` are its human spans. spaCy is an optional extra (``spanlab[spacy]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from core.errors import ExportError

INSTALL_HINT = "pip install 'spanlab[spacy]'"


def require_spacy() -> Any:
    """The ``spacy`` module, or ExportError saying how to install it."""
    try:
        import spacy
    except ImportError:
        raise ExportError(
            f"The spaCy format needs spaCy, which is not installed: {INSTALL_HINT} "
            "(or pip install spacy), then export again."
        ) from None
    return spacy


def words_and_spaces(text: str, tokens: list) -> tuple[list[str], list[bool]]:
    """spaCy's ``words`` and ``spaces`` for ``tokens`` of ``text``, white space included."""
    words: list[str] = []
    spaces: list[bool] = []

    def gap(between: str) -> None:
        if words and between.startswith(" "):  # the word before takes one trailing space
            spaces[-1], between = True, between[1:]
        if between:  # any other white space is a token of its own, as spaCy makes it
            words.append(between)
            spaces.append(False)

    position = 0
    for start, end in tokens:
        gap(text[position:start])
        words.append(text[start:end])
        spaces.append(False)
        position = end
    gap(text[position:])
    return words, spaces


def write_docbin(out: IO[bytes], items: Iterator[tuple[dict, list[dict], list[dict]]]) -> None:
    """Write the annotated documents' ``Doc``s (with their human spans as ``ents``)."""
    require_spacy()
    from spacy.tokens import Doc, DocBin
    from spacy.vocab import Vocab

    vocab = Vocab()
    docbin = DocBin(attrs=["ORTH", "ENT_IOB", "ENT_TYPE"], store_user_data=False)
    for doc, spans, _ in items:
        if not doc["tokens"]:
            continue
        words, spaces = words_and_spaces(doc["text"], doc["tokens"])
        made = Doc(vocab, words=words, spaces=spaces)
        if made.text != doc["text"]:
            raise ExportError(f"Document {doc['id']}: its words do not rebuild its text for spaCy.")
        ents = []
        for span in spans:
            ent = made.char_span(span["start"], span["end"], label=span["label"])
            if ent is None:
                raise ExportError(
                    f"Document {doc['id']}: the {span['label']} span at {span['start']}-"
                    f"{span['end']} does not fall on its words."
                )
            ents.append(ent)
        made.ents = ents
        docbin.add(made)
    out.write(docbin.to_bytes())
