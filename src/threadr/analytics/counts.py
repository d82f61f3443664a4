"""Usage analytics counted in process and handed to the shared counters at each flush, so a
request pays no Redis round trip for them (docs/performance.md, item 16).

A day's counts go to one hash (storage/keys.py `analytics_day_key`, fields below), its client
identities to one HyperLogLog (`analytics_users_key`); both expire ANALYTICS_RETENTION_DAYS
after their latest write. Counts land in the UTC day of the flush that carries them: a request
up to FLUSH_SECONDS before midnight may count into the next day.

Hooks, one line each where the fact is known:
- cache hits and misses: nothing — read from the cache's own counts at each harvest;
- unique users: `tally.users.add(identity)` (web/generate.py: the only cost on a cache hit);
- generations and offline fallbacks: `tally.generation(kind, writer, fell_back)` (generate.py);
- errors by code (rate-limit and quota denials among them): `tally.error(code)` (web/app.py);
- subscriptions: `tally.subscription()` for a new address (web/emails.py);
- registrations and premium grants: `tally.registration()` and `tally.premium_grant()`, for the
  accounts and billing code to call when it lands (nothing calls them yet).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Protocol

from threadr.storage.counters import Counters
from threadr.storage.keys import analytics_day_key, analytics_users_key

DAY_SECONDS = 86_400
DEFAULT_RETENTION_DAYS = 90

# Hash fields of a day (series.py reads them back).
GENERATION = "generations:"  # + source type: url, text
WRITER = "writer:"  # + the writer that wrote it: openai, offline
CACHE_HITS = "cache_hits"
CACHE_MISSES = "cache_misses"
OFFLINE_FALLBACKS = "offline_fallbacks"  # OpenAI configured, but the offline writer answered
ERROR = "error:"  # + a ThreadrError's `code`, for every error answered
REGISTRATIONS = "registrations"
PREMIUM_GRANTS = "premium_grants"
SUBSCRIPTIONS = "subscriptions"  # new addresses only (a known one is not counted again)


class Looked(Protocol):
    """What the cache counts per process, read at each harvest (cache.ThreadCache)."""

    hits: int
    misses: int


def day_of(epoch: float) -> str:
    """The UTC day of `epoch` seconds, as YYYY-MM-DD."""
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


class Tally:
    """This process's analytics since the last flush."""

    def __init__(
        self,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        cache: Looked | None = None,
        clock: Callable[[], float] = time.time,
        enabled: bool = True,
    ) -> None:
        # ANALYTICS_ENABLED=false: the hot path skips its one hook, the others' counts are
        # dropped at each harvest, and nothing reaches Redis (bench: analytics on vs off).
        self.enabled = enabled
        self.ttl = retention_days * DAY_SECONDS
        self.users: set[str] = set()  # identities seen since the last harvest
        self._counts: dict[str, int] = {}
        # Since the process started, whether or not analytics are on (/metrics reads them:
        # observability/metrics.py): threads by (writer, source), errors answered by code.
        self.generations: collections.defaultdict[tuple[str, str], int] = (
            collections.defaultdict(int)
        )
        self.errors: collections.defaultdict[str, int] = collections.defaultdict(int)
        self._cache = cache
        self._looked = (cache.hits, cache.misses) if cache is not None else (0, 0)
        self._clock = clock

    def count(self, field: str, n: int = 1) -> None:
        self._counts[field] = self._counts.get(field, 0) + n

    def generation(self, kind: str, writer: str, fell_back: bool) -> None:
        """A thread written for a cache miss: its source type, its writer, and whether the
        offline writer stood in for OpenAI."""
        self.generations[writer, kind] += 1
        self.count(GENERATION + kind)
        self.count(WRITER + writer)
        if fell_back:
            self.count(OFFLINE_FALLBACKS)

    def error(self, code: str) -> None:
        """An error answered to a client, by its stable `code`."""
        self.errors[code] += 1
        self.count(ERROR + code)

    def subscription(self) -> None:
        """A new address on the email list."""
        self.count(SUBSCRIPTIONS)

    def registration(self) -> None:
        """A new account (POST /api/auth/register)."""
        self.count(REGISTRATIONS)

    def premium_grant(self) -> None:
        """A premium grant applied (POST /api/premium/grant, a Stripe payment)."""
        self.count(PREMIUM_GRANTS)

    def harvest(self, counters: Counters) -> None:
        """Hand everything counted since the last harvest to `counters`, under today's keys."""
        counts, self._counts = self._counts, {}
        if not self.enabled:
            self.users.clear()
            return
        day = day_of(self._clock())
        key = analytics_day_key(day)
        if self._cache is not None:
            hits, misses = self._cache.hits, self._cache.misses
            counts[CACHE_HITS] = hits - self._looked[0]
            counts[CACHE_MISSES] = misses - self._looked[1]
            self._looked = (hits, misses)
        for field, n in counts.items():
            counters.add(key, field, n)
        if any(counts.values()):
            counters.add(key, CACHE_HITS, 0, ttl=self.ttl)
        if self.users:
            users, self.users = self.users, set()
            counters.pfadd(analytics_users_key(day), users, ttl=self.ttl)
