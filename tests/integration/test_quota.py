"""The quota on a real Redis: exact reservations across clients, refunds, rollover and TTLs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from tests.factories import TEST_REDIS_URL, Clock, limit_settings, make_gateway
from threadr.errors import QuotaExceeded
from threadr.limits.admission import QuotaAccount
from threadr.limits.quota import QUOTA_TTL_MARGIN, Quota, Reservation


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(utc(2025, 1, 10, 12).timestamp())


async def reserve_n(quota: Quota, n: int, identity: str = "203.0.113.4") -> list[Reservation]:
    return [await quota.reserve(identity) for _ in range(n)]


async def test_concurrent_reservations_are_exact(redis: Redis, clock: Clock) -> None:
    settings = limit_settings(free_tier_daily_limit=10, free_tier_monthly_limit=100)
    await reserve_n(Quota(make_gateway(redis), settings, clock=clock), 5)  # 5 left today
    clients = [Redis.from_url(TEST_REDIS_URL, max_connections=20) for _ in range(5)]
    quotas = [Quota(make_gateway(c), settings, clock=clock) for c in clients]
    try:
        results = await asyncio.gather(
            *(quotas[i % 5].reserve("203.0.113.4") for i in range(50)), return_exceptions=True
        )
    finally:
        for c in clients:
            await c.aclose()
    assert sum(isinstance(r, Reservation) for r in results) == 5
    assert sum(isinstance(r, QuotaExceeded) for r in results) == 45
    status = await Quota(make_gateway(redis), settings, clock=clock).status("203.0.113.4")
    assert (status.daily_usage, status.monthly_usage) == (10, 10)


async def test_refund_rollover_and_ttl_on_redis(redis: Redis, clock: Clock) -> None:
    clock.t = utc(2024, 2, 29, 22).timestamp()  # a leap day, in the past: TTLs are relative
    quota = Quota(make_gateway(redis), limit_settings(free_tier_daily_limit=2), clock=clock)
    reservations = await reserve_n(quota, 2, "user:9")
    await redis.script_flush()
    await quota.refund(reservations[-1])
    assert (await quota.reserve("user:9")).usage.daily_usage == 2
    ttl = await redis.ttl("threadr:quota:{user:9}:d:20240229")
    assert 7200 + QUOTA_TTL_MARGIN - 5 <= ttl <= 7200 + QUOTA_TTL_MARGIN
    clock.t = utc(2024, 3, 1).timestamp()
    status = (await quota.reserve("user:9")).usage
    assert (status.daily_usage, status.monthly_usage) == (1, 1)


async def test_a_refund_after_midnight_goes_back_to_its_own_day_on_redis(
    redis: Redis, clock: Clock
) -> None:
    """The script decrements the counters the reservation was counted in (23:59:59 on the last
    day of a month), not the new day's and month's (00:00:01)."""
    quota = Quota(make_gateway(redis), limit_settings(), clock=clock)
    clock.t = datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    late = QuotaAccount(quota, "user:9")
    await late.reserve()
    clock.t = datetime(2025, 2, 1, 0, 0, 1, tzinfo=UTC).timestamp()
    await QuotaAccount(quota, "user:9").reserve()
    await late.refund()
    tag = "threadr:quota:{user:9}"
    old = await redis.mget(f"{tag}:d:20250131", f"{tag}:m:202501")
    new = await redis.mget(f"{tag}:d:20250201", f"{tag}:m:202502")
    assert (old, new) == ([b"0", b"0"], [b"1", b"1"])


@pytest.mark.parametrize("corrupt", [b"garbage", b"2.5", b"-4", b"9" * 20, "hash"])
async def test_a_corrupt_count_is_no_error_on_redis(
    redis: Redis, clock: Clock, corrupt: bytes | str
) -> None:
    """Redis's own Lua (5.1) reads what the app's reader reads: 0, and no script error (which
    the gateway would count as Redis failing)."""
    gateway = make_gateway(redis)
    quota = Quota(gateway, limit_settings(), clock=clock)
    day = "threadr:quota:{user:9}:d:20250110"
    if corrupt == "hash":
        await redis.hset(day, "n", "1")  # the wrong type altogether
    else:
        await redis.set(day, corrupt)
    assert (await quota.status("user:9")).daily_usage == 0
    account = QuotaAccount(quota, "user:9")
    await account.refund()  # nothing reserved yet: a no-op
    await account.reserve()
    assert await redis.get(day) == b"1"  # a real count replaced it
    await account.refund()
    assert await redis.get(day) == b"0" and gateway.available
