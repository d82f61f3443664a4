"""The scenarios of `make bench`: cache hits (anonymous and signed in), /health, 1 worker against
2, cold misses, miss coalescing, Redis memory (bench/mixed.py has the mixed load's).

Targets measured against each other run alternately (A B C, C B A, …) so that drift of the
machine hits them alike; each reports medians, and ratios are medians of per-round ratios.
Time to first tweet (POST /api/generate/stream against a mock model that streams) is
bench/ttft.py's.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
from redis import Redis

from bench import measure, wrk
from bench.procs import Cores, pin
from bench.reference import REFERENCE_KEY
from bench.stack import Server, Stack

# The cache-hit request: a typical pasted article (about 1 KB of text).
HIT_TEXT = (
    "Caching is the art of remembering answers. A cache keeps the result of expensive work so "
    "the next request gets it at once. Good caches expire entries and bound their memory. "
) * 6
HIT_BODY = msgspec.json.encode({"text": HIT_TEXT})


@dataclass(frozen=True, slots=True)
class Plan:
    seconds: float = 5.0  # one measured wrk run
    warmup: float = 1.0  # unmeasured wrk run before each measured one
    reps: int = 5  # measured runs per target
    connections: int = 64
    coalesce: int = 64  # concurrent identical misses
    mixed_seconds: float = 10.0  # one open-loop run of the mixed load
    mixed_rounds: int = 3  # pure and mixed runs each
    mixed_load: float = 0.15  # the mixed load's rate, as a share of the hit capacity measured


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    server: Server
    path: str
    script: str


def prepare(stack: Stack) -> dict[str, Any]:
    """Cache the hit request's thread, copy its body for the reference, sign an account up on
    `prod` (its token in `stack.session_token`), see what is wired."""
    prod = stack.services["prod"]
    with httpx.Client(timeout=30) as client:
        for server in stack.services.values():  # up (a multi-worker one may still be starting)
            _until_healthy(client, server)
        first = client.post(prod.url("/api/generate"), content=HIT_BODY, headers=_JSON)
        first.raise_for_status()
        hit = client.post(prod.url("/api/generate"), content=HIT_BODY, headers=_JSON)
        hit.raise_for_status()
        limited = {
            path: client.get(prod.url(path)).status_code
            for path in ("/api/rate-limit-status", "/api/usage/status")
        }
        account = {"email": "bench@example.com", "password": "a bench password, not a secret"}
        signed = client.post(prod.url("/api/auth/register"), json=account)
        signed.raise_for_status()
        stack.session_token = signed.json()["access_token"]
        mine = client.post(
            prod.url("/api/generate"), content=HIT_BODY, headers=_JSON | _bearer(stack)
        )
        mine.raise_for_status()
    assert hit.headers.get("x-cache") == "HIT", "the second identical request must be a cache hit"
    assert mine.headers.get("x-cache") == "HIT", "a signed-in request for it too"
    stack.redis.set(REFERENCE_KEY, hit.content)
    return {
        "response_bytes": len(hit.content),
        "response_headers": len(hit.headers),
        "ratelimit_headers": "ratelimit" in hit.headers,
        "cors_vary": hit.headers.get("vary"),
        "status_endpoints": limited,
    }


def _until_healthy(client: httpx.Client, server: Server, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if client.get(server.url("/health")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not answer /health in {within:g} s")
        time.sleep(0.2)


def _bearer(stack: Stack) -> dict[str, str]:
    assert stack.session_token is not None, "prepare() signs the account up"
    return {"Authorization": f"Bearer {stack.session_token}"}


def alternating(
    stack: Stack, targets: list[Target], plan: Plan, *, cores: Cores | None = None
) -> dict[str, list[measure.Sample]]:
    samples: dict[str, list[measure.Sample]] = defaultdict(list)
    load = (cores or stack.cores).load
    for rep in range(plan.reps):
        for t in targets if rep % 2 == 0 else reversed(targets):
            samples[t.name].append(
                measure.run(
                    t.name,
                    t.server.pid,
                    t.server.url(t.path),
                    t.script,
                    seconds=plan.seconds,
                    warmup=plan.warmup,
                    load_cpus=load,
                    redis=stack.redis,
                    connections=plan.connections,
                )
            )
    return samples


def compare(samples: dict[str, list[measure.Sample]], reference: str) -> dict[str, Any]:
    """Medians per target, and each target's median per-round req/s ratio to `reference`."""
    out: dict[str, Any] = {}
    for name, runs in samples.items():
        row = measure.median_of(runs)
        if name != reference:
            ratios = [s.rps / r.rps for s, r in zip(runs, samples[reference], strict=True)]
            row["ratio"] = statistics.median(ratios)
        out[name] = row
    return out


def cache_hits(stack: Stack, plan: Plan) -> dict[str, Any]:
    assert stack.reference is not None
    post = wrk.post_json(HIT_BODY)
    services = stack.services
    targets = [
        Target("reference", stack.reference, "/api/generate", post),
        Target("service, production", services["prod"], "/api/generate", post),
        Target(
            "service, production, signed in",
            services["prod"],
            "/api/generate",
            wrk.post_json(HIT_BODY, _bearer(stack)),
        ),
        Target("service, no CORS", services["on"], "/api/generate", post),
        Target("service, limiter off", services["off"], "/api/generate", post),
        Target("service, analytics off", services["noanalytics"], "/api/generate", post),
        Target("service, metrics off", services["nometrics"], "/api/generate", post),
    ]
    return compare(alternating(stack, targets, plan), "reference")


