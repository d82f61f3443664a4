"""The quota on a real Redis: exact reservations across clients, refunds, rollover and TTLs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from tests.factories import TEST_REDIS_URL, Clock, limit_settings, make_gateway
from threadr.errors import QuotaExceeded
from threadr.limits.quota import QUOTA_TTL_MARGIN, Quota, UsageStatus


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(utc(2025, 1, 10, 12).timestamp())


async def reserve_n(quota: Quota, n: int, identity: str = "203.0.113.4") -> list[UsageStatus]:
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
    assert sum(isinstance(r, UsageStatus) for r in results) == 5
    assert sum(isinstance(r, QuotaExceeded) for r in results) == 45
    status = await Quota(make_gateway(redis), settings, clock=clock).status("203.0.113.4")
    assert (status.daily_usage, status.monthly_usage) == (10, 10)


async def test_refund_rollover_and_ttl_on_redis(redis: Redis, clock: Clock) -> None:
    clock.t = utc(2024, 2, 29, 22).timestamp()  # a leap day, in the past: TTLs are relative
    quota = Quota(make_gateway(redis), limit_settings(free_tier_daily_limit=2), clock=clock)
    await reserve_n(quota, 2, "user:9")
    await redis.script_flush()
    await quota.refund("user:9")
    assert (await quota.reserve("user:9")).daily_usage == 2
    ttl = await redis.ttl("threadr:quota:{user:9}:d:20240229")
    assert 7200 + QUOTA_TTL_MARGIN - 5 <= ttl <= 7200 + QUOTA_TTL_MARGIN
    clock.t = utc(2024, 3, 1).timestamp()
    status = await quota.reserve("user:9")
    assert (status.daily_usage, status.monthly_usage) == (1, 1)
