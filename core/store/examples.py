"""Training examples: the annotated documents with their human spans, as plain data."""

from __future__ import annotations

import json
from typing import Any

from core.domain import SPLITS
from core.store.connection import ProjectFile
from core.store.values import check_choice


class Examples(ProjectFile):
    """What training and evaluation read from the store."""

    def examples(self, split: str | None = None) -> list[dict]:
        """Annotated documents with their human spans, as plain data for training:
        ``{id, text, tokens, split, spans: [(start, end, label), ...]}``."""
        params: list[Any] = []
        where = "d.status = 'annotated'"
        if split is not None:
            check_choice("split", split, SPLITS)
            where += " AND d.split = ?"
            params.append(split)
        examples: dict[int, dict] = {}
        for doc_id, text, tokens, doc_split in self._conn.execute(
            f"SELECT d.id, d.text, d.tokens, d.split FROM documents d WHERE {where} ORDER BY d.id",
            params,
        ):
            examples[doc_id] = {
                "id": doc_id,
                "text": text,
                "tokens": json.loads(tokens),
                "split": doc_split,
                "spans": [],
            }
        for doc_id, start, end, label in self._conn.execute(
            'SELECT s.document_id, s."start", s."end", l.name FROM spans s'
            " JOIN labels l ON l.id = s.label_id JOIN documents d ON d.id = s.document_id"
            f" WHERE s.origin = 'human' AND {where} ORDER BY s.document_id, s.\"start\"",
            params,
        ):
            examples[doc_id]["spans"].append((start, end, label))
        return list(examples.values())
