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

SCRIPT = Script("ratelimit.lua")  # any policies, each under a key of its own
# A generation tier's two policies under one key, with the cache read: every cache hit's one
# command, a script of its own for its cost (its comments give the measurements).
TIER_SCRIPT = Script("tier.lua", needs=("gcra_pair.lua",))
_NONE = "none"  # the policy of a decision made with the limiter off


class _Tier:
    """Everything about a tier that does not change per request, computed once."""

    __slots__ = (
        "alone",
        "argv",
        "disabled",
        "memory_suffixes",
        "paired",
        "policies",
        "reading",
        "shape",
        "specs",
        "suffixes",
    )

    def __init__(self, policies: tuple[Policy, ...]) -> None:
        self.policies = policies
        # Interval rounded up to whole µs: never faster than q/w, and exact integer arithmetic.
        self.specs = tuple((-(-p.window * 1_000_000 // p.limit), p.limit) for p in policies)
        argv = self.argv = tuple(str(v).encode() for spec in self.specs for v in spec)
        # The script's arguments: the state keys (and a key read along), then mode and now,
        # then this constant tail.
        paired = self.paired = len(policies) == 2 and policies[0].key == policies[1].key
        script = TIER_SCRIPT if paired else SCRIPT
        keys = (policies[0].key,) if paired else tuple(p.key for p in policies)
        self.suffixes = tuple(f"}}:{key}".encode() for key in keys)
        self.alone = ScriptCall(script, keys=len(keys), argc=2, tail=argv)
        self.reading = ScriptCall(script, keys=len(keys) + 1, argc=2, tail=argv, hot=True)
        # In memory each policy keeps a state of its own (an entry costs what a key would).
        self.memory_suffixes = tuple(f"}}:{p.key}/{p.name}".encode() for p in policies)
        self.shape = tuple((p.name, p.limit, p.window) for p in policies)
        self.disabled = Decision(True, "disabled")


def _build(tier: _Tier, out: list[int], reason: Reason | None) -> Decision:
    allowed = out[0] == 1
    # After `allowed`, the script returns (remaining, µs to next unit, µs to full) per policy,
    # made whole seconds here (rounded up). A loop, not a comprehension calling a helper: this
    # runs on every cache hit, and each Python call there counts (bench/callcount.py).
    states = []
    closest = None
    for i, p in enumerate(tier.policies):
        state = PolicyState(
            p.name, p.limit, p.window, out[3 * i + 1], -(-out[3 * i + 2] // 1_000_000),
            -(-out[3 * i + 3] // 1_000_000),
        )  # fmt: skip
        states.append(state)
        # The closest to its limit: fewest remaining, then the longest wait.
        if closest is None or (state.remaining, -state.reset) < (closest.remaining, -closest.reset):
            closest = state
    # Denied means some policy has nothing left; the request passes once the slowest refills.
    retry = 0 if allowed else max((s.reset for s in states if s.remaining == 0), default=1)
    reason = reason or ("allowed" if allowed else "denied")
    return Decision(allowed, reason, tuple(states), closest, retry, tier.shape)


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
        self.decisions: collections.defaultdict[tuple[str, Reason], int] = collections.defaultdict(
            int
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

    def both_tiers(self, identity: str) -> tuple[tuple[bytes, bytes], tuple[bytes, ...]] | None:
        """For a call that picks a signed-in request's tier itself (signed_in.lua, which runs
        tier.lua's arithmetic): the state keys of `identity`'s free and premium tiers, and both
        tiers' policy arguments (tier.lua's ARGV[3..6] each); None when the limiter is off or a
        tier is not a pair of policies in one key."""
        free, premium = self._tiers[False], self._tiers[True]
        if not (self.enabled and free.paired and premium.paired):
            return None
        base = f"{RATE_LIMIT_PREFIX}{{{identity_tag(identity)}".encode()
        return (base + free.suffixes[0], base + premium.suffixes[0]), free.argv + premium.argv

    def now(self) -> bytes:
        """The scripts' `now`: the app's clock in µs, or "" for Redis's TIME (`_decide` has
        this inline: a call saved on every hit)."""
        return str(round(self._clock() * 1_000_000)).encode() if self._send_time else b""

    def decided(self, out: list[int], *, premium: bool) -> Decision:
        """The decision such a call made (its reply's numbers, as tier.lua's), counted in
        `decisions` like any other."""
        decision = _build(self._tiers[premium], out, None)
        closest = decision.closest
        self.decisions[closest.name if closest else _NONE, decision.reason] += 1
        return decision

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
        states = [base + suffix for suffix in tier.memory_suffixes]
        out = self.memory.apply(states, tier.specs, round(self._clock() * 1_000_000), mode == b"1")
        reason: Reason | None = "degraded" if self.gateway.configured else None
        return _build(tier, out, reason), UNAVAILABLE
