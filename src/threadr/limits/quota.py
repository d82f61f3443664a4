"""Free-tier quota: per-identity UTC daily and monthly generation counts, reserved atomically.

With Redis down (or not configured) each app instance counts in memory, so during an outage an
identity can get up to the limits once per instance. When Redis returns, its counts (untouched
by the outage) are authoritative again; the in-memory counts are not copied over: usage during
an outage is forgiven rather than charged late, which could block a user for something our
outage caused. Memory counts last until their UTC period ends.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)

SCRIPT = Script("quota.lua")
_RESERVE = ScriptCall(SCRIPT, keys=2, argc=5)  # "reserve", daily and monthly limit, the TTLs
_REFUND = ScriptCall(SCRIPT, keys=2, argc=1)  # "refund"

# A period's counter outlives the period by a day: instances with skewed clocks still find it.
QUOTA_TTL_MARGIN = 86_400

# The longest count read as a number: what the script writes (decimal digits), short enough
# for Lua's doubles to hold exactly. Anything else stored under a counter is corrupt.
_COUNT_DIGITS = 15


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
    # True while a configured Redis is unreachable and this process's memory answers: the
    # counts are this instance's since the outage began, not the shared ones.
    degraded: bool = False


class Reservation(NamedTuple):
    """One generation reserved, and what its refund needs: the counters it was counted in (its
    own UTC day and month, whatever the date is by the time of the refund) and the store that
    holds them (this process's memory when Redis was unavailable, else Redis)."""

    usage: UsageStatus  # the counts with this reservation
    keys: tuple[bytes, bytes] | None = None  # None: nothing was counted (premium, tier off)
    in_memory: bool = False


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
    """The script's arithmetic in process, for when Redis is unreachable or not configured."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._counts: dict[bytes, int] = {}
        self._current: tuple[str, str] = ("", "")

    def reserve(
        self, keys: tuple[bytes, bytes], period: _Period, limits: tuple[int, int]
    ) -> tuple[bool, int, int]:
        """Count one in both of `keys` (this period's) unless either is at its limit."""
        day, month = self.status(keys, period)
        if day >= limits[0] or month >= limits[1]:
            return False, day, month
        self._counts[keys[0]], self._counts[keys[1]] = day + 1, month + 1
        while len(self._counts) > self.max_keys:  # forgetting only ever errs towards allowing
            del self._counts[next(iter(self._counts))]
        return True, day + 1, month + 1

    def refund(self, keys: tuple[bytes, bytes]) -> None:
        """Give one back to `keys`, which may be an earlier period's (never below zero; a
        period whose counts were dropped has nothing left to give back)."""
        for key in keys:
            if self._counts.get(key, 0) > 0:
                self._counts[key] -= 1

    def status(self, keys: tuple[bytes, bytes], period: _Period) -> tuple[int, int]:
        """The counts of `keys` (this period's)."""
        if self._current != (period.day, period.month):
            # A new day or month: the old period's counts can never be read again.
            self._current = (period.day, period.month)
            live = (f":d:{period.day}".encode(), f":m:{period.month}".encode())
            self._counts = {k: v for k, v in self._counts.items() if k.endswith(live)}
        return self._counts.get(keys[0], 0), self._counts.get(keys[1], 0)


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
        self._corrupt_seen = False
        self.denials = 0  # generations refused on a used-up quota since start (/metrics)

    async def reserve(self, identity: str, *, premium: bool = False) -> Reservation:
        """Count one generation; raise QuotaExceeded (consuming nothing) if a limit is used up.
        Hand the reservation to `refund` if the generation fails."""
        if premium or not self.enabled:
            return Reservation(await self.status(identity, premium=premium))
        period = _period_of(self._clock())
        keys = _keys(identity, period)
        ttls = (str(period.day_ttl).encode(), str(period.month_ttl).encode())
        reply = await self.gateway.script(
            _RESERVE, keys, (b"reserve", *self._limit_args, *ttls), "quota reserve"
        )
        in_memory = reply is UNAVAILABLE
        if reply is UNAVAILABLE:
            ok, day, month = self.memory.reserve(keys, period, self.limits)
        else:
            ok, day, month = reply
        usage = self._usage(day, month, premium=False, in_memory=in_memory)
        if not ok:
            self.denials += 1
            raise QuotaExceeded(_detail(usage), extra={"usage": usage})
        return Reservation(usage, keys, in_memory)

    async def refund(self, reservation: Reservation) -> None:
        """Give back one reservation (its generation failed) to the counters and the store that
        took it; counts never go below zero."""
        keys = reservation.keys
        if keys is None:
            return
        if reservation.in_memory:
            # Not to Redis, which never counted it (it was away): that would free a use the
            # identity made before the outage.
            self.memory.refund(keys)
        elif await self.gateway.script(_REFUND, keys, (b"refund",), "quota refund") is UNAVAILABLE:
            # Not to memory either, which never counted it: that would hand out credit for the
            # outage. Redis away between a reservation and its refund costs one generation.
            log.warning("A quota refund was lost: Redis, which holds the reservation, is away")

    async def status(self, identity: str, *, premium: bool = False) -> UsageStatus:
        """Current usage; consumes nothing. Premium identities see their free-tier counts."""
        if not self.enabled:
            return self._usage(0, 0, premium=premium)
        period = _period_of(self._clock())
        keys = _keys(identity, period)
        got = await self.gateway.mget(keys, "quota status")  # one slot: no script needed
        if got is UNAVAILABLE:
            day, month = self.memory.status(keys, period)
        else:
            day, month = (self._count(raw) for raw in got)
        return self._usage(day, month, premium=premium, in_memory=got is UNAVAILABLE)

    def _count(self, raw: bytes | None) -> int:
        """A stored count, read as the script reads it: anything it did not write counts as 0
        (the next reservation writes a real count over it)."""
        if raw is None:
            return 0
        if raw.isdigit() and len(raw) <= _COUNT_DIGITS:
            return int(raw)
        if not self._corrupt_seen:
            self._corrupt_seen = True
            log.warning(
                "A free-tier count in Redis is corrupt (%r); it counts as 0 until the next "
                "reservation replaces it (further corrupt counts are not logged)",
                raw[:40],
            )
        return 0

    def _usage(
        self, day: int, month: int, *, premium: bool, in_memory: bool = False
    ) -> UsageStatus:
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
            degraded=in_memory and self.gateway.configured,
        )


def _keys(identity: str, period: _Period) -> tuple[bytes, bytes]:
    """The counters of `identity` for `period`'s day and month (one hash tag: one slot)."""
    tag = f"{QUOTA_PREFIX}{{{identity_tag(identity)}}}:"
    return f"{tag}d:{period.day}".encode(), f"{tag}m:{period.month}".encode()


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
