"""Prediction speed on a CPU: transformers.pipeline, Spanlab torch, ONNX fp32, ONNX int8.

Run by hand (not collected by pytest), e.g.:

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_predict.py --model runs/run-7
    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_predict.py --pool 5000

The model folder (default: all-MiniLM-L6-v2 with a fresh head for WNUT-17's tags; the
speed does not depend on the head's weights, but agreement does, so pass a trained run
for the agreement figures) is exported as ONNX and ONNX int8 with Spanlab's own export,
checked on WNUT-17 dev. Each peer then tags, from raw text to character-offset entities:

- WNUT-17 test (its sentences as they are), and
- a generated pool of ``--pool`` sentences (default 100,000): WNUT-17 train sentences
  whose words are re-drawn, seeded, from the train vocabulary.

Reported per peer: sentences/s and words/s (wall clock, one process, ``--threads``
threads: default the cores this process may use), and the p50 / p90 latency of one
30-word sentence predicted alone. The peers run in the order pipeline, torch, ONNX,
int8 and then again in reverse, and the mean of the two passes is reported, so a change
in the load of a shared machine weighs on every peer alike. Agreement: entity-level F1
of each ONNX model's entities against Spanlab torch's on WNUT-17 test.

Where spaCy is installed in this environment (``pip install 'spanlab[spacy]'``), a spaCy
efficiency pipeline (``spacy init config --pipeline ner --optimize efficiency``: its CNN
tok2vec and transition-based NER) is trained first on the same WNUT-17 train and dev
(exported with Spanlab's own DocBin writer, ``--spacy-steps`` updates) and runs as one more
peer, ``nlp.pipe`` from raw text to entities; its dev F1 is printed beside the others.
``--skip-spacy`` leaves it out.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "wnut17"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", help="a trained model folder (default: fresh head on MiniLM)")
    p.add_argument("--pool", type=int, default=100_000, help="sentences in the generated pool")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="default: the cores available")
    p.add_argument("--latency-runs", type=int, default=200)
    p.add_argument("--skip-pipeline", action="store_true", help="leave transformers.pipeline out")
    p.add_argument("--skip-spacy", action="store_true", help="leave the spaCy peer out")
    p.add_argument(
        "--passes",
        type=int,
        choices=(1, 2),
        default=2,
        help="2: each corpus forward then in reverse order of peers; 1: forward",
    )
    p.add_argument(
        "--pipeline-pool",
        type=int,
        default=0,
        help="transformers.pipeline tags only the first N pool sentences (0: all)",
    )
    p.add_argument(
        "--fp32-peer", action="store_true", help="add Spanlab torch forced to fp32 (--precision no)"
    )
    p.add_argument("--spacy-steps", type=int, default=3000, help="spaCy training updates")
    args = p.parse_args()

    import torch
    from transformers.utils import logging

    from core.deploy.export import export_model
    from core.deploy.verify import agreement_f1
    from core.training.onnx_backend import default_threads
    from core.training.predict import Predictor

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    test = sentences(DATA / "test.txt")
    dev = sentences(DATA / "dev.txt")
    pool = generated_pool(DATA / "train.txt", args.pool)
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        folder = args.model or fresh_model(DATA / "train.txt", Path(tmp) / "model")
        checks = {}
        for fmt in ("onnx", "onnx-int8"):
            started = time.perf_counter()
            checks[fmt] = export_model(folder, Path(tmp) / fmt, fmt, dev_examples=dev, force=True)
            checks[fmt]["seconds"] = round(time.perf_counter() - started, 1)
        spanlab = Predictor(folder, device="cpu", batch_size=args.batch_size)
        peers = {
            "Spanlab torch": spanlab.predict,
            "Spanlab ONNX fp32": Predictor(
                Path(tmp) / "onnx", batch_size=args.batch_size, threads=threads
            ).predict,
            "Spanlab ONNX int8": Predictor(
                Path(tmp) / "onnx-int8", batch_size=args.batch_size, threads=threads
            ).predict,
        }
        if args.fp32_peer:
            peers["Spanlab torch fp32"] = Predictor(
                folder, device="cpu", batch_size=args.batch_size, precision="no"
            ).predict
        if not args.skip_pipeline:
            peers = {"transformers.pipeline": pipeline_peer(folder, args.batch_size), **peers}
        if not args.skip_spacy:
            spacy_peer = spacy_efficiency_peer(Path(tmp) / "spacy", args.spacy_steps)
            if spacy_peer is not None:
                peers["spaCy efficiency"] = spacy_peer
        print(
            f"model {folder if args.model else 'all-MiniLM-L6-v2 + fresh head'}; "
            f"{threads} threads; batch {args.batch_size}; torch precision {spanlab.precision}; "
            f"WNUT-17 test {len(test)} sentences, pool {len(pool)} sentences",
            flush=True,
        )
        for fmt, check in checks.items():
            print(f"export check {fmt} on WNUT-17 dev: {check}", flush=True)
        for predict in peers.values():  # warm-up: first-call costs out of the figures
            predict([s["text"] for s in test[:64]])
        agreement = agreements(peers, test, spanlab, agreement_f1)
        speed = {name: {} for name in peers}
        for corpus_name, corpus in (("WNUT-17 test", test), ("pool", pool)):
            order = list(peers)
            for run in (order, order[::-1])[: args.passes]:
                for name in run:
                    part = corpus
                    if name == "transformers.pipeline" and corpus is pool and args.pipeline_pool:
                        part = corpus[: args.pipeline_pool]
                    texts = [s["text"] for s in part]
                    n_words = sum(len(s["tokens"]) for s in part)
                    print(f"  {corpus_name}: {name} ({len(texts)}) ...", file=sys.stderr,
                          flush=True)  # fmt: skip
                    wall = timed(lambda n=name, t=texts: peers[n](t))
                    speed[name].setdefault(corpus_name, []).append((len(texts), n_words, wall))
        latency = {name: latencies(peers[name], args.latency_runs) for name in peers}
    report(speed, latency, agreement)
    return 0


def sentences(path: Path) -> list[dict]:
    from core.formats import read_conll

    return [
        {"id": i, "text": d["text"], "tokens": d["tokens"], "spans": d["spans"]}
        for i, d in enumerate(read_conll(path, scheme="iob2"))
        if d["tokens"]
    ]


def generated_pool(path: Path, n: int, seed: int = 0) -> list[dict]:
    """``n`` sentences shaped like the file's (their lengths), words drawn from its
    vocabulary (seeded), joined by spaces."""
    rng = random.Random(seed)
    shapes = sentences(path)
    vocabulary = sorted({s["text"][a:b] for s in shapes for a, b in s["tokens"]})
    out = []
    for i in range(n):
        words = [rng.choice(vocabulary) for _ in shapes[rng.randrange(len(shapes))]["tokens"]]
        text, tokens = "", []
        for word in words:
            start = len(text) + (1 if text else 0)
            text = f"{text} {word}" if text else word
            tokens.append((start, start + len(word)))
        out.append({"id": i, "text": text, "tokens": tokens})
    return out


def fresh_model(data: Path, folder: Path) -> str:
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


def pipeline_peer(folder: str, batch_size: int):
    """transformers' token-classification pipeline, entities grouped by first sub-token."""
    from transformers import pipeline

    pipe = pipeline(
        "token-classification", model=folder, aggregation_strategy="first", device="cpu"
    )
    return lambda texts: pipe(list(texts), batch_size=batch_size)


