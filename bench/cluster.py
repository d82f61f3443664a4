"""A cache hit on Redis Cluster against one on a single Redis: Python calls, CPU and latency.

    .venv/bin/python -m bench.cluster [--requests 2000]

Starts a throwaway redis-server and a 3-master cluster of throwaway ones (`redis-cli --cluster
create`, no replicas), then runs bench/callcount.py's measure of cache hits, a process each:

- `baseline`: one Redis, as the service runs on it: the limiter script with the cache GET folded
  in, one round trip, on the lane;
- `nolane`: one Redis with the lane off (every call through redis-py's pool): what the lane
  saves, i.e. what a lane per node could save on a cluster at best;
- `cluster`: REDIS_CLUSTER=true: the script, then the GET (another slot), two round trips
  through redis-py's `RedisCluster`, no lane (the service as it is);
- `cluster-lane`: the same two commands on a lane per node (`NodeLanes` below, a prototype for
  this measure only: it routes by the client's slot map and leaves MOVED, ASK and a
  changing topology to nothing — what the service would have to add to use it).

Calls and CPU per hit come from 16 hits at a time (as callcount), the latency from one hit at a
time (the round trips show).

Then what a dead master costs, in process (the app and its lifespan, requests through ASGI):
hits one at a time for a client whose limiter keys live on a master that is then killed
(SIGKILL) and for one on a surviving master, the article's entry on a survivor: the latency of
the first hits after the kill, then of the steady state, and of the hits that probe the dead
master's breaker (one per cooldown) over 12 s. Writes bench/results/cluster.json and prints
the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from redis.asyncio import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot

from bench.procs import HOST, ROOT, Procs, free_port, pin, python, split_cores
from bench.scenarios import HIT_BODY
from bench.servers import redis_argv
from bench.stack import HUGE
from threadr.cache import key_for
from threadr.config import Settings
from threadr.source import validate
from threadr.storage.cluster import ClusterGateway
from threadr.storage.gateway import UNAVAILABLE, Unavailable
from threadr.storage.lane import Lane, command
from threadr.storage.scripts import ScriptCall

RESULTS = ROOT / "bench" / "results" / "cluster.json"


class _NodePool:
    """What the lane asks of a pool: new connections, here to one cluster node."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def make_connection(self) -> Any:
        options = {**self.node.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
        return self.node.connection_class(**options)


class NodeLanes(ClusterGateway):
    """The cluster gateway with a lane per node for a hit's two commands (`cluster-lane`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lanes: dict[str, Lane] = {}

    def _lane(self, key: bytes) -> Lane:
        node = self.redis.nodes_manager.get_node_from_slot(key_slot(key))  # type: ignore[union-attr]
        lane = self.lanes.get(node.name)
        if lane is None:
            lane = self.lanes[node.name] = Lane.__new__(Lane)
            lane._pool, lane.size, lane._idle, lane._made = _NodePool(node), 48, [], []  # type: ignore[assignment]
        return lane

    async def script_and_get(
        self, call: ScriptCall, keys: Any, args: Any, get: bytes, what: str
    ) -> tuple[list[Any], bytes | Unavailable | None] | Unavailable:
        lane, breaker = self._lane(keys[0]), self.breaker_for(keys[0])
        if not lane.free:
            return await super().script_and_get(call, keys, args, get, what)
        reply = await self._attempt(call.unread.run_on(lane, keys, args), what, breaker)
        if reply is UNAVAILABLE:
            return UNAVAILABLE
        lane, breaker = self._lane(get), self.breaker_for(get)
        if not lane.free:
            return reply, await self.get(get.decode(), what)
        value = await self._attempt(lane.execute(command(b"GET", get)), what, breaker)
        return reply, value


def start_cluster(
    procs: Procs, workdir: Path, cpus: Sequence[int], *, full_coverage: bool = False
) -> list[int]:
    """3 cluster-enabled redis-servers joined into one cluster; their ports. Without
    `full_coverage` (as docs/deployment.md advises without replicas) a dead master takes only
    its slots away; with it (Redis's default), the whole cluster once the others notice."""
    ports = [free_port() for _ in range(3)]
    for port in ports:
        argv = [
            *redis_argv(port, workdir),
            "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
            "--cluster-port", str(free_port()), "--cluster-node-timeout", "1000",
            "--cluster-require-full-coverage", "yes" if full_coverage else "no",
        ]  # fmt: skip
        procs.start(f"redis-{port}", argv, cpus=cpus, port=port)
    nodes = [f"{HOST}:{port}" for port in ports]
    subprocess.run(
        ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    deadline = time.monotonic() + 30
    for port in ports:
        while (
            b"cluster_state:ok"
            not in subprocess.run(
                ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, check=False
            ).stdout
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not come up in 30 s")
            time.sleep(0.05)
    return ports


def measure(variant: str, url: str, requests: int, cpus: Sequence[int]) -> dict[str, Any]:
    argv = [python(), "-m", "bench.callcount", "one", variant, url, str(requests), "/api/generate"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    pin(proc.pid, cpus)
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"variant {variant} failed ({proc.returncode})")
    row: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return row


async def dead_master(url: str, victim: int, kill: Any) -> dict[str, Any]:
    """Hit latencies (ms) around the SIGKILL of the master on port `victim`."""
    from threadr.web.app import create_app

    logging.disable(logging.WARNING)  # the fallbacks' warnings, one per failed call
    settings = Settings.from_env(
        {
            "ENVIRONMENT": "production",
            "REDIS_URL": url,
            "REDIS_CLUSTER": "true",
            "RATE_LIMIT_BURST": HUGE,
            "RATE_LIMIT_REQUESTS": HUGE,
            "FREE_TIER_DAILY_LIMIT": HUGE,
            "FREE_TIER_MONTHLY_LIMIT": HUGE,
        }
    )
    mapper = RedisCluster.from_url(url)
    await mapper.initialize()
    owners = [int(mapper.nodes_manager.get_node_from_slot(s).port) for s in range(16384)]
    await mapper.aclose()
    addresses = [f"203.0.113.{i}" for i in range(1, 255)]
    live = next(ip for ip in addresses if owners[key_slot(ip.encode())] != victim)
    dead = next(ip for ip in addresses if owners[key_slot(ip.encode())] == victim)
    text = json.loads(HIT_BODY)["text"]
    assert owners[key_slot(key_for(validate(None, text, settings)).encode())] != victim

    async with LifespanManager(create_app(settings)) as manager:

        def client(ip: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=manager.app, client=(ip, 50000))
            return httpx.AsyncClient(transport=transport, base_url="http://bench")

        async with client(live) as on_live, client(dead) as on_dead:

            async def hit(http: httpx.AsyncClient) -> float:
                start = time.perf_counter()
                response = await http.post(
                    "/api/generate", content=HIT_BODY, headers={"content-type": "application/json"}
                )
                assert response.status_code == 200, response.text
                return (time.perf_counter() - start) * 1000

            async def p50(http: httpx.AsyncClient, n: int = 500) -> float:
                return round(statistics.median([await hit(http) for _ in range(n)]), 2)

            await hit(on_live)  # the miss that stores the entry
            before = {"live": await p50(on_live), "dead": await p50(on_dead)}
            kill(victim)
            first = [round(await hit(on_dead), 1) for _ in range(5)]
            after = {"live": await p50(on_live), "dead": await p50(on_dead)}
            # 12 s more, a hit of each client every 20 ms: the slow ones (over 20 ms) are the
            # probes of open breakers, or worse.
            slow: dict[str, list[float]] = {"live": [], "dead": []}
            count, end = 0, time.monotonic() + 12
            while time.monotonic() < end:
                for name, http in (("live", on_live), ("dead", on_dead)):
                    took = await hit(http)
                    count += 1
                    if took > 20:
                        slow[name].append(round(took, 1))
                await asyncio.sleep(0.02)
    return {
        "p50_ms_before_kill": before,
        "first_hits_ms_after_kill": first,
        "p50_ms_after_kill": after,
        "slow_hits_ms_in_next_12s": slow,
        "hits_in_next_12s": count,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    cores = split_cores()
    rows = []
    with Procs(Path(tempfile.mkdtemp(prefix="threadr-cluster-"))) as procs:
        single = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="threadr-cluster-redis-"))
        procs.start("redis", redis_argv(single, workdir), cpus=cores.load, port=single)
        ports = start_cluster(procs, workdir, cores.load)
        for variant, url in (
            ("baseline", f"redis://{HOST}:{single}/0"),
            ("nolane", f"redis://{HOST}:{single}/0"),
            ("cluster", f"redis://{HOST}:{ports[0]}"),
            ("cluster-lane", f"redis://{HOST}:{ports[0]}"),
        ):
            rows.append(measure(variant, url, args.requests, cores.server))
        dead = {}
        for coverage in (False, True):
            if coverage:  # a fresh cluster, Redis's default: the whole of it goes down
                ports = start_cluster(procs, workdir, cores.load, full_coverage=True)
            servers = {p.args[2]: p for _, p in procs.children if p.args[0] == "redis-server"}  # type: ignore[index]

            def kill(port: int) -> None:
                servers[str(port)].kill()  # noqa: B023 - called at once, in this iteration

            url = f"redis://{HOST}:{ports[0]}"
            name = "full_coverage_yes" if coverage else "full_coverage_no"
            dead[name] = asyncio.run(dead_master(url, ports[2], kill))
    variants = [{k: v for k, v in r.items() if k != "top"} for r in rows]
    RESULTS.write_text(json.dumps({"variants": variants, "dead_master": dead}, indent=1))
    print("| variant | Python calls per hit | CPU µs per hit | latency p50 µs | p99 µs |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['calls_per_request']:g} | {r['cpu_us']:g} "
            f"| {r['latency_us_p50']} | {r['latency_us_p99']} |"
        )
        if r["statuses"] != [200]:
            print(f"  (statuses {r['statuses']}: not every request was a 200 hit)")
    print(f"\nA master killed (hits one at a time, in process): {json.dumps(dead, indent=1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
