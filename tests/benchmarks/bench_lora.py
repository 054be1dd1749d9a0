"""LoRA against full fine-tuning with Spanlab's trainer, on WNUT-17.

Run by hand (not collected by pytest), e.g.:

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_lora.py --limit 1000 --epochs 2
    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_lora.py --limit 300 --epochs 1 \
        --dev-limit 300 --test-limit 500 --threads 1

Same model (the embedded all-MiniLM-L6-v2 unless ``--base-model``), data, epochs, batch
size, warmup, max length and seed for both; the learning rate is each method's own
(``--lr`` for full, ``--lora-lr`` for LoRA: adapters starting from zero need a larger
step; on 1,000 WNUT-17 sentences, 3 epochs, 5e-4 left LoRA at F1 0, 2e-3 learned, 5e-3
diverged). Each method runs in its own child process, so peak RSS is its own. Throughput is
the real (unpadded) train sub-tokens over the time of the training loop with its
per-epoch dev evaluation and checkpointing, as in ``bench_train.py``. The adapter's size
is that of ``adapter/adapter_model.safetensors`` (LoRA weights and the classification
head), beside the merged model folder's ``model.safetensors``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from bench_train import run_children  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "wnut17"
METHODS = {"full": "full fine-tuning", "lora": "LoRA"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--train", default=str(DATA / "train.txt"))
    p.add_argument("--dev", default=str(DATA / "dev.txt"))
    p.add_argument("--test", default=str(DATA / "test.txt"))
    p.add_argument("--base-model", default="default")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4, help="full fine-tuning")
    p.add_argument("--lora-lr", type=float, default=2e-3, help="LoRA")
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lora-alpha", type=int, default=16)
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--precision", default="auto")
    p.add_argument("--limit", type=int, default=None, help="first N train sentences")
    p.add_argument("--dev-limit", type=int, default=None, help="first N dev sentences")
    p.add_argument("--test-limit", type=int, default=None, help="first N test sentences")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory(prefix="bench-lora-") as tmp:
        results = run_children(__file__, args.methods.split(","), METHODS, tmp)
    report(args, results)
    return 0


def report(args: argparse.Namespace, results: dict) -> None:
    first = next(iter(results.values()))
    print(
        f"\n{first['train_documents']} train / {first['dev_documents']} dev / "
        f"{first['test_documents']} test sentences, {args.epochs} epoch(s), batch size "
        f"{args.batch_size}, {first['precision']}, {first['threads']} torch thread(s)"
    )
    header = (
        f"{'method':<18} {'lr':>7} {'trained params':>15} {'sub-tok/s':>10} {'per CPU-s':>10} "
        f"{'train s':>8} {'peak RSS':>9} {'dev F1':>7} {'test F1':>8} {'model':>9} {'adapter':>9}"
    )
    print(header)
    print("-" * len(header))
    for method, r in results.items():
        adapter = f"{r['adapter_mb']:.2f}MB" if r["adapter_mb"] is not None else "-"
        print(
            f"{METHODS[method]:<18} {r['lr']:>7.0e} {r['trained']:>15,} "
            f"{r['tokens_per_s']:>10,.0f} {r['tokens_per_cpu_s']:>10,.0f} {r['train_s']:>8.1f} "
            f"{r['peak_rss_mb']:>7,.0f}MB {100 * r['dev_f1']:>7.2f} {100 * r['test_f1']:>8.2f} "
            f"{r['model_mb']:>7.1f}MB {adapter:>9}"
        )


def child(args: argparse.Namespace) -> int:
    import torch
    from bench_train import load
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load(args)
    result = run(args, data, args.child)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["threads"] = torch.get_num_threads()
    Path(args.out).write_text(json.dumps(result))
    return 0


def run(args: argparse.Namespace, data: dict, method: str) -> dict:
    import torch

    from core.training.config import TrainConfig
    from core.training.events import Checkpoint, Done, Eval, Final, Log, Start
    from core.training.trainer import train

    tmp = os.environ.get("BENCH_TMP")
    out = Path(tempfile.mkdtemp(prefix=f"bench-{method}-", dir=tmp)) / "model"
    lr = args.lora_lr if method == "lora" else args.lr
    config = TrainConfig(
        base_model=args.base_model,
        method=method,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=lr,
        warmup=args.warmup,
        max_length=args.max_length,
        precision=args.precision,
        seed=args.seed,
        patience=0,
        device="auto" if torch.cuda.is_available() else "cpu",
    )
    t_start = t_end = c_start = c_end = None
    final, start, lora_note = None, None, None
    for event in train(config, data, out):
        now, cpu = time.monotonic(), time.process_time()
        if isinstance(event, Start):
            t_start, c_start, start = now, cpu, event
        elif isinstance(event, Log) and event.message.startswith("LoRA ("):
            lora_note = event.message
        elif isinstance(event, Eval | Checkpoint):
            t_end, c_end = now, cpu
        elif isinstance(event, Final):
            final = event
    if not isinstance(final, Done):
        raise SystemExit(f"{method} training failed: {final}")
    m = final.metrics
    tokens = m["train_tokens_per_s"] * m["train_seconds"]
    adapter = out / "adapter" / "adapter_model.safetensors"
    if lora_note:
        trained = int(lora_note.split("head: ", 1)[1].split(" of ", 1)[0].replace(",", ""))
    else:  # full: every parameter of the saved model trains
        from safetensors import safe_open

        with safe_open(str(out / "model.safetensors"), "pt") as f:
            trained = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118
    return {
        "lr": lr,
        "trained": trained,
        "tokens_per_s": tokens / (t_end - t_start),
        "tokens_per_cpu_s": tokens / (c_end - c_start),
        "train_s": t_end - t_start,
        "dev_f1": m["f1"],
        "test_f1": m["test"]["f1"],
        "model_mb": (out / "model.safetensors").stat().st_size / 2**20,
        "adapter_mb": adapter.stat().st_size / 2**20 if adapter.exists() else None,
        "precision": start.precision,
        "train_documents": start.train_documents,
        "dev_documents": start.dev_documents,
        "test_documents": start.test_documents,
    }


if __name__ == "__main__":
    raise SystemExit(main())