def spacy_efficiency_peer(folder: Path, steps: int):
    """A spaCy efficiency NER pipeline trained on WNUT-17 train (dev for its best model),
    or None where spaCy is not installed."""
    try:
        import spacy
        from spacy.cli.init_config import init_config
        from spacy.cli.train import train
    except ImportError:
        print("spaCy is not installed here: its peer is left out "
              "(pip install 'spanlab[spacy]').", flush=True)  # fmt: skip
        return None
    from core.formats.spacy_docbin import write_docbin

    folder.mkdir(parents=True)
    for split in ("train", "dev"):
        docs = sentences(DATA / f"{split}.txt")
        items = (
            (d, [{"start": a, "end": b, "label": label} for a, b, label in d["spans"]], [])
            for d in docs
        )
        with open(folder / f"{split}.spacy", "wb") as out:
            write_docbin(out, items)
    config = init_config(lang="en", pipeline=["ner"], optimize="efficiency")
    config["paths"]["train"] = str(folder / "train.spacy")
    config["paths"]["dev"] = str(folder / "dev.spacy")
    config["training"]["max_steps"] = steps
    config.to_disk(folder / "config.cfg")
    started = time.perf_counter()
    train(folder / "config.cfg", folder / "out", use_gpu=-1)
    nlp = spacy.load(folder / "out" / "model-best")
    meta = nlp.meta.get("performance", {})
    print(f"spaCy {spacy.__version__} efficiency NER: {steps} updates in "
          f"{time.perf_counter() - started:.0f} s, dev F1 {100 * meta.get('ents_f', 0):.1f}",
          flush=True)  # fmt: skip

    def predict(texts):
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents]
                for doc in nlp.pipe(texts, batch_size=256)]  # fmt: skip

    return predict


