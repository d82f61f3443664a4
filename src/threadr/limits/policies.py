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
    key: str  # key suffix; premium has its own state, so an upgrade starts with a full allowance


def policies(settings: Settings, *, premium: bool = False) -> tuple[Policy, ...]:
    """The `burst` and `hourly` policies of RATE_LIMIT_* (premium: RATE_LIMIT_PREMIUM_REQUESTS)."""
    s = settings
    window = max(1, round(s.rate_limit_window_hours * 3600))
    hourly = s.rate_limit_premium_requests if premium else s.rate_limit_requests
    return (
        Policy("burst", s.rate_limit_burst, s.rate_limit_burst_seconds, "burst"),
        Policy("hourly", hourly, window, "hourly:premium" if premium else "hourly"),
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
