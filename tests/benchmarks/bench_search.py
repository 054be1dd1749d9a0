"""A hyper-parameter search against the one-click default, and processes sharing a study.

Run by hand (not collected by pytest), e.g. the issue's run (30 minutes of search):

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_search.py --budget 1800
    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_search.py --limit 300 \
        --budget 120 --workers 2 --seeds 1 --base-model tests-tiny-model-folder

1. A project is made from WNUT-17 (``../shared/data/wnut17``; the first ``--limit``
   train sentences, ``--dev-limit`` / ``--test-limit`` of dev and test) with the real
   ``spanlab init`` / ``spanlab import``.
2. ``--workers`` processes run ``spanlab tune --timeout BUDGET --json`` at once on one
   journal storage (as machines sharing a disk would): the trials each one ran are
   counted, so the split between them shows.
3. The best trial's settings (``--train-best``) and the default settings (``spanlab
   train``) are each trained with ``--seeds`` seeds; their test F1 is given as a mean
   (test scores are never used to choose).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "wnut17"
CLI = "import sys; from core.cli import main; sys.exit(main())"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--limit", type=int, default=None, help="first N train sentences")
    p.add_argument("--dev-limit", type=int, default=None)
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--budget", type=float, default=1800, help="search seconds (per worker)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--space", help="a JSON space file (default: Spanlab's)")
    p.add_argument("--base-model", help="default: Spanlab's embedded model")
    p.add_argument("--max-length", type=int, help="sub-tokens per window (a tiny model: 128)")
    p.add_argument("--keep", help="folder to keep the project in (default: a temporary one)")
    args = p.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="bench-search-"))
    folder.mkdir(parents=True, exist_ok=True)
    project = folder / "wnut.spanlab"
    make_project(args, project, folder)
    common = ["--base-model", args.base_model] if args.base_model else []
    if args.max_length:
        common += ["--max-length", str(args.max_length)]
    journal = folder / "study.log"

    started = time.monotonic()
    tune = ["tune", str(project), "--timeout", str(args.budget), "--json", "--study", "bench"]
    tune += ["--storage", f"journal://{journal}", *common]
    if args.space:
        tune += ["--space", args.space]
    workers = [spawn(tune) for _ in range(args.workers)]
    outputs = [w.communicate() for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        if worker.returncode != 0:
            sys.exit(f"a search worker failed:\n{err}")
    search_s = time.monotonic() - started
    per_worker = []
    for out, _ in outputs:
        lines = [json.loads(line) for line in out.splitlines()]
        per_worker.append([t for t in lines if "trial" in t and "summary" not in t])
    trials = {t["trial"]: t for worker in per_worker for t in worker}

    best_f1, default_f1 = [], []
    for seed in range(13, 13 + args.seeds):
        best = run_json(
            [
                "tune",
                str(project),
                "--study",
                "bench",
                "--storage",
                f"journal://{journal}",
                "--train-best",
                "--json",
                "--seed",
                str(seed),
            ]
        )
        best_f1.append(best["test_f1"])
        best_trial = best["trial"]  # the study's best once every worker has ended
        default_f1.append(default_test_f1(project, common, seed))

    print(f"Search: {search_s:.0f} s wall, {args.workers} workers sharing journal {journal}")
    for n, trials in enumerate(per_worker):
        states = [t["state"] for t in trials]
        print(
            f"  worker {n}: trials {[t['trial'] for t in trials]} "
            f"({states.count('complete')} complete, {states.count('pruned')} pruned, "
            f"{states.count('fail')} failed)"
        )
    # Each worker's own summary is written when it ends, before the other's last trial
    # may have finished: the best is the one --train-best trained.
    chosen = trials.get(best_trial, {})
    print(
        f"  best trial {best_trial}: dev F1 {chosen.get('value', float('nan')):.4f} "
        f"{chosen.get('params')}"
    )
    print(
        f"Test F1 over {args.seeds} seed(s): best settings {mean(best_f1)}, "
        f"default settings {mean(default_f1)}"
    )
    print(f"(project and study kept in {folder})" if args.keep else "")
    return 0


def make_project(args: argparse.Namespace, project: Path, folder: Path) -> None:
    if project.exists():
        return
    spanlab(["init", str(project)])
    data = Path(args.data)
    for split, name, limit in (
        ("train", "train.txt", args.limit),
        ("dev", "dev.txt", args.dev_limit),
        ("test", "test.txt", args.test_limit),
    ):
        source = first_sentences(data / name, limit, folder / f"{split}.conll")
        spanlab(["import", str(project), str(source), "--split", split, "--format", "conll"])


def first_sentences(path: Path, limit: int | None, out: Path) -> Path:
    """The first ``limit`` blank-line-separated sentences of a CoNLL file."""
    if limit is None:
        return path
    blocks = path.read_text(encoding="utf-8").strip().split("\n\n")[:limit]
    out.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return out


def default_test_f1(project: Path, common: list[str], seed: int) -> float | None:
    proc = spanlab(["train", str(project), "--json-events", "--seed", str(seed), *common])
    done = json.loads(proc.stdout.splitlines()[-1])
    return (done["metrics"]["test"] or {}).get("f1")


def spawn(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def spanlab(argv: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-c", CLI, *argv], cwd=ROOT, capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"spanlab {' '.join(argv)} failed:\n{proc.stderr}")
    return proc


def run_json(argv: list[str]) -> dict:
    return json.loads(spanlab(argv).stdout.splitlines()[-1])


def mean(values: list[float | None]) -> str:
    numbers = [v for v in values if v is not None]
    if not numbers:
        return "-"
    spread = f" ± {statistics.stdev(numbers):.4f}" if len(numbers) > 1 else ""
    return f"{statistics.mean(numbers):.4f}{spread} ({', '.join(f'{v:.4f}' for v in numbers)})"


if __name__ == "__main__":
    sys.exit(main())
