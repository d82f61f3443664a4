"""Free-tier quota: per-identity UTC daily and monthly generation counts, reserved atomically.

With Redis down (or not configured) each app instance counts in memory, so during an outage an
identity can get up to the limits once per instance. When Redis returns, its counts (untouched
by the outage) are authoritative again; the in-memory counts are not copied over: usage during
an outage is forgiven rather than charged late, which could block a user for something our
outage caused. Memory counts last until their UTC period ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import msgspec

from threadr.config import Settings
from threadr.errors import QuotaExceeded
from threadr.storage.gateway import UNAVAILABLE, Gateway
from threadr.storage.keys import QUOTA_PREFIX, identity_tag
from threadr.storage.scripts import Script, ScriptCall

SCRIPT = Script("quota.lua")
_CHANGE = ScriptCall(SCRIPT, keys=2, argc=5)  # op, daily and monthly limit, the two TTLs

# A period's counter outlives the period by a day: instances with skewed clocks still find it.
QUOTA_TTL_MARGIN = 86_400


class UsageStatus(msgspec.Struct):
    """The body of GET /api/usage/status (and the `usage` of a 402)."""

    daily_usage: int
    daily_limit: int
    daily_remaining: int
    monthly_usage: int
    monthly_limit: int
    monthly_remaining: int
    has_premium: bool = False
    premium_expires_at: str | None = None
    free_tier_enabled: bool = True


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
        self._counts: dict[bytes, int] = {}
        self._current: tuple[str, str] = ("", "")

    def run(
        self, keys: tuple[bytes, bytes], op: str, period: _Period, limits: tuple[int, int]
    ) -> list[int]:
        """Same inputs and output as storage/lua/quota.lua."""
        if self._current != (period.day, period.month):
            # A new day or month: the old period's counts can never be read again.
            self._current = (period.day, period.month)
            live = (f":d:{period.day}".encode(), f":m:{period.month}".encode())
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
    """Reserves, refunds and reports free-tier generations per identity.

    `premium` (issue #11: POST /api/generate and GET /api/usage/status for premium accounts)
    means no quota: nothing is counted, and the free-tier counts are reported as they are."""

    def __init__(
        self,
        gateway: Gateway,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        memory: MemoryCounts | None = None,
    ) -> None:
        self.gateway = gateway
        self.enabled = settings.free_tier_enabled
        self.limits = (settings.free_tier_daily_limit, settings.free_tier_monthly_limit)
        self._limit_args = tuple(str(n).encode() for n in self.limits)
        self._clock = clock
        self.memory = memory or MemoryCounts()

    async def reserve(self, identity: str, *, premium: bool = False) -> UsageStatus:
        """Count one generation; raise QuotaExceeded (consuming nothing) if a limit is used up."""
        if premium or not self.enabled:
            return await self.status(identity, premium=premium)
        ok, day, month = await self._run(identity, "reserve")
        usage = self._usage(day, month, premium=False)
        if not ok:
            raise QuotaExceeded(_detail(usage), extra={"usage": usage})
        return usage

    async def refund(self, identity: str) -> None:
        """Give back one reservation (generation failed); counts never go below zero."""
        if self.enabled:
            await self._run(identity, "refund")

    async def status(self, identity: str, *, premium: bool = False) -> UsageStatus:
        """Current usage; consumes nothing. Premium identities see their free-tier counts."""
        if not self.enabled:
            return self._usage(0, 0, premium=premium)
        _, day, month = await self._run(identity, "status")
        return self._usage(day, month, premium=premium)

    def _usage(self, day: int, month: int, *, premium: bool) -> UsageStatus:
        daily, monthly = self.limits
        return UsageStatus(
            daily_usage=day,
            daily_limit=daily,
            daily_remaining=max(daily - day, 0),
            monthly_usage=month,
            monthly_limit=monthly,
            monthly_remaining=max(monthly - month, 0),
            has_premium=premium,
            free_tier_enabled=self.enabled,
        )

    async def _run(self, identity: str, op: str) -> list[int]:
        period = _period_of(self._clock())
        tag = f"{QUOTA_PREFIX}{{{identity_tag(identity)}}}:"
        keys = (f"{tag}d:{period.day}".encode(), f"{tag}m:{period.month}".encode())
        if op == "status":  # a plain read needs no script (both keys share one slot)
            got = await self.gateway.mget(keys, "quota status")
            out = UNAVAILABLE if got is UNAVAILABLE else [1, *(int(n or 0) for n in got)]
        else:
            ttls = (str(period.day_ttl).encode(), str(period.month_ttl).encode())
            args = (op.encode(), *self._limit_args, *ttls)
            out = await self.gateway.script(_CHANGE, keys, args, f"quota {op}")
        if out is UNAVAILABLE:
            return self.memory.run(keys, op, period, self.limits)
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
