"""Admission for POST /api/generate: the rate limit and the cache read in one Redis round trip;
and the free-tier quota as the account that pays for a cache miss's generation."""

from __future__ import annotations

from .cache import ThreadCache, decode_entry
from .errors import RateLimited
from .models import CacheEntry
from .quota import Quota
from .ratelimit import Decision, Limiter, rate_limit_headers


class Admission:
    def __init__(self, limiter: Limiter, cache: ThreadCache) -> None:
        self.limiter = limiter
        self.cache = cache

    async def enter(
        self, identity: str, key: str, *, premium: bool = False
    ) -> tuple[dict[str, str], CacheEntry | None]:
        """Consume one request of every policy and look up `key`.

        Returns the RateLimit headers for the response and the cached entry, if any; raises
        RateLimited (429, with Retry-After) when a policy denies.
        """
        limiter = self.limiter
        if not limiter.settings.enabled:
            return {}, await self.cache.get(key)
        shared = limiter.redis is not None
        decision, raw = await limiter.hit(
            identity, premium=premium, also_get=key if shared else None
        )
        headers = rate_limit_headers(decision)
        if not decision.allowed:
            raise RateLimited(_denied(decision), headers=headers)
        if shared and decision.reason == "allowed":
            # The GET rode in the limiter's script call: its answer is Redis's, hit or miss.
            return headers, self.cache.record(decode_entry(raw))
        return headers, await self.cache.get(key)  # no Redis, or it failed: the memory cache


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


def _denied(decision: Decision) -> str:
    closest = decision.closest
    window = f" ({closest.limit} requests per {_span(closest.window)})" if closest else ""
    wait = decision.retry_after or (closest.reset if closest else 1)
    return f"Too many requests{window}; try again in {_span(wait)}."


def _span(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 7200:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"
