"""Redis Cluster, for real: three masters of our own (`redis-server --cluster-enabled yes`, joined
by `redis-cli --cluster create`), two `threadr serve` processes with REDIS_CLUSTER=true on them.
The limiter is exact across the processes, the quota and the cache are shared, accounts,
sessions, premium, saved threads and the email list work (each of their scripts on one slot),
scripts come back after a SCRIPT FLUSH, the operator endpoints add the primaries up; and with one
master killed, the others keep serving the keys they own while generate never answers a 5xx.

Identities and articles are chosen by the hash slot their keys live in (`redis.crc.key_slot`):
a client's limiter and quota keys share the tag `{<its address>}`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import RedisCluster
from redis.crc import key_slot

from tests.factories import (
    CHEAP_ARGON2,
    PASSWORD,
    TEST_REDIS_URL,
    bearer,
    make_settings,
    running_services,
    until,
)
from threadr.cache import key_for
from threadr.checks import check_redis
from threadr.limits import ratelimit
from threadr.source import validate
from threadr.storage.keys import CACHE_STATS_KEY

from .processes import LocalCluster, threadr_servers

KEY = "cluster-admin-key-0123456789"
ADMIN = {"X-API-Key": KEY, "X-Forwarded-For": "198.51.100.250"}
TEXT = "A cluster spreads keys over masters by hash slot; a hash tag keeps some together. " * 4


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    nodes = LocalCluster(tmp_path)
    try:
        await nodes.start()
        yield nodes
    finally:
        await nodes.stop()


def env_for(cluster: LocalCluster, **more: str) -> dict[str, str]:
    return {
        "REDIS_URL": cluster.url,
        "REDIS_CLUSTER": "true",
        "RATE_LIMIT_BURST": "5",
        "API_KEYS": KEY,
        "ACCESS_LOG": "false",
        **CHEAP_ARGON2,
        **more,
    }


def client(address: str) -> dict[str, str]:
    """A client of its own: uvicorn believes X-Forwarded-For from 127.0.0.1."""
    return {"X-Forwarded-For": address}


async def counted(redis: RedisCluster, hits: int) -> bool:
    """The processes' cache hits have all reached Redis (each flushes once a second)."""
    return await redis.hget(CACHE_STATS_KEY, "hits") == str(hits).encode()


async def check_config_knows_a_cluster_from_a_single_redis(cluster: LocalCluster) -> None:
    said: list[tuple[object, str]] = []

    def say(ok: object, what: str) -> None:
        said.append((ok, what))

    assert await check_redis(make_settings(REDIS_URL=cluster.url, REDIS_CLUSTER="true"), say)
    assert (True, f"Redis Cluster: 3 primaries, learnt from {cluster.url}.") in said
    said.clear()  # a cluster node named without REDIS_CLUSTER: its peers' keys would be MOVED
    assert not await check_redis(make_settings(REDIS_URL=cluster.url), say)
    assert "is a Redis Cluster node: set REDIS_CLUSTER=true" in said[-1][1]
    said.clear()  # and the other way round (PING, INFO and CLUSTER SLOTS only: nothing written)
    single = f"redis://127.0.0.1:{urlsplit(TEST_REDIS_URL).port or 6379}"
    assert not await check_redis(make_settings(REDIS_URL=single, REDIS_CLUSTER="true"), say)
    assert "no Redis Cluster answers" in said[-1][1]


def cache_key(text: str) -> str:
    return key_for(validate(None, text, make_settings()))


