"""Usefulness scores of ``new`` documents, per strategy, and the order they make.

A model scores what ``documents_to_score`` hands out (plain data, so a worker can do it),
and ``save_scores`` writes the results back; ``rank_documents`` then turns the scores
into the "most useful first" order (``core.active.order``), kept as each row's ``rank``
so that a list in that order is an indexed read. A score remembers the model that made
it (``model_key``) and a hash of the text and tokens it read: only documents whose text
or model changed are scored again.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from core.active.order import diverse_order
from core.domain import POOL_SPLITS, STRATEGIES
from core.errors import ValidationError
from core.store.runs import Runs
from core.store.settings import Settings
from core.store.values import check_choice

#: Ids per ``IN (...)`` list (well under SQLite's limit on parameters).
_IDS_PER_QUERY = 500
#: The SQL condition of a pool document (``new``, in a pool split), on ``documents d``.
POOL = "d.status = 'new' AND d.split IN ({})".format(", ".join(f"'{s}'" for s in POOL_SPLITS))


def run_model_key(run_id: int) -> str:
    """The ``model_key`` of scores made by a run's model."""
    return f"run-{run_id}"


def text_hash(text: str, tokens_json: str) -> str:
    """A hash of what a model reads of a document: its text and its stored tokens."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(text.encode("utf-8", "surrogatepass"))
    digest.update(b"\0")
    digest.update(tokens_json.encode("ascii"))
    return digest.hexdigest()


class Scores(Runs, Settings):
    """Storing acquisition scores and ranking the pool by them: the ``new`` documents of
    the train and unassigned splits (dev and test stay a sample no model chose)."""

    def documents_to_score(self, strategy: str, model_key: str) -> list[dict]:
        """The ``new`` documents whose ``strategy`` score is missing, or was made by
        another model than ``model_key`` or from another text: ``{id, text, tokens,
        group, text_hash}`` in id order (hand ``text_hash`` back to ``save_scores``)."""
        check_choice("strategy", strategy, STRATEGIES)
        wanted = []
        for doc_id, text, tokens, group, made_by, made_from in self._pool(strategy):
            current = text_hash(text, tokens)
            if made_by != model_key or made_from != current:
                wanted.append(
                    {
                        "id": doc_id,
                        "text": text,
                        "tokens": json.loads(tokens),
                        "group": group,
                        "text_hash": current,
                    }
                )
        return wanted

    def save_scores(
        self,
        strategy: str,
        model_key: str,
        run_id: int | None,
        rows: Iterable[tuple[int, float, str]],
    ) -> int:
        """Store ``(document id, score, text_hash)`` rows made by ``model_key`` (one
        transaction); returns how many were stored.

        A row whose document was deleted, or whose text hash no longer matches (the text
        was edited while it was scored), is skipped: that document stays to be scored.
        """
        check_choice("strategy", strategy, STRATEGIES)
        with self.atomic():
            if run_id is not None and not self._scalar("SELECT 1 FROM runs WHERE id = ?", [run_id]):
                run_id = None  # the run was deleted meanwhile; its model's scores still hold
            stored = []
            for doc_id, score, made_from in rows:
                if not math.isfinite(score):
                    raise ValidationError(
                        f"The {strategy} score of document {doc_id} is {score}, not a finite "
                        "number: the model gave no usable probabilities. Train it again."
                    )
                row = self._conn.execute(
                    "SELECT text, tokens FROM documents WHERE id = ?", [doc_id]
                ).fetchone()
                if row is not None and text_hash(*row) == made_from:
                    stored.append((doc_id, strategy, run_id, model_key, made_from, float(score)))
            self._conn.executemany(
                "INSERT INTO scores (document_id, strategy, run_id, model_key, text_hash, score)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (document_id, strategy) DO UPDATE SET"
                " run_id = excluded.run_id, model_key = excluded.model_key,"
                " text_hash = excluded.text_hash, score = excluded.score",
                stored,
            )
        return len(stored)

    def rank_documents(self, strategy: str) -> int:
        """Recompute the "most useful first" order of the ``new`` documents scored for
        ``strategy`` (``core.active.order.diverse_order``); the other documents lose
        their rank. Returns how many documents are ranked."""
        check_choice("strategy", strategy, STRATEGIES)
        rows = self._rows(
            'SELECT d.id, s.score, d.text, d.group_key AS "group" FROM scores s'
            " JOIN documents d ON d.id = s.document_id"
            f" WHERE s.strategy = ? AND {POOL}",
            [strategy],
        )
        order = diverse_order(rows)
        with self.atomic():
            self._conn.execute(
                "UPDATE scores SET rank = NULL WHERE strategy = ? AND rank IS NOT NULL", [strategy]
            )
            self._conn.executemany(
                "UPDATE scores SET rank = ? WHERE document_id = ? AND strategy = ?",
                [(rank, doc_id, strategy) for rank, doc_id in enumerate(order, start=1)],
            )
        return len(order)

    def ranked_documents(self, strategy: str, limit: int = 10) -> list[dict]:
        """The first ``limit`` ``new`` documents in the ``strategy`` order: ``{id, score,
        text, rank}`` (an indexed read of the ranks ``rank_documents`` wrote)."""
        check_choice("strategy", strategy, STRATEGIES)
        return self._rows(
            "SELECT d.id, s.score, d.text, s.rank FROM scores s INDEXED BY scores_rank"
            " JOIN documents d ON d.id = s.document_id"
            f" WHERE s.strategy = ? AND s.rank IS NOT NULL AND {POOL}"
            " ORDER BY s.rank LIMIT ?",
            [strategy, max(0, int(limit))],
        )

    def document_scores(self, strategy: str, ids: Sequence[int]) -> dict[int, float]:
        """The ``strategy`` scores of the documents ``ids`` that have one."""
        check_choice("strategy", strategy, STRATEGIES)
        scores: dict[int, float] = {}
        ids = list(ids)
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start : start + _IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            scores.update(
                self._conn.execute(
                    "SELECT document_id, score FROM scores"
                    f" WHERE strategy = ? AND document_id IN ({marks})",
                    [strategy, *chunk],
                )
            )
        return scores

    def scoring_state(self, strategy: str, model_key: str | None = None) -> dict[str, Any]:
        """Where the ``strategy`` scores stand: ``{model_key, run_id, scored, stale}``.

        ``model_key`` defaults to the newest finished run's model; ``scored`` counts the
        ``new`` documents with a score of that model for their current text, ``stale``
        the other ``new`` documents (what scoring would do now). Without a model, every
        score counts as scored and nothing is stale: there is nothing to score with.
        """
        check_choice("strategy", strategy, STRATEGIES)
        run_id = None
        if model_key is None:
            latest = self.latest_run("done")
            if latest is not None:
                run_id, model_key = latest["id"], run_model_key(latest["id"])
        elif model_key.startswith("run-") and model_key[4:].isdigit():
            run_id = int(model_key[4:])
        scored = stale = 0
        for _, text, tokens, _, made_by, made_from in self._pool(strategy):
            if model_key is None:
                scored += made_by is not None
            elif made_by == model_key and made_from == text_hash(text, tokens):
                scored += 1
            else:
                stale += 1
        return {"model_key": model_key, "run_id": run_id, "scored": scored, "stale": stale}

    def _pool(self, strategy: str) -> Iterable[tuple]:
        """``(id, text, tokens JSON, group, model_key, text_hash)`` of every ``new``
        document, the last two from its ``strategy`` score (None without one)."""
        return self._conn.execute(
            "SELECT d.id, d.text, d.tokens, d.group_key, s.model_key, s.text_hash"
            " FROM documents d LEFT JOIN scores s ON s.document_id = d.id AND s.strategy = ?"
            f" WHERE {POOL} ORDER BY d.id",
            [strategy],
        )

    def pool_size(self) -> int:
        """How many documents a model chooses from: ``new`` ones in a pool split
        (``core.domain.POOL_SPLITS``; dev and test are not chosen by a model)."""
        return self._scalar(f"SELECT count(*) FROM documents d WHERE {POOL}")
