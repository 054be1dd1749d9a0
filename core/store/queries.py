"""Finding documents: filtered lists and counts, full-text search, statistics, splits.

A list is one page in id order, or with ``order="useful"`` most useful first: the
documents ranked by the project's strategy (``Scores.rank_documents``) by rank, then the
others by id. Filters combine. The SQL is chosen for a project of a million documents:
a page stops after ``limit`` rows, counts come from indexes.
"""

from __future__ import annotations

import random
from typing import Any, Unpack

from core import migrations
from core.domain import ORDERS, ORIGINS, SPLITS, STATUSES, DocumentFilter
from core.errors import ValidationError
from core.store.connection import now
from core.store.labels import Labels
from core.store.settings import Settings
from core.store.values import check_choice

#: How much of a document's text a list shows.
PREVIEW_CHARS = 160
# Above this many matching spans a label/origin filter is probed per document (EXISTS);
# below it the matching ids are collected first (IN). Where the two cost the same for
# a page of 100 out of a million documents.
_COMMON_SPANS = 20000
#: The rank of a document without one in the useful order: after every ranked one.
_UNRANKED = 2**63 - 1


class Queries(Labels, Settings):
    """Lists, counts, search, statistics and the assignment of splits."""

    def list_documents(
        self,
        status: str | None = None,
        split: str | None = None,
        label: str | None = None,
        origin: str | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int = 100,
        order: str | None = None,
    ) -> list[dict]:
        """One page of documents: ``{id, preview, split, status, n_spans, n_model_spans,
        score}`` (n_spans counts human spans, n_model_spans the model's; ``score`` is the
        usefulness by the project's strategy, None when unscored).

        Filters combine: ``label`` keeps documents with a span of that label, ``origin``
        those with a span of that origin, ``search`` is full-text (all words must occur).
        ``order`` is ``"id"`` (the default) or ``"useful"`` (most useful first).
        """
        source, where, params, keys = self._filter_sql(
            status, split, label, origin, search, page=True, order=order
        )
        strategy = _literal(self.strategy())
        sql = (
            f"SELECT d.id, substr(d.text, 1, {PREVIEW_CHARS}) AS preview, d.split, d.status,"
            " (SELECT count(*) FROM spans s WHERE s.document_id = d.id"
            "  AND s.origin = 'human') AS n_spans,"
            " (SELECT count(*) FROM spans s WHERE s.document_id = d.id"
            "  AND s.origin = 'model') AS n_model_spans,"
            " (SELECT sc.score FROM scores sc WHERE sc.document_id = d.id"
            f"  AND sc.strategy = {strategy}) AS score"
            f" FROM {source}{where} ORDER BY {', '.join(keys)} LIMIT ? OFFSET ?"
        )
        return self._rows(sql, [*params, max(0, int(limit)), max(0, int(offset))])

    def count_documents(
        self,
        status: str | None = None,
        split: str | None = None,
        label: str | None = None,
        origin: str | None = None,
        search: str | None = None,
        order: str | None = None,
    ) -> int:
        """How many documents match the filters (kept apart from list_documents: a count
        over a large project costs more than a page). ``order`` changes no count; it is
        taken so that every call takes the same filters."""
        source, where, params, _ = self._filter_sql(status, split, label, origin, search)
        if order is not None:
            check_choice("order", order, ORDERS)
        return self._scalar(f"SELECT count(*) FROM {source}{where}", params)

    def document_ids(
        self,
        status: str | None = None,
        split: str | None = None,
        label: str | None = None,
        origin: str | None = None,
        search: str | None = None,
        order: str | None = None,
    ) -> list[int]:
        """The ids of every document matching the filters, in list order."""
        source, where, params, keys = self._filter_sql(
            status, split, label, origin, search, order=order
        )
        sql = f"SELECT d.id FROM {source}{where} ORDER BY {', '.join(keys)}"
        cursor = self._conn.execute(sql, params)
        return [row[0] for row in cursor]

    def neighbour_document(
        self, doc_id: int, step: int = 1, **filters: Unpack[DocumentFilter]
    ) -> int | None:
        """The id ``step`` places after (or, negative, before) ``doc_id`` in the filtered
        list; None past either end. ``doc_id`` itself need not match the filters, nor
        have a rank in the useful order (then it stands among the unranked, by id)."""
        if step == 0:
            return doc_id
        source, where, params, keys = self._filter_sql(**filters, page=True)
        comparison, direction = (">", "ASC") if step > 0 else ("<", "DESC")
        place = [doc_id]
        if len(keys) == 2:  # the useful order: (rank, id) past the document's own
            place.insert(0, self._useful_place(doc_id, source, where, params))
            if place[0] == 0:
                place[1] = 0
        after = f"({', '.join(keys)}) {comparison} ({', '.join('?' * len(keys))})"
        ordering = ", ".join(f"{key} {direction}" for key in keys)
        where = f"{where} AND {after}" if where else f" WHERE {after}"
        return self._scalar(
            f"SELECT d.id FROM {source}{where} ORDER BY {ordering} LIMIT 1 OFFSET ?",
            [*params, *place, abs(step) - 1],
        )

    def _useful_place(self, doc_id: int, source: str, where: str, params: list[Any]) -> int:
        """Where ``doc_id`` stands in the useful order: its rank; unranked, after every
        ranked document when it is in the list, and before the first when it is not
        (one just marked annotated, after a new ranking: next is the most useful)."""
        rank = self._scalar(
            "SELECT rank FROM scores WHERE document_id = ? AND strategy = ?",
            [doc_id, self.strategy()],
        )
        if rank is not None:
            return rank
        listed = f"{where} AND d.id = ?" if where else " WHERE d.id = ?"
        in_list = self._scalar(f"SELECT 1 FROM {source}{listed}", [*params, doc_id])
        return _UNRANKED if in_list else 0

    def _filter_sql(
        self,
        status: str | None = None,
        split: str | None = None,
        label: str | None = None,
        origin: str | None = None,
        search: str | None = None,
        page: bool = False,
        order: str | None = None,
    ) -> tuple[str, str, list[Any], list[str]]:
        """FROM clause, WHERE clause, parameters and the columns to order by.

        ``page`` says the query stops after one page in id order: then a label or
        origin found on many documents is tested per document (EXISTS), which finds a
        page after a few hundred probes; a rare one, and every full count, collects
        the matching ids from the index first (IN), which costs what the matches cost.
        The order is the id column, or for ``order="useful"`` two columns: the rank by
        the project's strategy (unranked last) and the id.
        """
        source, key = "documents d", "d.id"
        clauses: list[str] = []
        params: list[Any] = []
        query = _fts_query(search) if search else ""
        if query:
            # The FTS table drives the loop and the order: it yields rowids in order, so
            # a page of a common word stops after ``limit`` rows instead of sorting them all.
            source, key = "documents_fts f CROSS JOIN documents d ON d.id = f.rowid", "f.rowid"
            clauses.append("documents_fts MATCH ?")
            params.append(query)
        if status is not None:
            check_choice("status", status, STATUSES)
            clauses.append("d.status = ?")
            params.append(status)
        if split is not None:
            check_choice("split", split, SPLITS)
            clauses.append("d.split = ?")
            params.append(split)
        if label is not None:
            label_id = self._label_id(label) or 0
            if page and self._common("label_id = ?", [label_id]):
                clauses.append(
                    "EXISTS (SELECT 1 FROM spans s WHERE s.label_id = ? AND s.document_id = d.id)"
                )
            else:
                clauses.append("d.id IN (SELECT document_id FROM spans WHERE label_id = ?)")
            params.append(label_id)
        if origin is not None:
            check_choice("origin", origin, ORIGINS)
            if origin == "human" or (page and self._common("origin = 'model'", [])):
                clauses.append(
                    "EXISTS (SELECT 1 FROM spans s WHERE s.document_id = d.id AND s.origin = ?)"
                )
            else:
                clauses.append("d.id IN (SELECT document_id FROM spans WHERE origin = ?)")
            params.append(origin)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        if order is not None:
            check_choice("order", order, ORDERS)
        if order != "useful":
            return source, where, params, [key]
        rank = (
            "coalesce((SELECT sc.rank FROM scores sc WHERE sc.document_id = d.id"
            f" AND sc.strategy = {_literal(self.strategy())}), {_UNRANKED})"
        )
        return source, where, params, [rank, key]

    def _common(self, condition: str, params: list[Any]) -> bool:
        """Whether at least _COMMON_SPANS spans meet ``condition`` (an indexed probe)."""
        sql = f"SELECT count(*) FROM (SELECT 1 FROM spans WHERE {condition} LIMIT {_COMMON_SPANS})"
        return self._scalar(sql, params) >= _COMMON_SPANS

    # -- statistics and splits ---------------------------------------------------------

    def stats(self) -> dict:
        """Documents, annotated documents and human entities per label, per split.

        Counted from indexes: totals from whole-index scans, the smaller splits one by
        one, and the largest split as the totals less the others, so its documents and
        spans are never visited one by one. Right after an import, with every document
        in one split, that is three index scans: 0.25 s for a million documents and
        2.4 million spans, where joining every span to its document took 2.5 s.
        """
        conn = self._conn
        labels = self.labels()
        names = {lb["id"]: lb["name"] for lb in labels}
        splits = {
            split: {"documents": 0, "annotated": 0, "entities": {lb["name"]: 0 for lb in labels}}
            for split in SPLITS
        }
        for split, n in conn.execute("SELECT split, count(*) FROM documents GROUP BY split"):
            splits[split]["documents"] = n
        annotated = self._scalar("SELECT count(*) FROM documents WHERE status = 'annotated'")
        # Human spans per label: all spans (a scan of spans_label) less the few model
        # spans (through their partial index, which the planner would not pick itself).
        human = dict.fromkeys(names, 0)
        for label_id, n in conn.execute("SELECT label_id, count(*) FROM spans GROUP BY label_id"):
            human[label_id] += n
        for label_id, n in conn.execute(
            "SELECT label_id, count(*) FROM spans INDEXED BY spans_model"
            " WHERE origin = 'model' GROUP BY label_id"
        ):
            human[label_id] -= n
        largest = max(SPLITS, key=lambda split: splits[split]["documents"])
        for split in SPLITS:
            entry = splits[split]
            if split == largest or not entry["documents"]:
                continue
            entry["annotated"] = self._scalar(
                "SELECT count(*) FROM documents WHERE split = ? AND status = 'annotated'",
                [split],
            )
            annotated -= entry["annotated"]
            # Documents first (CROSS JOIN fixes the order): the split's ids from
            # documents_split, then each one's spans from the covering spans_document.
            for label_id, n in conn.execute(
                "SELECT s.label_id, count(*) FROM documents d"
                " CROSS JOIN spans s ON s.document_id = d.id"
                " WHERE d.split = ? AND s.origin = 'human' GROUP BY s.label_id",
                [split],
            ):
                entry["entities"][names[label_id]] = n
                human[label_id] -= n
        splits[largest]["annotated"] = annotated
        for label_id, n in human.items():
            splits[largest]["entities"][names[label_id]] = n
        total = sum(entry["documents"] for entry in splits.values())
        return {"splits": splits, "labels": labels, "documents": total}

    def assign_splits(
        self,
        train: float = 0.8,
        dev: float = 0.1,
        test: float = 0.1,
        seed: int = 13,
        only_unassigned: bool = True,
    ) -> dict[str, int]:
        """Shuffle documents (reproducibly, by ``seed``) into train/dev/test by ratio.

        Only unassigned documents move unless ``only_unassigned`` is False. Returns
        how many went to each split.
        """
        ratios = {"train": train, "dev": dev, "test": test}
        if any(r < 0 for r in ratios.values()) or sum(ratios.values()) <= 0:
            raise ValidationError("Split ratios must be zero or more, and not all zero.")
        with self.atomic():
            where = " WHERE split = 'unassigned'" if only_unassigned else ""
            ids = [r[0] for r in self._conn.execute(f"SELECT id FROM documents{where} ORDER BY id")]
            random.Random(seed).shuffle(ids)
            counts = _split_counts(len(ids), ratios)
            stamp = now()
            position = 0
            for split, n in counts.items():
                self._conn.executemany(
                    "UPDATE documents SET split = ?, updated = ? WHERE id = ?",
                    [(split, stamp, doc_id) for doc_id in ids[position : position + n]],
                )
                position += n
        return counts