def agreements(peers: dict, test: list[dict], spanlab, agreement_f1) -> dict:
    """Entity F1 of each ONNX peer's entities against Spanlab torch's on WNUT-17 test."""
    texts, tokens = [s["text"] for s in test], [s["tokens"] for s in test]
    reference = [tags for tags, _ in spanlab.predict_tags(texts, tokens)]
    out = {}
    for name, predict in peers.items():
        if "ONNX" in name:
            other = [tags for tags, _ in predict.__self__.predict_tags(texts, tokens)]
            out[name] = agreement_f1(tokens, reference, other)
    return out


def latencies(predict, runs: int) -> tuple[float, float]:
    """p50 and p90 in ms of one 30-word sentence predicted alone."""
    rng = random.Random(1)
    words = [
        "the",
        "new",
        "york",
        "giants",
        "beat",
        "dallas",
        "on",
        "sunday",
        "and",
        "fans",
        "in",
        "texas",
        "went",
        "home",
        "sad",
    ]
    text = " ".join(rng.choice(words) for _ in range(30))
    for _ in range(5):
        predict([text])
    times = sorted(timed(lambda: predict([text])) * 1000 for _ in range(runs))
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def timed(job) -> float:
    started = time.perf_counter()
    job()
    return time.perf_counter() - started


def report(speed: dict, latency: dict, agreement: dict) -> None:
    base = "transformers.pipeline" if "transformers.pipeline" in speed else "Spanlab torch"
    header = (
        f"{'':<22} {'corpus':<13} {'sent/s':>8} {'words/s':>9} {'vs pipeline':>11} "
        f"{'vs torch':>8} {'30-word p50':>11} {'p90':>7} {'agree F1':>8}"
    )
    print(header)
    print("-" * len(header))
    rates = {
        name: {c: statistics.mean(n / w for n, _, w in runs) for c, runs in by.items()}
        for name, by in speed.items()
    }
    for corpus in ("WNUT-17 test", "pool"):
        for name, by in speed.items():
            runs = by[corpus]
            sent = rates[name][corpus]
            words = statistics.mean(nw / w for _, nw, w in runs)
            vs_pipe = sent / rates[base][corpus] if base == "transformers.pipeline" else None
            vs_torch = sent / rates["Spanlab torch"][corpus]
            p50, p90 = latency[name]
            agree = agreement.get(name)
            print(
                f"{name:<22} {corpus:<13} {sent:>8,.0f} {words:>9,.0f} "
                f"{'' if vs_pipe is None else f'{vs_pipe:.2f}x':>11} {vs_torch:>7.2f}x "
                f"{p50:>8.2f} ms {p90:>5.2f} {'' if agree is None else f'{agree * 100:.1f}':>8}"
            )
    print(
        "targets: ONNX int8 >= 4x pipeline and >= 2.5x Spanlab torch; agreement >= 97 F1; "
        "30-word p50 < 8 ms"
    )


if __name__ == "__main__":
    raise SystemExit(main())
