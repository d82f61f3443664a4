"""Admission: the limiter decides and the cache entry rides along in the same call (for a
signed-in request, its session lookup too); without a decision made in Redis, the cache answers
on its own; the quota pays for misses."""

from __future__ import annotations

from typing import Any

import pytest
from fakeredis.aioredis import FakeRedis

from tests.factories import BrokenRedis, CountingRedis, limit_settings, make_gateway
from threadr.accounts.auth import Auth
from threadr.accounts.passwords import Passwords
from threadr.accounts.premium import Premium, account_holder
from threadr.accounts.sessions import Sessions, new_user_id
from threadr.accounts.users import Accounts
from threadr.cache import CacheEntry, ThreadCache, encode_entry
from threadr.errors import ServiceUnavailable, Unauthorized
from threadr.limits.admission import ACCOUNT_SCRIPT, Admission, QuotaAccount
from threadr.limits.quota import Quota
from threadr.limits.ratelimit import TIER_SCRIPT, Limiter
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
    await door.limiter.gateway.load(TIER_SCRIPT)  # as at start-up
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


# --- signed in: the session lookup, the rate limit and the cache read in one call -----------


def signed_in_door(redis: Any, **limits: Any) -> tuple[Admission, Sessions, Premium]:
    gateway = make_gateway(redis)
    sessions = Sessions(gateway, ttl_seconds=3600, max_seconds=7200, per_account=5)
    premium = Premium(gateway)
    passwords = Passwords(time_cost=1, memory_kib=8, parallelism=1)
    auth = Auth(Accounts(gateway), sessions, premium, passwords)
    cache = ThreadCache(gateway, ttl_seconds=60, memory_entries=10)
    return Admission(Limiter(gateway, limit_settings(**limits)), cache, auth), sessions, premium


async def test_a_signed_in_hit_is_one_command(fake: FakeRedis) -> None:
    counting = CountingRedis(server=fake.connection_pool.connection_kwargs["server"])
    await fake.set(KEY, encode_entry(ENTRY))
    door, sessions, _ = signed_in_door(counting, burst=2)
    user = new_user_id()
    token, _ = await sessions.open(user, "ann@example.com", "198.51.100.1", "test")
    await door.limiter.gateway.load(ACCOUNT_SCRIPT)  # as at start-up
    counting.commands = []
    session, premium, decision, entry = await door.enter_account(token, KEY)
    assert counting.commands == ["EVALSHA"]
    assert (session.user_id, session.email, premium) == (user, "ann@example.com", False)
    assert (decision.allowed, decision.reason, entry) == (True, "allowed", ENTRY)
    assert decision.policy("burst").remaining == 1  # type: ignore[union-attr]
    assert await fake.exists(f"threadr:rl:{{user:{user}}}:tier")
    await door.enter_account(token, KEY)
    denied = await door.enter_account(token, KEY)
    assert (denied[2].allowed, denied[3]) == (False, None)  # nothing read when denied
    assert door.limiter.counts["allowed"] == 2 and door.limiter.counts["denied"] == 1


async def test_a_token_without_a_live_session_consumes_nothing(fake: FakeRedis) -> None:
    door, sessions, _ = signed_in_door(fake)
    user = new_user_id()
    token, _ = await sessions.open(user, "ann@example.com", "198.51.100.1", "test")
    forged = token[:-4] + "AAAA"  # the account's id, but no session of its own
    for bad in (forged, "not a token"):
        with pytest.raises(Unauthorized):
            await door.enter_account(bad, KEY)
    assert await fake.keys("threadr:rl:*") == []
    session, *_ = await door.enter_account(token, KEY)
    await sessions.close(session)
    with pytest.raises(Unauthorized):
        await door.enter_account(token, KEY)


async def test_a_premium_account_is_limited_on_its_own_tier(fake: FakeRedis) -> None:
    door, sessions, premium = signed_in_door(fake, requests=1, premium_requests=5)
    user = new_user_id()
    token, _ = await sessions.open(user, "ann@example.com", "198.51.100.1", "test")
    await door.enter_account(token, KEY)
    assert not (await door.enter_account(token, KEY))[2].allowed  # the free tier's one is used
    await premium.extend(account_holder(user), 30, "test-grant", "test")
    session, is_premium, decision, _ = await door.enter_account(token, KEY)
    assert is_premium and session.premium_until is not None
    assert decision.allowed and decision.tier[1] == ("hourly", 5, 3600)
    assert await fake.exists(f"threadr:rl:{{user:{user}}}:tier:premium")


async def test_signed_in_without_the_folded_call(fake: FakeRedis) -> None:
    """The limiter off: the session lookup, then the cache on its own (as on a cluster)."""
    await fake.set(KEY, encode_entry(ENTRY))
    door, sessions, _ = signed_in_door(fake, enabled=False)
    token, _ = await sessions.open(new_user_id(), "ann@example.com", "198.51.100.1", "test")
    _, premium, decision, entry = await door.enter_account(token, KEY)
    assert (premium, decision.reason, entry) == (False, "disabled", ENTRY)


async def test_signed_in_without_redis_is_a_503() -> None:
    door, *_ = signed_in_door(BrokenRedis())
    with pytest.raises(ServiceUnavailable):
        await door.enter_account("thr_" + "a" * 24 + "_" + "b" * 43, KEY)
