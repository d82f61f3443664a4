"""How an instance that lost the generation lease learns that the entry is written: measured.

    .venv/bin/python -m bench.waiting [--keys 1,100] [--rounds 10]

Three "instances" (a Redis client each) share one throwaway redis-server started here: one
generates, two wait, for every key of a round. Each key's entry is written after a delay drawn
from 0.2-1.0 s (a generation's shape: seconds of OpenAI, nothing to predict), and each waiter
records the time from the writer's SET reply to its own answer. The mechanisms:

- `poll-backoff`: GET the entry and PEXISTS the lease (one pipeline) after 5 ms, then every
  1.5x longer up to 100 ms (what a waiter would do without any signal);
- `poll-25ms`: the same at a fixed 25 ms;
- `pubsub`: the writer PUBLISHes on a channel per key after its SET (one pipeline); each
  instance holds one subscriber connection that all its waiters share (SUBSCRIBE, then GET the
  entry once, then wait for the message, then UNSUBSCRIBE);
- `keyspace`: as pubsub, but the channel is Redis's keyspace notification for the entry's key
  (`notify-keyspace-events K$`, a server-wide setting), so the writer only SETs.

Redis load: commands the server processed (INFO commandstats) and its CPU (INFO cpu) per wait,
and for keyspace notifications also what they cost every other write (SET throughput with and
without the setting). Writes bench/results/waiting.json and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from bench.procs import ROOT, Procs, free_port
from bench.servers import redis_argv

RESULTS = ROOT / "bench" / "results" / "waiting.json"
WAITERS = 2  # instances waiting on each key (the third generates)


class Subscriber:
    """One pub/sub connection per instance; waiters register an event per channel."""

    def __init__(self, redis: Redis) -> None:
        self.pubsub: PubSub = redis.pubsub(ignore_subscribe_messages=True)
        self.events: dict[str, asyncio.Event] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pubsub.subscribe("bench:idle")  # connects; get_message needs a subscription
        self.task = asyncio.create_task(self._dispatch())

    async def _dispatch(self) -> None:
        while True:
            message = await self.pubsub.get_message(timeout=1.0)
            if message is not None:
                event = self.events.get(message["channel"].decode())
                if event is not None:
                    event.set()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.pubsub.aclose()


Waiter = Callable[[Redis, Subscriber, str], Coroutine[Any, Any, float]]


async def poll(redis: Redis, first: float, factor: float, cap: float, key: str) -> float:
    delay = first
    while True:
        await asyncio.sleep(delay)
        pipe = redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.exists(f"{key}:lease")
        entry, _ = await pipe.execute()
        if entry is not None:
            return time.perf_counter()
        delay = min(cap, delay * factor)


async def poll_backoff(redis: Redis, sub: Subscriber, key: str) -> float:
    return await poll(redis, 0.005, 1.5, 0.1, key)


async def poll_fixed(redis: Redis, sub: Subscriber, key: str) -> float:
    return await poll(redis, 0.025, 1.0, 0.025, key)


async def by_channel(redis: Redis, sub: Subscriber, key: str, channel: str) -> float:
    event = sub.events[channel] = asyncio.Event()
    try:
        await sub.pubsub.subscribe(channel)
        if await redis.get(key) is None:  # written before we subscribed: no message to wait for
            await event.wait()
            await redis.get(key)  # the waiter reads the entry the message announced
        return time.perf_counter()
    finally:
        del sub.events[channel]
        await sub.pubsub.unsubscribe(channel)


async def pubsub(redis: Redis, sub: Subscriber, key: str) -> float:
    return await by_channel(redis, sub, key, f"{key}:done")


async def keyspace(redis: Redis, sub: Subscriber, key: str) -> float:
    return await by_channel(redis, sub, key, f"__keyspace@0__:{key}")


MECHANISMS: dict[str, tuple[Waiter, bool]] = {  # name: (waiter, writer publishes)
    "poll-backoff": (poll_backoff, False),
    "poll-25ms": (poll_fixed, False),
    "pubsub": (pubsub, True),
    "keyspace": (keyspace, False),
}


async def write(redis: Redis, key: str, delay: float, publish: bool) -> float:
    await asyncio.sleep(delay)
    pipe = redis.pipeline(transaction=False)
    pipe.set(key, b"x" * 2000, ex=60)
    if publish:
        pipe.publish(f"{key}:done", b"1")
    await pipe.execute()
    return time.perf_counter()


async def server_load(admin: Redis) -> tuple[int, float]:
    """(commands processed, CPU seconds) of the server so far."""
    stats = await admin.info("commandstats")
    calls = sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")
    cpu = await admin.info("cpu")
    return calls, float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])


async def round_of(
    name: str, keys: int, seed: int, instances: list[Redis], subs: list[Subscriber], admin: Redis
) -> dict[str, Any]:
    waiter, publish = MECHANISMS[name]
    rng = random.Random(seed)  # the same generations for every mechanism
    names = [f"bench:{name}:{keys}:{n}:{time.monotonic_ns()}" for n in range(keys)]
    delays = [rng.uniform(0.2, 1.0) for _ in names]
    before = await server_load(admin)
    started = time.perf_counter()
    writes = [
        asyncio.create_task(write(instances[0], k, d, publish))
        for k, d in zip(names, delays, strict=True)
    ]
    waits = [
        [asyncio.create_task(waiter(instances[i], subs[i], k)) for k in names]
        for i in range(1, 1 + WAITERS)
    ]
    written = await asyncio.gather(*writes)
    latencies = []
    for tasks in waits:
        answered = await asyncio.gather(*tasks)
        latencies += [(a - w) * 1000 for a, w in zip(answered, written, strict=True)]
    elapsed = time.perf_counter() - started
    after = await server_load(admin)
    commands = after[0] - before[0]
    waited = sum(delays) * WAITERS  # seconds spent waiting, all waiters together
    return {
        "latencies_ms": latencies,
        "commands_per_wait": commands / (keys * WAITERS),
        "commands_per_s": commands / elapsed,
        "commands_per_waiting_s": commands / waited,
        "cpu_ms_per_wait": (after[1] - before[1]) * 1000 / (keys * WAITERS),
    }


async def set_throughput(redis: Redis, n: int = 20000) -> float:
    started = time.perf_counter()
    for start in range(0, n, 100):
        pipe = redis.pipeline(transaction=False)
        for i in range(start, start + 100):
            pipe.set(f"bench:other:{i}", b"v")
        await pipe.execute()
    return n / (time.perf_counter() - started)


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    latencies = sorted(x for row in rows for x in row["latencies_ms"])
    return {
        "waits": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p90_ms": round(latencies[int(0.9 * (len(latencies) - 1))], 2),
        "max_ms": round(latencies[-1], 2),
        "commands_per_wait": round(statistics.mean(r["commands_per_wait"] for r in rows), 1),
        "commands_per_s": round(statistics.mean(r["commands_per_s"] for r in rows), 0),
        "commands_per_waiting_s": round(
            statistics.mean(r["commands_per_waiting_s"] for r in rows), 1
        ),
        "cpu_ms_per_wait": round(statistics.mean(r["cpu_ms_per_wait"] for r in rows), 3),
    }


async def run(url: str, key_counts: list[int], rounds: int) -> dict[str, Any]:
    admin = Redis.from_url(url)
    instances = [Redis.from_url(url, max_connections=2000) for _ in range(1 + WAITERS)]
    subs = [Subscriber(r) for r in instances]
    for sub in subs:
        await sub.start()
    results: dict[str, Any] = {}
    try:
        for name in MECHANISMS:
            await admin.config_set("notify-keyspace-events", "K$" if name == "keyspace" else "")
            for keys in key_counts:
                rows = [
                    await round_of(name, keys, n, instances, subs, admin) for n in range(rounds)
                ]
                results[f"{name}/{keys}"] = summary(rows)
                print(f"{name:>13} keys={keys:<4} {results[f'{name}/{keys}']}", flush=True)
        runs: dict[str, list[float]] = {"off": [], "K$": []}
        await set_throughput(instances[0], 2000)  # warm
        for _ in range(7):  # alternating, so that a noisy neighbour costs both alike
            for setting in ("", "K$"):
                await admin.config_set("notify-keyspace-events", setting)
                runs[setting or "off"].append(await set_throughput(instances[0]))
        results["set_per_s_notifications"] = {
            name: round(statistics.median(times)) for name, times in runs.items()
        }
        print(
            "SET/s, pipelined, notify-keyspace-events off vs K$:",
            results["set_per_s_notifications"],
        )
    finally:
        for sub in subs:
            await sub.stop()
        for r in [*instances, admin]:
            await r.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", default="1,100")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as work, Procs(Path(work) / "logs") as procs:
        procs.start("redis", redis_argv(port, Path(work)), port=port)
        results = asyncio.run(
            run(f"redis://127.0.0.1:{port}/0", [int(k) for k in args.keys.split(",")], args.rounds)
        )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
