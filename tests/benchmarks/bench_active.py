"""Active learning against random sampling: a simulated annotator on a CoNLL corpus.

Run by hand (not part of the test suite)::

    HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_active.py \
        --strategies random,mnlp,bald --seeds 13 --step 50 --max 1000

Every strategy starts from the same ``--start`` random sentences of the train file
(chosen by the seed); each round the strategy picks ``--step`` more among the sentences
not yet annotated, whose gold spans are then revealed (added through the store as a
person's spans, the document marked annotated), and the model is re-trained with a warm
start from the previous round's run — the production path: ``RunSession`` for training,
``core.active.pool.score_pool`` / ``next_documents`` for choosing. Test F1 (seqeval,
strict IOB2) after each round; the same seeds for every strategy.

Reported: the curves, the wall time of a round (scoring + re-training), and for each
strategy the number of sentences it needs to reach the F1 that ``random`` reaches at the
largest size. ``--json`` writes all figures, ``--plot`` a PNG of the mean curves.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.formats import import_file  # noqa: E402
from core.store import Project  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "wnut17"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--train", default=str(DATA / "train.txt"))
    p.add_argument("--dev", default=str(DATA / "dev.txt"))
    p.add_argument("--test", default=str(DATA / "test.txt"))
    p.add_argument("--strategies", default="random,mnlp,entropy,bald")
    p.add_argument("--seeds", default="13,21,34")
    p.add_argument("--start", type=int, default=50, help="random sentences to begin with")
    p.add_argument("--step", type=int, default=50, help="sentences chosen a round")
    p.add_argument("--max", type=int, default=1000, help="stop at this many sentences")
    p.add_argument(
        "--max-others",
        type=int,
        default=0,
        help="stop the strategies other than random here (0: --max); a strategy that has "
        "not reached random's F1 by then is reported as needing more",
    )
    p.add_argument("--dev-limit", type=int, default=300, help="first N dev sentences")
    p.add_argument("--test-limit", type=int, default=0, help="first N test sentences (0: all)")
    p.add_argument("--epochs", type=int, default=0, help="per round (0: automatic)")
    p.add_argument("--time-budget", type=float, default=0, help="seconds of training a round")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", help="write every figure here")
    p.add_argument("--plot", help="write a PNG of the mean curves here")
    return p.parse_args()


def build_template(args: argparse.Namespace, folder: Path) -> tuple[Path, dict[int, list]]:
    """A project holding the corpus: dev / test annotated, train as a pool of ``new``
    documents without spans. Returns its path and the train documents' gold spans."""
    path = folder / "template.spanlab"
    project = Project.create(path)
    import_file(project, args.train, split="train")
    import_file(project, args.dev, split="dev")
    import_file(project, args.test, split="test")
    gold: dict[int, list] = {}
    keep = {"dev": args.dev_limit, "test": args.test_limit}
    seen = {"dev": 0, "test": 0}
    surplus = []
    for ex in project.examples():
        if ex["split"] == "train":
            gold[ex["id"]] = [tuple(s) for s in ex["spans"]]
        elif keep[ex["split"]]:
            seen[ex["split"]] += 1
            if seen[ex["split"]] > keep[ex["split"]]:
                surplus.append(ex["id"])
    if surplus:
        project.set_split(surplus, "unassigned")  # annotated, but read by no run
    project.close()
    # The pool: train sentences as they were before anyone annotated them.
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "DELETE FROM spans WHERE document_id IN (SELECT id FROM documents WHERE split = 'train')"
        )
        conn.execute("UPDATE documents SET status = 'new' WHERE split = 'train'")
    conn.close()
    return path, gold


def reveal(project: Project, gold: dict[int, list], ids: list[int]) -> None:
    """The simulated person annotates ``ids``: gold spans added, documents marked done."""
    for doc_id in ids:
        for start, end, label in gold[doc_id]:
            project.add_span(doc_id, start, end, label)
        project.set_status(doc_id, "annotated")


def one_curve(
    args: argparse.Namespace, template: Path, gold: dict[int, list], strategy: str, seed: int
) -> list[dict]:
    from core.active.pool import next_documents, score_pool
    from core.training.config import TrainConfig
    from core.training.session import run_training

    folder = Path(tempfile.mkdtemp(prefix=f"al-{strategy}-{seed}-"))
    path = folder / "p.spanlab"
    shutil.copy(template, path)
    project = Project.open(path)
    chosen = random.Random(seed).sample(sorted(gold), args.start)
    points, run_id = [], None
    limit = args.max if strategy == "random" or not args.max_others else args.max_others
    try:
        while True:
            reveal(project, gold, chosen)
            n = project.count_documents(split="train", status="annotated")
            t0 = time.monotonic()
            config = TrainConfig(
                epochs=args.epochs,
                seed=seed,
                warm_start=str(run_id) if run_id else None,
                time_budget_s=args.time_budget,
            )
            session = run_training(project, config)
            train_s = time.monotonic() - t0
            final = session.final
            if final is None or final.kind != "done":
                raise SystemExit(f"round at {n} sentences did not finish: {final}")
            run_id = session.run_id
            point = {
                "sentences": n,
                "test_f1": final.metrics["test"]["f1"],
                "dev_f1": final.metrics["f1"],
                "train_s": round(train_s, 1),
            }
            if n >= limit:
                points.append(point)
                print(json.dumps({"strategy": strategy, "seed": seed, **point}), flush=True)
                break
            t0 = time.monotonic()
            score_pool(project, strategy)
            chosen = [d["id"] for d in next_documents(project, min(args.step, limit - n), strategy)]
            point["score_s"] = round(time.monotonic() - t0, 1)
            points.append(point)
            print(json.dumps({"strategy": strategy, "seed": seed, **point}), flush=True)
    finally:
        project.close()
        shutil.rmtree(folder, ignore_errors=True)
    return points


