"""Load on ``spanlab serve``: concurrent clients on localhost, bounded in time.

Run by hand (not collected by pytest), e.g.:

    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_serve.py --model runs/run-7
    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_serve.py --model M --duration 20
    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_serve.py --model M --soak
    HF_HUB_OFFLINE=1 .venv/bin/python tests/benchmarks/bench_serve.py --model M --peer

The real command (``spanlab serve MODEL --no-access-log``) runs in a process of its own
on a free localhost port. ``--clients`` clients (16) each keep one request in flight for
``--duration`` seconds (60): each request carries 1 to ``--texts`` (4) sentences of
WNUT-17 test, drawn with a fixed seed. Reported: requests/s, sentences/s, p50 / p99
latency of a request, errors (any answer that is not 200, any failed connection), the
mean batch the server's inference thread saw (from /health), and the server's RSS after
warm-up and at the end. ``--soak`` runs 600 s (unless ``--duration`` says otherwise)
and samples RSS every 30 s: growth after warm-up is a leak. ``--peer`` runs the same load
a second time against a server with ``--max-batch 1`` (no dynamic batching: each request
is one model call of its own 1-4 texts), then calls the same model in this process
(``Predictor.predict`` in batches of ``--max-batch``, no HTTP) for as long, and gives
the ratios.

The clients run in this process (asyncio + httpx): on a small machine they take CPU from
the server, so the figures are a floor; note the machine's load beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "wnut17"
#: ``spanlab serve`` alone: the command's own parser and function, without the other
#: sub-commands (a benchmark of the server should not depend on them).
SERVE = (
    "import argparse, sys; from core.cli import serve; "
    "parser = argparse.ArgumentParser(prog='spanlab'); serve.register(parser.add_subparsers()); "
    "args = parser.parse_args(); sys.exit(args.func(args))"
)
START_TIMEOUT_S = 300
SOAK_S = 600
RSS_EVERY_S = 30


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True, help="a model folder (a run's output folder)")
    p.add_argument("--data", default=str(DATA / "test.txt"), help="CoNLL file of sentences")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--duration", type=float, help=f"seconds of load (default 60; {SOAK_S} soak)")
    p.add_argument("--soak", action="store_true", help=f"RSS every {RSS_EVERY_S} s, {SOAK_S} s")
    p.add_argument("--texts", type=int, default=4, help="most sentences per request")
    p.add_argument("--max-batch", type=int, default=32, help="the server's --max-batch")
    p.add_argument("--peer", action="store_true", help="also run without batching (--max-batch 1)")
    p.add_argument("--precision", default="auto", help="the server's --precision (auto | no)")
    p.add_argument("--threads", type=int, help="the server's torch threads (OMP_NUM_THREADS)")
    p.add_argument("--out", help="also append the report to this file")
    args = p.parse_args()
    duration = args.duration or (SOAK_S if args.soak else 60.0)
    sentences = read_sentences(args.data)
    lines = [
        f"bench_serve: {args.model}, {args.clients} clients, {duration:.0f} s, 1-{args.texts} "
        f"sentences/request from {Path(args.data).name} ({len(sentences)} sentences), "
        f"--precision {args.precision}, "
        f"{os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.2f}"
    ]
    print(lines[0], flush=True)
    runs = [("batched", args.max_batch)] + ([("unbatched", 1)] if args.peer else [])
    results = {}
    for name, max_batch in runs:
        result = measure(args, sentences, duration, max_batch)
        results[name] = result
        line = describe(name, max_batch, result)
        print(line, flush=True)
        lines.append(line)
        if result["rss_samples"] and args.soak:
            samples = ", ".join(f"{t:.0f}s {mb:.0f}" for t, mb in result["rss_samples"])
            lines.append(f"  RSS over time (MB): {samples}")
            print(lines[-1], flush=True)
    if args.peer:
        direct = measure_direct(args.model, sentences, duration, args.max_batch)
        lines.append(
            f"in-process Predictor.predict, batches of {args.max_batch}: "
            f"{direct:.1f} sentences/s (no HTTP, no JSON)"
        )
        batched = results["batched"]["sentences_s"]
        ratio = batched / max(results["unbatched"]["sentences_s"], 1e-9)
        lines.append(
            f"dynamic batching: {ratio:.2f}x the sentences/s of one request per model call"
        )
        lines.append(f"server / in-process: {batched / max(direct, 1e-9):.2f}")
        print("\n".join(lines[-3:]))
    lines.append(f"load average after {os.getloadavg()[0]:.2f}")
    print(lines[-1])
    if args.out:
        with open(args.out, "a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n\n")
    failed = any(r["errors"] for r in results.values())
    return 1 if failed else 0


def measure_direct(model: str, sentences: list[str], duration: float, batch: int) -> float:
    """Sentences/s of the same model called in this process, for the server's overhead."""
    from transformers.utils import logging

    from core.training.predict import Predictor

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    predictor = Predictor(model, device="cpu")
    predictor.predict(sentences[:batch])
    done, i = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < duration:
        chunk = [sentences[(i + k) % len(sentences)] for k in range(batch)]
        predictor.predict(chunk)
        done += len(chunk)
        i += batch
    return done / (time.perf_counter() - started)


