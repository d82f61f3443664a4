"""Rate limiting: GCRA policies checked and consumed atomically in one Lua call per request.

Error bound: GCRA keeps one timestamp per policy (constant memory). `q` requests per `w` seconds
means `q` back to back from full, then one per `w/q` seconds; remaining, reset and Retry-After
are exact for that (intervals round up to whole µs, so the rate is never exceeded). Against a
strict sliding log we accept that an identity idle for `w` can fit `2q - 1` requests into one
`w`-second span (its burst, then the refill). `reset` (the header's `t`) is the seconds until
the next unit is paid back, i.e. when a denied request would pass; `full_reset` until full.

With Redis down (or not configured) the same arithmetic runs in process per app instance, behind
a CircuitBreaker: N instances admit up to N times the limits, and that state is never copied to
Redis; `also_get` then yields None. RATE_LIMIT_CLIENT_CLOCK (or an injected clock) sends the
app's time instead of using Redis TIME: skew between instances then shifts windows by the skew.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast, get_args

import msgspec
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from .breaker import UNAVAILABLE, CircuitBreaker
from .config import Settings
from .errors import ConfigError
from .keys import RATE_LIMIT_PREFIX, identity_tag
from .lane import Lane, bulk
from .lua import Script

log = logging.getLogger(__name__)
T = TypeVar("T")

SCRIPT = Script("ratelimit.lua")

Reason = Literal["allowed", "denied", "degraded", "disabled"]


@dataclass(frozen=True, slots=True)
class Policy:
    name: str  # as shown in the RateLimit headers
    limit: int
    window: int  # seconds
    key: str  # key suffix; premium has its own state, so an upgrade starts with a full allowance


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """Limiter knobs; each field `f` is read from `Settings.rate_limit_<f>` (env RATE_LIMIT_<F>)."""

    enabled: bool = True  # RATE_LIMIT_ENABLED
    burst: int = 10  # RATE_LIMIT_BURST
    burst_seconds: int = 60  # RATE_LIMIT_BURST_SECONDS
    requests: int = 50  # RATE_LIMIT_REQUESTS
    window_hours: float = 1.0  # RATE_LIMIT_WINDOW_HOURS
    premium_requests: int = 200  # RATE_LIMIT_PREMIUM_REQUESTS
    client_clock: bool = False  # RATE_LIMIT_CLIENT_CLOCK: send the app's time instead of TIME

    def __post_init__(self) -> None:
        if min(self.burst, self.burst_seconds, self.requests, self.premium_requests) < 1 or (
            self.window_hours * 3600 < 1
        ):
            raise ConfigError("RATE_LIMIT_* limits and windows must be at least 1 (second).")

    @classmethod
    def from_settings(cls, s: Settings) -> LimitSettings:
        return cls(
            enabled=s.rate_limit_enabled,
            burst=s.rate_limit_burst,
            burst_seconds=s.rate_limit_burst_seconds,
            requests=s.rate_limit_requests,
            window_hours=s.rate_limit_window_hours,
            premium_requests=s.rate_limit_premium_requests,
            client_clock=s.rate_limit_client_clock,
        )

    def policies(self, *, premium: bool = False) -> tuple[Policy, ...]:
        window = max(1, round(self.window_hours * 3600))
        hourly = self.premium_requests if premium else self.requests
        return (
            Policy("burst", self.burst, self.burst_seconds, "burst"),
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
    policy_header: str = ""  # the tier's constant RateLimit-Policy value

    def policy(self, name: str) -> PolicyState | None:
        return next((p for p in self.policies if p.name == name), None)


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """Headers of draft-ietf-httpapi-ratelimit-headers-10, plus Retry-After when denied."""
    closest = decision.closest
    if closest is None:
        return {}
    headers = {
        "RateLimit-Policy": decision.policy_header,
        "RateLimit": f'"{closest.name}";r={closest.remaining};t={closest.reset}',
    }
    if not decision.allowed:
        headers["Retry-After"] = str(max(decision.retry_after, closest.reset, 1))
    return headers


class MemoryWindow:
    """The script's arithmetic in process: the fallback, and the limiter without Redis."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._tats: dict[bytes, int] = {}

    def apply(
        self, keys: Sequence[bytes], specs: Sequence[tuple[int, int]], now: int, consume: bool
    ) -> list[int]:
        """Same inputs and output as lua/ratelimit.lua (see the comments there)."""
        tats = [max(self._tats.get(key, now), now) for key in keys]
        allowed = all(
            tat - now + interval <= limit * interval
            for tat, (interval, limit) in zip(tats, specs, strict=True)
        )
        out = [int(allowed)]
        for key, (interval, limit), tat in zip(keys, specs, tats, strict=True):
            if allowed and consume:
                tat += interval
                self._tats[key] = tat
            debt = tat - now
            used = -(-debt // interval)
            nxt = debt - (min(used, limit) - 1) * interval if used > 0 else 0
            out += (max(limit - used, 0), nxt, debt)
        if len(self._tats) > self.max_keys:
            # Paid-off entries say nothing; past that, forget the oldest. Forgetting can only let
            # a request through, never wrongly deny one.
            self._tats = {k: t for k, t in self._tats.items() if t > now}
            while len(self._tats) > self.max_keys * 9 // 10:
                del self._tats[next(iter(self._tats))]
        return out


class _Tier:
    """Everything about a tier that does not change per request, computed once."""

    __slots__ = (
        "argv",
        "disabled",
        "header",
        "lane_heads",
        "lane_tail",
        "numkeys",
        "numkeys_with_cache",
        "policies",
        "specs",
        "suffixes",
    )

    def __init__(self, policies: tuple[Policy, ...]) -> None:
        self.policies = policies
        self.suffixes = tuple(f"}}:{p.key}".encode() for p in policies)
        # Interval rounded up to whole µs: never faster than q/w, and exact integer arithmetic.
        self.specs = tuple((-(-p.window * 1_000_000 // p.limit), p.limit) for p in policies)
        # Pre-encoded: redis-py sends bytes as they are, anything else through its encoder.
        self.argv = tuple(str(v).encode() for spec in self.specs for v in spec)
        self.numkeys = str(len(policies)).encode()
        self.numkeys_with_cache = str(len(policies) + 1).encode()
        # The lane's EVALSHA, packed but for the keys, the mode and the time:
        # numkeys, policy keys, cache key, mode, now, argv.
        nargs = 1 + len(policies) + 1 + 2 + len(self.argv)
        evalsha, eval_ = SCRIPT.heads(nargs)
        numkeys = bulk(self.numkeys_with_cache)
        self.lane_heads = (evalsha + numkeys, eval_ + numkeys)
        self.lane_tail = b"".join(map(bulk, self.argv))
        self.header = ", ".join(f'"{p.name}";q={p.limit};w={p.window}' for p in policies)
        self.disabled = Decision(True, "disabled")


def _seconds(us: int) -> int:
    return -(-us // 1_000_000)


def _build(tier: _Tier, out: list[int], reason: Reason | None) -> Decision:
    allowed = out[0] == 1
    states = tuple(
        PolicyState(p.name, p.limit, p.window, remaining, _seconds(nxt), _seconds(full))
        # After `allowed`, the script returns (remaining, µs to next unit, µs to full) per policy.
        for p, remaining, nxt, full in zip(
            tier.policies, out[1::3], out[2::3], out[3::3], strict=True
        )
    )
    closest = min(states, key=lambda s: (s.remaining, -s.reset))
    # Denied means some policy has nothing left; the request passes once the slowest refills.
    retry = 0 if allowed else max((s.reset for s in states if s.remaining == 0), default=1)
    reason = reason or ("allowed" if allowed else "denied")
    return Decision(allowed, reason, states, closest, retry, tier.header)


class Limiter:
    """Checks (and consumes) an identity's policies in Redis, or in memory when it cannot."""

    def __init__(
        self,
        redis: Redis | None,
        settings: LimitSettings | None = None,
        *,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] | None = None,
        memory: MemoryWindow | None = None,
        combine_get: bool = True,
        lane: Lane | None = None,
    ) -> None:
        self.redis = redis
        self.lane = lane  # the cache-hit path's own connections (combine_get only)
        # True: the cache key rides in the script's KEYS (one command; a single Redis only,
        # the key is in another hash slot). False: EVALSHA + GET in one pipeline (Cluster).
        self.combine_get = combine_get
        self.settings = settings or LimitSettings()
        self.breaker = breaker or CircuitBreaker()
        # An injected clock is sent to the script too, so tests control Redis-side time.
        self._send_time = self.settings.client_clock or clock is not None
        self._clock = clock or time.time
        self.memory = memory or MemoryWindow()
        self._tiers = {p: _Tier(self.settings.policies(premium=p)) for p in (False, True)}
        self.counts: dict[str, int] = dict.fromkeys(get_args(Reason), 0)  # for /metrics

    @property
    def using_redis(self) -> bool:
        return self.redis is not None and not self.breaker.is_open

    async def load(self) -> None:
        """Register the script (SCRIPT LOAD) at start-up; after a NOSCRIPT, EVAL re-caches it."""
        if self.redis is not None:
            await SCRIPT.load(self.redis)

    async def hit(
        self, identity: str, *, premium: bool = False, also_get: str | None = None
    ) -> tuple[Decision, bytes | None]:
        """Check and consume every policy; GET `also_get` in the same round trip if given."""
        tier = self._tiers[premium]
        if not self.settings.enabled:
            self.counts["disabled"] += 1
            return tier.disabled, await self._get(also_get)
        decision, cached = await self._decide(tier, identity, b"1", also_get)
        self.counts[decision.reason] += 1
        return decision, cached

    async def peek(self, identity: str, *, premium: bool = False) -> Decision:
        """The numbers `hit` would report, without consuming anything."""
        tier = self._tiers[premium]
        if not self.settings.enabled:
            return tier.disabled
        return (await self._decide(tier, identity, b"0", None))[0]

    async def _decide(
        self, tier: _Tier, identity: str, mode: bytes, also_get: str | None
    ) -> tuple[Decision, bytes | None]:
        base = f"{RATE_LIMIT_PREFIX}{{{identity_tag(identity)}".encode()
        keys = [base + suffix for suffix in tier.suffixes]
        now = str(round(self._clock() * 1_000_000)).encode() if self._send_time else b""
        if also_get is not None and self.combine_get:
            # The script reads the cache key too: one command, one round trip.
            cache_key = also_get.encode()
            variable = (*keys, cache_key, mode, now)
            out = await self.breaker.call(
                self.redis,
                lambda r: SCRIPT.run(r, tier.numkeys_with_cache, *variable, *tier.argv),
                "limiter",
                lane=self.lane,
                # The same arguments, packed here but for the constant ones (tier.lane_*).
                on_lane=lambda lane: SCRIPT.run_packed(
                    lane,
                    tier.lane_heads,
                    b"".join([*map(bulk, variable), tier.lane_tail]),
                ),
            )
            if out is not UNAVAILABLE:
                cached = out.pop()
                return _build(tier, out, None), cached if isinstance(cached, bytes) else None
        else:
            args = (tier.numkeys, *keys, mode, now, *tier.argv)
            got = await self.breaker.call(
                self.redis, lambda r: _script_and_get(r, args, also_get), "limiter"
            )
            if got is not UNAVAILABLE:
                return _build(tier, got[0], None), got[1]
        out = self.memory.apply(keys, tier.specs, round(self._clock() * 1_000_000), mode == b"1")
        return _build(tier, out, "degraded" if self.redis is not None else None), None

    async def _get(self, key: str | None) -> bytes | None:
        if key is None:
            return None
        raw = await self.breaker.call(self.redis, lambda r: r.get(key), "cache read")
        return None if raw is UNAVAILABLE else cast("bytes | None", raw)


async def _script_and_get(
    redis: Redis, args: tuple[Any, ...], also_get: str | None
) -> tuple[list[int], bytes | None]:
    """The script alone, or with a GET of `also_get` in one pipeline (for Redis Cluster, where
    the cache key lives in another slot than the identity's keys)."""
    if also_get is None:
        return await SCRIPT.run(redis, *args), None
    # Raw EVALSHA, not a redis-py Script: those add a SCRIPT EXISTS round trip per pipeline.
    pipe = redis.pipeline(transaction=False)
    pipe.execute_command("EVALSHA", SCRIPT.sha_bytes, *args)
    pipe.execute_command("GET", also_get)
    out, cached = await pipe.execute(raise_on_error=False)
    if isinstance(out, NoScriptError):
        out = await SCRIPT.reload(redis, *args)
    elif isinstance(out, Exception):
        raise out
    if isinstance(cached, Exception):  # e.g. WRONGTYPE: a cache miss, not a limiter failure
        cached = None
    return out, cached
