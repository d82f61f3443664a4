"""Admission: the limiter decides and the cache entry rides along in the same call; without a
decision made in Redis, the cache answers on its own; the quota pays for misses."""

from __future__ import annotations

from typing import Any

from fakeredis.aioredis import FakeRedis

from tests.factories import BrokenRedis, CountingRedis, limit_settings, make_gateway
from threadr.cache import CacheEntry, ThreadCache, encode_entry
from threadr.limits.admission import Admission, QuotaAccount
from threadr.limits.quota import Quota
from threadr.limits.ratelimit import SCRIPT, Limiter
from threadr.writing.thread import Tweet

KEY = "threadr:cache:v1:text:" + "ab" * 32
ENTRY = CacheEntry.new([Tweet(1, 1, "1/1 Hello.", 10)], "text", None, "offline", 0.0)


def admission(redis: Any, **limits: Any) -> Admission:
    gateway = make_gateway(redis)
    cache = ThreadCache(gateway, ttl_seconds=60, memory_entries=10)
    return Admission(Limiter(gateway, limit_settings(**limits)), cache)


async def test_a_hit_is_one_command_and_counted(fake: FakeRedis) -> None:
    counting = CountingRedis(server=fake.connection_pool.connection_kwargs["server"])
    await fake.set(KEY, encode_entry(ENTRY))
    door = admission(counting)
    await door.limiter.gateway.load(SCRIPT)  # as at start-up
    counting.commands = []
    decision, entry = await door.enter("203.0.113.1", KEY)
    assert (decision.allowed, decision.reason, entry) == (True, "allowed", ENTRY)
    assert counting.commands == ["EVALSHA"]
    decision, entry = await door.enter("203.0.113.1", KEY.replace("ab", "cd"))
    assert entry is None
    assert (door.cache.hits, door.cache.misses) == (1, 1)


async def test_a_denial_reads_nothing(fake: FakeRedis) -> None:
    await fake.set(KEY, encode_entry(ENTRY))
    door = admission(fake, burst=1)
    await door.enter("203.0.113.2", KEY)
    decision, entry = await door.enter("203.0.113.2", KEY)
    assert (decision.allowed, decision.reason, entry) == (False, "denied", None)
    assert (door.cache.hits, door.cache.misses) == (1, 0)


async def test_with_the_limiter_off_the_cache_answers_alone(fake: FakeRedis) -> None:
    await fake.set(KEY, encode_entry(ENTRY))
    door = admission(fake, enabled=False)
    decision, entry = await door.enter("203.0.113.3", KEY)
    assert (decision.reason, entry) == ("disabled", ENTRY)
    assert await fake.keys("threadr:rl:*") == []


async def test_with_redis_down_the_memory_cache_answers() -> None:
    door = admission(BrokenRedis())
    door.cache.memory.set(KEY, encode_entry(ENTRY), 60)
    decision, entry = await door.enter("203.0.113.4", KEY)
    assert (decision.allowed, decision.reason, entry) == (True, "degraded", ENTRY)


async def test_the_quota_account_reserves_and_refunds() -> None:
    quota = Quota(make_gateway(None), limit_settings(free_tier_daily_limit=1))
    account = QuotaAccount(quota, "203.0.113.5")
    await account.reserve()
    assert (await quota.status("203.0.113.5")).daily_usage == 1
    await account.refund()
    assert (await quota.status("203.0.113.5")).daily_usage == 0
