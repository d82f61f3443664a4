"""An open-loop load: requests sent at a fixed rate whatever the answers' speed, each timed from
the moment it was due (a stalled server shows as latency, not as fewer requests: no
coordinated omission), and reported by kind — cache hits, and misses on real article pages.

    python -m bench.openloop --url http://127.0.0.1:P --rate 800 --seconds 10 \\
        [--miss-share 0.05 --site http://127.0.0.1:Q --tag abc]

Every 1/miss-share-th request (evenly spread) asks for edition n of a dataset page on the
article site (bench/servers.py: a new URL and a new text each time, so a miss the model writes);
the others repeat bench.scenarios' cache-hit request. Prints one JSON line: per kind, the
count, statuses and latency percentiles (ms), and the rate achieved. wrk cannot do this: it
keeps a fixed number of requests in flight (closed loop), so a slow answer slows the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import urlsplit

import msgspec

from bench.scenarios import HIT_BODY
from bench.servers import dataset_pages

WARMUP = 1.0  # seconds sent but not recorded
MAX_CONNECTIONS = 512


def request(host: str, body: bytes) -> bytes:
    return (
        b"POST /api/generate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body)
    )


class Load:
    """Connections kept alive and reused; a new one when every one is busy."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)
        self.errors: Counter[str] = Counter()

    async def send(self, kind: str, raw: bytes, due: float, record: bool) -> None:
        try:
            if self.idle:
                reader, writer = self.idle.pop()
            elif self.opened < MAX_CONNECTIONS:
                self.opened += 1
                reader, writer = await asyncio.open_connection(self.host, self.port)
            else:
                raise RuntimeError("every connection is busy")
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        except (OSError, RuntimeError, asyncio.IncompleteReadError) as exc:
            self.errors[type(exc).__name__] += 1
            return
        finished = time.perf_counter()
        self.idle.append((reader, writer))
        if record:
            self.latencies[kind].append((finished - due) * 1000)
            self.statuses[kind][status] += 1


async def run(
    url: str, rate: float, seconds: float, miss_share: float, site: str | None, tag: int
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    hit = request(f"{host}:{port}", HIT_BODY)
    pages = sorted(dataset_pages()) if miss_share and site else []
    every = round(1 / miss_share) if pages else 0
    load = Load(host, port)
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.05
    total = round(rate * (seconds + WARMUP))
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if every and i % every == every - 1:
            n = i // every
            page = pages[n % len(pages)]
            edition = tag * 10_000_000 + n
            body = msgspec.json.encode({"url": f"{site}/dataset/{page}/{edition}.html"})
            kind, raw = "miss", request(f"{host}:{port}", body)
        else:
            kind, raw = "hit", hit
        task = asyncio.create_task(load.send(kind, raw, due, i / rate >= WARMUP))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sent_for = time.perf_counter() - start
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    for _, writer in load.idle:
        writer.close()
    return {
        "rate": rate,
        "achieved_rate": round(total / sent_for, 1),
        "connections": load.opened,
        "errors": dict(load.errors),
        "kinds": {
            kind: {"statuses": dict(load.statuses[kind]), **percentiles(values)}
            for kind, values in load.latencies.items()
        },
    }


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(n * q))], 2)

    return {"n": n, "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "p999": at(0.999),
            "max": round(ordered[-1], 2)}  # fmt: skip


def main() -> None:
    import uvloop

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--miss-share", type=float, default=0.0)
    parser.add_argument("--site", help="the article site (bench/servers.py) for the misses")
    parser.add_argument("--tag", type=int, default=1, help="makes this run's miss URLs its own")
    args = parser.parse_args()
    result = uvloop.run(
        run(args.url, args.rate, args.seconds, args.miss_share, args.site, args.tag)
    )
    print("OPENLOOP_JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
