"""Usage analytics read back: a daily series of the last N UTC days, from every instance's
flushed counts, in one pipeline (HGETALL and PFCOUNT per day; on Redis Cluster the PFCOUNTs
apart, all at once) — no SCAN, no KEYS.

Unique users come from a HyperLogLog: exact for small sets (Redis keeps up to a few hundred
members in its sparse encoding, where counts are exact in practice), within 0.81 % (standard
error) beyond."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from threadr.errors import ServiceUnavailable
from threadr.storage.gateway import UNAVAILABLE, Gateway
from threadr.storage.keys import analytics_day_key, analytics_users_key

from . import counts
from .counts import DAY_SECONDS, day_of


class Generations(msgspec.Struct):
    """A day's generations by source type and by writer (each generation is in both)."""

    url: int = 0
    text: int = 0
    openai: int = 0
    offline: int = 0


class DayUsage(msgspec.Struct):
    """One UTC day of the series (new fields get defaults: clients outlive deploys)."""

    date: str
    generations: Generations
    cache_hits: int = 0
    cache_misses: int = 0
    offline_fallbacks: int = 0
    errors: dict[str, int] = msgspec.field(default_factory=dict)
    rate_limited: int = 0  # = errors["rate_limited"]: every rate-limit denial answered
    quota_exceeded: int = 0  # = errors["quota_exceeded"]: every quota denial answered
    registrations: int = 0
    premium_grants: int = 0
    subscriptions: int = 0
    unique_users: int = 0


class UsageSeries(msgspec.Struct):
    """The body of GET /api/usage/analytics: oldest day first, today last."""

    days: list[DayUsage]


def dates(days: int, now: float) -> list[str]:
    """The last `days` UTC days up to `now`'s, oldest first."""
    return [day_of(now - back * DAY_SECONDS) for back in range(days - 1, -1, -1)]


async def read(gateway: Gateway, days: int, now: float) -> UsageSeries:
    """The last `days` days of usage; ServiceUnavailable (503) without Redis: the series is
    the sum of every instance's counts, which only Redis holds."""
    wanted = dates(days, now)

    async def send(redis: Any) -> list[Any]:
        pipe = redis.pipeline(transaction=False)
        for day in wanted:
            pipe.hgetall(analytics_day_key(day))
            if not gateway.cluster:
                pipe.pfcount(analytics_users_key(day))
        replies: list[Any] = await pipe.execute()
        if gateway.cluster:
            # A cluster's pipeline refuses PFCOUNT (it may name keys of several slots): one
            # call per day, all at once.
            users = [redis.pfcount(analytics_users_key(day)) for day in wanted]
            uniques = await asyncio.gather(*users)
            replies = [reply for pair in zip(replies, uniques, strict=True) for reply in pair]
        return replies

    reply = await gateway.call(send, "usage analytics")
    if reply is UNAVAILABLE:
        raise _unavailable(gateway)
    return UsageSeries([_day(day, reply[2 * i], reply[2 * i + 1]) for i, day in enumerate(wanted)])


def _day(day: str, raw: dict[bytes, bytes], unique: int) -> DayUsage:
    fields = {key.decode(): int(value) for key, value in raw.items()}
    errors = {
        name[len(counts.ERROR) :]: n
        for name, n in sorted(fields.items())
        if name.startswith(counts.ERROR) and n
    }
    return DayUsage(
        date=day,
        generations=Generations(
            url=fields.get(counts.GENERATION + "url", 0),
            text=fields.get(counts.GENERATION + "text", 0),
            openai=fields.get(counts.WRITER + "openai", 0),
            offline=fields.get(counts.WRITER + "offline", 0),
        ),
        cache_hits=fields.get(counts.CACHE_HITS, 0),
        cache_misses=fields.get(counts.CACHE_MISSES, 0),
        offline_fallbacks=fields.get(counts.OFFLINE_FALLBACKS, 0),
        errors=errors,
        rate_limited=errors.get("rate_limited", 0),
        quota_exceeded=errors.get("quota_exceeded", 0),
        registrations=fields.get(counts.REGISTRATIONS, 0),
        premium_grants=fields.get(counts.PREMIUM_GRANTS, 0),
        subscriptions=fields.get(counts.SUBSCRIPTIONS, 0),
        unique_users=int(unique),
    )


def _unavailable(gateway: Gateway) -> ServiceUnavailable:
    return gateway.refused("Usage analytics need")
