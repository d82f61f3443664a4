"""Redis faults under load, against real processes (issue #13): a `threadr serve` on a
redis-server of the test's own, driven at ~60 POST /api/generate a second (cache hits and
misses, the offline writer), while Redis is killed (-9) and restarted on its port, stopped
(SIGSTOP) and resumed, has its clients killed (CLIENT KILL), or is demoted to a replica behind
an address that moves to the new primary (a failover); and, without load, the watch's probe
outliving its connection being killed, and an eviction policy that may drop what must stay
being warned of. The timings these tests measure are the ones docs/operations.md reports ("What
operators see in each failure"); run with `-s` to see them printed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.factories import make_gateway, make_settings, running_app, until
from threadr.checks import WARNING, Finding, check_redis
from threadr.storage.gateway import UNAVAILABLE
from threadr.storage.watch import RedisWatch

from .processes import RedisServer, free_port, threadr_servers

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs the redis-server command"),
]

TIMEOUT = 1.0  # REDIS_TIMEOUT_SECONDS of the app under test
RATE = 60  # requests a second
TEXT = (
    "Caching is the art of remembering answers. When a service does expensive work, such as "
    "fetching an article and asking a language model to summarise it, the result can be kept "
    "and served again in microseconds instead of seconds. A good cache has a key that ignores "
    "differences that do not matter. It expires entries, so stale answers do not live forever, "
    "and it bounds its memory, so a flood of unique requests cannot exhaust the server."
)
HITS = [f"{TEXT} Part {i}." for i in range(4)]  # generated once before the load: then hits
HUGE = "1000000000"  # limits the load never reaches: the limiter runs, and never denies
ADMIN_KEY = "faults-admin-key-0123456789"


def app_env(redis_port: int) -> dict[str, str]:
    return {
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "REDIS_TIMEOUT_SECONDS": str(TIMEOUT),
        "RATE_LIMIT_BURST": HUGE,
        "RATE_LIMIT_REQUESTS": HUGE,
        "FREE_TIER_DAILY_LIMIT": HUGE,
        "FREE_TIER_MONTHLY_LIMIT": HUGE,
        "ACCESS_LOG": "false",
    }


@dataclass
class Answer:
    latency: float  # seconds, from send to the whole response
    status: int  # 0: no response at all (a transport error)
    cache: str | None  # X-Cache


@dataclass
class Load:
    """~RATE POST /api/generate a second, every other one a cache hit. Each request is a task of
    its own, sent at its slot on the loop's clock (`call_at`: the n-th at start + n/RATE), so
    that a slow answer never slows the rate down and late ticks do not drift it."""

    http: httpx.AsyncClient
    answers: list[Answer] = field(default_factory=list)
    sent: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _next: asyncio.TimerHandle | None = None
    _started: float = 0.0

    def start(self) -> None:
        self._started = asyncio.get_running_loop().time()
        self._send()

    def stop(self) -> None:
        if self._next is not None:
            self._next.cancel()

    def _send(self) -> None:
        n = self.sent
        text = HITS[n // 2 % len(HITS)] if n % 2 == 0 else f"{TEXT} Miss {n}."
        task = asyncio.create_task(self._one(text))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.sent += 1
        loop = asyncio.get_running_loop()
        self._next = loop.call_at(self._started + self.sent / RATE, self._send)

    async def _one(self, text: str) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            response = await self.http.post("/api/generate", json={"text": text})
        except httpx.HTTPError:
            self.answers.append(Answer(loop.time() - started, 0, None))
        else:
            cache = response.headers.get("x-cache")
            self.answers.append(Answer(loop.time() - started, response.status_code, cache))

    async def more(self, requests: int) -> None:
        """Wait until `requests` more have been sent."""
        target = self.sent + requests
        await until(lambda: self.sent >= target, within=requests / RATE * 3 + 2)

    async def drain(self) -> None:
        await asyncio.gather(*self._tasks)


@contextlib.asynccontextmanager
async def under_load(http: httpx.AsyncClient) -> AsyncIterator[Load]:
    load = Load(http)
    load.start()
    try:
        yield load
    finally:
        load.stop()
        await load.drain()


@contextlib.asynccontextmanager
async def redis_and_app(data: Path) -> AsyncIterator[tuple[RedisServer, httpx.AsyncClient]]:
    """A redis-server of our own, a `threadr serve` on it, and a client whose hits are warm."""
    server = RedisServer(free_port(), data)
    await server.start()
    try:
        with threadr_servers(1, app_env(server.port)) as (port,):
            limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=10, limits=limits
            ) as http:
                for text in HITS:
                    warm = await http.post("/api/generate", json={"text": text})
                    assert warm.status_code == 200, warm.text
                yield server, http
    finally:
        if server.proc is not None and server.proc.returncode is None:
            server.proc.send_signal(signal.SIGCONT)  # a stopped server cannot take its SIGTERM
        await server.stop()


async def redis_state(http: httpx.AsyncClient) -> str:
    return str((await http.get("/health")).json()["services"]["redis"])


async def seconds_until(condition: Callable[[], Awaitable[bool]], within: float = 5.0) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await until(condition, within=within)
    return loop.time() - started


def state_is(http: httpx.AsyncClient, state: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await redis_state(http) == state

    return check


def report(name: str, **numbers: float) -> None:
    print(f"\n{name}: " + ", ".join(f"{k} {v:.3f} s" for k, v in numbers.items()))


def statuses(load: Load) -> set[int]:
    return {a.status for a in load.answers}


async def test_kill_9_and_restart_under_load(tmp_path: Path) -> None:
    async with redis_and_app(tmp_path) as (server, http), under_load(http) as load:
        assert server.proc is not None
        await load.more(RATE)  # a second of traffic on Redis
        server.proc.kill()
        detected = await seconds_until(state_is(http, "disconnected"))
        await server.proc.wait()

        # While it is away: generation goes on in memory, writes that must persist are refused,
        # and the status endpoints say that their counts are this instance's own.
        refused = await http.post("/api/subscribe", json={"email": "ann@example.com"})
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "storage_unavailable"
        assert refused.headers["retry-after"] == "1"
        limits = (await http.get("/api/rate-limit-status")).json()
        usage = (await http.get("/api/usage/status")).json()
        assert (limits["degraded"], limits["using_redis"], usage["degraded"]) == (True, False, True)
        ready = await http.get("/readiness")
        assert ready.status_code == 503 and ready.json()["code"] == "redis_unavailable"
        await load.more(RATE)  # a second of traffic without Redis

        await server.start()  # the same port, its data back from the append-only file
        async with Redis(port=server.port) as redis:
            entries = len(await redis.keys("threadr:cache:v1:*"))

            async def new_entry_in_redis() -> bool:
                return len(await redis.keys("threadr:cache:v1:*")) > entries

            recovered = await seconds_until(state_is(http, "connected"))
            # Every other request is a new miss: its entry lands in Redis once traffic is back.
            back = recovered + await seconds_until(new_entry_in_redis)
        limits = (await http.get("/api/rate-limit-status")).json()
        assert (limits["degraded"], limits["using_redis"]) == (False, True)
        assert not (await http.get("/api/usage/status")).json()["degraded"]
        assert (await http.get("/readiness")).status_code == 200
        subscribed = await http.post("/api/subscribe", json={"email": "ann@example.com"})
        assert subscribed.status_code == 200, subscribed.text
        await load.more(RATE // 2)
    report("kill -9", detected=detected, recovered=recovered, traffic_back=back)
    assert statuses(load) == {200}, f"not all 200: {sorted(statuses(load))}"
    assert {a.cache for a in load.answers} == {"HIT", "MISS"}  # the load was a mix of both
    assert detected <= 1.0 and recovered <= 1.0 and back <= 1.0


async def test_sigstop_and_sigcont_under_load(tmp_path: Path) -> None:
    async with redis_and_app(tmp_path) as (server, http), under_load(http) as load:
        assert server.proc is not None
        pid = server.proc.pid
        await load.more(RATE)
        os.kill(pid, signal.SIGSTOP)  # hung: connections open, nothing answered
        detected = await seconds_until(state_is(http, "disconnected"))
        await load.more(2 * RATE)  # two seconds of traffic against the hung Redis (2 timeouts)
        os.kill(pid, signal.SIGCONT)
        recovered = await seconds_until(state_is(http, "connected"))
        await load.more(RATE // 2)
    worst = max(a.latency for a in load.answers)
    report("SIGSTOP", detected=detected, recovered=recovered, worst_request=worst)
    assert statuses(load) == {200}, f"not all 200: {sorted(statuses(load))}"
    assert worst <= TIMEOUT + 0.5, f"a request took {worst:.2f} s"
    assert detected <= 1.0 and recovered <= 1.0


async def test_client_kill_under_load(tmp_path: Path) -> None:
    async with redis_and_app(tmp_path) as (server, http), Redis(port=server.port) as admin:
        async with under_load(http) as load:
            for _ in range(5):
                await load.more(RATE // 3)
                # Every connection of the app (pool, lane, watch), as a proxy or Redis would.
                assert await admin.client_kill_filter(_type="normal", skipme=True) >= 1
            await load.more(RATE // 3)
        assert await redis_state(http) == "connected"
        metrics = (await http.get("/metrics")).text
    worst = max(a.latency for a in load.answers)
    report("CLIENT KILL", worst_request=worst)
    assert statuses(load) == {200}, f"not all 200: {sorted(statuses(load))}"
    # Each connection was made again at its next use: not one call failed, traffic stayed on
    # Redis throughout.
    assert "threadr_redis_circuit_opens_total 0.0" in metrics
    assert "threadr_redis_errors_total{" not in metrics


async def test_the_probe_outlives_its_idle_connection_being_killed(tmp_path: Path) -> None:
    """A restart, CLIENT KILL or a proxy's idle timeout closes the watch's connection while it
    waits for its next PING: that PING goes out again on a new one, and finds Redis there."""
    server = RedisServer(free_port(), tmp_path)
    await server.start()
    redis = Redis(port=server.port)
    gateway = make_gateway(redis, timeout=TIMEOUT)
    watch = RedisWatch(gateway, heartbeat=3600)
    try:
        await watch.start()
        async with Redis(port=server.port) as admin:
            assert await admin.client_kill_filter(_type="normal", skipme=True) == 1
        assert await watch.check()
        assert gateway.breaker.trips == 0  # never opened
    finally:
        await watch.stop()
        await redis.aclose()
        await server.stop()


async def test_a_pause_well_within_the_timeout_is_no_outage(tmp_path: Path) -> None:
    """A Redis that answers late but within its timeout (a far region, a fork, an fsync) is
    not taken for a hung one: a probe's PING waits up to half the timeout (at most 0.75 s)."""
    server = RedisServer(free_port(), tmp_path)
    await server.start()
    redis = Redis(port=server.port)
    gateway = make_gateway(redis, timeout=2.0)
    watch = RedisWatch(gateway, heartbeat=3600)
    try:
        await watch.start()
        async with Redis(port=server.port) as admin:
            await admin.client_pause(400, all=True)  # every command waits
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await watch.check()
        assert loop.time() - started >= 0.3  # the PING did wait out the pause
        assert gateway.breaker.trips == 0
    finally:
        await watch.stop()
        await redis.aclose()
        await server.stop()


