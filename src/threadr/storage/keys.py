"""Every Redis key prefix the service uses, in one place. All start with `threadr:`."""

from __future__ import annotations

import hashlib
import re

ROOT = "threadr:"  # every key the service writes starts with this

# Cached threads, msgpack-encoded CacheEntry; TTL = CACHE_TTL_HOURS. This prefix holds entries
# only (no counters, locks or indexes), so its size is the number of cached threads.
CACHE_PREFIX = f"{ROOT}cache:v1:"

# Index of the cache entries: a sorted set of their keys scored by expiry (epoch seconds),
# written with each entry and trimmed of expired members before it is counted (docs/api.md).
CACHE_INDEX_KEY = f"{ROOT}cache-index:v1"

# Counters shared by every instance (storage/counters.py), a hash per subject under
# `threadr:stats:`. Cache hits and misses (fields `hits`, `misses`) since the key was created.
CACHE_STATS_KEY = f"{ROOT}stats:cache"

# Rate-limit state, one hash-tagged group per identity: threadr:rl:{<identity>}:<policy>.
RATE_LIMIT_PREFIX = f"{ROOT}rl:"

# Free-tier usage counters per identity and UTC day / month.
QUOTA_PREFIX = f"{ROOT}quota:"


def cache_key(kind: str, digest: str) -> str:
    """`kind` is "url" or "text"; `digest` the sha256 hex of the normalised input."""
    return f"{CACHE_PREFIX}{kind}:{digest}"


# What may appear verbatim in a key (IP addresses, `user:<id>`); anything else is hashed.
_PLAIN_IDENTITY = re.compile(r"[A-Za-z0-9:._@-]{1,64}")


def identity_tag(identity: str) -> str:
    """The identity inside a key's `{hash tag}`: itself when plain, else `#` + a hash. Plain tags
    never hold `#`, `{` or `}`, so no identity can land in another's tag or hash slot."""
    if _PLAIN_IDENTITY.fullmatch(identity):
        return identity
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    return "#" + digest[:32]


# The email list (subscribers/store.py), one hash tag so its script runs on Redis Cluster; no
# TTL: an address stays until it is removed (DELETE /api/emails).
SUBSCRIBERS_PREFIX = f"{ROOT}subscribers:{{list}}:"
SUBSCRIBER_RECORDS = f"{SUBSCRIBERS_PREFIX}records"  # hash: address -> record
SUBSCRIBER_INDEX = f"{SUBSCRIBERS_PREFIX}index"  # sorted set: address by subscribed_at (ms)
SUBSCRIBER_SOURCES = f"{SUBSCRIBERS_PREFIX}sources"  # hash: source -> count of addresses

# Usage analytics (analytics/), per UTC day (YYYY-MM-DD), each key expiring
# ANALYTICS_RETENTION_DAYS after its latest write. Written by the counters' pipeline, read by
# one pipeline per request: no script, so no hash tag is needed for Redis Cluster.
ANALYTICS_PREFIX = f"{ROOT}analytics:v1:"


def analytics_day_key(day: str) -> str:
    """The hash of a day's counts (fields named in analytics/counts.py)."""
    return f"{ANALYTICS_PREFIX}day:{day}"


def analytics_users_key(day: str) -> str:
    """The HyperLogLog of a day's client identities (unique users)."""
    return f"{ANALYTICS_PREFIX}users:{day}"
