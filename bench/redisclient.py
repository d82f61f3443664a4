"""Client-side cost of redis.asyncio per command, for each preset of bench/redisopts.py.

    python -m bench.redisclient --url redis://127.0.0.1:P/0 [--presets a,b] [--ops 10000]

Runs under whatever redis-py is installed (bench/redispy.py runs it in other versions'
virtualenvs); needs redis and uvloop only. 64 tasks share one client, as a server's requests
do. Prints one JSON object: per preset and operation, the median over rounds of the process's
CPU µs per operation and operations per second; presets alternate inside every round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis
import uvloop
from redis.asyncio import Redis

from bench.redisopts import PRESETS, client

KEY = "threadr:bench:client"


def operations(r: Redis) -> dict[str, Callable[[], Awaitable[Any]]]:
    async def get() -> Any:
        return await r.get(KEY)

    async def pipeline() -> Any:
        # The limiter's shape: two commands, one round trip, no MULTI.
        pipe = r.pipeline(transaction=False)
        pipe.get(KEY)
        pipe.get(KEY)
        return await pipe.execute()

    return {"get": get, "pipeline2": pipeline}


async def timed(op: Callable[[], Awaitable[Any]], n: int, concurrency: int) -> tuple[float, float]:
    async def worker(count: int) -> None:
        for _ in range(count):
            await op()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = n // concurrency * concurrency
    return cpu / done * 1e6, done / wall


async def count_calls(url: str, presets: list[str], ops: int, concurrency: int) -> None:
    """Python function calls per operation (cProfile's count): a noise-free measure of how much
    interpreted code each version and preset runs per command."""
    import cProfile
    import pstats

    out: dict[str, Any] = {"redis": redis.__version__, "calls": {}}
    for name in presets:
        r = client(url, name)
        await r.set(KEY, b"x" * 600)
        for op_name, op in operations(r).items():
            await timed(op, concurrency * 20, concurrency)  # connect everything first
            prof = cProfile.Profile()
            prof.enable()
            await timed(op, ops, concurrency)
            prof.disable()
            stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
            done = ops // concurrency * concurrency
            per_func = {
                f"{func[2]} ({Path(func[0]).name}:{func[1]})": nc / done
                for func, (_, nc, *_rest) in stats.items()
            }
            top = sorted(per_func.items(), key=lambda kv: -kv[1])[:40]
            out["calls"].setdefault(name, {})[op_name] = {
                "per_op": round(sum(per_func.values()), 1),
                "top": [(f, round(n, 2)) for f, n in top if n >= 0.5],
            }
        await r.aclose()
    print(json.dumps(out))


async def main(url: str, presets: list[str], ops: int, rounds: int, concurrency: int) -> None:
    clients = {name: client(url, name) for name in presets}
    await clients[presets[0]].set(KEY, b"x" * 600)  # about one cached thread
    runs: dict[str, dict[str, list[tuple[float, float]]]] = {
        name: {op: [] for op in ("get", "pipeline2")} for name in presets
    }
    for name in presets:  # connect, and warm every code path once
        for op in operations(clients[name]).values():
            await timed(op, concurrency * 20, concurrency)
    for i in range(rounds):
        for name in presets if i % 2 == 0 else reversed(presets):
            for op_name, op in operations(clients[name]).items():
                runs[name][op_name].append(await timed(op, ops, concurrency))
    for c in clients.values():
        await c.aclose()
    out: dict[str, Any] = {"redis": redis.__version__, "results": {}}
    for name, by_op in runs.items():
        out["results"][name] = {
            op: {
                "cpu_us": round(statistics.median(c for c, _ in samples), 1),
                "cpu_us_min": round(min(c for c, _ in samples), 1),
                "ops_per_s": round(statistics.median(w for _, w in samples)),
            }
            for op, samples in by_op.items()
        }
    print(json.dumps(out))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--ops", type=int, default=10_000, help="operations per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--count-calls", action="store_true", help="cProfile call counts")
    a = parser.parse_args()
    if a.count_calls:
        uvloop.run(count_calls(a.url, a.presets.split(","), a.ops, a.concurrency))
    else:
        uvloop.run(main(a.url, a.presets.split(","), a.ops, a.rounds, a.concurrency))
