"""Turning a bench result into tables: the machine, the scenarios, the targets, the profile.

`update_doc` rewrites only the generated blocks of docs/performance.md (between
`<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->`); the prose around them is hand-written.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench import targets, ttft

PACKAGES = (
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "redis",
    "hiredis",
    "msgspec",
    "openai",
    "httpx",
)


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "redis_server": _first_line(["redis-server", "--version"]),
        "wrk": _first_line(["wrk", "--version"]),
        "commit": _commit(),
    }


def _commit() -> str | None:
    """The commit measured, and whether the code differed from it (a run before a commit)."""
    commit = _first_line(["git", "rev-parse", "--short", "HEAD"])
    changed = _first_line(["git", "status", "--porcelain", "--", "src", "bench/*.py"])
    return f"{commit} + uncommitted changes" if commit and changed else commit


def _first_line(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else None


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    pkgs = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    plan = result["plan"]
    lines = [
        f"Run {result['started']} on {m['nproc']} × {m['cpu']} (Linux {m['kernel']}), "
        f"Python {m['python']}; {pkgs}; {m['redis_server']}; commit {m['commit']}.",
        f"Server pinned to CPU {plan['server_cpus']}, wrk + Redis + mocks to {plan['load_cpus']}; "
        f"{plan['connections']} connections, {plan['reps']} × {plan['seconds']:g} s runs per "
        "target, alternating; medians (× ref: median and range of the per-round ratios). "
        "CPU = server process (and its children) utime+stime per request; "
        "Redis RTT = round trips (read events), cmds = commands (Lua's included), "
        "µs = Redis CPU, each per request.",
        "",
        "| scenario | target | req/s | × ref | p50 ms | p99 ms | CPU µs/req | Redis RTT | "
        "Redis cmds | Redis µs/req |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, key in (("cache-hit generate", "cache_hit"), ("/health", "health")):
        rows = result.get(key, {})
        for row in rows.values():
            lines.append(_row(scenario, row, rows.get("reference")))
    miss = result.get("cold_miss")
    if miss:
        lines.append(_row("cold miss (mock OpenAI)", miss))
    lines.append("")
    for what, met, measured in targets.checks(result):
        mark = "—" if met is None else "✅" if met else "❌"
        lines.append(f"- {mark} {what}: **{measured}**")
    if miss:
        lines.append(
            f"- cold misses by text: {miss['openai_calls_per_request']:.2f} OpenAI calls per "
            f"request (mock delay {plan['openai_delay'] * 1000:g} ms)"
        )
    for name, row in result.get("cache_hit", {}).items():
        cmds = ", ".join(f"{k} {v:g}" for k, v in sorted(row["commands"].items()))
        lines.append(f"- Redis commands per hit, {name}: {cmds or 'none'}")
    lines += _memory_lines(result.get("memory", {}))
    if "ttft" in result:
        lines += ttft.lines(result["ttft"])
    wired = result.get("wiring", {})
    if wired:
        lines.append(
            f"- wiring seen: RateLimit headers on a hit: {wired['ratelimit_headers']}; "
            f"{wired.get('response_headers', '?')} response headers; "
            f"Vary: {wired.get('cors_vary')}; status endpoints: {wired['status_endpoints']}"
        )
    lines += _workers_lines(result.get("workers"))
    lines += _mixed_lines(result.get("mixed"), result.get("page_misses"))
    return "\n".join(lines)


def _workers_lines(rows: dict[str, Any] | None) -> list[str]:
    if not rows:
        return []
    lines = [
        "",
        "Every core (`threadr serve --workers N`; servers and wrk free to use both CPUs):",
        "",
        "| workers | req/s | × 1 worker | p50 ms | p99 ms | CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    base = rows.get("1 worker")
    for name, row in rows.items():
        ratio = "—"
        if "ratio" in row and base:
            rounds = [s / r for s, r in zip(row["all_rps"], base["all_rps"], strict=False) if r]
            ratio = f"{row['ratio']:.2f} ({min(rounds):.2f}–{max(rounds):.2f})"
        lines.append(
            f"| {name} | {row['rps']:,.0f} | {ratio} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
            f"| {row['cpu_us']:.0f} |"
        )
    return lines


def _mixed_lines(mixed: dict[str, Any] | None, misses: dict[str, Any] | None) -> list[str]:
    lines: list[str] = []
    if mixed:
        lines += [
            "",
            f"Mixed load (open loop, {mixed['rate']:g} req/s, {mixed['rounds']} rounds of "
            f"{mixed['seconds']:g} s each; {mixed['miss_share'] * 100:g} % of requests misses on "
            "real pages; medians of the rounds):",
            "",
            "| load | requests | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | statuses |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for label, key in (
            ("cache hits alone", "pure_hit"),
            ("cache hits, with misses", "mixed_hit"),
            ("the misses", "mixed_miss"),
        ):
            row = mixed[key]
            lines.append(
                f"| {label} | {row['n']} | {row['p50']:.2f} | {row['p90']:.2f} | "
                f"{row['p99']:.2f} | {row['p999']:.2f} | {row['max']:.2f} | {row['statuses']} |"
            )
    if misses:
        lines += [
            "",
            f"- a miss on a real page ({misses['rate']:g} misses/s for {misses['seconds']:g} s): "
            f"**{misses['loop_cpu_ms']:.1f} ms** of the event loop's CPU and "
            f"{misses['extraction_cpu_ms']:.1f} ms in the extraction processes, the model's "
            f"50 ms not included; latency p50 {misses['latency'].get('p50', 0):.0f} ms, "
            f"p99 {misses['latency'].get('p99', 0):.0f} ms",
        ]
    return lines


def _row(scenario: str, row: dict[str, Any], reference: dict[str, Any] | None = None) -> str:
    ratio = f"{row['ratio']:.2f}" if "ratio" in row else "—"
    if "ratio" in row and reference is not None:
        # The spread of the per-round ratios: how far to trust the median on this machine.
        rounds = [s / r for s, r in zip(row["all_rps"], reference["all_rps"], strict=False) if r]
        ratio += f" ({min(rounds):.2f}–{max(rounds):.2f})"
    bad = row.get("errors", 0) + row.get("non_2xx", 0)
    target = row["target"] + (f" ({bad} errors)" if bad else "")
    return (
        f"| {scenario} | {target} | {row['rps']:,.0f} | {ratio} | {row['p50_ms']:.2f} | "
        f"{row['p99_ms']:.2f} | {row['cpu_us']:.0f} | {row['redis_round_trips']:.2f} | "
        f"{row['redis_commands']:.2f} | {row['redis_cpu_us']:.0f} |"
    )


def _memory_lines(mem: dict[str, Any]) -> list[str]:
    lines = []
    entry = mem.get("cache_entry")
    if entry:
        lines.append(
            f"- Redis memory per cache entry: {entry['mean_bytes']} B mean "
            f"(value {entry['mean_value_bytes']} B, {entry['keys']} keys, 5-tweet threads)"
        )
    for key, label in (("ratelimit_identity", "rate-limit"), ("quota_identity", "quota")):
        row = mem.get(key)
        if row:
            lines.append(
                f"- Redis memory per {label} identity: {row['mean_bytes']} B "
                f"({row['keys_per_identity']:g} keys, {row['identities']} identities)"
            )
        elif key in mem:
            lines.append(f"- Redis memory per {label} identity: no keys found (not wired yet?)")
    return lines


def profile_markdown(summary: dict[str, Any], what: str) -> str:
    lines = [
        f"{summary['samples']} samples of {what} (py-spy, by function; % of samples).",
        "",
        "| self % | frame | | total % | frame |",
        "|---:|---|---|---:|---|",
    ]
    for (f1, p1), (f2, p2) in zip(summary["self"], summary["total"], strict=False):
        lines.append(f"| {p1} | `{f1}` | | {p2} | `{f2}` |")
    return "\n".join(lines)


def update_doc(doc: Path, blocks: dict[str, str]) -> None:
    """Replace each generated block `name` of `doc` with `blocks[name]` (appended if missing)."""
    text = doc.read_text()
    for name, body in blocks.items():
        begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
        block = f"{begin}\n{body}\n{end}"
        if text.count(begin) == 1 and text.count(end) == 1 and text.index(begin) < text.index(end):
            text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
        else:
            text = text.rstrip("\n") + f"\n\n{block}\n"
    doc.write_text(text)
