"""The offline writer over the article dataset: thread lengths for each `length` option, time per
page, and two example threads (the figures of docs/writing.md).

    .venv/bin/python -m bench.offline_writer [--repeat 3] [--example ID ...]

Each page is extracted as the service extracts it and cut to MAX_CONTENT_LENGTH (10,000); only
the writer is timed (write_offline and the numbering), on one core, best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import time
from pathlib import Path

from bench.evaluation import dataset_dir, load_dataset
from threadr.articles.extraction import extract
from threadr.errors import Unprocessable
from threadr.writing.fit import truncate
from threadr.writing.numbering import number
from threadr.writing.offline import write_offline
from threadr.writing.options import Options
from threadr.writing.salience import similarity, terms

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "offline_writer.json"
LIMIT = 10_000  # MAX_CONTENT_LENGTH's default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--example", nargs="*", default=[])
    args = parser.parse_args()
    articles = []
    for page in load_dataset(dataset_dir(ROOT)):
        try:
            article = extract(page.html)
        except Unprocessable:
            continue
        articles.append((page.id, article.title or "", truncate(article.text, LIMIT)))
    report: dict[str, object] = {"pages": len(articles)}
    for length in ("auto", "short", "medium", "long"):
        options = Options(length=length)  # type: ignore[arg-type]
        counts: collections.Counter[int] = collections.Counter()
        times = []
        sourced = reach = alike = 0.0
        for _, title, text in articles:
            best = float("inf")
            for _ in range(args.repeat):
                started = time.perf_counter()
                tweets = number(write_offline(text, title, options), options)
                best = min(best, time.perf_counter() - started)
            counts[len(tweets)] += 1
            times.append(best * 1000)
            spans = [t.source for t in tweets if t.source is not None]
            sourced += len(spans) / len(tweets)
            reach += max((s.end for s in spans), default=0) / len(text)
            bags = [collections.Counter(terms(text[s.start : s.end])) for s in spans]
            pairs = [similarity(a, b) for i, a in enumerate(bags) for b in bags[i + 1 :]]
            alike += max(pairs, default=0.0)
        times.sort()
        n = len(articles)
        report[length] = {
            "sourced": round(sourced / n, 3),  # share of tweets with a source
            "reach": round(reach / n, 3),  # how far into the article the last source ends
            "most_alike": round(alike / n, 3),  # the closest pair of tweets (term cosine)
            "tweets": dict(sorted(counts.items())),
            "ms_mean": round(statistics.mean(times), 1),
            "ms_median": round(statistics.median(times), 1),
            "ms_p95": round(times[int(0.95 * (len(times) - 1))], 1),
            "ms_max": round(times[-1], 1),
        }
        print(length, json.dumps(report[length]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    medium = Options(length="medium")
    for page_id, title, text in articles:
        if any(page_id.startswith(prefix) for prefix in args.example):
            print(f"\n## {title}  ({page_id[:12]})")
            for tweet in number(write_offline(text, title, medium), medium):
                print(f"{tweet.content}\n    [{tweet.character_count}] source={tweet.source}\n")


if __name__ == "__main__":
    main()
