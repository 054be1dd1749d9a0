"""Time to add a span on a 10,000-word document, from key press to highlight shown.

The annotator paints spans over the laid-out text and repaints only what is on screen,
so one edit costs: the store write (committed), re-reading the document's spans, and
one repaint of the viewport (the document list and label counts follow a moment later).
It runs in the Annotate page as the window shows it. The peer, measured in the same run on the same document
and the same store writes, is the naive approach: re-render the whole document (set
the text again and give every span a character format) after each edit.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_gui_annotate.py
    [--words 10000] [--repeats 30] [--documents 200000]

Target: median under 50 ms. Also (``bench_document_list``) how fast the document list
of a big project opens and pages while scrolling, against reading every row at once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QTextEdit  # noqa: E402

SENTENCES = [
    "Maria Lopez opened a small bakery in Porto last spring",
    "Northwind Bank moved its head office from Leeds to Manchester",
    "The mayor of Riverton cut the ribbon on the new bridge",
    "Greenfield Labs hired Anna Berg as its chief chemist",
    "Heavy rain closed the roads between Oslo and Drammen",
]


def long_document(words: int) -> tuple[str, list[tuple[int, int, str]]]:
    """About ``words`` words in paragraphs, with a span on every tenth word."""
    out, spans, pos, n = [], [], 0, 0
    i = 0
    while n < words:
        sentence = SENTENCES[i % len(SENTENCES)] + (" ." if i % 6 != 5 else " .\n")
        out.append(sentence + " ")
        for word in sentence.split(" "):
            if n % 10 == 0 and word.isalpha():
                spans.append((pos, pos + len(word), ("PER", "ORG", "LOC")[n % 3]))
            pos += len(word) + 1
            n += 1
        i += 1
    return "".join(out), spans


def _wait_painted(app: QApplication, flag: list[bool], budget_s: float = 5.0) -> None:
    end = time.perf_counter() + budget_s
    while not flag[0] and time.perf_counter() < end:
        app.processEvents()


def bench_add_span(words: int = 10_000, repeats: int = 30) -> dict:
    """Median and p95 ms per added span, incremental vs naive; prints them and the ratio."""
    from core.store import Project
    from desktop.annotate_page import AnnotatePage
    from desktop.controller import ProjectController

    app = QApplication.instance() or QApplication([])
    text, spans = long_document(words)
    with tempfile.TemporaryDirectory() as tmp:
        project = Project.create(Path(tmp) / "bench.spanlab")
        for name, colour, key in (
            ("PER", "#f4a259", "1"),
            ("ORG", "#6ca6d9", "2"),
            ("LOC", "#8cc46e", "3"),
        ):
            project.add_label(name, colour=colour, shortcut=key)
        doc_id = project.add_document(text, spans=spans)
        tokens = project.get_document(doc_id)["tokens"]
        taken = {s[0] for s in spans}
        free = [t for t in tokens if t[0] not in taken and text[t[0]].isalpha()]
        middle = len(free) // 2
        targets = free[middle : middle + 4 * repeats : 2]

        controller = ProjectController()
        controller.set_project(project)
        page = AnnotatePage(controller)  # list + labels + annotator, as in the window
        page.resize(1400, 850)
        page.show()
        annotator = page.annotator
        for _ in range(5):
            app.processEvents()
        t0 = time.perf_counter()
        annotator.open_document(doc_id)
        app.processEvents()
        open_ms = (time.perf_counter() - t0) * 1000
        view = annotator.view
        scrollbar = view.verticalScrollBar()
        scroll = []
        for value in range(0, scrollbar.maximum(), max(1, scrollbar.maximum() // 60)):
            t0 = time.perf_counter()
            scrollbar.setValue(value)
            view.viewport().repaint()
            scroll.append((time.perf_counter() - t0) * 1000)
        painted = [False]
        view.painted.connect(lambda: painted.__setitem__(0, True))
        for _ in range(20):
            app.processEvents()

        # -- incremental: what the app does
        incremental = []
        for start, end in targets[:repeats]:
            view.select_range(start, end)
            for _ in range(3):
                app.processEvents()
            painted[0] = False
            t0 = time.perf_counter()
            QTest.keyClick(view, "1")
            _wait_painted(app, painted)
            incremental.append((time.perf_counter() - t0) * 1000)
        added = len(project.spans(doc_id)) - len(spans)

        # -- peer: the same store write, then the whole document rendered again
        naive_view = QTextEdit()
        naive_view.setReadOnly(True)
        naive_view.resize(1100, 800)
        naive_view.show()
        naive_painted = [False]
        original_paint = naive_view.paintEvent

        def paint(event, original=original_paint):  # noqa: ANN001
            original(event)
            naive_painted[0] = True

        naive_view.paintEvent = paint  # type: ignore[method-assign]
        naive = []
        for start, end in targets[repeats : 2 * repeats] or targets[:repeats]:
            naive_painted[0] = False
            t0 = time.perf_counter()
            try:
                project.add_span(doc_id, start, end, "ORG")
            except Exception:
                continue
            render_whole_document(naive_view, text, project.spans(doc_id), controller)
            _wait_painted(app, naive_painted)
            naive.append((time.perf_counter() - t0) * 1000)
        page.close()
        naive_view.close()
        controller.close_project()

    result = {
        "words": words,
        "spans_in_document": len(spans),
        "added": added,
        "open_document_ms": round(open_ms, 1),
        "scroll_repaint_median_ms": round(statistics.median(scroll), 2),
        "scroll_repaint_max_ms": round(max(scroll), 2),
        "incremental_median_ms": round(statistics.median(incremental), 2),
        "incremental_p95_ms": round(_p95(incremental), 2),
        "naive_median_ms": round(statistics.median(naive), 2) if naive else None,
        "naive_p95_ms": round(_p95(naive), 2) if naive else None,
    }
    if naive:
        result["ratio_naive_over_incremental"] = round(
            result["naive_median_ms"] / result["incremental_median_ms"], 1
        )
    print(
        f"{words:,}-word document: opened in {result['open_document_ms']} ms; a scroll step "
        f"repaints in {result['scroll_repaint_median_ms']} ms (median, max "
        f"{result['scroll_repaint_max_ms']} ms)"
    )
    print(
        f"add span on a {words:,}-word document ({len(spans)} spans): "
        f"incremental median {result['incremental_median_ms']} ms "
        f"(p95 {result['incremental_p95_ms']} ms, target < 50 ms); "
        f"naive full re-render median {result['naive_median_ms']} ms "
        f"(p95 {result['naive_p95_ms']} ms); "
        f"ratio naive / incremental = {result.get('ratio_naive_over_incremental')}"
    )
    return result


def render_whole_document(view: QTextEdit, text: str, spans: list[dict], controller) -> None:  # noqa: ANN001
    """The naive approach: lay the text out again and format every span."""
    view.setPlainText(text)
    cursor = QTextCursor(view.document())
    for span in spans:
        fmt = QTextCharFormat()
        fmt.setBackground(QColor(controller.label_colour(span["label"])))
        cursor.setPosition(span["start"])
        cursor.setPosition(span["end"], QTextCursor.MoveMode.KeepAnchor)
        cursor.mergeCharFormat(fmt)
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum() // 2)


def bench_document_list(documents: int = 200_000, pages: int = 20) -> dict:
    """Time to show the first page of a big project, and to fetch pages while scrolling.

    The peer is reading every row at once (what a plain list model would do).
    """
    from core.store import Project
    from desktop.controller import ProjectController
    from desktop.document_list import PAGE_SIZE, DocumentList

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        project = Project.create(Path(tmp) / "big.spanlab")
        project.add_label("PER")
        words = ["Maria", "Lopez", "opened", "a", "small", "bakery", "in", "Porto", "last"]
        t0 = time.perf_counter()
        project.add_documents(
            {"text": f"{i} " + " ".join(words[i % 5 :]), "spans": [] if i % 3 else []}
            for i in range(documents)
        )
        build_s = time.perf_counter() - t0
        controller = ProjectController()
        controller.set_project(project)
        t0 = time.perf_counter()
        widget = DocumentList(controller)
        widget.resize(500, 800)
        widget.show()
        app.processEvents()
        first_page_ms = (time.perf_counter() - t0) * 1000
        fetch = []
        for _ in range(pages):
            t0 = time.perf_counter()
            widget.table.scrollToBottom()
            app.processEvents()
            fetch.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        rows = project.list_documents(limit=documents)
        all_rows_ms = (time.perf_counter() - t0) * 1000
        widget.close()
        controller.close_project()
    result = {
        "documents": documents,
        "build_s": round(build_s, 1),
        "first_page_ms": round(first_page_ms, 1),
        "scroll_fetch_median_ms": round(statistics.median(fetch), 1),
        "rows_loaded": PAGE_SIZE * (pages + 1),
        "read_all_rows_ms": round(all_rows_ms, 1),
        "ratio_all_over_first_page": round(all_rows_ms / first_page_ms, 1),
    }
    assert len(rows) == documents
    print(
        f"document list, {documents:,} documents: window shown with the first page in "
        f"{result['first_page_ms']} ms; each page fetched while scrolling "
        f"{result['scroll_fetch_median_ms']} ms (median); reading all rows at once "
        f"{result['read_all_rows_ms']} ms; ratio {result['ratio_all_over_first_page']}"
    )
    return result


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--documents", type=int, default=200_000, help="0 skips the list bench")
    args = parser.parse_args(argv)
    _app = QApplication.instance() or QApplication([])
    bench_add_span(args.words, args.repeats)
    if args.documents:
        bench_document_list(args.documents)
    return 0


if __name__ == "__main__":
    _ = Qt  # keep the import for readers: key events are Qt's
    sys.exit(main())
