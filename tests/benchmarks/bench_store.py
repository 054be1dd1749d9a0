"""Project store benchmark: CoNLL import speed and memory, then listing and search latency.

    python tests/benchmarks/bench_store.py                  # 1,000,000 sentences
    python tests/benchmarks/bench_store.py --sentences 100000 --breakdown

Generates a CoNLL file (IOB2, PER/LOC/ORG/MISC) in a temporary folder, imports it into a
new project through ``core.formats.import_file`` in a child process (so its peak RSS is
the import's own), then times the first page of ``list_documents`` with and without
filters and full-text searches (median of several). The peer is ``sqlite-utils insert``
of the same sentences (text, tokens, spans) as a plain table, then ``sqlite-utils
enable-fts`` for its search; each figure is printed with the ratio Spanlab / peer.
Targets: import >= 50,000 sentences/s, peak RSS < 500 MB, a page and a search < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LABELS = ("PER", "LOC", "ORG", "MISC")
SEARCHES = ("river", "north harbour", "zq0017")  # common word, two words, rare word


def generate(conll: Path, jsonl: Path, sentences: int, seed: int = 7) -> None:
    """Write the same random sentences as CoNLL (for Spanlab) and JSONL (for the peer)."""
    rng = random.Random(seed)
    common = [
        "the",
        "a",
        "of",
        "in",
        "and",
        "to",
        "river",
        "north",
        "harbour",
        "city",
        "said",
        "on",
        "was",
        "for",
        "with",
        "by",
        "at",
        "from",
        "new",
        "old",
        "market",
        "council",
        "report",
        "year",
        "week",
        "people",
        "team",
        "season",
        "game",
    ]
    rare = [f"zq{i:04d}" for i in range(20000)]
    names = [f"Name{i}" for i in range(3000)]
    with conll.open("w", encoding="utf-8") as out, jsonl.open("w", encoding="utf-8") as peer:
        for _ in range(sentences):
            words: list[str] = []
            tags: list[str] = []
            spans: list[tuple[int, int, str]] = []
            length = rng.randint(8, 20)
            while len(words) < length:
                if rng.random() < 0.15:
                    label = rng.choice(LABELS)
                    first = len(words)
                    for k in range(rng.randint(1, 3)):
                        words.append(rng.choice(names))
                        tags.append(("B-" if k == 0 else "I-") + label)
                    spans.append((first, len(words), label))
                else:
                    words.append(rng.choice(common) if rng.random() < 0.7 else rng.choice(rare))
                    tags.append("O")
            out.write("".join(f"{w}\t{t}\n" for w, t in zip(words, tags, strict=True)))
            out.write("\n")
            offsets, position = [], 0
            for word in words:
                offsets.append([position, position + len(word)])
                position += len(word) + 1
            record = {
                "text": " ".join(words),
                "tokens": offsets,
                "spans": [[offsets[a][0], offsets[b - 1][1], lb] for a, b, lb in spans],
            }
            peer.write(json.dumps(record) + "\n")


def run_child(argv: list[str]) -> tuple[float, int, str]:
    """Run a command; return its wall time, its own peak RSS in MB, and its stdout."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"{argv[0]} failed with status {child.returncode}")
    return seconds, usage.ru_maxrss // 1024, output


def import_in_child(conll: Path, project_path: Path, part: str) -> None:
    """The child process: import the file (or one part of the work, for --breakdown) and
    print how long it took. Parts: "import" (import_file), "read" (the CoNLL reader
    alone), "store" (the reader streamed straight into add_reader_documents)."""
    sys.path.insert(0, str(REPO))
    from core.formats import import_file, read_conll
    from core.store import Project

    started = time.perf_counter()
    if part == "read":
        documents = sum(1 for _ in read_conll(conll))
    else:
        with Project.create(project_path) as project:
            started = time.perf_counter()
            if part == "store":
                documents = project.add_reader_documents(read_conll(conll))
            else:
                documents = import_file(project, conll, format="conll").documents
    seconds = time.perf_counter() - started
    own, reader = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    print(
        json.dumps(
            {
                "seconds": seconds,
                "documents": documents,
                "cpu": own.ru_utime + own.ru_stime,
                "reader_cpu": reader.ru_utime + reader.ru_stime,
                "rss": own.ru_maxrss // 1024,
                "reader_rss": reader.ru_maxrss // 1024,
            }
        )
    )


def median_ms(call: Callable[[], object], repeat: int = 7) -> tuple[float, float]:
    """(first call, median of the following calls) in milliseconds."""
    times = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times[0], statistics.median(times[1:])


