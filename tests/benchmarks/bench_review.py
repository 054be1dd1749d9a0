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
≈ 6). Precision at 10 / 50 / 100, the recall of planted spans among all suspects, the
seconds per fold and the machine's load are written too.
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
from core.insight.review import FoldDone, run_review  # noqa: E402
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


def main() -> None:
    args = parse_args()
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
        folds: list[float] = []

        def on_event(event: object) -> None:
            if isinstance(event, FoldDone):
                folds.append(round(event.seconds, 1))
                print(f"fold {event.fold + 1}/{event.folds}: {event.seconds:.0f} s", flush=True)

        started = time.monotonic()
        plan, result = run_review(project, config, args.folds, "train", on_event=on_event)
        seconds = time.monotonic() - started
        spans = [(doc["id"], s, e) for doc in project.examples("train") for s, e, _ in doc["spans"]]
        project.close()

    def hit(s) -> bool:
        return (s.doc_id, s.start, s.end) in planted

    def recovered(s) -> bool:
        return (
            hit(s) and s.kind == "wrong_type" and s.suggested == planted[(s.doc_id, s.start, s.end)]
        )

    top = result.suspects[: args.top]
    random_top = random.Random(args.seed + 1).sample(spans, min(args.top, len(spans)))
    figures = {
        "train_sentences": len(plan.documents),
        "dev_sentences": len(plan.dev),
        "entities": entities,
        "planted": len(planted),
        "folds": result.folds,
        "suspects": len(result.suspects),
        "top": len(top),
        "planted_in_top": sum(map(hit, top)),
        "recovered_in_top": sum(map(recovered, top)),
        "random_planted_in_top": sum(1 for place in random_top if place in planted),
        "random_expected": round(args.top * len(planted) / max(entities, 1), 2),
        "precision_at": {k: sum(map(hit, result.suspects[:k])) / k for k in (10, 50, 100)},
        "planted_recall_all_suspects": round(
            len({(s.doc_id, s.start, s.end) for s in result.suspects if hit(s)})
            / max(len(planted), 1),
            3,
        ),
        "kinds_in_top": {
            k: sum(1 for s in top if s.kind == k)
            for k in ("wrong_type", "missed", "spurious", "boundary")
        },
        "seconds": round(seconds, 1),
        "seconds_per_fold": folds,
        "config": {
            k: v
            for k, v in config.to_dict().items()
            if k in ("base_model", "epochs", "time_budget_s", "device")
        },
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(figures, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