def read_sentences(path: str) -> list[str]:
    """The file's sentences as text: the words of each, joined by spaces."""
    sentences, words = [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines() + [""]:
        if line.strip():
            words.append(line.split("\t")[0].split(" ")[0])
        elif words:
            sentences.append(" ".join(words))
            words = []
    return sentences


def measure(
    args: argparse.Namespace, sentences: list[str], duration: float, max_batch: int
) -> dict:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    command = [sys.executable, "-c", SERVE, "serve", args.model, "--port", str(port)]
    command += ["--max-batch", str(max_batch), "--precision", args.precision]
    command += ["--no-access-log", "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        return asyncio.run(load(server, port, args, sentences, duration))
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


async def load(
    server: subprocess.Popen,
    port: int,
    args: argparse.Namespace,
    sentences: list[str],
    duration: float,
) -> dict:
    import httpx

    base = f"http://127.0.0.1:{port}"
    await wait_healthy(server, base)
    rng = random.Random(0)
    bodies = [{"texts": rng.sample(sentences, rng.randint(1, args.texts))} for _ in range(4096)]
    async with httpx.AsyncClient(base_url=base, timeout=60) as warm:
        for body in bodies[:32]:  # first calls pay for lazy initialisation
            (await warm.post("/predict", json=body)).raise_for_status()
        before = (await warm.get("/health")).json()
    rss_start = rss_mb(server.pid)
    latencies: list[float] = []
    texts_done = 0
    errors: list[str] = []
    rss_samples: list[tuple[float, float]] = []
    started = time.perf_counter()
    stop_at = started + duration

    async def client(k: int) -> None:
        nonlocal texts_done
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            i = k
            while time.perf_counter() < stop_at:
                body = bodies[i % len(bodies)]
                i += args.clients
                t0 = time.perf_counter()
                try:
                    answer = await http.post("/predict", json=body)
                except httpx.HTTPError as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    continue
                latencies.append(time.perf_counter() - t0)
                if answer.status_code != 200:
                    errors.append(f"{answer.status_code}: {answer.text[:200]}")
                    continue
                texts_done += len(body["texts"])

    async def sample_rss() -> None:
        while time.perf_counter() < stop_at:
            await asyncio.sleep(min(RSS_EVERY_S, max(0.0, stop_at - time.perf_counter())))
            rss_samples.append((time.perf_counter() - started, rss_mb(server.pid)))

    await asyncio.gather(*(client(k) for k in range(args.clients)), sample_rss())
    elapsed = time.perf_counter() - started
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        after = (await http.get("/health")).json()
    batches = after["batches"] - before["batches"]
    batched_texts = after["texts"] - before["texts"]
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "requests_s": len(latencies) / elapsed,
        "sentences_s": texts_done / elapsed,
        "p50_ms": 1000 * statistics.median(ordered) if ordered else float("nan"),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        if ordered
        else float("nan"),
        "errors": len(errors),
        "first_errors": errors[:3],
        "mean_batch": batched_texts / batches if batches else 0.0,
        "largest_batch": after["largest_batch"],
        "rss_start": rss_start,
        "rss_end": rss_mb(server.pid),
        "rss_samples": rss_samples,
        "elapsed": elapsed,
    }


async def wait_healthy(server: subprocess.Popen, base: str) -> None:
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"the server ended with status {server.returncode}")
            try:
                if (await http.get("/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"the server did not answer /health within {START_TIMEOUT_S} s")


def describe(name: str, max_batch: int, r: dict) -> str:
    text = (
        f"{name} (--max-batch {max_batch}): {r['requests']} requests in {r['elapsed']:.1f} s, "
        f"{r['requests_s']:.1f} req/s, {r['sentences_s']:.1f} sentences/s, "
        f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, errors {r['errors']}, "
        f"mean batch {r['mean_batch']:.1f} texts (largest {r['largest_batch']}), "
        f"RSS {r['rss_start']:.0f} MB -> {r['rss_end']:.0f} MB"
    )
    if r["first_errors"]:
        text += "\n  first errors: " + " | ".join(r["first_errors"])
    return text


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
