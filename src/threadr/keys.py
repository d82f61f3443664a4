"""Every Redis key prefix the service uses, in one place. All start with `threadr:`."""

from __future__ import annotations

ROOT = "threadr:"

# Cached threads, msgpack-encoded CacheEntry; TTL = CACHE_TTL_HOURS. This prefix holds entries
# only (no counters, locks or indexes), so its size is the number of cached threads.
CACHE_PREFIX = "threadr:cache:v1:"

# Cache hit/miss counters (plain INCR), kept apart from the entries above.
CACHE_STATS_PREFIX = "threadr:stats:cache:"

# Rate-limit state, one hash-tagged group per identity: threadr:rl:{<identity>}:<policy>.
RATE_LIMIT_PREFIX = "threadr:rl:"

# Free-tier usage counters per identity and UTC day / month.
QUOTA_PREFIX = "threadr:quota:"


def cache_key(kind: str, digest: str) -> str:
    """`kind` is "url" or "text"; `digest` the sha256 hex of the normalised input."""
    return f"{CACHE_PREFIX}{kind}:{digest}"
