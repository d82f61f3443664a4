"""Python function calls and Redis work per cache hit, in process: noise-free measures for
comparing changes.

    .venv/bin/python -m bench.callcount [--variants baseline,reference,nolimiter,nometrics,signedin]
                                        [--requests 2000] [--path /health]

Each variant runs in its own process: the app from `create_app`, its lifespan running, on a
Redis started here, and cache hits driven straight through ASGI (no HTTP server, so uvicorn's
share is not counted). `baseline` is the production configuration of `make bench`'s headline
row (ENVIRONMENT=production, CORS_ORIGINS and API_KEYS set, limiter, quota, analytics and
metrics on); the others change one thing: `nocors` (CORS_ORIGINS unset), `origin` (each hit
carries the frontend's `Origin`, as a browser's does), `nolimiter` (RATE_LIMIT_ENABLED=false),
`nometrics` (METRICS_ENABLED=false), `accesslog` (ACCESS_LOG=true, its JSON line per request
written to /dev/null), `signedin` (hits by a signed-in account: its session looked up on each,
its history saved), `nolane` (the lane off), `cluster` (REDIS_CLUSTER=true on a cluster that
bench/cluster.py starts); `reference` is the bare app of bench/reference.py.

cProfile counts every call; the driver's own few calls per request are the same in every
variant. Redis's side comes from INFO over the unprofiled rounds (Redis pinned to the other
core): commands and round trips per hit, Redis's process CPU per hit (what a Redis core's
capacity is spent on: the network reads and writes as well as the commands), and the µs INFO
commandstats books per hit to each command (a script's time includes the commands it runs,
which are booked to themselves as well). Wall-clock timings on a noisy VM move by ±10 %; call
and command counts do not move at all, and at ~0.6 µs per call on the bench machine they
translate into CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from redis import Redis as SyncRedis
from redis.asyncio import Redis

from bench.measure import RedisSnapshot
from bench.procs import HOST, ROOT, Procs, free_port, pin, python, split_cores
from bench.scenarios import HIT_BODY
from bench.servers import redis_argv
from bench.stack import FRONTEND, HUGE, PRODUCTION


async def hits(variant: str, redis_url: str, n: int, path: str) -> dict[str, Any]:
    from asgi_lifespan import LifespanManager

    from threadr.cli import frozen_heap
    from threadr.config import Settings
    from threadr.web.app import create_app

    env = {
        "ENVIRONMENT": "production",
        "REDIS_URL": redis_url,
        "RATE_LIMIT_BURST": HUGE,
        "RATE_LIMIT_REQUESTS": HUGE,
        "FREE_TIER_DAILY_LIMIT": HUGE,
        "FREE_TIER_MONTHLY_LIMIT": HUGE,
        **PRODUCTION,
    }
    if variant == "nocors":
        del env["CORS_ORIGINS"]
    if variant == "nolimiter":
        env["RATE_LIMIT_ENABLED"] = "false"
    if variant in ("cluster", "cluster-lane"):
        env["REDIS_CLUSTER"] = "true"
    if variant == "cluster-lane":
        import threadr.storage.cluster
        from bench.cluster import NodeLanes

        threadr.storage.cluster.ClusterGateway = NodeLanes  # type: ignore[misc]
    if variant == "nolane":
        import threadr.storage.gateway

        threadr.storage.gateway.split_connections = lambda total: (0, total)  # type: ignore[attr-defined]
    if variant == "nometrics":
        env["METRICS_ENABLED"] = "false"
    if variant == "accesslog":
        from threadr.observability.logs import configure_logging

        env["ACCESS_LOG"] = "true"  # its JSON line per request, written to /dev/null
        configure_logging(Settings.from_env(env), open(os.devnull, "w"), force=True)  # noqa: SIM115
    if variant == "reference":
        from bench.reference import REFERENCE_KEY
        from bench.reference import create_app as create_reference

        os.environ["REDIS_URL"] = redis_url
        redis = Redis.from_url(redis_url)
        await redis.set(REFERENCE_KEY, b'{"thread": []}' + b" " * 600)
        await redis.aclose()
        app: Any = create_reference()
    else:
        app = create_app(Settings.from_env(env), while_serving=frozen_heap)  # as `threadr serve`
    post = path == "/api/generate"
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(HIT_BODY))]
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST" if post else "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers if post else [],
        "client": ("127.0.0.1", 50000),
        "server": (HOST, 8000),
    }
    if variant == "origin":
        headers.append((b"origin", FRONTEND.encode()))
    statuses: list[int] = []

    async def sign_up() -> None:
        """A signed-in variant's account: registered through the app, its token on every hit."""
        body = b'{"email": "bench@example.com", "password": "a bench password"}'
        replies: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.body":
                replies.append(message["body"])

        scope = dict(scope_base, path="/api/auth/register", raw_path=b"/api/auth/register")
        scope["headers"] = [(b"content-type", b"application/json")]
        await manager.app(scope, receive, send)
        token = json.loads(b"".join(replies))["access_token"]
        headers.append((b"authorization", b"Bearer " + token.encode()))

    async def one() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": HIT_BODY, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await manager.app(dict(scope_base), receive, send)  # it adds the lifespan's state

    async with LifespanManager(app) as manager:
        if variant == "signedin":
            await sign_up()
        # Warm at full concurrency, so that every connection (and its CLIENT SETINFO, which
        # reads package metadata) is made before counting starts.
        for _ in range(10):
            await asyncio.gather(*(one() for _ in range(16)))
        statuses.clear()
        prof = cProfile.Profile()
        cpu = time.process_time()
        prof.enable()
        for _ in range(n // 16):
            await asyncio.gather(*(one() for _ in range(16)))
        prof.disable()
        if os.environ.get("CALLCOUNT_PSTATS"):  # --pstats: the whole profile, for pstats
            prof.dump_stats(f"{os.environ['CALLCOUNT_PSTATS']}/{variant}.pstats")
        cpu = time.process_time() - cpu
        # The same load unprofiled: the least CPU of 5 rounds (process time, so the other
        # core's work does not count; Redis runs there), and Redis's work over all 5.
        plain = []
        info = SyncRedis.from_url(redis_url)
        before = RedisSnapshot.take(info)
        for _ in range(5):
            start = time.process_time()
            for _ in range(n // 16):
                await asyncio.gather(*(one() for _ in range(16)))
            plain.append(time.process_time() - start)
        redis_work = RedisSnapshot.take(info).per_request(before, n // 16 * 16 * 5)
        info.close()
        # One hit at a time: the wall-clock latency, round trips included.
        latency = []
        for _ in range(min(n, 1000)):
            start = time.perf_counter()
            await one()
            latency.append(time.perf_counter() - start)
    latency.sort()
    done = n // 16 * 16
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    calls = sum(nc for (_, nc, *_rest) in stats.values())
    by_module: dict[str, float] = {}
    for (filename, _, _), (_, nc, *_rest) in stats.items():
        module = _module(filename)
        by_module[module] = by_module.get(module, 0) + nc / done
    top = sorted(stats.items(), key=lambda kv: -kv[1][1])[:40]
    return {
        "top": [
            (f"{fn} ({_module(file)}:{line})", round(v[1] / done, 1)) for (file, line, fn), v in top
        ],
        "by_module": dict(sorted(by_module.items(), key=lambda kv: -kv[1])[:15]),
        "variant": variant,
        "calls_per_request": round(calls / done, 1),
        "cpu_us_profiled": round(cpu / done * 1e6),
        "cpu_us": round(min(plain) / done * 1e6, 1),
        "latency_us_p50": round(latency[len(latency) // 2] * 1e6),
        "latency_us_p99": round(latency[len(latency) * 99 // 100] * 1e6),
        "statuses": sorted(set(statuses)),
        "redis": redis_work,
    }


def _module(filename: str) -> str:
    """`…/site-packages/redis/asyncio/client.py` → `redis`; `…/src/threadr/x.py` → `threadr`."""
    for marker in ("site-packages/", "/src/", "/lib/python3.", "/bench/"):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            if marker == "/lib/python3.":
                return "stdlib:" + rest.split("/", 2)[1].removesuffix(".py")
            if marker == "/bench/":
                return "bench (driver)"
            return rest.split("/", 1)[0].removesuffix(".py")
    return "builtins" if filename == "~" else filename


def main(argv: list[str]) -> int:
    if argv[:1] == ["one"]:
        import uvloop

        print(json.dumps(uvloop.run(hits(argv[1], argv[2], int(argv[3]), argv[4]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="baseline,reference,nolimiter,nometrics,signedin")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", action="store_true", help="the first variant's top functions")
    parser.add_argument("--path", default="/api/generate", help="or /health (GET)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--pstats", type=Path, help="write each variant's profile to DIR")
    args = parser.parse_args(argv)
    cores = split_cores()
    rows = []
    with Procs(Path(tempfile.mkdtemp(prefix="threadr-callcount-"))) as procs:
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="threadr-callcount-redis-"))
        procs.start("redis", redis_argv(port, workdir), cpus=cores.load, port=port)
        url = f"redis://{HOST}:{port}/0"
        for variant in args.variants.split(","):
            argv_ = [python(), "-m", "bench.callcount", "one", variant, url, str(args.requests)]
            argv_.append(args.path)
            env = dict(os.environ)
            if args.pstats is not None:
                args.pstats.mkdir(parents=True, exist_ok=True)
                env["CALLCOUNT_PSTATS"] = str(args.pstats.resolve())
            proc = subprocess.Popen(argv_, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
            pin(proc.pid, cores.server)
            out, _ = proc.communicate(timeout=300)
            if proc.returncode != 0:
                raise RuntimeError(f"variant {variant} failed ({proc.returncode})")
            rows.append(json.loads(out.strip().splitlines()[-1]))
    if args.top:
        for name, n in rows[0]["top"]:
            print(f"{n:6.1f}  {name}")
    base = rows[0]["calls_per_request"]
    print(
        "| variant | Python calls per hit | vs first | CPU µs per hit | (under cProfile) "
        "| Redis round trips | Redis cmds | Redis CPU µs | commandstats µs |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        delta = r["calls_per_request"] - base
        redis = r["redis"]
        booked = ", ".join(f"{k} {v:g}" for k, v in sorted(redis["usec"].items()))
        print(
            f"| {r['variant']} | {r['calls_per_request']:g} | {delta:+g} | {r['cpu_us']:g} "
            f"| {r['cpu_us_profiled']} | {redis['round_trips']:.2f} | {redis['commands']:.2f} "
            f"| {redis['cpu_us']:.1f} | {booked} |"
        )
        parts = ", ".join(f"{m} {n:.0f}" for m, n in r["by_module"].items() if n >= 5)
        cmds = ", ".join(f"{k} {v:g}" for k, v in sorted(redis["calls"].items()))
        print(f"|   by module: {parts}; commands: {cmds} | | | | | | | | |")
        if r["statuses"] != [200]:
            print(f"  (statuses {r['statuses']}: not every request was a 200 hit)")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
