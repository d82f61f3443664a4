"""Every Redis key prefix the service uses, in one place. All start with `threadr:`."""

from __future__ import annotations

import hashlib
import re

ROOT = "threadr:"  # every key the service writes starts with this

# Cached threads, msgpack-encoded CacheEntry; TTL = CACHE_TTL_HOURS. This prefix holds entries
# only (no counters, locks or indexes), so its size is the number of cached threads.
CACHE_PREFIX = f"{ROOT}cache:v1:"

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