def _literal(strategy: str) -> str:
    """A strategy as an SQL string literal (it is one of STRATEGIES, checked on reading,
    so it can be written into a query that already takes positional parameters)."""
    return "'" + strategy.replace("'", "''") + "'"


def _split_counts(n: int, ratios: dict[str, float]) -> dict[str, int]:
    """Whole numbers of documents per split, in proportion, adding up to ``n``."""
    total = sum(ratios.values())
    counts = {split: int(n * ratio / total) for split, ratio in ratios.items()}
    # Hand out what rounding down left over, largest remainder first.
    remainders = sorted(ratios, key=lambda s: n * ratios[s] / total - counts[s], reverse=True)
    for split in remainders[: n - sum(counts.values())]:
        counts[split] += 1
    return counts


#: The last word typed matches as a prefix from this many characters on ("Oba" finds
#: "Obama" while the person is still typing); shorter ones would match too many terms.
PREFIX_FROM_CHARS = 3


def _fts_query(search: str) -> str:
    """A safe FTS5 query from what a person typed: every word must occur, in any order,
    the last one possibly as the start of a word.

    Each word is quoted, so punctuation and FTS operators in the input are just text.
    """
    words = search.split()
    phrases = [" ".join(migrations.search_text(word).split()) for word in words]
    quoted = ['"' + phrase.replace('"', '""') + '"' for phrase in phrases]
    if quoted and len(words[-1]) >= PREFIX_FROM_CHARS and words[-1].isalnum():
        quoted[-1] += "*"  # FTS5: a quoted string followed by * is a prefix query
    return " ".join(quoted)
