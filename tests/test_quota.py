"""The free-tier quota: UTC day/month counting on fakeredis and in memory; atomic reservations
under concurrency on a real Redis (TEST_REDIS_URL, marked integration)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fakeredis.aioredis import FakeRedis
from redis.asyncio import Redis
from redis.crc import key_slot

from threadr.breaker import CircuitBreaker
from threadr.config import Settings
from threadr.errors import ConfigError, QuotaExceeded
from threadr.quota import QUOTA_TTL_MARGIN, MemoryCounts, Quota, QuotaSettings, UsageStatus

from .conftest import TEST_REDIS_URL, BrokenRedis

# The same database as conftest.py's `redis` fixture, which flushes it around each test.

STATUS_FIELDS = [
    "daily_usage",
    "daily_limit",
    "daily_remaining",
    "monthly_usage",
    "monthly_limit",
    "monthly_remaining",
    "has_premium",
    "premium_expires_at",
    "free_tier_enabled",
]


class Clock:
    """A settable UTC wall clock."""

    def __init__(self, when: datetime) -> None:
        self.t = when.timestamp()

    def __call__(self) -> float:
        return self.t

    def set(self, when: datetime) -> None:
        self.t = when.timestamp()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(utc(2025, 1, 10, 12, 0))


MakeQuota = Callable[..., Quota]


@pytest.fixture
def make_quota(fake: FakeRedis, clock: Clock) -> MakeQuota:
    def make(redis: Any = fake, *, breaker: CircuitBreaker | None = None, **kw: Any) -> Quota:
        return Quota(redis, QuotaSettings(**kw), clock=clock, breaker=breaker)

    return make


async def reserve_n(quota: Quota, n: int, identity: str = "203.0.113.4") -> list[UsageStatus]:
    return [await quota.reserve(identity) for _ in range(n)]


async def test_daily_limit(make_quota: MakeQuota) -> None:
    quota = make_quota()
    statuses = await reserve_n(quota, 5)
    assert [s.daily_usage for s in statuses] == [1, 2, 3, 4, 5]
    assert statuses[-1].daily_remaining == 0
    assert statuses[-1].monthly_remaining == 15
    with pytest.raises(QuotaExceeded) as caught:
        await quota.reserve("203.0.113.4")
    err = caught.value
    assert (err.status, err.code) == (402, "quota_exceeded")
    assert "today" in err.detail
    assert list(err.extra["usage"]) == STATUS_FIELDS
    assert err.extra["usage"]["daily_usage"] == 5
    after = await quota.status("203.0.113.4")
    assert (after.daily_usage, after.monthly_usage) == (5, 5)  # the refusal took nothing


async def test_day_and_month_rollover(make_quota: MakeQuota, clock: Clock) -> None:
    quota = make_quota(daily_limit=5, monthly_limit=12)
    clock.set(utc(2025, 1, 29, 9, 0))
    await reserve_n(quota, 5)
    clock.set(datetime(2025, 1, 30, 23, 59, 59, 999_000, tzinfo=UTC))
    await reserve_n(quota, 5)
    with pytest.raises(QuotaExceeded, match="today"):
        await quota.reserve("203.0.113.4")
    clock.set(utc(2025, 1, 31))  # one millisecond later: a new UTC day
    assert [s.monthly_usage for s in await reserve_n(quota, 2)] == [11, 12]
    with pytest.raises(QuotaExceeded, match="month") as caught:
        await quota.reserve("203.0.113.4")
    usage = caught.value.extra["usage"]
    assert (usage["daily_usage"], usage["daily_remaining"]) == (2, 3)
    assert (usage["monthly_usage"], usage["monthly_remaining"]) == (12, 0)
    clock.set(utc(2025, 2, 1))
    status = await quota.reserve("203.0.113.4")
    assert (status.daily_usage, status.monthly_usage) == (1, 1)


async def test_refund_undoes_one_and_never_goes_negative(make_quota: MakeQuota) -> None:
    quota = make_quota()
    await reserve_n(quota, 2)
    await quota.refund("203.0.113.4")
    status = await quota.status("203.0.113.4")
    assert (status.daily_usage, status.monthly_usage) == (1, 1)
    for _ in range(3):
        await quota.refund("203.0.113.4")
    status = await quota.status("203.0.113.4")
    assert (status.daily_usage, status.monthly_usage) == (0, 0)
    assert len(await reserve_n(quota, 5)) == 5  # refunds never mint extra credit


async def test_premium_is_unlimited_and_uncounted(make_quota: MakeQuota) -> None:
    quota = make_quota()
    for _ in range(30):
        status = await quota.reserve("user:7", premium=True)
    assert status.has_premium
    assert status.daily_usage == 0
    assert (await quota.status("user:7")).daily_remaining == 5


async def test_disabled_free_tier(make_quota: MakeQuota, fake: Any) -> None:
    quota = make_quota(enabled=False)
    statuses = await reserve_n(quota, 10)
    assert not statuses[-1].free_tier_enabled
    assert statuses[-1].daily_usage == 0
    await quota.refund("203.0.113.4")
    assert await fake.keys("*") == []


async def test_status_fields(make_quota: MakeQuota) -> None:
    status = await make_quota().status("user:1", premium=True)
    assert status.to_dict() == dict(
        daily_usage=0,
        daily_limit=5,
        daily_remaining=5,
        monthly_usage=0,
        monthly_limit=20,
        monthly_remaining=20,
        has_premium=True,
        premium_expires_at=None,
        free_tier_enabled=True,
    )
    assert list(status.to_dict()) == STATUS_FIELDS


async def test_keys_share_a_slot_and_expire_after_their_period(
    make_quota: MakeQuota, fake: Any, clock: Clock
) -> None:
    clock.set(utc(2025, 1, 31, 23, 0))
    await make_quota().reserve("a}b{c")
    keys = sorted(k.decode() for k in await fake.keys("*"))
    assert [k.rsplit(":", 2)[1:] for k in keys] == [["d", "20250131"], ["m", "202501"]]
    assert all(k.startswith("threadr:quota:{#") for k in keys)  # hashed: braces in the identity
    assert key_slot(keys[0].encode()) == key_slot(keys[1].encode())
    day_ttl, month_ttl = [await fake.ttl(k) for k in keys]
    assert day_ttl == month_ttl == 3600 + QUOTA_TTL_MARGIN


async def test_script_flush_is_invisible(make_quota: MakeQuota, fake: Any) -> None:
    quota = make_quota()
    await quota.reserve("u")
    await fake.script_flush()
    assert (await quota.reserve("u")).daily_usage == 2


async def test_redis_down_counts_in_memory(make_quota: MakeQuota) -> None:
    broken = BrokenRedis()
    quota = make_quota(broken, breaker=CircuitBreaker(threshold=2))
    assert [s.daily_usage for s in await reserve_n(quota, 5)] == [1, 2, 3, 4, 5]
    with pytest.raises(QuotaExceeded):
        await quota.reserve("203.0.113.4")
    assert (await quota.status("203.0.113.4")).daily_usage == 5
    assert broken.calls == 2  # the breaker kept the rest away from Redis


async def test_redis_counts_win_when_it_returns(make_quota: MakeQuota, fake: Any) -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown=5, clock=lambda: now[0])
    quota = make_quota(breaker=breaker)
    await quota.reserve("u")  # counted in Redis
    breaker.failure()  # Redis "goes away": the breaker is open
    assert [s.daily_usage for s in await reserve_n(quota, 3, "u")] == [1, 2, 3]  # in memory
    now[0] = 5  # cooldown over: the next call probes Redis, which answers
    assert (await quota.reserve("u")).daily_usage == 2  # outage usage is forgiven, not merged


async def test_without_redis_it_counts_in_memory(make_quota: MakeQuota, clock: Clock) -> None:
    quota = make_quota(None, daily_limit=1)
    await quota.reserve("u")
    with pytest.raises(QuotaExceeded):
        await quota.reserve("u")
    await quota.refund("u")
    await quota.refund("u")
    assert (await quota.reserve("u")).monthly_usage == 1
    clock.set(utc(2025, 1, 11))
    assert (await quota.reserve("u")).daily_usage == 1
    assert len(quota.memory._counts) == 2  # yesterday's count was dropped


def test_settings_come_from_config_settings() -> None:
    assert QuotaSettings.from_settings(Settings()) == QuotaSettings()
    custom = Settings.from_env({"FREE_TIER_DAILY_LIMIT": "2", "FREE_TIER_ENABLED": "false"})
    assert QuotaSettings.from_settings(custom) == QuotaSettings(enabled=False, daily_limit=2)
    with pytest.raises(ConfigError):
        QuotaSettings(daily_limit=-1)


async def test_memory_counts_stay_bounded(clock: Clock) -> None:
    quota = Quota(None, clock=clock, memory=MemoryCounts(max_keys=10))
    for i in range(20):
        await quota.reserve(f"u{i}")
    assert len(quota.memory._counts) <= 10


# --- integration: a real Redis ----------------------------------------------------------------


@pytest.mark.integration
async def test_concurrent_reservations_are_exact(redis: Redis, clock: Clock) -> None:
    settings = QuotaSettings(daily_limit=10, monthly_limit=100)
    await reserve_n(Quota(redis, settings, clock=clock), 5)  # 5 left today
    clients = [Redis.from_url(TEST_REDIS_URL, max_connections=20) for _ in range(5)]
    quotas = [Quota(c, settings, clock=clock) for c in clients]
    try:
        results = await asyncio.gather(
            *(quotas[i % 5].reserve("203.0.113.4") for i in range(50)), return_exceptions=True
        )
    finally:
        for c in clients:
            await c.aclose()
    assert sum(isinstance(r, UsageStatus) for r in results) == 5
    assert sum(isinstance(r, QuotaExceeded) for r in results) == 45
    status = await Quota(redis, settings, clock=clock).status("203.0.113.4")
    assert (status.daily_usage, status.monthly_usage) == (10, 10)


@pytest.mark.integration
async def test_refund_rollover_and_ttl_on_redis(redis: Redis, clock: Clock) -> None:
    clock.set(utc(2024, 2, 29, 22, 0))  # a leap day, in the past: TTLs are relative
    quota = Quota(redis, QuotaSettings(daily_limit=2), clock=clock)
    await reserve_n(quota, 2, "user:9")
    await redis.script_flush()
    await quota.refund("user:9")
    assert (await quota.reserve("user:9")).daily_usage == 2
    ttl = await redis.ttl("threadr:quota:{user:9}:d:20240229")
    assert 7200 + QUOTA_TTL_MARGIN - 5 <= ttl <= 7200 + QUOTA_TTL_MARGIN
    clock.set(utc(2024, 3, 1))
    status = await quota.reserve("user:9")
    assert (status.daily_usage, status.monthly_usage) == (1, 1)
