"""Free-tier quota: per-identity UTC daily and monthly generation counts, reserved atomically.

With Redis down (or not configured) each app instance counts in memory, behind a
CircuitBreaker, so during an outage an identity can get up to the limits once per instance.
When Redis returns, its counts (untouched by the outage) are authoritative again; the in-memory
counts are not copied over: usage during an outage is forgiven rather than charged late, which
could block a user for something our outage caused. Memory counts last until their UTC period ends.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
from redis.asyncio import Redis

from .breaker import UNAVAILABLE, CircuitBreaker
from .config import Settings
from .errors import ConfigError, QuotaExceeded
from .keys import QUOTA_PREFIX, identity_tag
from .lua import Script

log = logging.getLogger(__name__)

SCRIPT = Script("quota.lua")

# A period's counter outlives the period by a day: instances with skewed clocks still find it.
QUOTA_TTL_MARGIN = 86_400


@dataclass(frozen=True, slots=True)
class QuotaSettings:
    """Free-tier knobs; field `f` is read from `Settings.free_tier_<f>` (env FREE_TIER_<F>)."""

    enabled: bool = True  # FREE_TIER_ENABLED
    daily_limit: int = 5  # FREE_TIER_DAILY_LIMIT
    monthly_limit: int = 20  # FREE_TIER_MONTHLY_LIMIT

    def __post_init__(self) -> None:
        if self.daily_limit < 0 or self.monthly_limit < 0:
            raise ConfigError("FREE_TIER_DAILY_LIMIT and FREE_TIER_MONTHLY_LIMIT must be >= 0.")

    @classmethod
    def from_settings(cls, s: Settings) -> QuotaSettings:
        return cls(s.free_tier_enabled, s.free_tier_daily_limit, s.free_tier_monthly_limit)


class UsageStatus(msgspec.Struct):
    """The body of GET /api/usage/status."""

    daily_usage: int
    daily_limit: int
    daily_remaining: int
    monthly_usage: int
    monthly_limit: int
    monthly_remaining: int
    has_premium: bool = False
    premium_expires_at: str | None = None
    free_tier_enabled: bool = True

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


class _Period(NamedTuple):
    day: str  # YYYYMMDD (UTC)
    month: str  # YYYYMM (UTC)
    day_ttl: int  # seconds to the end of the day, plus the margin
    month_ttl: int


def _period_of(now: float) -> _Period:
    t = datetime.fromtimestamp(now, UTC)
    midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
    next_day = midnight + timedelta(days=1)
    next_month = (midnight.replace(day=1) + timedelta(days=32)).replace(day=1)
    # Relative TTLs (EXPIRE, not EXPIREAT): correct even when the app's clock is not Redis's.
    return _Period(
        f"{t:%Y%m%d}",
        f"{t:%Y%m}",
        math.ceil((next_day - t).total_seconds()) + QUOTA_TTL_MARGIN,
        math.ceil((next_month - t).total_seconds()) + QUOTA_TTL_MARGIN,
    )


class MemoryCounts:
    """The script's logic in process, for when Redis is unreachable or not configured."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._counts: dict[str, int] = {}
        self._current: tuple[str, str] = ("", "")

    def run(
        self, keys: tuple[str, str], op: str, period: _Period, limits: tuple[int, int]
    ) -> list[int]:
        """Same inputs and output as lua/quota.lua."""
        if self._current != (period.day, period.month):
            # A new day or month: the old period's counts can never be read again.
            self._current = (period.day, period.month)
            live = (f":d:{period.day}", f":m:{period.month}")
            self._counts = {k: v for k, v in self._counts.items() if k.endswith(live)}
        day, month = (self._counts.get(k, 0) for k in keys)
        if op == "refund":
            day, month = max(day - 1, 0), max(month - 1, 0)
        elif op == "reserve":
            if day >= limits[0] or month >= limits[1]:
                return [0, day, month]
            day, month = day + 1, month + 1
        else:
            return [1, day, month]
        self._counts[keys[0]], self._counts[keys[1]] = day, month
        while len(self._counts) > self.max_keys:  # forgetting only ever errs towards allowing
            del self._counts[next(iter(self._counts))]
        return [1, day, month]


class Quota:
    """Reserves, refunds and reports free-tier generations per identity."""

    def __init__(
        self,
        redis: Redis | None,
        settings: QuotaSettings | None = None,
        *,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.time,
        memory: MemoryCounts | None = None,
    ) -> None:
        self.redis = redis
        self.settings = settings or QuotaSettings()
        self.breaker = breaker or CircuitBreaker()
        self._clock = clock
        self.memory = memory or MemoryCounts()

    async def reserve(self, identity: str, *, premium: bool = False) -> UsageStatus:
        """Count one generation; raise QuotaExceeded (consuming nothing) if a limit is used up."""
        if premium or not self.settings.enabled:
            return await self.status(identity, premium=premium)
        ok, day, month = await self._run(identity, "reserve")
        usage = self._usage(day, month, premium=False)
        if not ok:
            raise QuotaExceeded(_detail(usage), extra={"usage": usage.to_dict()})
        return usage

    async def refund(self, identity: str) -> None:
        """Give back one reservation (generation failed); counts never go below zero."""
        if self.settings.enabled:
            await self._run(identity, "refund")

    async def status(self, identity: str, *, premium: bool = False) -> UsageStatus:
        """Current usage; consumes nothing. Premium identities see their free-tier counts."""
        if not self.settings.enabled:
            return self._usage(0, 0, premium=premium)
        _, day, month = await self._run(identity, "status")
        return self._usage(day, month, premium=premium)

    def _usage(self, day: int, month: int, *, premium: bool) -> UsageStatus:
        s = self.settings
        return UsageStatus(
            daily_usage=day,
            daily_limit=s.daily_limit,
            daily_remaining=max(s.daily_limit - day, 0),
            monthly_usage=month,
            monthly_limit=s.monthly_limit,
            monthly_remaining=max(s.monthly_limit - month, 0),
            has_premium=premium,
            free_tier_enabled=s.enabled,
        )

    async def _run(self, identity: str, op: str) -> list[int]:
        period = _period_of(self._clock())
        tag = f"{QUOTA_PREFIX}{{{identity_tag(identity)}}}:"
        keys = (f"{tag}d:{period.day}", f"{tag}m:{period.month}")
        limits = (self.settings.daily_limit, self.settings.monthly_limit)
        out = await self.breaker.call(
            self.redis, lambda r: self._eval(r, keys, op, period, limits), f"quota {op}"
        )
        if out is UNAVAILABLE:
            return self.memory.run(keys, op, period, limits)
        return out

    @staticmethod
    async def _eval(
        redis: Redis, keys: tuple[str, str], op: str, period: _Period, limits: tuple[int, int]
    ) -> list[int]:
        if op == "status":  # a plain read needs no script (both keys share one slot)
            day, month = await redis.mget(keys)
            return [1, int(day or 0), int(month or 0)]
        out: list[int] = await SCRIPT.run(
            redis, 2, *keys, op, *limits, period.day_ttl, period.month_ttl
        )
        return out


def _detail(usage: UsageStatus) -> str:
    if usage.daily_remaining == 0:
        return (
            f"You have used today's {usage.daily_limit} free threads; more are available after "
            "midnight UTC, or upgrade to premium for unlimited threads."
        )
    return (
        f"You have used this month's {usage.monthly_limit} free threads; more are available on "
        "the 1st (UTC), or upgrade to premium for unlimited threads."
    )
