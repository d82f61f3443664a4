"""`make bench`: the service against a bare reference app, same machine, same run.

    .venv/bin/python -m bench.perf [--seconds 5] [--reps 5] [--mixed-seconds 10] [--mixed-rounds 3]
                                   [--only cache_hit,health,…] [--no-profile] [--no-doc] [--render]

Starts its own Redis (a free loopback port), a mock OpenAI, an article site, the service
instances and the reference (bench/stack.py), runs the scenarios (bench/scenarios.py,
bench/mixed.py), writes bench/results/perf.json, prints the tables and refreshes their blocks
in docs/performance.md. Every process it starts is stopped on exit, Ctrl-C and errors included.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import mixed, profile, report, scenarios, servers, stack, targets, ttft, wrk
from bench.procs import ROOT, Procs, split_cores

RESULTS = ROOT / "bench" / "results" / "perf.json"
PARTIAL = ROOT / "bench" / "results" / "perf-only.json"
PROFILE = ROOT / "bench" / "results" / "profile-cache-hit.txt"
MISS_PROFILE = ROOT / "bench" / "results" / "profile-page-miss.txt"
DOC = ROOT / "docs" / "performance.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="one measured run (5)")
    parser.add_argument("--reps", type=int, default=5, help="runs per target (5)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--mixed-seconds", type=float, default=10.0, help="one mixed-load run")
    parser.add_argument("--mixed-rounds", type=int, default=3, help="pure and mixed runs each")
    parser.add_argument("--openai-delay", type=float, default=0.05, help="mock latency (0.05 s)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--no-doc", action="store_true", help="leave docs/performance.md alone")
    parser.add_argument("--render", action="store_true", help="only redo the doc from the JSON")
    parser.add_argument("--only", help=f"comma-separated scenarios of {','.join(SCENARIOS)}")
    args = parser.parse_args(argv)
    if args.render:
        publish(json.loads(RESULTS.read_text()), doc=True)
        return 0

    plan = scenarios.Plan(
        seconds=args.seconds,
        reps=args.reps,
        connections=args.connections,
        mixed_seconds=args.mixed_seconds,
        mixed_rounds=args.mixed_rounds,
    )
    cores = split_cores()
    if not cores.pinned:
        print("warning: one CPU only — server and load share it; ratios still hold, rates don't")
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": report.machine(),
        "plan": {
            **dataclasses.asdict(plan),
            "openai_delay": args.openai_delay,
            "server_cpus": list(cores.server),
            "load_cpus": list(cores.load),
        },
    }
    began = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="threadr-bench-logs-"))
    with Procs(logs) as procs:
        try:
            s = stack.start(procs, cores, openai_delay=args.openai_delay)
            result["wiring"] = scenarios.prepare(s)
            run(s, plan, args, result, began)
        except KeyboardInterrupt:
            print("\ninterrupted: stopping every process this run started", file=sys.stderr)
            return 130
        except (RuntimeError, AssertionError) as exc:
            print(f"bench failed: {exc}\n(server logs in {logs})", file=sys.stderr)
            for name, _ in procs.children:
                if name not in ("redis",):
                    tail = procs.tail(name, 8)
                    if "Error" in tail or "Traceback" in tail:
                        print(f"--- {name} log ---\n{tail}", file=sys.stderr)
            return 1
    result["seconds"] = round(time.monotonic() - began, 1)

    # A partial run (--only) neither replaces the full run's JSON nor touches the doc.
    out = PARTIAL if args.only else RESULTS
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    publish(result, doc=not args.no_doc and not args.only)
    print(f"\nwrote {out.relative_to(ROOT)} in {result['seconds']:g} s")
    failed = [what for what, met, _ in targets.checks(result) if met is False]
    for what in failed:
        print(f"target missed: {what}")
    return 0


SCENARIOS = (
    "cache_hit",
    "health",
    "workers",
    "mixed",
    "page_misses",
    "coalescing",
    "cold_miss",
    "memory",
    "ttft",
    "profile",
)


def run(
    s: stack.Stack,
    plan: scenarios.Plan,
    args: argparse.Namespace,
    result: dict[str, Any],
    began: float,
) -> None:
    """The scenarios `--only` names (all by default), in this order, into `result`."""
    only = set(args.only.split(",")) if args.only else set(SCENARIOS)
    if "profile" in only and args.no_profile:
        only.remove("profile")
    if "cache_hit" in only:
        _step("cache hits", began)
        result["cache_hit"] = scenarios.cache_hits(s, plan)
    if "health" in only:
        _step("/health", began)
        result["health"] = scenarios.health(s, plan)
    if "workers" in only:
        _step("1 worker and 2", began)
        result["workers"] = scenarios.workers(s, plan)
    if "mixed" in only:
        _step("mixed load: cache hits and misses on real pages", began)
        headline = result.get("cache_hit", {}).get(targets.HEADLINE)
        capacity = headline["rps"] if headline else 2000  # a guess when hits were not measured
        result["mixed"] = mixed.tail_latency(
            s,
            s.services["miss"],
            rate=max(100, round(capacity * plan.mixed_load, -1)),
            seconds=plan.mixed_seconds,
            rounds=plan.mixed_rounds,
        )
    if "page_misses" in only:
        _step("misses on real pages", began)
        result["page_misses"] = mixed.page_misses(
            s,
            s.services["miss"],
            rate=20,
            seconds=10,
            profile_to=MISS_PROFILE if "profile" in only else None,
        )
    if "coalescing" in only:
        _step("coalescing", began)
        result["coalescing"] = scenarios.coalescing(s, plan)
    if "cold_miss" in only:
        _step("cold misses", began)
        result["cold_miss"] = scenarios.cold_misses(s, plan)
    if "memory" in only:
        _step("Redis memory", began)
        result["memory"] = scenarios.memory(s)
    if "ttft" in only:
        _step("streaming: time to first tweet", began)
        miss = s.services["miss"]
        result["ttft"] = ttft.measure(miss.url(), s.openai.url(), requests=10)
        result["ttft"]["token_rate"] = servers.TOKEN_RATE
    if "profile" in only:
        _step("profile", began)
        prod = s.services["prod"]
        profile.record(
            prod.pid,
            prod.url("/api/generate"),
            wrk.post_json(scenarios.HIT_BODY),
            PROFILE,
            seconds=8,
            load_cpus=s.cores.load,
            connections=plan.connections,
        )
        result["profile"] = profile.summarize(PROFILE)


def publish(result: dict[str, Any], *, doc: bool) -> None:
    """Print the tables; with `doc`, refresh their blocks in docs/performance.md."""
    blocks = {"results": report.markdown(result)}
    if "profile" in result:
        blocks["profile"] = report.profile_markdown(
            result["profile"], "the `prod` server under cache-hit load"
        )
    misses = result.get("page_misses") or {}
    if misses.get("profile"):
        blocks["miss-profile"] = report.profile_markdown(
            misses["profile"], "the `miss` server's event loop under misses on real pages"
        )
    print("\n\n".join(blocks.values()))
    if doc:
        report.update_doc(DOC, blocks)


def _step(name: str, began: float) -> None:
    print(f"[{time.monotonic() - began:5.0f} s] {name}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
