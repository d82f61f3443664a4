"""Every Redis key prefix the service uses, in one place. All start with `threadr:`."""

from __future__ import annotations

import hashlib
import re

ROOT = "threadr:"  # every key the service writes starts with this

# Cached threads, msgpack-encoded CacheEntry; TTL = CACHE_TTL_HOURS. This prefix holds entries
# only (no counters, locks or indexes). One article's thread may sit under several keys: its
# request URL's, the URL its fetch ended at and its text digest's, and every other URL it was
# later found for (aliases: copies of the entry, each expiring with the entry it copied).
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
    """`kind` is "url" or "text" (`digest`: the sha256 hex of the normalised input), or
    "article" (the sha256 hex of the text extracted from a page, as the writer gets it)."""
    return f"{CACHE_PREFIX}{kind}:{digest}"


# Generation leases (storage/leases.py): the instance writing a cache key's entry holds its
# lease, a random token, so that the others wait for the entry instead of paying OpenAI again.
# The lease's hash tag is the entry's whole key, which puts both in one Redis Cluster slot (a
# key without braces hashes whole) for the script that reads one and takes the other. TTL:
# leases.LEASE_MS (15 s), renewed every 5 s while the holder works; see leases.py for why.
LEASE_PREFIX = f"{ROOT}lease:v1:"
# Pub/sub channel per cache key: its lease was released (the entry written, or the work
# failed), so waiters look now instead of at their next check. Not a key: nothing is stored.
RELEASED_PREFIX = f"{ROOT}released:v1:"


def lease_key(entry_key: str) -> str:
    return f"{LEASE_PREFIX}{{{entry_key}}}"


def released_channel(entry_key: str) -> str:
    return f"{RELEASED_PREFIX}{entry_key}"


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


def email_tag(email: str) -> str:
    """An email address inside a key: a hash, so key names never show an address."""
    return hashlib.sha256(email.encode()).hexdigest()[:32]


# Accounts (accounts/users.py): one msgpack record per normalised email, created with SET NX,
# which makes the key itself the unique index of emails. No TTL.
ACCOUNT_PREFIX = f"{ROOT}account:v1:"


def account_key(email: str) -> str:
    return f"{ACCOUNT_PREFIX}{{a:{email_tag(email)}}}"


# Every key of one account shares the hash tag `{u:<user id>}`, so its session, its premium and
# its saved threads are in one Redis Cluster slot and one script can read them together (the
# signed-in request's session lookup reads its premium in the same call).


def user_tag(user_id: str) -> str:
    return f"{{u:{user_id}}}"


# A session: a hash under the SHA-256 of its token (the token itself is never stored), with a
# sliding TTL (SESSION_TTL_DAYS) capped at SESSION_MAX_DAYS after sign-in.
SESSION_PREFIX = f"{ROOT}session:v1:"


def session_key(user_id: str, token_hash: str) -> str:
    return f"{SESSION_PREFIX}{user_tag(user_id)}:{token_hash}"


def session_index_key(user_id: str) -> str:
    """A sorted set of the account's sessions (`<id>:<token hash>` by sign-in time, ms)."""
    return f"{SESSION_PREFIX}{user_tag(user_id)}:index"


# Premium (accounts/premium.py): a hash per holder — an account (`u:<id>`) or a paid email with
# no account yet (`e:<email hash>`) — with `until` (epoch ms) and one field per grant reference
# (the grant's record, and its idempotency: a reference is applied once). No TTL: the record of
# grants outlives the premium.
PREMIUM_PREFIX = f"{ROOT}premium:v1:"


def premium_key(holder: str) -> str:
    return f"{PREMIUM_PREFIX}{{{holder}}}"


# Saved threads (history/): a sorted set of the account's thread ids by save time and one
# msgpack record per thread, trimmed to the account's allowance in the same script.
HISTORY_PREFIX = f"{ROOT}history:v1:"


def history_index_key(user_id: str) -> str:
    return f"{HISTORY_PREFIX}{user_tag(user_id)}:index"


def history_record_key(user_id: str, thread_id: str) -> str:
    return f"{HISTORY_PREFIX}{user_tag(user_id)}:t:{thread_id}"


# Stripe events already handled (billing/webhooks.py), kept past Stripe's 3-day retry window.
STRIPE_EVENT_PREFIX = f"{ROOT}stripe:event:"

# Which premium grant a Stripe payment made (billing/links.py): one record per Stripe id (pi_…,
# in_…, ch_…, sub_…) naming the holder and the grant's reference, for the refund or the
# cancellation that later names the same id; kept billing.links.LINK_TTL_SECONDS (400 days).
STRIPE_LINK_PREFIX = f"{ROOT}stripe:link:"
