"""Admission for POST /api/generate: the rate limit and the cache read in one Redis round trip;
and the free-tier quota as the account that pays for a cache miss's generation."""

from __future__ import annotations

from threadr.cache import CacheEntry, ThreadCache
from threadr.storage.gateway import UNAVAILABLE

from .policies import Decision
from .quota import Quota
from .ratelimit import Limiter


class Admission:
    """Who gets in, and what the cache already holds for them, in one round trip."""

    def __init__(self, limiter: Limiter, cache: ThreadCache) -> None:
        self.limiter = limiter
        self.cache = cache

    async def enter(self, identity: str, key: str) -> tuple[Decision, CacheEntry | None]:
        """Consume one request of every policy and, when allowed, look up the cache `key`.

        The GET rides in the limiter's script call; when the limiter could not decide in Redis
        (no Redis, or it failed, or the limiter is off) the cache answers on its own."""
        decision, raw = await self.limiter.hit(identity, read=key)
        if not decision.allowed:
            return decision, None
        if raw is UNAVAILABLE:
            return decision, await self.cache.get(key)
        return decision, self.cache.accept(raw)


class QuotaAccount:
    """One identity's free-tier quota, as the pipeline's `Account`."""

    __slots__ = ("identity", "quota")

    def __init__(self, quota: Quota, identity: str) -> None:
        self.quota = quota
        self.identity = identity

    async def reserve(self) -> None:
        await self.quota.reserve(self.identity)

    async def refund(self) -> None:
        await self.quota.refund(self.identity)
