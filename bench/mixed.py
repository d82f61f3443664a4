"""Cache hits while misses are written, and what a miss on a real page costs the server.

- `tail_latency`: the cache-hit p99 while 5 % of the requests are misses on real article pages
  (the extraction dataset's pages, served by the local article site, each a new edition so the
  mock OpenAI writes it), against the p99 of cache hits alone at the same request rate. Open
  loop (bench/openloop.py), rounds alternating pure and mixed; the target is a ratio ≤ 1.5.
- `page_misses`: misses alone, on real pages at a steady low rate: the server's CPU per miss
  (the event loop's process, and its extraction processes apart; the model's 50 ms are the
  mock's, not the server's) and, with py-spy, what the event loop spends it on.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
from pathlib import Path
from typing import Any

from bench import profile
from bench.procs import ROOT, cpu_seconds, pin, python, tree_cpu_seconds
from bench.stack import Server, Stack

MISS_SHARE = 0.05
TARGET_RATIO = 1.5


def openloop(
    stack: Stack, server: Server, rate: float, seconds: float, miss_share: float
) -> subprocess.Popen[str]:
    """bench/openloop.py against `server`, started on the load side's cores."""
    argv = [
        python(), "-m", "bench.openloop", "--url", server.url(), "--rate", f"{rate:g}",
        "--seconds", f"{seconds:g}", "--miss-share", f"{miss_share:g}",
        "--site", stack.articles.url(), "--tag", str(random.randrange(1, 100_000)),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    pin(proc.pid, stack.cores.load)
    return proc


def finish(proc: subprocess.Popen[str], seconds: float) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=seconds + 180)
    line = next((ln for ln in out.splitlines() if ln.startswith("OPENLOOP_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"the open-loop load failed ({proc.returncode}):\n{out[-2000:]}")
    result: dict[str, Any] = json.loads(line.removeprefix("OPENLOOP_JSON "))
    return result


def tail_latency(
    stack: Stack, server: Server, *, rate: float, seconds: float, rounds: int
) -> dict[str, Any]:
    """Pure and mixed loads at `rate`, alternating: hit p99 of each and their ratio."""
    runs: dict[str, list[dict[str, Any]]] = {"pure": [], "mixed": []}
    for i in range(rounds):
        order = ("pure", "mixed") if i % 2 == 0 else ("mixed", "pure")
        for kind in order:
            share = MISS_SHARE if kind == "mixed" else 0.0
            runs[kind].append(finish(openloop(stack, server, rate, seconds, share), seconds))
    ratios = [
        m["kinds"]["hit"]["p99"] / p["kinds"]["hit"]["p99"]
        for p, m in zip(runs["pure"], runs["mixed"], strict=True)
    ]
    return {
        "rate": rate,
        "miss_share": MISS_SHARE,
        "seconds": seconds,
        "rounds": rounds,
        "pure_hit": _median_kind(runs["pure"], "hit"),
        "mixed_hit": _median_kind(runs["mixed"], "hit"),
        "mixed_miss": _median_kind(runs["mixed"], "miss"),
        "ratio": statistics.median(ratios),
        "ratios": [round(r, 2) for r in ratios],
        "errors": [r["errors"] for r in runs["mixed"] if r["errors"]],
    }


def _median_kind(runs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    rows = [r["kinds"][kind] for r in runs if kind in r["kinds"]]
    out: dict[str, Any] = {"n": sum(r["n"] for r in rows)}
    for q in ("p50", "p90", "p99", "p999", "max"):
        out[q] = statistics.median(r[q] for r in rows)
    statuses: dict[str, int] = {}
    for r in rows:
        for code, n in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    out["statuses"] = statuses
    return out


def page_misses(
    stack: Stack, server: Server, *, rate: float, seconds: float, profile_to: Path | None
) -> dict[str, Any]:
    """Misses alone at `rate`: CPU per miss (event loop, extraction), and py-spy's view."""
    loop0, tree0 = cpu_seconds(server.pid), tree_cpu_seconds(server.pid)
    proc = openloop(stack, server, rate, seconds, 1.0)
    summary = None
    if profile_to is not None:
        spy = profile.sample(
            server.pid, profile_to, seconds=seconds - 1, load_cpus=stack.cores.load
        )
        summary = profile.summarize(spy)
    result = finish(proc, seconds)
    loop1, tree1 = cpu_seconds(server.pid), tree_cpu_seconds(server.pid)
    misses = result["kinds"].get("miss", {"n": 0})
    # Every request sent counts (the warm-up's too), since all of them cost the server.
    sent = max(round(rate * (seconds + 1)), 1)
    return {
        "rate": rate,
        "seconds": seconds,
        "latency": misses,
        "errors": result["errors"],
        "loop_cpu_ms": round((loop1 - loop0) / sent * 1000, 2),
        "extraction_cpu_ms": round(((tree1 - tree0) - (loop1 - loop0)) / sent * 1000, 2),
        "profile": summary,
    }