def sentences_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    """The fewest sentences at which the (mean) curve reaches ``target``."""
    return next((n for n, f1 in curve if f1 >= target), None)


def mean_curves(results: dict[str, dict[int, list[dict]]]) -> dict[str, list[tuple[int, float]]]:
    out = {}
    for strategy, by_seed in results.items():
        sizes = sorted({p["sentences"] for pts in by_seed.values() for p in pts})
        out[strategy] = [
            (
                n,
                statistics.mean(
                    p["test_f1"] for pts in by_seed.values() for p in pts if p["sentences"] == n
                ),
            )
            for n in sizes
        ]
    return out


def plot(curves: dict[str, list[tuple[int, float]]], target: Path) -> None:
    """The mean test-F1 curves as a PNG, drawn with Qt (no plotting library needed)."""
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPen

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - fonts need it
    w, h, margin = 900, 560, 70
    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    plot_rect = QRectF(margin, 30, w - margin - 180, h - margin - 30)
    x_max = max(n for c in curves.values() for n, _ in c)
    y_max = max(0.05, max(f for c in curves.values() for _, f in c)) * 1.1

    def px(n: float, f1: float) -> QPointF:
        return QPointF(
            plot_rect.left() + plot_rect.width() * n / x_max,
            plot_rect.bottom() - plot_rect.height() * f1 / y_max,
        )

    painter.setPen(QPen(QColor("#999999"), 1))
    painter.drawRect(plot_rect)
    for k in range(6):
        f1 = y_max * k / 5
        p = px(0, f1)
        painter.drawText(
            QRectF(0, p.y() - 8, margin - 8, 16), Qt.AlignmentFlag.AlignRight, f"{100 * f1:.0f}"
        )
        n = x_max * k / 5
        q = px(n, 0)
        painter.drawText(
            QRectF(q.x() - 30, plot_rect.bottom() + 4, 60, 16),
            Qt.AlignmentFlag.AlignCenter,
            f"{n:.0f}",
        )
    painter.drawText(
        QRectF(plot_rect.left(), h - 30, plot_rect.width(), 20),
        Qt.AlignmentFlag.AlignCenter,
        "annotated training sentences",
    )
    painter.drawText(
        QRectF(4, 6, 300, 20), Qt.AlignmentFlag.AlignLeft, "test F1 (%), mean over seeds"
    )
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    for k, (strategy, curve) in enumerate(curves.items()):
        pen = QPen(QColor(colours[k % len(colours)]), 2.5)
        painter.setPen(pen)
        points = [px(n, f1) for n, f1 in curve]
        for a, b in zip(points, points[1:], strict=False):
            painter.drawLine(a, b)
        for p in points:
            painter.drawEllipse(p, 3, 3)
        y = 40 + 24 * k
        painter.drawLine(QPointF(w - 170, y), QPointF(w - 140, y))
        painter.drawText(QRectF(w - 132, y - 9, 130, 18), Qt.AlignmentFlag.AlignLeft, strategy)
    painter.end()
    image.save(str(target))


def main() -> int:
    args = parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    strategies = args.strategies.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-active-"))
    try:
        template, gold = build_template(args, work)
        print(
            f"pool: {len(gold)} train sentences; strategies {strategies}; seeds {seeds}", flush=True
        )
        results: dict[str, dict[int, list[dict]]] = {s: {} for s in strategies}
        for seed in seeds:
            for strategy in strategies:
                results[strategy][seed] = one_curve(args, template, gold, strategy, seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    curves = mean_curves(results)
    summary: dict = {"curves": curves, "reach": {}, "round_s": {}}
    if "random" in curves:
        target = curves["random"][-1][1]
        print(f"\nrandom at {curves['random'][-1][0]} sentences: test F1 {100 * target:.2f}")
        for strategy, curve in curves.items():
            need = sentences_to_reach(curve, target)
            summary["reach"][strategy] = need
            print(
                f"  {strategy:<8} reaches it with {need if need else 'more than ' + str(curve[-1][0])} sentences"
            )
    for strategy, by_seed in results.items():
        rounds = [p["train_s"] + p.get("score_s", 0) for pts in by_seed.values() for p in pts]
        last = [
            p["train_s"] + p.get("score_s", 0)
            for pts in by_seed.values()
            for p in pts
            if p["sentences"] == max(q["sentences"] for q in pts)
        ]
        summary["round_s"][strategy] = {"mean": statistics.mean(rounds), "at_max": last}
        print(
            f"  {strategy:<8} round (scoring + re-training): mean {statistics.mean(rounds):.0f} s"
        )
    print("\nmean test F1 by size:")
    for strategy, curve in curves.items():
        print(f"  {strategy:<8} " + "  ".join(f"{n}:{100 * f1:.1f}" for n, f1 in curve))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, **summary}, indent=2), "utf-8")
    if args.plot:
        plot(curves, Path(args.plot))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
