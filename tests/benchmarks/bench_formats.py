"""Reader and tokenizer speed, each against the simplest peer.

    python tests/benchmarks/bench_formats.py [--sentences 200000]

- ``core.formats.read_conll`` against the loop most hand-written readers use (split
  each line, collect token and tag lists per sentence), which does none of Spanlab's
  work: no tag validation, no text and offsets, no spans.
- ``core.tokenize.tokenize`` against ``re.finditer(r"\\w+|[^\\w\\s]")``, which knows
  nothing of CJK, combining marks or emoji.

CPU seconds are reported, as the machine is shared.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.formats import read_conll  # noqa: E402
from core.tokenize import tokenize  # noqa: E402

_SIMPLE = re.compile(r"\w+|[^\w\s]")

WORDS = ("the", "a", "of", "in", "and", "to", "river", "north", "city", "said", "market")
LABELS = ("PER", "LOC", "ORG", "MISC")


def generate(path: Path, sentences: int, seed: int = 7) -> None:
    """Two-column IOB2 sentences of 8-20 tokens, about 15 % of them entity tokens."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for _ in range(sentences):
            lines: list[str] = []
            length = rng.randint(8, 20)
            while len(lines) < length:
                if rng.random() < 0.15:
                    label = rng.choice(LABELS)
                    for k in range(rng.randint(1, 3)):
                        lines.append(f"Name{rng.randrange(3000)}\t{'BI'[k > 0]}-{label}\n")
                else:
                    lines.append(f"{rng.choice(WORDS)}\tO\n")
            out.write("".join(lines) + "\n")


def bare_reader(path: Path) -> int:
    """The peer: token and tag lists per sentence, nothing else."""
    n = 0
    words: list[str] = []
    tags: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if parts:
                words.append(parts[0])
                tags.append(parts[-1])
            elif words:
                n += 1
                words, tags = [], []
    return n + bool(words)


def spanlab_reader(path: Path) -> int:
    return sum(1 for _ in read_conll(path))


def texts(path: Path) -> list[str]:
    """The sentences of the file as text, for the tokenizer figures."""
    return [doc["text"] for doc in read_conll(path)]


def cpu_rate(read: Callable[[Path], int], path: Path, repeat: int = 3) -> float:
    """Best sentences per CPU second over a few runs."""
    best = 0.0
    for _ in range(repeat):
        started = time.process_time()
        n = read(path)
        best = max(best, n / (time.process_time() - started))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.conll"
        generate(path, args.sentences)
        ours = cpu_rate(spanlab_reader, path)
        peer = cpu_rate(bare_reader, path)
        sample = texts(path)
    print(f"read_conll:  {ours:12,.0f} sentences/s (CPU)")
    print(f"bare reader: {peer:12,.0f} sentences/s (CPU)")
    print(f"ratio read_conll / bare reader: {ours / peer:.2f}")
    ours = cpu_rate(lambda _: sum(1 for text in sample if tokenize(text)), path)
    peer = cpu_rate(
        lambda _: sum(1 for t in sample if [m.span() for m in _SIMPLE.finditer(t)]), path
    )
    print(f"tokenize:     {ours:12,.0f} texts/s (CPU)")
    print(f"simple regex: {peer:12,.0f} texts/s (CPU)")
    print(f"ratio tokenize / simple regex: {ours / peer:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
