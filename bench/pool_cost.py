"""What reading a page in a worker process costs a cache miss, against reading it inline.

    .venv/bin/python -m bench.pool_cost [--repeat 3]

For every page of the article-extraction dataset, one at a time: `extract()` called inline,
then the same page through an ExtractionPool of one worker. Reports the median and total wall
time per page of each, and the CPU time the calling process spent per page: inline that is the
whole extraction (on the event loop, in the service); through the pool it is only encoding the
page, the pipe and decoding the article.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time

from bench.evaluation import dataset_dir, load_dataset
from bench.procs import ROOT
from threadr.articles.extraction import extract
from threadr.articles.extraction.pool import ExtractionPool
from threadr.errors import Unprocessable


async def measure(repeat: int) -> dict[str, float]:
    pages = load_dataset(dataset_dir(ROOT))
    pool = ExtractionPool(workers=1, timeout=30)
    await pool.extract(pages[0].html, url=pages[0].url)  # the worker is up before timing
    inline_wall, pool_wall, inline_cpu, pool_cpu = [], [], 0.0, 0.0
    try:
        for _ in range(repeat):
            for page in pages:
                cpu, began = time.process_time(), time.perf_counter()
                with contextlib.suppress(Unprocessable):
                    extract(page.html, url=page.url)
                inline_wall.append(time.perf_counter() - began)
                inline_cpu += time.process_time() - cpu
                cpu, began = time.process_time(), time.perf_counter()
                with contextlib.suppress(Unprocessable):
                    await pool.extract(page.html, url=page.url)
                pool_wall.append(time.perf_counter() - began)
                pool_cpu += time.process_time() - cpu
    finally:
        await pool.aclose()
    n = len(inline_wall)
    return {
        "pages": n,
        "inline_median_ms": statistics.median(inline_wall) * 1000,
        "pool_median_ms": statistics.median(pool_wall) * 1000,
        "inline_mean_ms": sum(inline_wall) / n * 1000,
        "pool_mean_ms": sum(pool_wall) / n * 1000,
        "inline_loop_cpu_ms": inline_cpu / n * 1000,
        "pool_loop_cpu_ms": pool_cpu / n * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    result = asyncio.run(measure(parser.parse_args().repeat))
    print(f"{result['pages']} page reads per mode")
    print("| mode | median ms/page | mean ms/page | CPU ms/page in the calling process |")
    print("|---|---|---|---|")
    for mode in ("inline", "pool"):
        print(
            f"| {mode} | {result[f'{mode}_median_ms']:.2f} | {result[f'{mode}_mean_ms']:.2f} "
            f"| {result[f'{mode}_loop_cpu_ms']:.2f} |"
        )


if __name__ == "__main__":
    main()
