"""Benchmark of article extraction: our extractor vs trafilatura vs readability-lxml.

Scores every extractor on the article-extraction dataset with the metric of
`bench/evaluation.py` and measures pages/second on one core, timing only the extraction call
(on the raw, already un-gzipped bytes, so each tool does its own charset decoding).

    .venv/bin/python -m bench.extract_bench [--repeat 3] [--only threadr] [--worst 10]

trafilatura runs as `trafilatura.extract(html, include_comments=False)` with its other defaults;
readability-lxml's summary HTML is turned into text with selectolax before scoring.
trafilatura and readability-lxml are the `bench` extra and are never imported by `src/`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.evaluation import (
    LabelledPage,
    PageScore,
    dataset_dir,
    load_dataset,
    score_corpus,
    score_page,
)
from threadr.articles.extraction import extract
from threadr.errors import Unprocessable

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "extract.json"

Extractor = Callable[[LabelledPage], str]


def run_threadr(page: LabelledPage) -> str:
    try:
        return extract(page.html, url=page.url).text
    except Unprocessable:
        return ""


def make_trafilatura() -> Extractor:
    import trafilatura

    def run(page: LabelledPage) -> str:
        return trafilatura.extract(page.html, url=page.url, include_comments=False) or ""

    return run


def make_readability() -> Extractor:
    from readability import Document
    from selectolax.lexbor import LexborHTMLParser

    block = "p, div, li, h1, h2, h3, h4, h5, h6, pre, blockquote, tr, br, dd, dt, figcaption"

    def run(page: LabelledPage) -> str:
        summary = Document(page.html, url=page.url).summary(html_partial=True)
        tree = LexborHTMLParser(summary)
        # Separate block elements so that words of adjacent paragraphs do not fuse.
        for node in tree.css(block):
            node.insert_before("\n")
        return tree.text()

    return run


def time_and_score(
    name: str, fn: Extractor, pages: list[LabelledPage], repeat: int
) -> tuple[dict[str, object], list[tuple[PageScore, LabelledPage, str]]]:
    outputs: list[str] = []
    runs: list[float] = []
    for _ in range(repeat):
        outputs = []
        gc.collect()
        elapsed = 0.0
        for page in pages:
            start = time.perf_counter()
            out = fn(page)
            elapsed += time.perf_counter() - start
            outputs.append(out)
        runs.append(elapsed)
    per_page = [(score_page(o, p.truth), p, o) for o, p in zip(outputs, pages, strict=True)]
    corpus = score_corpus(s for s, _, _ in per_page)
    best, median = min(runs), statistics.median(runs)
    row: dict[str, object] = {
        "extractor": name,
        "precision": round(corpus.precision, 4),
        "recall": round(corpus.recall, 4),
        "f1": round(corpus.f1, 4),
        "pages": corpus.pages,
        "pages_per_s_best": round(len(pages) / best, 1),
        "pages_per_s_median": round(len(pages) / median, 1),
        "ms_per_page_median": round(1000 * median / len(pages), 2),
    }
    return row, per_page


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per extractor")
    parser.add_argument("--only", choices=["threadr", "trafilatura", "readability"], default=None)
    parser.add_argument("--worst", type=int, default=0, help="list the N worst pages of ours")
    args = parser.parse_args(argv)

    root = dataset_dir(ROOT)
    if not root.is_dir():
        print(f"dataset not found at {root}", file=sys.stderr)
        return 2
    pages = load_dataset(root)
    pinned = pin_one_core()

    extractors: dict[str, Callable[[], Extractor]] = {
        "threadr": lambda: run_threadr,
        "trafilatura": make_trafilatura,
        "readability": make_readability,
    }
    names = [args.only] if args.only else list(extractors)
    rows: list[dict[str, object]] = []
    ours: list[tuple[PageScore, LabelledPage, str]] = []
    for name in names:
        fn = extractors[name]()
        fn(pages[0])  # warm up imports and caches outside the timed passes
        row, per_page = time_and_score(name, fn, pages, args.repeat)
        rows.append(row)
        if name == "threadr":
            ours = per_page

    base = next((r for r in rows if r["extractor"] == "trafilatura"), None)
    for row in rows:
        if base is not None:
            ratio = float(str(row["pages_per_s_median"])) / float(str(base["pages_per_s_median"]))
            row["speed_vs_trafilatura"] = round(ratio, 1)

    print(f"{len(pages)} pages, {args.repeat} passes, {pinned}, Python {platform.python_version()}")
    print()
    print("| extractor | F1 | precision | recall | pages/s (median) | ms/page | × trafilatura |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['extractor']} | {r['f1']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} "
            f"| {r['pages_per_s_median']} | {r['ms_per_page_median']} "
            f"| {r.get('speed_vs_trafilatura', '–')} |"
        )

    if args.worst and ours:
        print()
        ranked = sorted(ours, key=lambda t: (t[0].tp, t[1].id))
        for s, page, _ in ranked[: args.worst]:
            print(f"{page.id[:12]} P={s.precision or 0:.2f} R={s.recall or 0:.2f} {page.url}")

    if args.only is None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "pages": len(pages),
            "repeat": args.repeat,
            "cpu": pinned,
            "python": platform.python_version(),
            "results": rows,
        }
        RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
