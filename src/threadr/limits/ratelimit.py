"""Rate limiting: GCRA policies checked and consumed atomically in one Lua call per request.

Error bound: GCRA keeps one timestamp per policy (constant memory). `q` requests per `w` seconds
means `q` back to back from full, then one per `w/q` seconds; remaining, reset and Retry-After
are exact for that (intervals round up to whole µs, so the rate is never exceeded). Against a
strict sliding log we accept that an identity idle for `w` can fit `2q - 1` requests into one
`w`-second span (its burst, then the refill). `reset` (the header's `t`) is the seconds until
the next unit is paid back, i.e. when a denied request would pass; `full_reset` until full.

With Redis down (or not configured) the same arithmetic runs in process (window.py): N instances
admit up to N times the limits, and that state is never copied to Redis. RATE_LIMIT_CLIENT_CLOCK
(or an injected clock) sends the app's time instead of using Redis TIME: skew between instances
then shifts windows by the skew.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import get_args

from threadr.config import Settings
from threadr.storage.gateway import UNAVAILABLE, Gateway, Unavailable
from threadr.storage.keys import RATE_LIMIT_PREFIX, identity_tag
from threadr.storage.scripts import Script, ScriptCall

from .policies import Decision, Policy, PolicyState, Reason, policies
from .window import MemoryWindow

SCRIPT = Script("ratelimit.lua")
_NONE = "none"  # the policy of a decision made with the limiter off


class _Tier:
    """Everything about a tier that does not change per request, computed once."""

    __slots__ = ("alone", "disabled", "policies", "reading", "shape", "specs", "suffixes")

    def __init__(self, policies: tuple[Policy, ...]) -> None:
        self.policies = policies
        self.suffixes = tuple(f"}}:{p.key}".encode() for p in policies)
        # Interval rounded up to whole µs: never faster than q/w, and exact integer arithmetic.
        self.specs = tuple((-(-p.window * 1_000_000 // p.limit), p.limit) for p in policies)
        argv = tuple(str(v).encode() for spec in self.specs for v in spec)
        # The script's arguments: the policy keys (and a key read along), then mode and now.
        self.alone = ScriptCall(SCRIPT, keys=len(policies), argc=2, tail=argv)
        self.reading = ScriptCall(SCRIPT, keys=len(policies) + 1, argc=2, tail=argv, hot=True)
        self.shape = tuple((p.name, p.limit, p.window) for p in policies)
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
    return Decision(allowed, reason, states, closest, retry, tier.shape)


class Limiter:
    """Checks (and consumes) an identity's policies in Redis, or in memory when it cannot."""

    def __init__(
        self,
        gateway: Gateway,
        settings: Settings,
        *,
        clock: Callable[[], float] | None = None,
        memory: MemoryWindow | None = None,
    ) -> None:
        self.gateway = gateway
        self.settings = settings
        self.enabled = settings.rate_limit_enabled
        # An injected clock is sent to the script too, so tests control Redis-side time.
        self._send_time = settings.rate_limit_client_clock or clock is not None
        self._clock = clock or time.time
        self.memory = memory or MemoryWindow()
        self._tiers = {p: _Tier(policies(settings, premium=p)) for p in (False, True)}
        # Decisions since start by (policy, reason), for /metrics: the policy is the one the
        # RateLimit header shows (the closest to its limit; for a denial, the one that denied),
        # "none" when the limiter is off. A defaultdict: counting is one C-level increment.
        self.decisions: collections.defaultdict[tuple[str, Reason], int] = (
            collections.defaultdict(int)
        )

    @property
    def counts(self) -> dict[Reason, int]:
        """Decisions since start by reason alone."""
        totals = dict.fromkeys(get_args(Reason), 0)
        for (_, reason), n in self.decisions.items():
            totals[reason] += n
        return totals

    @property
    def using_redis(self) -> bool:
        return self.gateway.available

    async def hit(
        self, identity: str, *, premium: bool = False, read: str | None = None
    ) -> tuple[Decision, bytes | Unavailable | None]:
        """Check and consume every policy; GET `read` in the same round trip if given.

        The second value is what Redis holds at `read`; UNAVAILABLE when nothing was read there
        (no `read` asked for, or the decision was made in memory: ask the cache, whose memory
        answers without Redis). `premium` is for premium accounts' generations (issue #11:
        POST /api/generate)."""
        return await self._counted(self._tiers[premium], identity, read)

    async def hit_policies(
        self, identity: str, policies: tuple[Policy, ...]
    ) -> tuple[Decision, bytes | Unavailable | None]:
        """`hit` on policies of the caller's own (sign-in attempts, registrations), all keyed
        under `identity`'s hash tag and decided in one script call."""
        # A tier of their own costs a few µs: these are rare calls, and their keys vary.
        return await self._counted(_Tier(policies), identity, None)

    async def _counted(
        self, tier: _Tier, identity: str, read: str | None
    ) -> tuple[Decision, bytes | Unavailable | None]:
        """Decide `tier` for `identity` (one unit), counted in `decisions` by its outcome."""
        if not self.enabled:
            self.decisions[_NONE, "disabled"] += 1
            return tier.disabled, UNAVAILABLE
        decision, cached = await self._decide(tier, identity, b"1", read)
        closest = decision.closest
        self.decisions[closest.name if closest else _NONE, decision.reason] += 1
        return decision, cached

    async def peek(self, identity: str, *, premium: bool = False) -> Decision:
        """The numbers `hit` would report, without consuming anything."""
        tier = self._tiers[premium]
        if not self.enabled:
            return tier.disabled
        return (await self._decide(tier, identity, b"0", None))[0]

    async def _decide(
        self, tier: _Tier, identity: str, mode: bytes, read: str | None
    ) -> tuple[Decision, bytes | Unavailable | None]:
        base = f"{RATE_LIMIT_PREFIX}{{{identity_tag(identity)}".encode()
        keys = [base + suffix for suffix in tier.suffixes]
        now = str(round(self._clock() * 1_000_000)).encode() if self._send_time else b""
        if read is not None:
            got = await self.gateway.script_and_get(
                tier.reading, keys, (mode, now), read.encode(), "limiter"
            )
            if got is not UNAVAILABLE:
                return _build(tier, got[0], None), got[1]
        else:
            out = await self.gateway.script(tier.alone, keys, (mode, now), "limiter")
            if out is not UNAVAILABLE:
                return _build(tier, out, None), UNAVAILABLE
        out = self.memory.apply(keys, tier.specs, round(self._clock() * 1_000_000), mode == b"1")
        reason: Reason | None = "degraded" if self.gateway.configured else None
        return _build(tier, out, reason), UNAVAILABLE