def health(stack: Stack, plan: Plan) -> dict[str, Any]:
    assert stack.reference is not None
    targets = [
        Target("reference", stack.reference, "/health", ""),
        Target("service, production", stack.services["prod"], "/health", ""),
        Target("service, no CORS", stack.services["on"], "/health", ""),
    ]
    return compare(alternating(stack, targets, plan), "reference")


def workers(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Cache hits on `threadr serve` with 1 worker and with 2, the servers and wrk free to run
    on every core (Redis and the mocks stay on the load side's). On a 2-core machine the
    second worker shares a core with wrk and Redis: the gain is what is left of that core."""
    everything = tuple(sorted(os.sched_getaffinity(0)))
    one, two = stack.services["prod"], stack.services["prod2w"]
    pin(one.pid, everything)
    post = wrk.post_json(HIT_BODY)
    targets = [
        Target("1 worker", one, "/api/generate", post),
        Target("2 workers", two, "/api/generate", post),
    ]
    try:
        shared = Cores(everything, everything)
        return compare(alternating(stack, targets, plan, cores=shared), "1 worker")
    finally:
        pin(one.pid, stack.cores.server)


def cold_misses(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Every request a different text: each is fetched nowhere, written by the mock OpenAI."""
    miss = stack.services["miss"]
    before = _calls(stack.openai)
    script = wrk.unique_text_posts(f"Run {random.getrandbits(48):x}.")
    sample = measure.run(
        "service, every request a miss",
        miss.pid,
        miss.url("/api/generate"),
        script,
        seconds=plan.seconds,
        warmup=0,
        load_cpus=stack.cores.load,
        redis=stack.redis,
        connections=plan.connections,
    )
    row = measure.as_dict(sample)
    row["openai_calls_per_request"] = (_calls(stack.openai) - before) / max(sample.requests, 1)
    return row


def coalescing(stack: Stack, plan: Plan) -> dict[str, Any]:
    """N concurrent identical misses (by text, then by URL) must cost one upstream call each."""
    miss = stack.services["miss"]
    tag = f"{random.getrandbits(48):x}"
    article = random.randrange(1_000_000, 2_000_000)
    bodies = {
        "text": {"text": f"Coalescing check {tag}. {HIT_TEXT}"},
        "url": {"url": stack.articles.url(f"/articles/{article}.html")},
    }
    out: dict[str, Any] = {}
    for kind, body in bodies.items():
        openai0, fetches0 = _calls(stack.openai), _calls(stack.articles)
        statuses, threads = asyncio.run(_burst(miss.url("/api/generate"), body, plan.coalesce))
        out[kind] = {
            "requests": plan.coalesce,
            "statuses": dict(sorted(statuses.items())),
            "distinct_threads": threads,
            "openai_calls": _calls(stack.openai) - openai0,
            "article_fetches": _calls(stack.articles) - fetches0,
        }
    return out


async def _burst(url: str, body: dict[str, str], n: int) -> tuple[dict[int, int], int]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        responses = await asyncio.gather(*(client.post(url, json=body) for _ in range(n)))
    statuses: dict[int, int] = defaultdict(int)
    for r in responses:
        statuses[r.status_code] += 1
    threads = {r.content.replace(b'"cached":true', b'"cached":false') for r in responses}
    return dict(statuses), len(threads)


def memory(stack: Stack, identities: int = 20) -> dict[str, Any]:
    """Redis bytes per cache entry, and per identity for the limiter and the quota."""
    cache = _memory_usage(stack.redis, "threadr:cache:v1:*", limit=2000)
    defaults = stack.services["defaults"]
    with httpx.Client(timeout=30) as client:
        for i in range(identities):
            # Distinct clients as a proxy reports them (uvicorn trusts 127.0.0.1's X-Forwarded-For);
            # each sends its own text, a miss, so that the quota counts a generation too.
            ip = {"X-Forwarded-For": f"198.51.100.{i + 1}"}
            body = {"text": f"Memory probe {i}. {HIT_TEXT}"}
            client.post(defaults.url("/api/generate"), json=body, headers=ip)
    redis = Redis.from_url(stack.redis_url.rsplit("/", 1)[0] + "/1")  # the defaults' DB
    return {
        "cache_entry": cache,
        "ratelimit_identity": _per_identity(redis, "threadr:rl:*"),
        "quota_identity": _per_identity(redis, "threadr:quota:*"),
    }


def _memory_usage(redis: Any, pattern: str, limit: int) -> dict[str, Any] | None:
    sizes, payloads = [], []
    for key in redis.scan_iter(match=pattern, count=1000):
        sizes.append(redis.memory_usage(key, samples=0) or 0)
        payloads.append(redis.strlen(key) if redis.type(key) == b"string" else 0)
        if len(sizes) >= limit:
            break
    if not sizes:
        return None
    return {
        "keys": len(sizes),
        "mean_bytes": round(statistics.mean(sizes)),
        "median_bytes": statistics.median(sizes),
        "mean_value_bytes": round(statistics.mean(payloads)),
    }


def _per_identity(redis: Any, pattern: str) -> dict[str, Any] | None:
    """Sum MEMORY USAGE over each identity's keys (grouped by the `{hash tag}`)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for key in redis.scan_iter(match=pattern, count=1000):
        text = key.decode()
        tag = text[text.find("{") : text.find("}") + 1] or text
        groups[tag].append(redis.memory_usage(key, samples=0) or 0)
    if not groups:
        return None
    totals = [sum(v) for v in groups.values()]
    return {
        "identities": len(groups),
        "keys_per_identity": statistics.median(len(v) for v in groups.values()),
        "mean_bytes": round(statistics.mean(totals)),
    }


def _calls(server: Server) -> int:
    count: int = httpx.get(server.url("/_calls"), timeout=10).json()["calls"]
    return count


_JSON = {"Content-Type": "application/json"}
