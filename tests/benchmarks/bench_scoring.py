"""Scoring a pool for active learning against plain prediction of the same documents.

Run by hand (not collected by pytest), e.g.:

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_scoring.py
    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_scoring.py --n 5000 --threads 2
    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_scoring.py --model runs/run-7

N short documents (the WNUT-17 train sentences, repeated until there are N) are scored
by ``PoolScorer`` with each strategy, and tagged by ``Predictor.predict_tokens`` (the
peer: one forward pass per window, entities built) on the same documents with the same
predictor, in the same process. The peer runs before and after the strategies and its
mean is used, so a change in the load of a shared machine weighs on both sides alike.
Throughput is documents per wall-clock second and per CPU-second of the process
(steadier on a shared machine), including sub-word encoding for both.

Without ``--model`` the model is the default base (all-MiniLM-L6-v2) with a fresh head
for WNUT-17's tags: the time does not depend on the head's weights, only on its shape.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "wnut17"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="documents in the pool")
    p.add_argument("--data", default=str(DATA / "train.txt"), help="CoNLL file of sentences")
    p.add_argument("--model", help="a model folder (default: the default base, fresh head)")
    p.add_argument("--strategies", default="mnlp,entropy,bald,random")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--passes", type=int, default=10, help="BALD's MC-dropout passes")
    p.add_argument("--precision", default="auto", help="auto | no | bf16")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args()

    import torch
    from transformers.utils import logging

    from core.active.scoring import PoolScorer, check_strategy
    from core.training.predict import Predictor

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    strategies = [check_strategy(s) for s in args.strategies.split(",")]
    docs = pool(args.data, args.n)
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        folder = args.model or fresh_model(args.data, Path(tmp) / "model")
        predictor = Predictor(
            folder, device=args.device, batch_size=args.batch_size, precision=args.precision
        )
        scorer = PoolScorer(predictor, passes=args.passes)
        texts, tokens = [d["text"] for d in docs], [d["tokens"] for d in docs]
        words = sum(len(t) for t in tokens)
        print(
            f"{len(docs):,} documents ({words / len(docs):.1f} words each), model "
            f"{folder if args.model else 'all-MiniLM-L6-v2 + fresh head'}, "
            f"{predictor.device_name}, {predictor.precision}, batch {args.batch_size}, "
            f"{torch.get_num_threads()} threads",
            flush=True,
        )
        scorer.score(docs[:64], "bald")  # warm-up: first-call costs out of the figures
        predictor.predict_tokens(texts[:64], tokens[:64])

        def peer() -> tuple[float, float]:
            return timed(lambda: predictor.predict_tokens(texts, tokens))

        results = {}
        before = peer()
        for strategy in strategies:
            print(f"scoring with {strategy} ...", file=sys.stderr, flush=True)
            results[strategy] = timed(lambda s=strategy: scorer.score(docs, s))
        after = peer()
    report(len(docs), results, ((before[0] + after[0]) / 2, (before[1] + after[1]) / 2))
    return 0


def pool(path: str, n: int) -> list[dict]:
    """``n`` documents: the file's sentences over and over, each with its own id."""
    from core.formats import read_conll

    sentences = [(d["text"], d["tokens"]) for d in read_conll(path, scheme="iob2") if d["tokens"]]
    return [
        {"id": i + 1, "text": text, "tokens": tokens, "group": None}
        for i, (text, tokens) in ((i, sentences[i % len(sentences)]) for i in range(n))
    ]


def fresh_model(data: str, folder: Path) -> str:
    """The default base model with a fresh head for the data's labels, saved as a folder."""
    from core.domain import DEFAULT_MODEL
    from core.formats import read_conll
    from core.training.data import entity_labels
    from core.training.loading import resolve_model_path
    from core.training.modeling import build_model

    labels = entity_labels(list(read_conll(data, scheme="iob2")))
    model, tokenizer, _, _ = build_model(resolve_model_path(DEFAULT_MODEL), labels)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def timed(job) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) that ``job()`` took."""
    wall, cpu = time.perf_counter(), time.process_time()
    job()
    return time.perf_counter() - wall, time.process_time() - cpu


def report(n: int, results: dict, peer: tuple[float, float]) -> None:
    header = f"{'':<28} {'docs/s':>9} {'per CPU-s':>10} {'vs peer':>8} {'100k docs':>10}"
    print(header)
    print("-" * len(header))

    def row(name: str, wall: float, cpu: float) -> None:
        ratio = peer[0] / wall
        print(
            f"{name:<28} {n / wall:>9,.0f} {n / cpu:>10,.0f} {ratio:>7.2f}x "
            f"{100_000 / (n / wall) / 60:>8.1f} min"
        )

    row("Predictor.predict_tokens", *peer)
    for strategy, (wall, cpu) in results.items():
        row(f"PoolScorer {strategy}", wall, cpu)
    print("vs peer: the peer's wall time over the strategy's (> 1: faster than predicting)")


if __name__ == "__main__":
    raise SystemExit(main())
