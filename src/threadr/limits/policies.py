"""Rate-limit policies from the settings, and the decision a check returns (with the numbers the
RateLimit headers and /api/rate-limit-status show)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from threadr.config import Settings

# allowed/denied: decided in Redis; degraded: in memory while a configured Redis fails (no Redis
# configured decides in memory as allowed/denied); disabled: RATE_LIMIT_ENABLED=false.
Reason = Literal["allowed", "denied", "degraded", "disabled"]


@dataclass(frozen=True, slots=True)
class Policy:
    name: str  # as shown in the RateLimit headers
    limit: int
    window: int  # seconds
    # The suffix of the identity's key that holds this policy's state. Policies checked together
    # under one suffix share that key (one read and one write for all of them).
    key: str


# The tiers' state keys (storage/keys.py names the prefix): both policies of a tier in one key
# (storage/lua/tier.lua); generations, subscriptions and admin calls all count there. Premium
# has its own, so an upgrade starts with a full allowance. (Until issue #16 each policy had a
# key of its own, `burst`, `hourly` and `hourly:premium`; those are no longer read:
# docs/limits.md says what that meant for a deploy.)
TIER_KEY = "tier"
TIER_PREMIUM_KEY = "tier:premium"


def policies(settings: Settings, *, premium: bool = False) -> tuple[Policy, ...]:
    """The `burst` and `hourly` policies of RATE_LIMIT_* (premium: RATE_LIMIT_PREMIUM_REQUESTS)."""
    s = settings
    window = max(1, round(s.rate_limit_window_hours * 3600))
    hourly = s.rate_limit_premium_requests if premium else s.rate_limit_requests
    key = TIER_PREMIUM_KEY if premium else TIER_KEY
    return (
        Policy("burst", s.rate_limit_burst, s.rate_limit_burst_seconds, key),
        Policy("hourly", hourly, window, key),
    )


class PolicyState(msgspec.Struct, frozen=True, gc=False):
    name: str
    limit: int
    window: int  # seconds
    remaining: int  # requests that would pass right now (after this one, for a hit)
    reset: int  # seconds until the next unit is paid back; 0 when full. The header's `t`.
    full_reset: int  # seconds until `remaining == limit` again


class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    reason: Reason
    policies: tuple[PolicyState, ...] = ()
    closest: PolicyState | None = None  # fewest remaining (then longest reset): shown in RateLimit
    retry_after: int = 0  # seconds; > 0 only when denied
    # The tier's policies as (name, limit, window): one tuple per tier, cheap to hash, from
    # which the web layer renders (and caches) the RateLimit-Policy header.
    tier: tuple[tuple[str, int, int], ...] = ()

    def policy(self, name: str) -> PolicyState | None:
        return next((p for p in self.policies if p.name == name), None)


def login_policies(settings: Settings, email_tag: str) -> tuple[Policy, ...]:
    """Sign-in attempts, counted under the client: per email address from that client
    (LOGIN_ATTEMPTS_PER_EMAIL per LOGIN_ATTEMPTS_WINDOW_MINUTES) and in all from that client
    (LOGIN_ATTEMPTS_PER_CLIENT an hour). Every attempt counts, right or wrong: counting only
    failures would tell a guesser which password was right by what it did to the count."""
    s = settings
    window = s.login_attempts_window_minutes * 60
    return (
        Policy("login-email", s.login_attempts_per_email, window, f"email:{email_tag}"),
        Policy("login", s.login_attempts_per_client, 3600, "all"),
    )


def registration_policies(settings: Settings) -> tuple[Policy, ...]:
    """New accounts per client: REGISTRATIONS_PER_CLIENT an hour."""
    return (Policy("register", settings.registrations_per_client, 3600, "all"),)
