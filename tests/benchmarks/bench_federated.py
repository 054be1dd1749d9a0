"""Federated fine-tuning on WNUT-17: 3 sites against centralised training and each site alone.

Run by hand (not collected by pytest), e.g.:

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_federated.py
    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_federated.py --limit 600 \
        --rounds 2 --dev-limit 200 --test-limit 300 --splits iid

WNUT-17 train is cut into 3 site projects, once at random (``iid``) and once skewed
(``skewed``: each site holds mostly the sentences whose entities are of "its" types). A
federation (``spanlab federate simulate``: Flower's SuperLink and one SuperNode per site,
as processes on this machine) runs ``--rounds`` rounds of ``--local-epochs``; the server's
project holds the dev split (to keep the best round) and the test split. Compared on test
F1 with (a) centralised training on all the train sentences for rounds x local epochs
epochs and (b) each site alone for as many epochs. Each split federates once per
``--methods``: ``full`` (every weight travels) and ``lora`` (only the LoRA adapters on
query and value, rank ``--lora-r``, and the head; learning rate ``--lora-lr``). Bytes per
round are measured: the byte count of the ArrayRecord the server sends each site (as it
reports it each round), to and back from every site; wall time per round on this CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "wnut17"
SITES = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="train sentences to use (default: all)")
    parser.add_argument("--dev-limit", type=int, default=1000)
    parser.add_argument("--test-limit", type=int)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--local-epochs", type=int, default=1)
    parser.add_argument("--splits", default="iid,skewed")
    parser.add_argument("--base-model", default="default")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--methods", default="full,lora", help="full, lora or both")
    parser.add_argument("--strategies", default="fedavg",
                        help="comma-separated: fedavg, fedprox, fedavgm")  # fmt: skip
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--lora-lr", type=float, default=2e-3, help="learning rate with LoRA")
    parser.add_argument("--skip-alone", action="store_true", help="no site-alone baselines")
    parser.add_argument("--out", default="/work/notes/bench_federated.txt")
    args = parser.parse_args()
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    data = load(args)
    lines = [f"bench_federated: {time.strftime('%Y-%m-%d %H:%M')}, {vars(args)}",
             f"train {len(data['train'])}, dev {len(data['dev'])}, test {len(data['test'])}"]  # fmt: skip
    epochs = args.rounds * args.local_epochs
    central = train_alone(args, data["train"], data, epochs)
    lines.append(
        f"centralised ({epochs} epochs): test F1 {central['f1']:.4f}, {central['s']:.0f} s"
    )
    flush(args, lines)
    for kind in args.splits.split(","):
        sites = split(data["train"], kind)
        sizes = [len(s) for s in sites]
        for method, strategy in [(m, s) for m in args.methods.split(",")
                                 for s in args.strategies.split(",")]:  # fmt: skip
            fed = federate(args, sites, data, method, strategy)
            rounds = ", ".join(f"{s:.0f}" for s in fed["round_s"])
            what = "full weights" if method == "full" else f"LoRA adapters (r={args.lora_r}) + head"
            lines.append(
                f"{kind}, {method}, {strategy}: sites {sizes}; federation test F1 {fed['f1']:.4f} (best "
                f"round {fed['best_round']}), {central['f1'] - fed['f1']:+.4f} below "
                f"centralised; wall per round [{rounds}] s; bytes per round "
                f"{fed['bytes_round']:,} ({what}, measured: {fed['bytes_site']:,} to each of "
                f"{len(sites)} sites and back)"
            )
            flush(args, lines)
        if not args.skip_alone:
            for i, site in enumerate(sites, start=1):
                alone = train_alone(args, site, data, epochs)
                lines.append(f"{kind}: site {i} alone: test F1 {alone['f1']:.4f}")
                flush(args, lines)
    return 0


def flush(args: argparse.Namespace, lines: list[str]) -> None:
    print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


def load(args: argparse.Namespace) -> dict:
    from core.formats import read_conll

    def read(name: str, limit: int | None, split_name: str) -> list[dict]:
        docs = []
        for i, doc in enumerate(read_conll(str(DATA / name), scheme="iob2")):
            if limit is not None and i >= limit:
                break
            docs.append({"id": i, "text": doc["text"], "tokens": doc["tokens"],
                         "spans": doc["spans"], "split": split_name})  # fmt: skip
        return docs

    return {"train": read("train.txt", args.limit, "train"),
            "dev": read("dev.txt", args.dev_limit, "dev"),
            "test": read("test.txt", args.test_limit, "test")}  # fmt: skip


def split(train: list[dict], kind: str) -> list[list[dict]]:
    rng = random.Random(13)
    docs = list(train)
    rng.shuffle(docs)
    if kind == "iid":
        return [docs[i::SITES] for i in range(SITES)]
    labels = sorted({s[2] for d in docs for s in d["spans"]})
    owner = {label: i % SITES for i, label in enumerate(labels)}
    sites: list[list[dict]] = [[] for _ in range(SITES)]
    for doc in docs:  # 80 % to the site owning the first entity's type, else at random
        if doc["spans"] and rng.random() < 0.8:
            sites[owner[doc["spans"][0][2]]].append(doc)
        else:
            sites[rng.randrange(SITES)].append(doc)
    return sites


def labels_of(data: dict) -> list[str]:
    return sorted({s[2] for split_ in data.values() for d in split_ for s in d["spans"]})


def make_project(path: Path, labels: list[str], splits: dict[str, list[dict]]) -> Path:
    from core.store import Project

    project = Project.create(path, labels=labels)
    for split_name, docs in splits.items():
        for doc in docs:
            project.add_document(doc["text"], split=split_name, status="annotated",
                                 spans=doc["spans"], tokens=doc["tokens"])  # fmt: skip
    project.close()
    return path


def federate(
    args: argparse.Namespace, sites: list[list[dict]], data: dict, method: str, strategy: str
) -> dict:
    from core.cli import main as cli

    labels = labels_of(data)
    lr = args.lora_lr if method == "lora" else args.lr
    with tempfile.TemporaryDirectory(prefix="bench-fed-") as tmp:
        folder = Path(tmp)
        paths = [str(make_project(folder / f"site{i}.spanlab", labels, {"train": s}))
                 for i, s in enumerate(sites, start=1)]  # fmt: skip
        server = make_project(folder / "server.spanlab", labels,
                              {"dev": data["dev"], "test": data["test"]})  # fmt: skip
        events_file = folder / "events.jsonl"
        t0 = time.monotonic()
        stdout = sys.stdout
        with open(events_file, "w", encoding="utf-8") as out:
            sys.stdout = out
            try:
                status = cli(["federate", "simulate", *paths, "--rounds", str(args.rounds),
                              "--local-epochs", str(args.local_epochs), "--project", str(server),
                              "--base-model", args.base_model, "--learning-rate", str(lr),
                              "--batch-size", str(args.batch_size), "--method", method,
                              "--lora-r", str(args.lora_r), "--strategy", strategy,
                              "--json-events"])  # fmt: skip
            finally:
                sys.stdout = stdout
        events = [json.loads(line) for line in events_file.read_text().splitlines() if line]
        if status != 0:
            raise SystemExit(f"the federation failed: {events[-1] if events else status}")
        rounds = [e for e in events if e["kind"] == "round-done"]
        final = events[-1]
        return {
            "f1": final["metrics"]["test"]["f1"],
            "best_round": final["best_round"],
            "round_s": [e["seconds"] for e in rounds],
            # What the server reported sending each site (its ArrayRecord's byte count).
            "bytes_site": rounds[0]["bytes_per_site"],
            "bytes_round": rounds[0]["bytes_per_site"] * 2 * len(sites),
            "s": time.monotonic() - t0,
        }


def train_alone(args: argparse.Namespace, train: list[dict], data: dict, epochs: int) -> dict:
    from core.training.config import TrainConfig
    from core.training.events import Done, Final
    from core.training.trainer import train as run

    config = TrainConfig(base_model=args.base_model, epochs=epochs, learning_rate=args.lr,
                         batch_size=args.batch_size, patience=0)  # fmt: skip
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-alone-") as tmp:
        final = None
        split_data = {"train": train, "dev": data["dev"], "test": data["test"]}
        for event in run(config, split_data, Path(tmp) / "model"):
            if isinstance(event, Final):
                final = event
    if not isinstance(final, Done):
        raise SystemExit(f"training failed: {final}")
    return {"f1": final.metrics["test"]["f1"], "s": time.monotonic() - t0}


if __name__ == "__main__":
    raise SystemExit(main())
