"""Rewrites against the free tier: a rewrite is a quarter of a generation. The first rewrite of
each four an identity makes in a UTC day reserves one generation of its quota (limits/quota.py),
and the three after it ride on that one, so 4 rewrites cost 1 generation and 1 to 4 cost 1.

Why a count rather than fractional quota units: the quota's counts, limits and its 402 stay in
whole generations, as GET /api/usage/status shows them, and a rewrite costs one INCR besides
(the fourth part of a reservation's script call). A rewrite that fails takes its count back
(and its generation, when it reserved one), so failing on purpose earns no free rewrites.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from threadr.errors import QuotaExceeded
from threadr.storage.gateway import UNAVAILABLE, Gateway
from threadr.storage.keys import QUOTA_PREFIX, identity_tag

from .quota import Quota, Reservation

# One model call for a whole thread against one for a single tweet over the same article: the
# article is most of the tokens of both, the thread ~8 times the output.
REWRITES_PER_GENERATION = 4
# A day's rewrite count outlives its day by one, as the quota's counters do (QUOTA_TTL_MARGIN).
COUNT_TTL_SECONDS = 2 * 86_400
# This process's counts while Redis is away (or not configured): at most this many identities,
# the oldest forgotten first (forgetting only ever errs towards charging a generation).
MEMORY_IDENTITIES = 100_000


class Charge(NamedTuple):
    """One rewrite counted: under which key and in which store, and the generation it reserved
    (None: it rode on an earlier one, or nothing is counted for this identity)."""

    key: str | None
    reservation: Reservation | None = None
    in_memory: bool = False


class Rewrites:
    """Counts rewrites per identity and UTC day, reserving a generation for every fourth."""

    def __init__(
        self,
        quota: Quota,
        gateway: Gateway,
        *,
        clock: Callable[[], float] = time.time,
        per_generation: int = REWRITES_PER_GENERATION,
    ) -> None:
        self.quota = quota
        self.gateway = gateway
        self.per_generation = per_generation
        self._clock = clock
        self._memory: dict[str, int] = {}

    async def charge(self, identity: str, *, premium: bool = False) -> Charge:
        """Count one rewrite; raise QuotaExceeded (counting nothing) when it is the first of
        its four and the quota has no generation left. Hand the charge to `undo` if the rewrite
        fails."""
        if premium or not self.quota.enabled:
            return Charge(None)
        day = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y%m%d")
        key = f"{QUOTA_PREFIX}{{{identity_tag(identity)}}}:r:{day}"
        count = await self._in_redis(key, 1)
        in_memory = count is None
        if count is None:
            count = self._in_memory(key, 1)
        if (count - 1) % self.per_generation:
            return Charge(key, None, in_memory)
        try:
            reservation = await self.quota.reserve(identity)
        except QuotaExceeded:
            await self._take_back(key, in_memory)
            raise
        return Charge(key, reservation, in_memory)

    async def undo(self, charge: Charge) -> None:
        """Take back a failed rewrite: its count, and the generation it reserved."""
        if charge.key is None:
            return
        await self._take_back(charge.key, charge.in_memory)
        if charge.reservation is not None:
            await self.quota.refund(charge.reservation)

    async def _take_back(self, key: str, in_memory: bool) -> None:
        """One off the count in the store that made it. Never the other one: Redis away since
        the count was made loses the take-back (the next rewrite may reserve a generation a
        little early), and memory never gives credit for a count Redis holds."""
        if in_memory:
            self._in_memory(key, -1)
        else:
            await self._in_redis(key, -1)

    async def _in_redis(self, key: str, delta: int) -> int | None:
        """`key`'s count after adding `delta` (its TTL set afresh); None when Redis is away."""

        async def run(redis: Any) -> list[Any]:
            pipe = redis.pipeline(transaction=True)
            pipe.incrby(key, delta)
            pipe.expire(key, COUNT_TTL_SECONDS)
            result: list[Any] = await pipe.execute()
            return result

        reply = await self.gateway.call(run, "rewrite count", key=key)
        return None if reply is UNAVAILABLE else int(reply[0])

    def _in_memory(self, key: str, delta: int) -> int:
        """`key`'s count in this process after adding `delta` (never below zero)."""
        count = max(self._memory.pop(key, 0) + delta, 0)  # put back last: the oldest go first
        self._memory[key] = count
        while len(self._memory) > MEMORY_IDENTITIES:
            del self._memory[next(iter(self._memory))]
        return count


class RewriteAccount:
    """One identity's rewrites as the free tier counts them: what POST /api/rewrite charges
    before it writes, and takes back when it fails (the pipeline's Account, for a rewrite)."""

    __slots__ = ("_charge", "identity", "premium", "rewrites")

    def __init__(self, rewrites: Rewrites, identity: str, *, premium: bool = False) -> None:
        self.rewrites = rewrites
        self.identity = identity
        self.premium = premium
        self._charge: Charge | None = None

    async def reserve(self) -> None:
        self._charge = await self.rewrites.charge(self.identity, premium=self.premium)

    async def refund(self) -> None:
        charge, self._charge = self._charge, None
        if charge is not None:
            await self.rewrites.undo(charge)
