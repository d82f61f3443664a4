"""What the cache hit's one command costs Redis, by way of doing it: the reference's GET, the
limiter with a key per policy (ratelimit.lua: how every hit ran until issue #16), the pair in one
key (tier.lua), and for a signed-in hit the session lookup then tier.lua, against both in one call
(signed_in.lua).

    .venv/bin/python -m bench.scriptcost [--calls 5000] [--rounds 6]

On a redis-server of its own (a free loopback port, pinned to the load side's core), two ways:
`busy` sends 100 commands a round trip (Redis never waits for work: what a Redis core serving
many instances sees), `idle` one at a time (each wakes Redis up: what one instance at a few
thousand hits a second sees). Reports Redis's CPU per hit (INFO's used_cpu, the network reads
and writes included) and the µs INFO commandstats books to the top-level commands (the script
itself), the least of `rounds` alternating rounds: this machine's other work only ever adds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from redis import Redis

from bench.procs import HOST, Procs, free_port, pin, split_cores
from bench.servers import redis_argv
from threadr.accounts.sessions import SCRIPT as SESSIONS
from threadr.limits.admission import ACCOUNT_SCRIPT
from threadr.limits.ratelimit import SCRIPT as RATELIMIT
from threadr.limits.ratelimit import TIER_SCRIPT

CACHE = "threadr:cache:v1:text:" + "ab" * 32
SESSION = "threadr:session:v1:{u:0123456789abcdef01234567}:" + "cd" * 32
PREMIUM = "threadr:premium:v1:{u:0123456789abcdef01234567}"
SAVED = "threadr:history:v1:{u:0123456789abcdef01234567}:index"
USER = "0123456789abcdef01234567"
HUGE = b"1000000000"
# The bench's policies: 10^9 a minute and 10^9 an hour, as (interval µs, limit) pairs.
SPECS = (b"1", HUGE, b"4", HUGE)


def hits(redis: Redis) -> dict[str, list[tuple[bytes, ...]]]:
    """Each way's commands for one hit."""
    rl = "threadr:rl:{127.0.0.1}"
    tier = (b"EVALSHA", TIER_SCRIPT.sha_bytes, b"2", f"{rl}:tier".encode(), CACHE.encode())
    touch = (b"EVALSHA", SESSIONS.sha_bytes, b"3", SESSION.encode(), PREMIUM.encode())
    return {
        "reference: GET": [(b"GET", CACHE.encode())],
        "anonymous, a key per policy (ratelimit.lua)": [
            (b"EVALSHA", RATELIMIT.sha_bytes, b"3", f"{rl}:burst".encode(),
             f"{rl}:hourly".encode(), CACHE.encode(), b"1", b"", *SPECS),
        ],
        "anonymous, the pair in one key (tier.lua)": [(*tier, b"1", b"", *SPECS)],
        "signed in, lookup then tier.lua": [
            (*touch, SAVED.encode(), b"touch", b"2592000000", b"60000"),
            (*tier[:3], b"threadr:rl:{user:%s}:tier" % USER.encode(), CACHE.encode(), b"1", b"",
             *SPECS),
        ],
        "signed in, one call (signed_in.lua)": [
            (b"EVALSHA", ACCOUNT_SCRIPT.sha_bytes, b"6", SESSION.encode(), PREMIUM.encode(),
             SAVED.encode(), b"threadr:rl:{user:%s}:tier" % USER.encode(),
             b"threadr:rl:{user:%s}:tier:premium" % USER.encode(), CACHE.encode(),
             b"2592000000", b"60000", USER.encode(), b"1", b"", *SPECS, *SPECS),
        ],
    }  # fmt: skip


def prepare(redis: Redis) -> None:
    redis.set(CACHE, b"x" * 560)
    now = int(time.time() * 1000)
    redis.hset(
        SESSION,
        mapping={
            "sid": "0123456789abcdef", "user_id": USER, "email": "bench@example.com",
            "created_at": now, "last_seen": now, "ip": "127.0.0.1", "user_agent": "bench",
            "max_until": now + 86_400_000,
        },
    )  # fmt: skip
    for script in (RATELIMIT, TIER_SCRIPT, SESSIONS, ACCOUNT_SCRIPT):
        redis.script_load(script.source)


def cost(
    redis: Redis, commands: list[tuple[bytes, ...]], calls: int, busy: bool
) -> tuple[float, float]:
    """(Redis CPU µs, commandstats µs of the top-level commands) per hit."""
    redis.config_resetstat()
    before = _cpu(redis)
    if busy:
        for _ in range(calls // 100):
            pipe = redis.pipeline(transaction=False)
            for _ in range(100):
                for command in commands:
                    pipe.execute_command(*command)
            pipe.execute()
    else:
        for _ in range(calls):
            for command in commands:
                redis.execute_command(*command)
    cpu = _cpu(redis) - before
    stats = redis.info("commandstats")
    names = {c[0].decode().lower() for c in commands}
    booked = sum(int(v["usec"]) for k, v in stats.items() if k.removeprefix("cmdstat_") in names)
    return cpu / calls * 1e6, booked / calls


def _cpu(redis: Redis) -> float:
    info = redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="hits per round")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    cores = split_cores()
    pin(0, cores.server)
    with Procs(Path(tempfile.mkdtemp(prefix="threadr-scriptcost-"))) as procs:
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="threadr-scriptcost-redis-"))
        procs.start("redis", redis_argv(port, workdir), cpus=cores.load, port=port)
        redis = Redis(host=HOST, port=port)
        prepare(redis)
        ways = hits(redis)
        best: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
        for _ in range(args.rounds):
            for mode in ("busy", "idle"):
                for name, commands in ways.items():
                    calls = args.calls if mode == "busy" else args.calls // 3
                    best[name, mode].append(cost(redis, commands, calls, mode == "busy"))
        redis.close()
    head = ("way", "busy: Redis CPU µs/hit", "busy: commands µs", "idle: Redis CPU µs/hit")
    print("| " + " | ".join(head) + " | idle: commands µs |")
    print("|---|---:|---:|---:|---:|")
    for name in ways:
        cells = []
        for mode in ("busy", "idle"):
            runs = best[name, mode]
            cells += [f"{min(c for c, _ in runs):.1f}", f"{min(u for _, u in runs):.1f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
