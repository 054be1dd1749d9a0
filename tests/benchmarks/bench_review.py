"""Review against random: how many planted annotation mistakes the top suspects hold.

Run by hand (not part of the test suite)::

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_review.py \
        --sentences 0 --folds 4 --out /tmp/bench_review.json

WNUT-17 train is imported as the train split (``--sentences N``: a seeded sample of N
sentences; 0 = all 3,394) and dev as dev (``--dev-sentences``), through the store as
any import. Then ``--fraction`` (6 %) of the train entities get another type, drawn
with ``--seed``: the planted mistakes. ``spanlab review``'s code path
(``core.insight.review.run_review``: k fold models trained by the normal trainer, each
predicting the fold it never saw) ranks the suspects; reported are how many of the top
``--top`` (100) sit on a planted span (any kind: the annotation there is flagged),
how many of those are ``wrong_type`` suggesting the original type back, and the same
count for ``--top`` entities drawn at random in the same run (expected: fraction × top,
≈ 6), and the same counts for the fold models' suspects ranked by margin alone (the
ranking before suspects were weighed by kind). Precision at 10 / 50 / 100, the recall
of planted spans among all suspects, the seconds per fold and the machine's load are
written too.

``--cache FILE`` keeps every fold model's tag probabilities of the documents it
predicted; ``--rerank FILE`` ranks them again with the current code, without training.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.formats import import_file  # noqa: E402
from core.insight.review import (  # noqa: E402
    FoldDone,
    _fold_suspects,
    _trainer_fit,
    prepare_review,
    review_events,
)
from core.insight.suspects import rank, weigh_by_kind  # noqa: E402
from core.store import Project  # noqa: E402
from core.training.config import TrainConfig  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "wnut17"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--train", default=str(DATA / "train.txt"))
    p.add_argument("--dev", default=str(DATA / "dev.txt"))
    p.add_argument("--sentences", type=int, default=0, help="train sentences (0: all)")
    p.add_argument("--dev-sentences", type=int, default=0, help="dev sentences (0: all)")
    p.add_argument("--fraction", type=float, default=0.06, help="share of entities planted")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--top", type=int, default=100)
    p.add_argument("--base-model", default="default")
    p.add_argument("--epochs", type=int, default=0, help="0: automatic")
    p.add_argument("--time-budget-s", type=float, default=0, help="per fold model (0: none)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="write the figures as JSON here")
    p.add_argument(
        "--cache",
        help="write every fold model's tag probabilities here (JSON), for --rerank",
    )
    p.add_argument(
        "--rerank",
        help="read a --cache file and rank its probabilities again with the current code "
        "(no training)",
    )
    return p.parse_args()


def sample_conll(path: str, n: int, seed: int, folder: Path) -> str:
    """A seeded sample of ``n`` sentences of a CoNLL file (0: the file itself)."""
    if not n:
        return path
    blocks = [b for b in Path(path).read_text(encoding="utf-8").split("\n\n") if b.strip()]
    chosen = sorted(random.Random(seed).sample(range(len(blocks)), min(n, len(blocks))))
    out = folder / f"sample-{Path(path).name}"
    out.write_text("\n\n".join(blocks[i] for i in chosen) + "\n\n", encoding="utf-8")
    return str(out)


def plant(project: Project, fraction: float, seed: int) -> dict[tuple, str]:
    """Give ``fraction`` of the train entities another type; (doc, start, end) -> the
    original type."""
    labels = [row["name"] for row in project.labels()]
    spans = [
        (doc["id"], start, end, label)
        for doc in project.examples("train")
        for start, end, label in doc["spans"]
    ]
    rng = random.Random(seed)
    chosen = rng.sample(spans, round(fraction * len(spans)))
    by_place = {}
    with project.atomic():
        for doc_id, start, end, label in chosen:
            row = next(r for r in project.spans(doc_id) if (r["start"], r["end"]) == (start, end))
            project.set_span_label(row["id"], rng.choice([x for x in labels if x != label]))
            by_place[(doc_id, start, end)] = label
    return by_place


class Recorded:
    """A fold model read back from a ``--cache`` file: the same tags and probabilities."""

    def __init__(self, tags: list[str], probs: dict[int, list]) -> None:
        self.tags = tags
        self.probs = probs

    def probabilities(self, docs):
        return [self.probs[doc["id"]] for doc in docs]

    def close(self) -> None:
        pass


def train_folds(args: argparse.Namespace) -> dict:
    """Import, plant, train the fold models (the review's own code path) and keep each
    fold's tag probabilities of the documents it predicted."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        project = Project.create(folder / "bench.spanlab")
        import_file(
            project, sample_conll(args.train, args.sentences, args.seed, folder), split="train"
        )
        import_file(
            project, sample_conll(args.dev, args.dev_sentences, args.seed, folder), split="dev"
        )
        entities = sum(len(doc["spans"]) for doc in project.examples("train"))
        planted = plant(project, args.fraction, args.seed)
        config = TrainConfig(
            base_model=args.base_model,
            epochs=args.epochs,
            time_budget_s=args.time_budget_s,
            device=args.device,
            seed=args.seed,
        )
        plan = prepare_review(project, config, args.folds, "train")
        fit = _trainer_fit(plan)
        folds: list[dict] = []

        def recording_fit(fold, train, dev, should_stop):
            model = yield from fit(fold, train, dev, should_stop)
            if model is None:
                return None
            held = [d for d, f in zip(plan.documents, plan.folds, strict=True) if f == fold]
            probs = model.probabilities(held)
            folds.append(
                {
                    "tags": model.tags,
                    "docs": [[d["id"], p] for d, p in zip(held, probs, strict=True)],
                }
            )
            return model

        seconds: list[float] = []
        started = time.monotonic()
        events = review_events(plan, fit=recording_fit)
        while True:
            try:
                event = next(events)
            except StopIteration:
                break
            if isinstance(event, FoldDone):
                seconds.append(round(event.seconds, 1))
                print(f"fold {event.fold + 1}/{event.folds}: {event.seconds:.0f} s", flush=True)
        documents = [
            {"id": d["id"], "tokens": d["tokens"], "spans": d["spans"], "fold": f}
            for d, f in zip(plan.documents, plan.folds, strict=True)
        ]
        project.close()
    return {
        "train_sentences": len(plan.documents),
        "dev_sentences": len(plan.dev),
        "entities": entities,
        "planted": [[*place, label] for place, label in planted.items()],
        "k": plan.k,
        "documents": documents,
        "folds": folds,
        "seconds": round(time.monotonic() - started, 1),
        "seconds_per_fold": seconds,
        "config": {
            k: v
            for k, v in config.to_dict().items()
            if k in ("base_model", "epochs", "time_budget_s", "device")
        },
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cpus": os.cpu_count(),
    }


def rank_cached(cache: dict, by_kind: bool = True) -> list:
    """The suspects of the cached probabilities, ranked by the current code."""
    docs = {d["id"]: d for d in cache["documents"]}
    suspects, judged = [], 0
    for fold, recorded in enumerate(cache["folds"]):
        probs = {doc_id: p for doc_id, p in recorded["docs"]}
        held = [docs[doc_id] for doc_id in probs]
        found, _, spans = _fold_suspects(Recorded(recorded["tags"], probs), held, fold)
        suspects.extend(found)
        judged += spans
    return weigh_by_kind(suspects, judged) if by_kind else rank(suspects)


def figures_of(cache: dict, suspects: list, top_n: int, seed: int) -> dict:
    planted = {(d, s, e): label for d, s, e, label in cache["planted"]}
    spans = [(d["id"], s, e) for d in cache["documents"] for s, e, *_ in d["spans"]]

    def hit(s) -> bool:
        return (s.doc_id, s.start, s.end) in planted

    def recovered(s) -> bool:
        return (
            hit(s) and s.kind == "wrong_type" and s.suggested == planted[(s.doc_id, s.start, s.end)]
        )

    top = suspects[:top_n]
    random_top = random.Random(seed + 1).sample(spans, min(top_n, len(spans)))
    entities = cache["entities"]
    out = {key: cache[key] for key in ("train_sentences", "dev_sentences", "entities")}
    out.update(
        {
            "planted": len(planted),
            "folds": cache["k"],
            "suspects": len(suspects),
            "top": len(top),
            "planted_in_top": sum(map(hit, top)),
            "recovered_in_top": sum(map(recovered, top)),
            "random_planted_in_top": sum(1 for place in random_top if place in planted),
            "random_expected": round(top_n * len(planted) / max(entities, 1), 2),
            "precision_at": {k: sum(map(hit, suspects[:k])) / k for k in (10, 50, 100)},
            "planted_recall_all_suspects": round(
                len({(s.doc_id, s.start, s.end) for s in suspects if hit(s)})
                / max(len(planted), 1),
                3,
            ),
            "kinds_in_top": {
                k: sum(1 for s in top if s.kind == k)
                for k in ("wrong_type", "missed", "spurious", "boundary")
            },
            "kinds_all": {
                k: sum(1 for s in suspects if s.kind == k)
                for k in ("wrong_type", "missed", "spurious", "boundary")
            },
        }
    )
    out.update(
        {
            key: cache[key]
            for key in (
                "seconds",
                "seconds_per_fold",
                "config",
                "loadavg_before",
                "loadavg_after",
                "cpus",
            )
        }
    )
    return out


def main() -> None:
    args = parse_args()
    if args.rerank:
        cache = json.loads(Path(args.rerank).read_text(encoding="utf-8"))
    else:
        cache = train_folds(args)
        if args.cache:
            Path(args.cache).write_text(json.dumps(cache) + "\n", encoding="utf-8")
    figures = figures_of(cache, rank_cached(cache), args.top, args.seed)
    alone = figures_of(cache, rank_cached(cache, by_kind=False), args.top, args.seed)
    figures["ranked_by_margin_alone"] = {
        key: alone[key]
        for key in ("planted_in_top", "recovered_in_top", "precision_at", "kinds_in_top")
    }
    print(json.dumps(figures, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
