"""Reviewed suspects: likely annotation mistakes a person looked at and kept.

A review (``core.insight.review``) lists suspects; one the person keeps as annotated is
stored here by its document and its key (the suspect's identity as text), so that a
later review does not show it again. The store does not read the key: the review
makes it and compares it.
"""

from __future__ import annotations

from core.store.connection import now
from core.store.documents import Documents


class Reviews(Documents):
    """Marking suspects reviewed and reading which are."""

    def mark_reviewed(self, doc_id: int, key: str, kind: str) -> None:
        """Remember that a suspect of a document was reviewed and kept (again: no-op)."""
        with self.atomic():
            self._require_documents([doc_id])
            self._conn.execute(
                "INSERT OR IGNORE INTO reviews (document_id, key, kind, reviewed_at)"
                " VALUES (?, ?, ?, ?)",
                [doc_id, key, kind, now()],
            )

    def unmark_reviewed(self, doc_id: int, key: str) -> bool:
        """Forget a reviewed suspect (it shows in the next review); False if unknown."""
        with self.atomic():
            cursor = self._conn.execute(
                "DELETE FROM reviews WHERE document_id = ? AND key = ?", [doc_id, key]
            )
            return cursor.rowcount > 0

    def reviewed_keys(self) -> set[tuple[int, str]]:
        """Every reviewed suspect as ``(document id, key)``."""
        return {
            (doc_id, key)
            for doc_id, key in self._conn.execute("SELECT document_id, key FROM reviews")
        }

    def count_reviewed(self) -> int:
        """How many suspects were reviewed and kept."""
        return int(self._scalar("SELECT count(*) FROM reviews") or 0)