async def test_two_processes_share_everything_on_a_cluster(cluster: LocalCluster) -> None:
    await check_config_knows_a_cluster_from_a_single_redis(cluster)
    statuses: list[int] = []
    with threadr_servers(2, env_for(cluster)) as ports:
        a, b = (f"http://127.0.0.1:{port}" for port in ports)
        async with httpx.AsyncClient(timeout=10) as http:

            async def generate(base: str, address: str, text: str = TEXT) -> httpx.Response:
                response = await http.post(
                    f"{base}/api/generate", json={"text": text}, headers=client(address)
                )
                statuses.append(response.status_code)
                return response

            # The limiter, exact across the processes; the miss made on A is a hit on B.
            replies = [await generate((a, b)[i % 2], "203.0.113.7") for i in range(10)]
            assert [r.status_code for r in replies] == [200] * 5 + [429] * 5
            assert [r.headers["x-cache"] for r in replies[:2]] == ["MISS", "HIT"]
            for base in (a, b):  # one generation counted, once, whichever process asks
                usage = await http.get(f"{base}/api/usage/status", headers=client("203.0.113.7"))
                assert usage.json()["daily_usage"] == 1

            # Scripts flushed from every node (as after a failover to a replica that never
            # loaded them) come back by themselves.
            for port in cluster.ports:
                assert await cluster.cli(port, "script", "flush") == b"OK\n"
            first = await generate(a, "203.0.113.8")
            second = await generate(b, "203.0.113.8")
            assert first.headers["ratelimit"] == '"burst";r=4;t=12'
            assert second.headers["ratelimit"].startswith('"burst";r=3;')  # one count, shared

            # Accounts: premium paid for an email before its account exists is claimed at
            # sign-up (two holders, two slots, one call each); sessions and saved threads
            # live under the account's tag.
            granted = await http.post(
                f"{a}/api/premium/grant",
                json={"email": "bob@example.com", "duration_days": 30, "reference": "r-1"},
                headers=ADMIN,
            )
            assert granted.status_code == 200 and granted.json()["holder"] == "email"
            credentials = {"email": "bob@example.com", "password": PASSWORD}
            signed_up = await http.post(
                f"{b}/api/auth/register", json=credentials, headers=client("203.0.113.9")
            )
            assert signed_up.status_code == 201, signed_up.text
            token = (
                await http.post(
                    f"{a}/api/auth/login", json=credentials, headers=client("203.0.113.9")
                )
            ).json()["access_token"]
            me = await http.get(f"{b}/api/auth/me", headers=bearer(token))
            assert me.status_code == 200 and me.json()["email"] == "bob@example.com"
            assert me.json()["is_premium"] is True
            premium = await http.get(f"{a}/api/premium/check", headers=bearer(token))
            assert premium.json()["has_premium"] is True
            sessions = await http.get(f"{b}/api/auth/sessions", headers=bearer(token))
            assert len(sessions.json()["sessions"]) == 2
            saved = await http.post(
                f"{a}/api/generate",
                json={"text": TEXT.replace("masters", "primaries")},
                headers=bearer(token),
            )
            statuses.append(saved.status_code)
            assert saved.status_code == 200
            threads = await http.get(f"{b}/api/threads", headers=bearer(token))
            [thread] = threads.json()["threads"]
            gone = await http.delete(f"{a}/api/threads/{thread['id']}", headers=bearer(token))
            assert gone.status_code == 204
            assert (await http.get(f"{b}/api/threads", headers=bearer(token))).json()[
                "threads"
            ] == []
            assert (
                await http.post(f"{b}/api/auth/logout", headers=bearer(token))
            ).status_code == 204
            assert (await http.get(f"{a}/api/auth/me", headers=bearer(token))).status_code == 401
            subscribed = await http.post(
                f"{b}/api/subscribe", json={"email": "ann@example.org"}, headers=client("::1")
            )
            assert subscribed.status_code == 200

            # The operator's numbers: the primaries added up, the shared counters flushed
            # (polled in Redis, not through the rate-limited API).
            direct = RedisCluster.from_url(cluster.url)
            try:
                await until(lambda: counted(direct, 6), within=10)
            finally:
                await direct.aclose()
            stats = (await http.get(f"{a}/api/cache/stats", headers=ADMIN)).json()
            assert stats["hits"] == 6 and stats["misses"] == 2
            shown = (await http.get(f"{b}/api/analytics/redis-stats", headers=ADMIN)).json()
            assert shown["available"] and shown["cache_entries"] == 2
            assert shown["connected_clients"] >= 2 * len(cluster.ports)  # each process, each node
            assert shown["rate_limit_entries"] is not None
            usage = await http.get(f"{a}/api/usage/analytics?days=1", headers=ADMIN)
            assert usage.status_code == 200 and usage.json()["days"][0]["unique_users"] >= 3
    assert all(status < 500 for status in statuses), statuses


