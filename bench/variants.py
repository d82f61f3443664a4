"""What a proposed change to src/ would gain, measured before anyone edits src/.

    .venv/bin/python -m bench.variants [--variants baseline,pool,resp2,norm,reqid,all]

Runs the service with one proposed change patched in at start-up (monkeypatching, in the
server process only) next to the unpatched service and the bare reference, cache-hit load,
alternating, and prints req/s, CPU µs per request and the ratio to the reference for each.
An investigation tool: the patches name src/ functions as they are today, and once a change
lands in src/ its variant measures nothing new.

Variants: `pool` — ConnectionPool instead of BlockingConnectionPool; `resp2` — protocol=2;
`reqid` — request ids from a per-process prefix and counter (no getrandom syscall per
request); `preencode` — the limiter's constant EVALSHA arguments as bytes; `all` —
pool+preencode. (The `normalize_text` fast path and the single edge-header layer
measured here earlier landed in src/ in ca94ba2.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import scenarios, wrk
from bench.procs import HOST, Procs, free_port, pin, python, split_cores
from bench.stack import Server, service_env, start

PATCHES = ("pool", "preencode")  # `all`: what docs/performance.md still recommends


def _patch_redis(*, plain_pool: bool, resp2: bool) -> None:
    from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis

    import threadr.state
    from threadr.connection import redis_options

    def create_redis(settings: Any) -> Redis | None:
        if not settings.redis_url:
            return None
        options = redis_options(settings) | ({"protocol": 2} if resp2 else {})
        if plain_pool:
            pool = ConnectionPool.from_url(settings.redis_url, **options)
        else:
            pool = BlockingConnectionPool.from_url(
                settings.redis_url, timeout=settings.redis_timeout_seconds, **options
            )
        return Redis.from_pool(pool)

    threadr.state.create_redis = create_redis  # type: ignore[attr-defined]


def _patch_request_id() -> None:
    import itertools
    import os

    import threadr.middleware

    prefix = os.urandom(8).hex()
    counter = itertools.count(1)

    class _Os:
        @staticmethod
        def urandom(n: int) -> bytes:  # the id only: unique per process run, not secret
            return bytes.fromhex(f"{prefix}{next(counter):016x}")[:n]

    threadr.middleware.os = _Os  # type: ignore[assignment,attr-defined]


def _patch_preencode() -> None:
    """The limiter's constant EVALSHA arguments (script SHA, the tiers' numbers) as bytes, so
    redis-py's Encoder passes them through at its first isinstance check."""
    import threadr.ratelimit as rl

    init = rl._Tier.__init__

    def tier_init(self: Any, policies: Any) -> None:
        init(self, policies)
        self.argv = tuple(str(v).encode() for v in self.argv)

    rl._Tier.__init__ = tier_init  # type: ignore[method-assign]
    rl.SCRIPT.sha = rl.SCRIPT.sha.encode()  # type: ignore[assignment]


def apply(patches: set[str]) -> None:
    if patches & {"pool", "resp2"}:
        _patch_redis(plain_pool="pool" in patches, resp2="resp2" in patches)
    if "reqid" in patches:
        _patch_request_id()
    if "preencode" in patches:
        _patch_preencode()


def serve(argv: list[str]) -> int:
    """`python -m bench.variants serve PATCHES --port P`: the service with PATCHES applied."""
    patches = {p for p in argv[0].split("+") if p and p != "baseline"}
    apply(set(PATCHES) if "all" in patches else patches)
    from threadr.cli import main

    return main(["serve", *argv[1:]])


def compare(names: list[str], plan: scenarios.Plan) -> int:
    cores = split_cores()
    with Procs(Path(tempfile.mkdtemp(prefix="threadr-variants-"))) as procs:
        s = start(procs, cores, services=("on",))
        scenarios.prepare(s)
        servers = {}
        for name in names:
            port = free_port()
            argv = [
                python(),
                "-m",
                "bench.variants",
                "serve",
                name,
                "--host",
                HOST,
                "--port",
                str(port),
            ]
            env = service_env("on", s.redis_url, s.openai, s.articles)
            proc = procs.start(f"variant-{name}", argv, env=env, port=port, timeout=30)
            pin(proc.pid, cores.server)
            servers[name] = Server(name, port, proc)
        assert s.reference is not None
        post = wrk.post_json(scenarios.HIT_BODY)
        targets = [scenarios.Target("reference", s.reference, "/api/generate", post)]
        targets += [scenarios.Target(n, srv, "/api/generate", post) for n, srv in servers.items()]
        result = scenarios.compare(scenarios.alternating(s, targets, plan), "reference")
    print("| variant | req/s | × ref | CPU µs/req | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, row in result.items():
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else "—"
        print(
            f"| {name} | {row['rps']:,.0f} | {ratio} | {row['cpu_us']:.0f} | "
            f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} |"
        )
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="baseline,pool,preencode,all")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    plan = scenarios.Plan(seconds=args.seconds, reps=args.reps)
    return compare(args.variants.split(","), plan)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
