"""`make bench-hostile`: how fast /health and cache hits stay while hostile pages are read.

    .venv/bin/python -m bench.hostile [--seconds 10] [--attackers 4] [--no-doc]

One service instance (`threadr serve`: bench/stack.py's `miss` instance, which may fetch from
the local article server, with limits far above what the attack reaches, as an attacker with
many addresses would see them), its extraction workers, Redis, the mock OpenAI and the
article site, which serves the hostile corpus (tests/hostile/pages.py). A prober on the load
core sends one /health and one cache hit at a time, first on an idle server, then while
`--attackers` clients keep the server reading the slowest hostile pages (each request a new
URL, so a cache miss). It reports p50, p99 and max latency of both, side by side, writes
bench/results/hostile.json and refreshes its block in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from tests.hostile.pages import PAGES

from bench import report, stack
from bench.procs import ROOT, Procs, pin, split_cores
from bench.scenarios import HIT_BODY

RESULTS = ROOT / "bench" / "results" / "hostile.json"
DOC = ROOT / "docs" / "performance.md"
# The pages that cost a worker the most (seconds each), from tests/hostile/pages.py.
SLOWEST = (
    "20,000 nested divs of prose",
    "50,000 attributes on one tag",
    "100,000 siblings",
    "5 MB of prose paragraphs",
    "200,000 <br>",
    "16,000 nested sidebars",
)
_JSON = {"content-type": "application/json"}


async def probe(client: httpx.AsyncClient, url: str, seconds: float) -> dict[str, list[float]]:
    """Latencies (ms) of /health and of a cache hit, one request at a time, for `seconds`."""
    times: dict[str, list[float]] = {"health": [], "cache_hit": []}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        assert (await client.get(f"{url}/health")).status_code == 200
        times["health"].append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        hit = await client.post(f"{url}/api/generate", content=HIT_BODY, headers=_JSON)
        assert hit.status_code == 200 and hit.headers.get("x-cache") == "HIT", hit.text
        times["cache_hit"].append((time.perf_counter() - began) * 1000)
        await asyncio.sleep(0.01)
    return times


async def attack(client: httpx.AsyncClient, url: str, site: str, stop: asyncio.Event) -> Counter:
    """Post hostile page URLs (a new one each time) until `stop`; count the answers."""
    pages = [n for n, page in enumerate(PAGES) if page[0] in SLOWEST]
    answers: Counter = Counter()
    for i in itertools.count():
        if stop.is_set():
            return answers
        n = pages[i % len(pages)]
        body = {"url": f"{site}/hostile/{n}?v={time.monotonic_ns()}"}
        response = await client.post(f"{url}/api/generate", json=body, timeout=60)
        answers[f"{response.status_code} {response.json().get('code', 'thread')}"] += 1
    return answers


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max": round(ordered[-1], 2),
    }


async def run(url: str, site: str, seconds: float, attackers: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=attackers + 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        first = await client.post(f"{url}/api/generate", content=HIT_BODY, headers=_JSON)
        assert first.status_code == 200, first.text
        idle = await probe(client, url, seconds)
        stop = asyncio.Event()
        attacks = [
            asyncio.create_task(attack(client, url, site, stop)) for _ in range(attackers)
        ]
        await asyncio.sleep(1.0)  # every worker busy before the prober starts
        busy = await probe(client, url, seconds)
        stop.set()
        answers = sum((await asyncio.gather(*attacks)), Counter())
    return {
        "idle": {name: summary(v) for name, v in idle.items()},
        "attacked": {name: summary(v) for name, v in busy.items()},
        "hostile_answers": dict(answers),
    }


def markdown(result: dict[str, Any]) -> str:
    plan, m = result["plan"], result["machine"]
    lines = [
        f"Run {result['started']} on {m['nproc']} × {m['cpu']}, Python {m['python']}, commit "
        f"{m['commit']}; server and its workers pinned to CPU {plan['server_cpus']}, the "
        f"clients to the other; {plan['attackers']} clients posting "
        f"hostile pages ({', '.join(SLOWEST)}), {plan['seconds']:g} s per phase; "
        f"EXTRACT_WORKERS={plan['workers']}, EXTRACT_TIMEOUT_SECONDS={plan['timeout']:g}. "
        "`python -m bench.hostile`.",
        "",
        "| request | phase | p50 ms | p99 ms | max ms | n |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("health", "cache_hit"):
        for phase in ("idle", "attacked"):
            s = result[phase][name]
            lines.append(
                f"| {name.replace('_', ' ')} | {phase} | {s['p50']} | {s['p99']} | {s['max']} "
                f"| {s['n']} |"
            )
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(result["hostile_answers"].items()))
    lines += ["", f"Hostile requests answered meanwhile: {answers}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (10)")
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument("--no-doc", action="store_true", help="leave docs/performance.md alone")
    args = parser.parse_args(argv)
    cores = split_cores()
    pin(0, cores.load)  # the prober and attackers: off the server's core
    logs = Path(tempfile.mkdtemp(prefix="threadr-bench-logs-"))
    with Procs(logs) as procs:
        s = stack.start(procs, cores, services=("miss",), reference=False)
        env = stack.service_env("miss", s.redis_url, s.openai, s.articles)
        result: dict[str, Any] = {
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": report.machine(),
            "plan": {
                "seconds": args.seconds,
                "attackers": args.attackers,
                "workers": int(env.get("EXTRACT_WORKERS", 2)),
                "timeout": float(env.get("EXTRACT_TIMEOUT_SECONDS", 5)),
                "server_cpus": list(cores.server),
            },
        }
        result |= asyncio.run(
            run(s.services["miss"].url(), s.articles.url(), args.seconds, args.attackers)
        )
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    block = markdown(result)
    print(block)
    if not args.no_doc:
        report.update_doc(DOC, {"hostile": block})
    return 0


if __name__ == "__main__":
    sys.exit(main())
