"""The free-tier quota: UTC day/month counting on fakeredis and in memory (atomic reservations
under concurrency on a real Redis are in integration/)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from fakeredis.aioredis import FakeRedis
from redis.crc import key_slot

from tests.factories import BrokenRedis, Clock, limit_settings, make_gateway, make_settings
from threadr.errors import ConfigError, QuotaExceeded
from threadr.limits.admission import QuotaAccount
from threadr.limits.quota import QUOTA_TTL_MARGIN, MemoryCounts, Quota, Reservation, UsageStatus
from threadr.storage.breaker import CircuitBreaker

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
    "degraded",
]


class UTCClock(Clock):
    """A settable UTC wall clock."""

    def set(self, when: datetime) -> None:
        self.t = when.timestamp()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


@pytest.fixture
def clock() -> UTCClock:
    return UTCClock(utc(2025, 1, 10, 12, 0).timestamp())


MakeQuota = Callable[..., Quota]


@pytest.fixture
def make_quota(fake: FakeRedis, clock: UTCClock) -> MakeQuota:
    def make(redis: Any = fake, *, breaker: CircuitBreaker | None = None, **kw: Any) -> Quota:
        settings = limit_settings(**{f"free_tier_{k}": v for k, v in kw.items()})
        return Quota(make_gateway(redis, breaker=breaker), settings, clock=clock)

    return make


async def reserve_n(quota: Quota, n: int, identity: str = "203.0.113.4") -> list[Reservation]:
    return [await quota.reserve(identity) for _ in range(n)]


async def usage_n(quota: Quota, n: int, identity: str = "203.0.113.4") -> list[UsageStatus]:
    return [r.usage for r in await reserve_n(quota, n, identity)]


async def test_daily_limit(make_quota: MakeQuota) -> None:
    quota = make_quota()
    statuses = await usage_n(quota, 5)
    assert [s.daily_usage for s in statuses] == [1, 2, 3, 4, 5]
    assert statuses[-1].daily_remaining == 0
    assert statuses[-1].monthly_remaining == 15
    with pytest.raises(QuotaExceeded) as caught:
        await quota.reserve("203.0.113.4")
    err = caught.value
    assert (err.status, err.code) == (402, "quota_exceeded")
    assert "today" in err.detail
    assert list(msgspec.structs.asdict(err.extra["usage"])) == STATUS_FIELDS
    assert err.extra["usage"].daily_usage == 5
    after = await quota.status("203.0.113.4")
    assert (after.daily_usage, after.monthly_usage) == (5, 5)  # the refusal took nothing


async def test_day_and_month_rollover(make_quota: MakeQuota, clock: UTCClock) -> None:
    quota = make_quota(daily_limit=5, monthly_limit=12)
    clock.set(utc(2025, 1, 29, 9, 0))
    await reserve_n(quota, 5)
    clock.set(datetime(2025, 1, 30, 23, 59, 59, 999_000, tzinfo=UTC))
    await reserve_n(quota, 5)
    with pytest.raises(QuotaExceeded, match="today"):
        await quota.reserve("203.0.113.4")
    clock.set(utc(2025, 1, 31))  # one millisecond later: a new UTC day
    assert [s.monthly_usage for s in await usage_n(quota, 2)] == [11, 12]
    with pytest.raises(QuotaExceeded, match="month") as caught:
        await quota.reserve("203.0.113.4")
    usage = caught.value.extra["usage"]
    assert (usage.daily_usage, usage.daily_remaining) == (2, 3)
    assert (usage.monthly_usage, usage.monthly_remaining) == (12, 0)
    clock.set(utc(2025, 2, 1))
    status = (await quota.reserve("203.0.113.4")).usage
    assert (status.daily_usage, status.monthly_usage) == (1, 1)


async def test_refund_undoes_one_and_never_goes_negative(make_quota: MakeQuota) -> None:
    quota = make_quota()
    first, second = await reserve_n(quota, 2)
    await quota.refund(second)
    status = await quota.status("203.0.113.4")
    assert (status.daily_usage, status.monthly_usage) == (1, 1)
    for _ in range(3):
        await quota.refund(first)
    status = await quota.status("203.0.113.4")
    assert (status.daily_usage, status.monthly_usage) == (0, 0)
    assert len(await reserve_n(quota, 5)) == 5  # refunds never mint extra credit


async def test_premium_is_unlimited_and_uncounted(make_quota: MakeQuota) -> None:
    quota = make_quota()
    for _ in range(30):
        reservation = await quota.reserve("user:7", premium=True)
        await quota.refund(reservation)  # nothing was counted: nothing to give back
    status = reservation.usage
    assert status.has_premium
    assert status.daily_usage == 0
    assert (await quota.status("user:7")).daily_remaining == 5


async def test_disabled_free_tier(make_quota: MakeQuota, fake: Any) -> None:
    quota = make_quota(enabled=False)
    statuses = await usage_n(quota, 10)
    assert not statuses[-1].free_tier_enabled
    assert statuses[-1].daily_usage == 0
    await quota.refund(await quota.reserve("203.0.113.4"))
    assert await fake.keys("*") == []


async def test_status_fields(make_quota: MakeQuota) -> None:
    status = await make_quota().status("user:1", premium=True)
    assert msgspec.structs.asdict(status) == dict(
        daily_usage=0,
        daily_limit=5,
        daily_remaining=5,
        monthly_usage=0,
        monthly_limit=20,
        monthly_remaining=20,
        has_premium=True,
        premium_expires_at=None,
        free_tier_enabled=True,
        degraded=False,
    )
    assert list(msgspec.structs.asdict(status)) == STATUS_FIELDS


async def test_keys_share_a_slot_and_expire_after_their_period(
    make_quota: MakeQuota, fake: Any, clock: UTCClock
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
    assert (await quota.reserve("u")).usage.daily_usage == 2


async def test_redis_down_counts_in_memory(make_quota: MakeQuota) -> None:
    broken = BrokenRedis()
    quota = make_quota(broken, breaker=CircuitBreaker())
    assert [s.daily_usage for s in await usage_n(quota, 5)] == [1, 2, 3, 4, 5]
    with pytest.raises(QuotaExceeded):
        await quota.reserve("203.0.113.4")
    assert (await quota.status("203.0.113.4")).daily_usage == 5
    assert broken.calls == 1  # the breaker, open at the first failure, kept the rest away


async def test_redis_counts_win_when_it_returns(make_quota: MakeQuota, fake: Any) -> None:
    breaker = CircuitBreaker()
    quota = make_quota(breaker=breaker)
    await quota.reserve("u")  # counted in Redis
    breaker.open("test")  # Redis "goes away": the breaker is open
    assert [s.daily_usage for s in await usage_n(quota, 3, "u")] == [1, 2, 3]  # in memory
    assert (await quota.status("u")).degraded
    breaker.close()  # the watch's probe found Redis answering again
    assert not (await quota.status("u")).degraded
    assert (await quota.reserve("u")).usage.daily_usage == 2  # outage usage is forgiven


async def test_without_redis_it_counts_in_memory(make_quota: MakeQuota, clock: UTCClock) -> None:
    quota = make_quota(None, daily_limit=1)
    reservation = await quota.reserve("u")
    with pytest.raises(QuotaExceeded):
        await quota.reserve("u")
    await quota.refund(reservation)
    await quota.refund(reservation)
    assert (await quota.reserve("u")).usage.monthly_usage == 1
    clock.set(utc(2025, 1, 11))
    assert (await quota.reserve("u")).usage.daily_usage == 1
    assert len(quota.memory._counts) == 2  # yesterday's count was dropped


def test_limits_come_from_the_settings_alone() -> None:
    custom = make_settings(FREE_TIER_DAILY_LIMIT="2", FREE_TIER_ENABLED="false")
    quota = Quota(make_gateway(None), custom)
    assert (quota.enabled, quota.limits) == (False, (2, 20))
    with pytest.raises(ConfigError, match="FREE_TIER_DAILY_LIMIT"):
        make_settings(FREE_TIER_DAILY_LIMIT="-1")


async def test_memory_counts_stay_bounded(clock: UTCClock) -> None:
    quota = Quota(
        make_gateway(None), limit_settings(), clock=clock, memory=MemoryCounts(max_keys=10)
    )
    for i in range(20):
        await quota.reserve(f"u{i}")
    assert len(quota.memory._counts) <= 10


async def counts(fake: Any, identity: str, *periods: str) -> list[int | None]:
    """The stored counters of `identity` for these periods ("d:20250131", "m:202501" …)."""
    values = [await fake.get(f"threadr:quota:{{{identity}}}:{p}") for p in periods]
    return [None if v is None else int(v) for v in values]


@pytest.mark.parametrize("redis", ["fake", None])
async def test_a_refund_after_midnight_goes_back_to_the_day_it_was_counted_in(
    make_quota: MakeQuota, fake: Any, clock: UTCClock, redis: str | None
) -> None:
    """Reserved at 23:59:59 on the last day of a month, refunded at 00:00:01: the day and month
    that counted it give it back; the new ones, already counting another, are untouched."""
    quota = make_quota(fake if redis else None)
    clock.set(utc(2025, 1, 31, 23, 59, 59))
    late = QuotaAccount(quota, "u")
    await late.reserve()
    clock.set(utc(2025, 2, 1, 0, 0, 1))
    await QuotaAccount(quota, "u").reserve()  # the new day's first
    await late.refund()  # the generation started before midnight failed
    status = await quota.status("u")
    assert (status.daily_usage, status.monthly_usage) == (1, 1)
    if redis:
        assert await counts(fake, "u", "d:20250131", "m:202501") == [0, 0]


async def test_a_reservation_counted_in_memory_is_refunded_in_memory(
    make_quota: MakeQuota, fake: Any
) -> None:
    """Made during an outage, refunded once Redis is back: Redis never counted it, so its
    count (of reservations made before the outage) is left alone."""
    breaker = CircuitBreaker()
    quota = make_quota(breaker=breaker)
    await reserve_n(quota, 3, "u")  # counted in Redis
    breaker.open("test")  # Redis goes away
    during = QuotaAccount(quota, "u")
    await during.reserve()  # counted in memory
    breaker.close()  # Redis is back (the watch's probe found it answering)
    await during.refund()
    assert (await quota.status("u")).daily_usage == 3
    assert await counts(fake, "u", "d:20250110") == [3]
    assert set(quota.memory._counts.values()) == {0}  # the memory count gave it back


async def test_a_reservation_counted_in_redis_is_not_refunded_in_memory(
    make_quota: MakeQuota,
) -> None:
    """Refunding Redis's reservation from memory would hand out outage credit that nobody
    used; while Redis is away such a refund is lost (logged) instead."""
    breaker = CircuitBreaker()
    quota = make_quota(breaker=breaker)
    breaker.open("test")
    await QuotaAccount(quota, "u").reserve()  # an outage's reservation, in memory
    breaker.close()
    in_redis = QuotaAccount(quota, "u")
    await in_redis.reserve()  # Redis is back and counts this one
    assert not breaker.is_open
    breaker.open("test")  # away again
    await in_redis.refund()
    assert quota.memory._counts[b"threadr:quota:{u}:d:20250110"] == 1


async def test_a_corrupt_count_reads_as_zero_and_is_replaced(
    make_quota: MakeQuota, fake: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored count that is not a whole number we wrote: no 500 and no Redis failure; it
    counts as nothing, and the next reservation writes a real count over it."""
    breaker = CircuitBreaker()
    quota = make_quota(breaker=breaker)
    day, month = "threadr:quota:{u}:d:20250110", "threadr:quota:{u}:m:202501"
    await fake.set(day, b"garbage")
    await fake.set(month, b"2.5")
    with caplog.at_level(logging.WARNING):
        status = await quota.status("u")
        await quota.status("u")
    assert (status.daily_usage, status.monthly_usage) == (0, 0)
    assert len(caplog.records) == 1 and "corrupt" in caplog.text  # once, not at every read
    account = QuotaAccount(quota, "u")
    await account.reserve()
    assert await counts(fake, "u", "d:20250110", "m:202501") == [1, 1]
    await fake.set(day, b"-4")
    await account.refund()  # no DECR of a value that is not ours
    assert await fake.get(day) == b"-4"
    assert (await quota.status("u")).daily_usage == 0
    assert (await quota.reserve("u")).usage.daily_usage == 1
    assert not breaker.is_open