async def test_an_address_still_on_a_replica_keeps_the_circuit_open(tmp_path: Path) -> None:
    """After a READONLY reply the watch asks ROLE, not PING (which a replica answers): the
    circuit stays open, with no reconnection storm, until the address leads to a primary."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    primary = RedisServer(free_port(), tmp_path / "a")
    replica = RedisServer(free_port(), tmp_path / "b")
    await primary.start()
    await replica.start()
    redis = Redis(port=replica.port)
    gateway = make_gateway(redis, timeout=TIMEOUT)
    watch = RedisWatch(gateway, heartbeat=3600)
    try:
        async with Redis(port=replica.port) as admin:
            await admin.replicaof("127.0.0.1", primary.port)
            assert await watch.check()  # a replica answers PING: nothing says otherwise yet
            assert await gateway.call(lambda r: r.set("threadr:k", b"v"), "SET") is UNAVAILABLE
            assert gateway.errors["readonly"] == 1 and gateway.breaker.is_open
            for _ in range(3):
                assert not await watch.check()  # ROLE: still a replica
            assert gateway.breaker.trips == 1  # opened once, no flapping
            await admin.replicaof("NO", "ONE")
            assert await watch.check()
        assert await gateway.call(lambda r: r.set("threadr:k", b"v"), "SET") is True
    finally:
        await watch.stop()
        await redis.aclose()
        await primary.stop()
        await replica.stop()


async def test_an_eviction_policy_that_can_drop_keys_is_warned_of(tmp_path: Path) -> None:
    """`allkeys-lru` may evict limiter, quota, session and premium keys: check-config prints a
    [WARNING] line and the Redis stats carry it in `warnings`."""
    server = RedisServer(free_port(), tmp_path)
    await server.start()
    url = f"redis://127.0.0.1:{server.port}/0"
    try:
        async with Redis(port=server.port) as redis:
            await redis.config_set("maxmemory-policy", "allkeys-lru")
        said: list[tuple[Finding, str]] = []
        assert await check_redis(
            make_settings(REDIS_URL=url), lambda ok, what: said.append((ok, what))
        )
        [warning] = [what for ok, what in said if ok == WARNING]
        assert "allkeys-lru" in warning and "premium" in warning
        async with running_app(make_settings(REDIS_URL=url, API_KEYS=ADMIN_KEY)) as client:
            stats = await client.get("/api/analytics/redis-stats", headers={"X-API-Key": ADMIN_KEY})
        assert stats.json()["maxmemory_policy"] == "allkeys-lru"
        assert stats.json()["warnings"] == [warning]
    finally:
        await server.stop()


class MovingAddress:
    """A TCP forwarder standing for a DNS name a failover moves: new connections go to
    `target`, those already open stay where they were."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.append(client_w)
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            client_w.close()
            return
        self._writers.append(server_w)
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def test_a_failover_that_leaves_readonly_replies_reconnects(tmp_path: Path) -> None:
    """The old primary, now a replica, answers writes with READONLY; the app drops its
    connections and makes new ones, which the moved address takes to the new primary."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = (
        RedisServer(free_port(), tmp_path / "a"),
        RedisServer(free_port(), tmp_path / "b"),
    )
    await first.start()
    await second.start()
    address = MovingAddress(first.port)
    await address.start()
    try:
        async with Redis(port=first.port) as a, Redis(port=second.port) as b:
            await b.replicaof("127.0.0.1", first.port)
            with threadr_servers(1, app_env(address.port)) as (port,):
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                    # The forwarder shares this loop, which waited for the app to start: the
                    # app's first PING may have gone unanswered, until its next probe.
                    await until(state_is(http, "connected"))
                    ann = await http.post("/api/subscribe", json={"email": "ann@example.com"})
                    assert ann.status_code == 200, ann.text
                    assert await a.wait(1, 5000) == 1  # ann is on the replica too

                    await b.replicaof("NO", "ONE")  # promoted
                    await a.replicaof("127.0.0.1", second.port)  # demoted: READONLY from now on
                    address.target = second.port
                    answers: list[int] = []

                    async def bob_subscribed() -> bool:
                        generated = await http.post("/api/generate", json={"text": HITS[0]})
                        answers.append(generated.status_code)
                        bob = await http.post("/api/subscribe", json={"email": "bob@example.com"})
                        assert bob.status_code in (200, 503), bob.text
                        return bob.status_code == 200

                    healed = await seconds_until(bob_subscribed)
                    metrics = (await http.get("/metrics")).text
            assert set(answers) == {200}
            assert 'threadr_redis_errors_total{kind="readonly"}' in metrics
            records = await b.hkeys("threadr:subscribers:{list}:records")
            assert sorted(records) == [b"ann@example.com", b"bob@example.com"]
    finally:
        await address.stop()
        await first.stop()
        await second.stop()
    report("failover (READONLY)", healed=healed)
    assert healed <= 1.0