def report(name: str, ours: float, peer: float | None, unit: str, better: str) -> None:
    ratio = f"  ratio {ours / peer:5.2f}" if peer else ""
    peer_text = f"  peer {peer:10.1f} {unit}" if peer is not None else ""
    print(f"{name:<34} spanlab {ours:10.1f} {unit}{peer_text}{ratio}  ({better} is better)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--keep", help="folder to keep the files in (default: a temp folder)")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the CoNLL reader alone and the reader fed straight to add_documents",
    )
    parser.add_argument("--part", default="import", help=argparse.SUPPRESS)
    parser.add_argument(
        "--child-import", nargs=2, metavar=("CONLL", "PROJECT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child_import:
        import_in_child(Path(args.child_import[0]), Path(args.child_import[1]), args.part)
        return 0

    folder = Path(args.keep or tempfile.mkdtemp(prefix="bench-store-"))
    folder.mkdir(parents=True, exist_ok=True)
    conll, jsonl = folder / "corpus.conll", folder / "corpus.jsonl"
    project_path, peer_db = folder / "bench.spanlab", folder / "peer.db"
    for stale in (project_path, peer_db):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{stale}{suffix}").unlink(missing_ok=True)
    try:
        started = time.perf_counter()
        generate(conll, jsonl, args.sentences)
        print(
            f"generated {args.sentences:,} sentences ({conll.stat().st_size / 1e6:.0f} MB CoNLL) "
            f"in {time.perf_counter() - started:.1f} s"
        )

        # -- import ---------------------------------------------------------------------
        load_before = os.getloadavg()[0]
        _, _, output = run_child(
            [sys.executable, __file__, "--child-import", str(conll), str(project_path)]
        )
        result = json.loads(output.strip().splitlines()[-1])
        assert result["documents"] == args.sentences, result
        ours_rate = args.sentences / result["seconds"]
        sqlite_utils = str(Path(sys.executable).with_name("sqlite-utils"))
        peer_seconds, peer_rss, _ = run_child(
            [sqlite_utils, "insert", str(peer_db), "docs", str(jsonl), "--nl"]
        )
        peer_rate = args.sentences / peer_seconds
        report("import (sentences/s)", ours_rate, peer_rate, "/s", "higher")
        # A large file is read by a second process: both are alive together.
        both = result["rss"] + result["reader_rss"]
        report("import peak RSS, both processes (MB)", both, peer_rss, "MB", "lower")
        print(
            f"  (importing process {result['rss']} MB, {result['cpu']:.1f} s CPU; reading "
            f"process {result['reader_rss']} MB, {result['reader_cpu']:.1f} s CPU; "
            f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
            f"on {os.cpu_count()} cores)"
        )
        if args.breakdown:
            for part, what in (
                ("read", "CoNLL reader alone"),
                ("store", "reader -> add_reader_documents"),
            ):
                scratch = folder / f"{part}.spanlab"
                _, part_rss, output = run_child(
                    [sys.executable, __file__, "--child-import", str(conll), str(scratch)]
                    + ["--part", part]
                )
                seconds = json.loads(output.strip().splitlines()[-1])["seconds"]
                print(f"  ({what}: {args.sentences / seconds:,.0f} sentences/s, {part_rss} MB)")
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{scratch}{suffix}").unlink(missing_ok=True)
        fts_seconds, _, _ = run_child(
            [
                sqlite_utils,
                "enable-fts",
                str(peer_db),
                "docs",
                "text",
                "--fts5",
                "--create-triggers",
            ]
        )
        print(
            f"  (peer: sqlite-utils enable-fts afterwards took {fts_seconds:.1f} s more; "
            f"peer import + index {args.sentences / (peer_seconds + fts_seconds):,.0f} sentences/s)"
        )
        sizes = project_path.stat().st_size / 1e6, peer_db.stat().st_size / 1e6
        report("file size (MB)", sizes[0], sizes[1], "MB", "lower")

        # -- listing and search -------------------------------------------------------
        sys.path.insert(0, str(REPO))
        from core.store import Project

        peer = sqlite3.connect(peer_db)
        peer_page = "SELECT rowid, substr(text, 1, 160) FROM docs {} ORDER BY rowid LIMIT 100"
        with Project.open(project_path) as project:
            cases = [
                ("first page", {}, peer_page.format(""), ()),
                (
                    "first page, label=PER",
                    {"label": "PER"},
                    peer_page.format("WHERE spans LIKE '%\"PER\"%'"),
                    (),
                ),
                (
                    "first page, status=annotated",
                    {"status": "annotated"},
                    peer_page.format("WHERE spans != '[]'"),
                    (),
                ),
                ("first page, status=new", {"status": "new"}, None, ()),
                ("first page, origin=model (none)", {"origin": "model"}, None, ()),
            ]
            for words in SEARCHES:
                cases.append(
                    (
                        f"search {words!r}",
                        {"search": words},
                        "SELECT rowid FROM docs_fts WHERE docs_fts MATCH ? ORDER BY rowid LIMIT 100",
                        (words,),
                    )
                )
            for name, filters, peer_sql, params in cases:
                first, ours = median_ms(lambda f=filters: project.list_documents(**f))
                theirs = None
                if peer_sql:
                    _, theirs = median_ms(
                        lambda s=peer_sql, p=params: peer.execute(s, p).fetchall()
                    )
                report(f"{name} (ms)", ours, theirs, "ms", "lower")
                print(
                    f"{'':<34} first call {first:.1f} ms, {len(project.list_documents(**filters))} rows"
                )
            _, count_ms = median_ms(project.count_documents, repeat=3)
            _, peer_count = median_ms(
                lambda: peer.execute("SELECT count(*) FROM docs").fetchone(), repeat=3
            )
            report("count_documents() (ms)", count_ms, peer_count, "ms", "lower")
            _, stats_ms = median_ms(project.stats, repeat=1)
            report("stats() (ms)", stats_ms, None, "ms", "lower")
        # -- opening: for writing (PRAGMA quick_check reads every page) vs read-only ------
        _, open_rw = median_ms(lambda: Project.open(project_path).close(), repeat=3)
        _, open_ro = median_ms(lambda: Project.open(project_path, readonly=True).close(), repeat=3)
        report("open for writing, quick_check (ms)", open_rw, open_ro, "ms", "lower")
        print(f"{'':<34} (peer: a read-only open, which checks nothing; file in page cache)")
        _, backup_ms = median_ms(
            lambda: Project.open(project_path, readonly=True).backup(folder / "bench.spanlab.bak"),
            repeat=1,
        )
        report("backup before an import (ms)", backup_ms, None, "ms", "lower")
        peer.close()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
