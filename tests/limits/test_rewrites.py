"""Rewrites against the free tier: a generation reserved by the 1st, 5th, 9th … rewrite of an
identity's UTC day, on fakeredis and in memory; refusals and take-backs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fakeredis.aioredis import FakeRedis

from tests.factories import BrokenRedis, Clock, limit_settings, make_gateway
from threadr.errors import QuotaExceeded
from threadr.limits.quota import Quota
from threadr.limits.rewrites import (
    COUNT_TTL_SECONDS,
    REWRITES_PER_GENERATION,
    RewriteAccount,
    Rewrites,
)

WHO = "203.0.113.9"
NOON = datetime(2025, 1, 10, 12, tzinfo=UTC).timestamp()


def rewrites(redis: Any, clock: Clock, **limits: Any) -> Rewrites:
    settings = limit_settings(**{f"free_tier_{k}": v for k, v in limits.items()})
    gateway = make_gateway(redis)
    return Rewrites(Quota(gateway, settings, clock=clock), gateway, clock=clock)


async def used(r: Rewrites, who: str = WHO) -> int:
    return (await r.quota.status(who)).daily_usage


@pytest.mark.parametrize("store", ["fake", None])
async def test_every_fourth_rewrite_from_the_first_costs_one_generation(
    fake: FakeRedis, store: str | None
) -> None:
    r = rewrites(fake if store else None, Clock(NOON))
    seen = []
    for _ in range(9):
        await r.charge(WHO)
        seen.append(await used(r))
    assert REWRITES_PER_GENERATION == 4
    assert seen == [1, 1, 1, 1, 2, 2, 2, 2, 3]


async def test_the_count_lives_under_the_identity_tag_for_two_days(fake: FakeRedis) -> None:
    r = rewrites(fake, Clock(NOON))
    charge = await r.charge(WHO)
    assert charge.key == f"threadr:quota:{{{WHO}}}:r:20250110"
    assert await fake.get(charge.key) == b"1"
    assert 0 < await fake.ttl(charge.key) <= COUNT_TTL_SECONDS


async def test_a_new_utc_day_starts_a_new_four(fake: FakeRedis) -> None:
    clock = Clock(NOON)
    r = rewrites(fake, clock)
    for _ in range(2):
        await r.charge(WHO)
    clock.advance(86_400)  # the next day: its first rewrite reserves a generation again
    await r.charge(WHO)
    assert await used(r) == 1  # of the new day; yesterday's one is yesterday's


async def test_a_rewrite_that_would_need_a_generation_is_refused_and_counts_nothing(
    fake: FakeRedis,
) -> None:
    r = rewrites(fake, Clock(NOON), daily_limit=1)
    for _ in range(4):
        await r.charge(WHO)  # the day's one generation pays for four
    with pytest.raises(QuotaExceeded) as caught:
        await r.charge(WHO)
    assert caught.value.status == 402 and caught.value.extra["usage"].daily_remaining == 0
    assert await fake.get(f"threadr:quota:{{{WHO}}}:r:20250110") == b"4"


@pytest.mark.parametrize("store", ["fake", None])
async def test_a_failed_rewrite_takes_back_its_count_and_generation(
    fake: FakeRedis, store: str | None
) -> None:
    r = rewrites(fake if store else None, Clock(NOON))
    account = RewriteAccount(r, WHO)
    await account.reserve()
    assert await used(r) == 1
    await account.refund()
    await account.refund()  # a second refund has nothing left to give back
    assert await used(r) == 0
    # Failing on purpose earns nothing: the next rewrite is the first of its four again.
    await r.charge(WHO)
    assert await used(r) == 1


async def test_premium_and_a_closed_free_tier_count_nothing(fake: FakeRedis) -> None:
    r = rewrites(fake, Clock(NOON))
    for _ in range(5):
        assert (await r.charge(WHO, premium=True)).key is None
    assert await used(r) == 0 and await fake.keys("*") == []
    closed = rewrites(fake, Clock(NOON), enabled=False)
    assert (await closed.charge(WHO)).key is None


async def test_redis_away_counts_in_memory_and_takes_back_there() -> None:
    r = rewrites(BrokenRedis(), Clock(NOON))
    charge = await r.charge(WHO)
    assert charge.in_memory and charge.reservation is not None
    await r.undo(charge)
    assert r._memory == {charge.key: 0}
