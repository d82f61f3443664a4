"""One measured wrk run: throughput and latency, plus the server's CPU and Redis's work per request.

Server CPU is the utime + stime delta of the server process and the processes under it (its
workers, its extraction processes: /proc/<pid>/stat) over the run.
Redis work comes from INFO deltas: commands (and which), read events and CPU. A read event is
one batch of bytes read from a client socket, so reads per request counts round trips: a
pipeline of two commands arrives as one read.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from redis import Redis

from bench import wrk
from bench.procs import tree_cpu_seconds


@dataclass(frozen=True, slots=True)
class RedisSnapshot:
    commands: int
    reads: int
    cpu: float
    calls: dict[str, int]
    usec: dict[str, int]  # time spent in each command (a script's includes its commands')

    @classmethod
    def take(cls, redis: Redis) -> RedisSnapshot:
        stats: dict[str, Any] = redis.info("stats")
        cpu: dict[str, Any] = redis.info("cpu")
        commandstats: dict[str, Any] = redis.info("commandstats")
        return cls(
            commands=int(stats["total_commands_processed"]),
            reads=int(stats.get("total_reads_processed", 0)),
            cpu=float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
            calls={
                name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in commandstats.items()
            },
            usec={
                name.removeprefix("cmdstat_"): int(v["usec"]) for name, v in commandstats.items()
            },
        )

    def per_request(self, before: RedisSnapshot, requests: int) -> dict[str, Any]:
        """What Redis did per request between `before` and this snapshot (3 INFO commands on 3
        reads each taken out): commands, round trips, process CPU µs, and by command."""
        n = max(requests, 1)
        calls = {
            name: (c - before.calls.get(name, 0) - (3 if name == "info" else 0)) / n
            for name, c in self.calls.items()
        }
        usec = {
            name: (u - before.usec.get(name, 0)) / n
            for name, u in self.usec.items()
            if name != "info"
        }
        return {
            "commands": (self.commands - before.commands - 3) / n,
            "round_trips": (self.reads - before.reads - 3) / n,
            "cpu_us": (self.cpu - before.cpu) / n * 1e6,
            "calls": {k: round(v, 3) for k, v in calls.items() if v >= 0.001},
            "usec": {k: round(v, 2) for k, v in usec.items() if v >= 0.01},
        }


@dataclass(frozen=True, slots=True)
class Sample:
    """One run of one target."""

    target: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU per request
    requests: int
    errors: int
    non_2xx: int
    redis_commands: float  # per request
    redis_round_trips: float  # per request (read events)
    redis_cpu_us: float  # per request
    commands: dict[str, float] = field(default_factory=dict)  # per request, by command


def run(
    target: str,
    pid: int,
    url: str,
    script: str,
    *,
    seconds: float,
    warmup: float,
    load_cpus: Sequence[int],
    redis: Redis,
    connections: int = 64,
) -> Sample:
    if warmup > 0:
        wrk.run(url, script, seconds=warmup, cpus=load_cpus, connections=connections)
    cpu0, r0 = tree_cpu_seconds(pid), RedisSnapshot.take(redis)
    result = wrk.run(url, script, seconds=seconds, cpus=load_cpus, connections=connections)
    cpu1, r1 = tree_cpu_seconds(pid), RedisSnapshot.take(redis)
    n = max(result.requests, 1)
    redis_work = r1.per_request(r0, result.requests)
    return Sample(
        target=target,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        cpu_us=(cpu1 - cpu0) / n * 1e6,
        requests=result.requests,
        errors=result.errors,
        non_2xx=result.non_2xx,
        redis_commands=redis_work["commands"],
        redis_round_trips=redis_work["round_trips"],
        redis_cpu_us=redis_work["cpu_us"],
        commands=redis_work["calls"],
    )


def median_of(samples: Sequence[Sample]) -> dict[str, Any]:
    """Per-field medians of several runs of one target (commands from the median run)."""
    mid = sorted(samples, key=lambda s: s.rps)[len(samples) // 2]
    out: dict[str, Any] = {"target": mid.target, "runs": len(samples)}
    for name in (
        "rps",
        "p50_ms",
        "p99_ms",
        "cpu_us",
        "redis_commands",
        "redis_round_trips",
        "redis_cpu_us",
    ):
        out[name] = statistics.median(getattr(s, name) for s in samples)
    out["errors"] = sum(s.errors for s in samples)
    out["non_2xx"] = sum(s.non_2xx for s in samples)
    out["commands"] = mid.commands
    out["all_rps"] = [round(s.rps) for s in samples]
    out["all_redis_cpu_us"] = [round(s.redis_cpu_us, 2) for s in samples]
    return out


def as_dict(sample: Sample) -> dict[str, Any]:
    return asdict(sample)
