"""Usage analytics counted in process: harvested into today's keys with the retention TTL,
unique users as a HyperLogLog, the UTC day changing at midnight, nothing lost while Redis is
away (on fakeredis, with an injected clock)."""

from __future__ import annotations

import calendar
from typing import Any

import fakeredis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tests.factories import Clock, make_gateway
from threadr.analytics import counts, series
from threadr.analytics.counts import Tally, day_of
from threadr.storage.counters import Counters
from threadr.storage.keys import analytics_day_key, analytics_users_key

# 2026-12-04 23:59:59.5 UTC
BEFORE_MIDNIGHT = calendar.timegm((2026, 12, 4, 23, 59, 59)) + 0.5


class Looks:
    hits = 0
    misses = 0


def tally(clock: Clock, cache: Any = None, retention_days: int = 3) -> Tally:
    return Tally(retention_days=retention_days, cache=cache, clock=clock)


def test_day_of_is_the_utc_date() -> None:
    assert day_of(BEFORE_MIDNIGHT) == "2026-12-04"
    assert day_of(BEFORE_MIDNIGHT + 0.5) == "2026-12-05"


async def test_counts_reach_todays_hash_with_the_retention_ttl() -> None:
    redis = fakeredis.FakeAsyncRedis()
    cache = Looks()
    clock = Clock(BEFORE_MIDNIGHT - 3600)
    t = tally(clock, cache)
    counters = Counters(make_gateway(redis))
    counters.harvest(t.harvest)
    cache.hits, cache.misses = 5, 2
    t.generation("url", "openai", False)
    t.generation("text", "offline", True)
    t.error("rate_limited")
    t.error("rate_limited")
    t.subscription()
    t.registration()
    t.premium_grant()
    t.users.update({"203.0.113.1", "203.0.113.2"})
    t.users.add("203.0.113.1")
    assert await counters.flush()
    day = analytics_day_key("2026-12-04")
    assert await redis.hgetall(day) == {
        b"generations:url": b"1",
        b"generations:text": b"1",
        b"writer:openai": b"1",
        b"writer:offline": b"1",
        b"offline_fallbacks": b"1",
        b"error:rate_limited": b"2",
        b"subscriptions": b"1",
        b"registrations": b"1",
        b"premium_grants": b"1",
        b"cache_hits": b"5",
        b"cache_misses": b"2",
    }
    assert await redis.pfcount(analytics_users_key("2026-12-04")) == 2
    assert 0 < await redis.ttl(day) <= 3 * 86_400
    assert 0 < await redis.ttl(analytics_users_key("2026-12-04")) <= 3 * 86_400
    # Only what is new since the last harvest is added again.
    cache.hits = 6
    assert await counters.flush()
    assert await redis.hget(day, "cache_hits") == b"6"
    assert await redis.hget(day, "error:rate_limited") == b"2"
    await redis.aclose()


async def test_counts_roll_over_into_the_next_utc_day_at_midnight() -> None:
    redis = fakeredis.FakeAsyncRedis()
    cache = Looks()
    clock = Clock(BEFORE_MIDNIGHT)
    t = tally(clock, cache)
    counters = Counters(make_gateway(redis))
    counters.harvest(t.harvest)
    cache.hits = 3
    t.users.add("a")
    t.error("not_found")
    assert await counters.flush()  # 23:59:59.5: the 4th
    clock.advance(1.0)  # 00:00:00.5: the 5th
    cache.hits, cache.misses = 4, 1
    t.users.update({"a", "b"})
    t.error("not_found")
    assert await counters.flush()
    got = await series.read(make_gateway(redis), 2, clock())
    assert [d.date for d in got.days] == ["2026-12-04", "2026-12-05"]
    first, second = got.days
    assert (first.cache_hits, first.cache_misses, first.unique_users) == (3, 0, 1)
    assert (second.cache_hits, second.cache_misses, second.unique_users) == (1, 1, 2)
    assert first.errors == second.errors == {"not_found": 1}
    await redis.aclose()


async def test_redis_away_keeps_counts_and_users_for_the_next_flush() -> None:
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    clock = Clock(BEFORE_MIDNIGHT - 60)
    t = tally(clock)
    counters = Counters(make_gateway(down))
    counters.harvest(t.harvest)
    t.users.add("a")
    t.subscription()
    assert not await counters.flush()
    t.users.add("b")
    t.subscription()
    redis = fakeredis.FakeAsyncRedis()
    counters.gateway = make_gateway(redis)
    assert await counters.flush()
    assert await redis.hget(analytics_day_key("2026-12-04"), counts.SUBSCRIPTIONS) == b"2"
    assert await redis.pfcount(analytics_users_key("2026-12-04")) == 2
    await redis.aclose()
    await down.aclose()


async def test_a_quiet_second_sends_nothing() -> None:
    redis = fakeredis.FakeAsyncRedis()
    t = tally(Clock(BEFORE_MIDNIGHT), Looks())
    counters = Counters(make_gateway(redis))
    counters.harvest(t.harvest)
    assert await counters.flush()
    assert await redis.dbsize() == 0
    await redis.aclose()


async def test_the_series_of_days_without_data_is_zeros_oldest_first() -> None:
    redis = fakeredis.FakeAsyncRedis()
    got = await series.read(make_gateway(redis), 3, BEFORE_MIDNIGHT)
    assert [d.date for d in got.days] == ["2026-12-02", "2026-12-03", "2026-12-04"]
    assert got.days[0] == series.DayUsage("2026-12-02", series.Generations())
    await redis.aclose()


async def test_switched_off_nothing_reaches_redis() -> None:
    redis = fakeredis.FakeAsyncRedis()
    cache = Looks()
    t = Tally(cache=cache, clock=Clock(BEFORE_MIDNIGHT), enabled=False)
    counters = Counters(make_gateway(redis))
    counters.harvest(t.harvest)
    t.users.add("203.0.113.5")
    t.generation("text", "offline", fell_back=False)
    cache.hits += 3
    assert await counters.flush()
    assert await redis.keys("*") == []
    assert not t.users
    await redis.aclose()


def test_totals_since_start_outlive_harvests_and_a_disabled_tally() -> None:
    t = Tally(enabled=False)
    gateway = make_gateway(None)
    t.generation("url", "openai", False)
    t.generation("text", "offline", True)
    t.generation("text", "offline", False)
    t.error("rate_limited")
    t.harvest(Counters(gateway))
    t.error("rate_limited")
    assert t.generations == {("openai", "url"): 1, ("offline", "text"): 2}
    assert t.errors == {"rate_limited": 2}
