"""Admission for POST /api/generate: the rate limit and the cache read in one Redis round trip;
and the free-tier quota as the account that pays for a cache miss's generation."""

from __future__ import annotations

from threadr.cache import CacheEntry, ThreadCache
from threadr.storage.gateway import UNAVAILABLE

from .policies import Decision
from .quota import Quota, Reservation
from .ratelimit import Limiter


class Admission:
    """Who gets in, and what the cache already holds for them, in one round trip."""

    def __init__(self, limiter: Limiter, cache: ThreadCache) -> None:
        self.limiter = limiter
        self.cache = cache

    async def enter(
        self, identity: str, key: str, *, premium: bool = False
    ) -> tuple[Decision, CacheEntry | None]:
        """Consume one request of every policy and, when allowed, look up the cache `key`.

        The GET rides in the limiter's script call; when the limiter could not decide in Redis
        (no Redis, or it failed, or the limiter is off) the cache answers on its own."""
        decision, raw = await self.limiter.hit(identity, premium=premium, read=key)
        if not decision.allowed:
            return decision, None
        if raw is UNAVAILABLE:
            return decision, await self.cache.get(key)
        return decision, self.cache.accept(raw)


class QuotaAccount:
    """One identity's free-tier quota, as the pipeline's `Account`: it keeps its reservations,
    so a refund goes back to the day and the store that counted the generation."""

    __slots__ = ("_held", "identity", "premium", "quota")

    def __init__(self, quota: Quota, identity: str, *, premium: bool = False) -> None:
        self.quota = quota
        self.identity = identity
        self.premium = premium  # premium accounts have no quota: nothing is counted
        self._held: list[Reservation] = []

    async def reserve(self) -> None:
        self._held.append(await self.quota.reserve(self.identity, premium=self.premium))

    async def refund(self) -> None:
        """Refund the latest reservation not yet refunded (none: nothing to give back)."""
        if self._held:
            await self.quota.refund(self._held.pop())
