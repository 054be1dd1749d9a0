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
        ``{id, text, tokens, split, group, spans: [(start, end, label), ...]}``, in id
        order (``group`` is None for a document of its own; training reads the
        neighbouring sentences of a group as context)."""
        params: list[Any] = []
        where = "d.status = 'annotated'"
        if split is not None:
            check_choice("split", split, SPLITS)
            where += " AND d.split = ?"
            params.append(split)
        examples: dict[int, dict] = {}
        for doc_id, text, tokens, doc_split, group in self._conn.execute(
            "SELECT d.id, d.text, d.tokens, d.split, d.group_key FROM documents d"
            f" WHERE {where} ORDER BY d.id",
            params,
        ):
            examples[doc_id] = {
                "id": doc_id,
                "text": text,
                "tokens": json.loads(tokens),
                "split": doc_split,
                "group": group,
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

    def group_neighbours(self, doc_id: int, words: int) -> tuple[list[dict], list[dict]]:
        """The documents of ``doc_id``'s group just before it and just after it, each side
        in id order and holding at least ``words`` words where the group has them:
        ``([{id, text, tokens}, ...], [...])``. A document without a group has none.

        What a model trained with document context reads around a sentence that is not
        among the examples (pre-annotation of new documents).
        """
        group = self._scalar("SELECT group_key FROM documents WHERE id = ?", [doc_id])
        if group is None:
            return [], []
        sides = []
        for comparison, order in (("<", "DESC"), (">", "ASC")):
            side, held = [], 0
            cursor = self._conn.execute(
                f"SELECT id, text, tokens FROM documents WHERE group_key = ? AND id {comparison} ?"
                f" ORDER BY id {order}",
                [group, doc_id],
            )
            for row_id, text, tokens in cursor:
                if held >= words:
                    break
                side.append({"id": row_id, "text": text, "tokens": json.loads(tokens)})
                held += len(side[-1]["tokens"])
            cursor.close()
            sides.append(side)
        before, after = sides
        before.reverse()
        return before, after
