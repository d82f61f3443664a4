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

from bench import ttft

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
TARGET_RATIO = 0.8


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
        "commit": _first_line(["git", "rev-parse", "--short", "HEAD"]),
    }


def _first_line(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else None


def checks(result: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    """(target, met?, measured) for each target of the benchmark; None when not measured."""
    out: list[tuple[str, bool | None, str]] = []
    ratio_targets = (
        ("cache_hit", "cache-hit generate", "the bare reference (limiter + quota on)"),
        ("health", "/health", "a bare Starlette constant route"),
    )
    for scenario, name, against in ratio_targets:
        row = result.get(scenario, {}).get("service")
        if row:
            label = f"{name} ≥ {TARGET_RATIO}× {against}"
            out.append((label, row["ratio"] >= TARGET_RATIO, f"{row['ratio']:.2f}×"))
    for kind, row in result.get("coalescing", {}).items():
        out.append(
            (
                f"{row['requests']} concurrent identical misses by {kind} → 1 OpenAI call",
                row["openai_calls"] == 1
                and {int(k): v for k, v in row["statuses"].items()} == {200: row["requests"]},
                f"{row['openai_calls']} call(s); "
                + ", ".join(f"{n} × {code}" for code, n in row["statuses"].items()),
            )
        )
    return out


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
        "CPU = server process utime+stime per request; "
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
    for what, met, measured in checks(result):
        mark = "✅" if met else "❌"
        lines.append(f"- {mark} {what}: **{measured}**")
    if miss:
        lines.append(
            f"- cold misses: {miss['openai_calls_per_request']:.2f} OpenAI calls per request "
            f"(mock delay {plan['openai_delay'] * 1000:g} ms)"
        )
    hit = result.get("cache_hit", {}).get("service")
    if hit:
        cmds = ", ".join(f"{k} {v:g}" for k, v in sorted(hit["commands"].items()))
        lines.append(f"- Redis commands per cache hit: {cmds or 'none'}")
    lines += _memory_lines(result.get("memory", {}))
    if "ttft" in result:
        lines += ttft.lines(result["ttft"])
    wired = result.get("wiring", {})
    if wired:
        lines.append(
            f"- wiring seen: RateLimit headers on a hit: {wired['ratelimit_headers']}; "
            f"status endpoints: {wired['status_endpoints']}"
        )
    return "\n".join(lines)


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


def profile_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['samples']} samples of the `on` server under cache-hit load "
        "(py-spy, by function; % of samples).",
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