async def test_a_dead_master_takes_only_its_own_keys_away(cluster: LocalCluster) -> None:
    mapper = RedisCluster.from_url(cluster.url)  # the slot map, as the processes learn it
    try:
        await mapper.initialize()
        layout = mapper.nodes_manager
        owners = [int(layout.get_node_from_slot(slot).port) for slot in range(16384)]
    finally:
        await mapper.aclose()

    def port_of(key: str) -> int:
        return owners[key_slot(key.encode())]

    # The victim is not the node REDIS_URL names (a process started later would need it).
    victim = cluster.ports[2]
    addresses = [f"203.0.113.{i}" for i in range(1, 255)]
    alive = [ip for ip in addresses if port_of(f"{{{ip}}}") != victim]
    doomed = [ip for ip in addresses if port_of(f"{{{ip}}}") == victim]
    texts = [f"{TEXT} Variation {i}." for i in range(60)]
    kept = next(t for t in texts if port_of(cache_key(t)) != victim)
    lost = next(t for t in texts if port_of(cache_key(t)) == victim)
    statuses: list[int] = []
    with threadr_servers(2, env_for(cluster)) as ports:
        a, b = (f"http://127.0.0.1:{port}" for port in ports)
        async with httpx.AsyncClient(timeout=10) as http:

            async def generate(base: str, address: str, text: str) -> httpx.Response:
                response = await http.post(
                    f"{base}/api/generate", json={"text": text}, headers=client(address)
                )
                statuses.append(response.status_code)
                return response

            made = await generate(a, alive[0], kept)
            assert made.headers["x-cache"] == "MISS"
            cluster.kill(victim)

            # The entry on a live master: a hit on B, which only ever saw it in Redis.
            assert (await generate(b, alive[1], kept)).headers["x-cache"] == "HIT"
            # The limiter of a client on a live master: still exact across processes.
            replies = [await generate((a, b)[i % 2], alive[2], kept) for i in range(10)]
            assert [r.status_code for r in replies] == [200] * 5 + [429] * 5
            # A generation for a live client whose article's master is dead: counted in
            # Redis (its quota lives on a live master), the entry kept in memory.
            assert (await generate(b, alive[3], lost)).status_code == 200
            for base in (a, b):
                usage = await http.get(f"{base}/api/usage/status", headers=client(alive[3]))
                assert usage.json()["daily_usage"] == 1

            # Clients on the dead master: limited per process in memory, never a 5xx; the
            # entry on a live master is still read from Redis for them.
            for i in range(6):
                replied = await generate((a, b)[i % 2], doomed[0], (kept, lost)[i % 2])
                assert replied.status_code == 200, replied.text
                if i % 2 == 0:
                    assert replied.headers["x-cache"] == "HIT"
            limits = await http.get(f"{a}/api/rate-limit-status", headers=client(doomed[0]))
            assert limits.json()["using_redis"] is False  # degraded, and it says so
            health = await asyncio.gather(*(http.get(f"{base}/health") for base in (a, b)))
            assert all(h.status_code == 200 for h in health)

            # Once the survivors have marked it failed (cluster-node-timeout), they serve on:
            # with cluster-require-full-coverage no, the cluster stays up for their slots.
            async def marked_failed() -> bool:
                nodes = await cluster.cli(cluster.ports[0], "cluster", "nodes")
                return any(
                    f":{victim}@" in line and "fail" in line.split()[2]
                    for line in nodes.decode().splitlines()
                )

            await until(marked_failed, within=10)
            await cluster.wait_until_ok(cluster.ports[0])
            assert (await generate(a, alive[4], kept)).headers["x-cache"] == "HIT"
            assert (await generate(b, doomed[1], lost)).status_code == 200
    assert all(status < 500 for status in statuses), statuses


async def test_a_failover_heals_by_itself_scripts_included(tmp_path: Path) -> None:
    """A master killed, its replica promoted (with no script loaded: Redis does not pass SCRIPT
    LOAD on to replicas): the client learns the new master when the watch finds the old one
    silent, and the first script call there is sent again with EVAL. No restart."""
    nodes = LocalCluster(tmp_path, replicas=1)
    try:
        await nodes.start()
        settings = make_settings(REDIS_URL=nodes.url, REDIS_CLUSTER="true")
        async with running_services(settings) as (http, running):
            # In process, every request comes from 127.0.0.1 (httpx's ASGI transport): the
            # victim is the master of that client's limiter keys.
            limiter = running.admission.limiter
            layout = cast(RedisCluster, limiter.gateway.redis).nodes_manager
            victim = int(layout.get_node_from_slot(key_slot(b"127.0.0.1")).port)
            before = await http.post("/api/generate", json={"text": TEXT})
            assert before.headers["ratelimit"].startswith('"burst";r=9;')
            nodes.kill(victim)

            survivor = next(port for port in nodes.masters if port != victim)

            async def promoted() -> bool:
                return len(await nodes.serving(survivor) - set(nodes.masters)) == 1

            await until(promoted, within=15)
            [successor] = await nodes.serving(survivor) - set(nodes.masters)
            sha = ratelimit.TIER_SCRIPT.sha
            assert await nodes.cli(successor, "script", "exists", sha) == b"0\n"

            async def limited_in_redis() -> bool:
                status = await http.get("/api/rate-limit-status")
                return bool(status.json()["using_redis"])

            await until(limited_in_redis, within=15)  # the watch learns the slots anew
            after = await http.post("/api/generate", json={"text": TEXT})
            assert after.status_code == 200 and after.headers["x-cache"] == "HIT"
            assert limiter.counts["allowed"] == 2 and limiter.counts["degraded"] == 0
            assert await nodes.cli(successor, "script", "exists", sha) == b"1\n"  # EVAL'd
    finally:
        await nodes.stop()
