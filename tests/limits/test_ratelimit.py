"""The GCRA limiter: window arithmetic on fakeredis and in memory, the cache read riding along,
NOSCRIPT recovery and failure behaviour (the real-Redis side is in integration/)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import fakeredis
import pytest
from fakeredis.aioredis import FakeRedis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.crc import key_slot

from tests.factories import BrokenRedis, Clock, limit_settings, make_gateway, make_settings
from threadr.config import Settings
from threadr.errors import ConfigError
from threadr.limits.policies import Decision, Policy, policies
from threadr.limits.ratelimit import Limiter
from threadr.limits.window import MemoryWindow
from threadr.storage.breaker import CircuitBreaker
from threadr.storage.gateway import UNAVAILABLE

T0 = 1_700_000_000.0  # an arbitrary instant, in seconds since the epoch
US = 1e-6


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


MakeLimiter = Callable[..., Limiter]


@pytest.fixture
def make_limiter(fake: FakeRedis, clock: Clock) -> MakeLimiter:
    def make(redis: Any = fake, *, clock: Any = clock, **overrides: Any) -> Limiter:
        settings = limit_settings(**{"requests": 1000, **overrides})
        return Limiter(make_gateway(redis), settings, clock=clock)

    return make


async def hits(limiter: Limiter, n: int, identity: str = "198.51.100.7") -> list[Decision]:
    return [(await limiter.hit(identity))[0] for _ in range(n)]


# --- window arithmetic --------------------------------------------------------------------------


async def test_limit_one_has_exact_boundaries(make_limiter: MakeLimiter, clock: Clock) -> None:
    limiter = make_limiter(burst=1, burst_seconds=60)
    assert [d.allowed for d in await hits(limiter, 2)] == [True, False]
    clock.advance(60 - US)
    (denied,) = await hits(limiter, 1)
    assert not denied.allowed
    assert denied.retry_after == 1
    assert denied.closest is not None
    assert (denied.closest.name, denied.closest.remaining, denied.closest.reset) == ("burst", 0, 1)
    clock.advance(US)
    assert [d.allowed for d in await hits(limiter, 2)] == [True, False]


async def test_burst_then_one_per_interval(make_limiter: MakeLimiter, clock: Clock) -> None:
    limiter = make_limiter(burst=10, burst_seconds=60)
    decisions = await hits(limiter, 11)
    assert [d.policies[0].remaining for d in decisions[:10]] == list(range(9, -1, -1))
    assert not decisions[10].allowed
    assert decisions[10].retry_after == 6  # one request is paid back every 60/10 s
    clock.advance(6)
    assert [d.allowed for d in await hits(limiter, 2)] == [True, False]
    clock.advance(60)
    assert (await limiter.peek("198.51.100.7")).policies[0].remaining == 10


async def test_nothing_is_consumed_when_any_policy_denies(
    make_limiter: MakeLimiter, clock: Clock
) -> None:
    limiter = make_limiter(burst=2, burst_seconds=60, requests=3, window_hours=1)
    ident = "203.0.113.9"
    assert [d.allowed for d in await hits(limiter, 3, ident)] == [True, True, False]
    after_burst_denial = await limiter.peek(ident)
    assert after_burst_denial.policy("hourly").remaining == 1  # type: ignore[union-attr]

    clock.advance(60)
    assert (await limiter.hit(ident))[0].allowed  # the hourly policy's last unit
    clock.advance(60)
    denied, _ = await limiter.hit(ident)
    assert not denied.allowed
    assert denied.closest is not None
    assert denied.closest.name == "hourly"
    # 3 units borrowed at 1200 s each; the next fits once 1080 s more are paid back.
    assert denied.retry_after == 3600 - 120 - 2 * 1200
    burst = (await limiter.peek(ident)).policy("burst")
    assert burst is not None
    assert burst.remaining == 2  # the denied hit took no burst unit


async def test_peek_consumes_nothing(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(burst=3)
    for _ in range(5):
        peeked = await limiter.peek("u")
        assert peeked.allowed
        assert peeked.policies[0].remaining == 3
    assert [d.allowed for d in await hits(limiter, 4, "u")] == [True, True, True, False]
    assert limiter.counts == {"allowed": 3, "denied": 1, "degraded": 0, "disabled": 0}


async def test_premium_has_its_own_state(make_limiter: MakeLimiter, fake: Any) -> None:
    limiter = make_limiter(requests=2, premium_requests=5, burst=100)
    for _ in range(2):
        await limiter.hit("user:1")
    assert not (await limiter.hit("user:1"))[0].allowed
    upgraded, _ = await limiter.hit("user:1", premium=True)
    assert upgraded.allowed
    assert upgraded.policy("hourly").remaining == 4  # type: ignore[union-attr]
    assert upgraded.policy("burst").remaining == 99  # type: ignore[union-attr]
    assert upgraded.tier == (("burst", 100, 60), ("hourly", 5, 3600))
    assert await fake.exists("threadr:rl:{user:1}:tier:premium")


async def test_a_tiers_policies_share_one_key(
    make_limiter: MakeLimiter, fake: Any, clock: Clock
) -> None:
    """Both policies' TATs (µs) in one key, in the tier's order: one read and one write a hit."""
    limiter = make_limiter(burst=10, burst_seconds=60, requests=100, window_hours=1)
    await limiter.hit("u")
    assert await fake.keys("threadr:rl:*") == [b"threadr:rl:{u}:tier"]
    now = round(T0 * 1_000_000)
    assert await fake.get("threadr:rl:{u}:tier") == b"%d %d" % (
        now + 6_000_000,
        now + 36_000_000,
    )
    # The key lives as long as the longer debt (the hourly policy's 36 s).
    assert 35_000 < await fake.pttl("threadr:rl:{u}:tier") <= 36_000


async def test_a_key_of_one_policy_holds_one_number(make_limiter: MakeLimiter, fake: Any) -> None:
    """Policies under keys of their own (sign-in attempts) keep the layout they always had."""
    limiter = make_limiter()
    own = (Policy("a", 5, 60, "a"), Policy("b", 5, 60, "b"))
    await fake.set("threadr:rl:{u}:a", str(round(T0 * 1_000_000) + 24_000_000))  # 2 units taken
    decision, _ = await limiter.hit_policies("u", own)
    assert [p.remaining for p in decision.policies] == [2, 4]
    assert (await fake.get("threadr:rl:{u}:b")).isdigit()


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(0, 30_000_000), st.booleans()), min_size=1, max_size=40),
    burst=st.integers(1, 6),
    hourly=st.integers(1, 12),
)
def test_remaining_is_exactly_the_true_allowance(
    steps: list[tuple[int, bool]], burst: int, hourly: int
) -> None:
    """After any history, `remaining` more requests pass at that instant and the next does not."""
    memory = MemoryWindow()
    specs = ((-(-60_000_000 // burst), burst), (-(-600_000_000 // hourly), hourly))
    keys = (b"b", b"h")
    now = 0
    for advance, hit in steps:
        now += advance
        memory.apply(keys, specs, now, consume=hit)
    out = memory.apply(keys, specs, now, consume=False)
    allowance = min(out[1], out[4])
    for _ in range(allowance):
        assert memory.apply(keys, specs, now, consume=True)[0] == 1
    assert memory.apply(keys, specs, now, consume=True)[0] == 0


@settings(max_examples=25, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(0, 20_000_000), st.booleans()), min_size=1, max_size=25),
    burst=st.integers(1, 5),
)
async def test_lua_and_memory_fallback_agree(steps: list[tuple[int, bool]], burst: int) -> None:
    """The script and its in-process twin give the same numbers for the same history."""
    r = FakeRedis(server=fakeredis.FakeServer())
    clock = Clock(T0)
    settings = limit_settings(burst=burst, requests=7)
    in_redis = Limiter(make_gateway(r), settings, clock=clock)
    in_memory = Limiter(make_gateway(None), settings, clock=clock)
    try:
        for advance, hit in steps:
            clock.advance(advance * US)
            if hit:
                assert (await in_redis.hit("x"))[0] == (await in_memory.hit("x"))[0]
            else:
                assert await in_redis.peek("x") == await in_memory.peek("x")
    finally:
        await r.aclose()


@settings(max_examples=25, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(0, 20_000_000), st.booleans()), min_size=1, max_size=25),
    limits=st.tuples(st.integers(1, 5), st.integers(1, 9)),
)
async def test_both_scripts_agree(steps: list[tuple[int, bool]], limits: tuple[int, int]) -> None:
    """A tier's two policies in one key (tier.lua) and the same policies under a key each
    (ratelimit.lua) give the same numbers for the same history."""
    r = FakeRedis(server=fakeredis.FakeServer())
    clock = Clock(T0)
    limiter = Limiter(make_gateway(r), limit_settings(requests=7), clock=clock)
    shared = (Policy("burst", limits[0], 60, "t"), Policy("hourly", limits[1], 600, "t"))
    apart = (Policy("burst", limits[0], 60, "b"), Policy("hourly", limits[1], 600, "h"))
    try:
        for advance, hit in steps:
            clock.advance(advance * US)
            if hit:
                one, _ = await limiter.hit_policies("x", shared)
                two, _ = await limiter.hit_policies("y", apart)
                assert one == two
        assert await r.keys("threadr:rl:{x}:*") in ([], [b"threadr:rl:{x}:t"])
    finally:
        await r.aclose()


# --- keys and identities ----------------------------------------------------------------------


async def test_identity_cannot_reach_another_slot(make_limiter: MakeLimiter, fake: Any) -> None:
    limiter = make_limiter()
    await limiter.hit("victim")
    await limiter.hit("x}:tier{victim")
    keys = sorted(k.decode() for k in await fake.keys("*"))
    victim = [k for k in keys if "{victim}" in k]
    assert victim == ["threadr:rl:{victim}:tier"]
    other = [k for k in keys if k not in victim]
    assert len({key_slot(k.encode()) for k in other}) == 1  # all of one identity, one slot
    assert key_slot(other[0].encode()) != key_slot(victim[0].encode())


# --- Redis behaviour on fakeredis -------------------------------------------------------------


async def test_a_read_along_returns_the_cached_value(make_limiter: MakeLimiter, fake: Any) -> None:
    await fake.set("threadr:cache:v1:url:abc", b"entry")
    limiter = make_limiter()
    assert (await limiter.hit("u", read="threadr:cache:v1:url:abc"))[1] == b"entry"
    assert (await limiter.hit("u", read="threadr:cache:v1:url:nope"))[1] is None


async def test_script_flush_is_invisible(make_limiter: MakeLimiter, fake: Any) -> None:
    limiter = make_limiter(burst=3)
    await limiter.hit("u")
    await fake.script_flush()
    await limiter.hit("u", read="k")
    await fake.script_flush()
    decisions = await hits(limiter, 2, "u")
    assert [d.allowed for d in decisions] == [True, False]
    assert limiter.counts["degraded"] == 0


async def test_wrong_types_are_misses_and_full_policies(
    make_limiter: MakeLimiter, fake: Any
) -> None:
    await fake.hset("threadr:cache:v1:url:h", "f", "v")
    limiter = make_limiter(burst=3)
    decision, cached = await limiter.hit("u", read="threadr:cache:v1:url:h")
    assert (decision.reason, cached) == ("allowed", None)  # a bad cache entry is a miss
    await fake.delete("threadr:rl:{u}:tier")
    await fake.hset("threadr:rl:{u}:tier", "f", "v")  # corrupt state: full, and written over
    decision, cached = await limiter.hit("u", read="threadr:cache:v1:url:h")
    assert (decision.reason, cached) == ("allowed", None)
    assert decision.policy("burst").remaining == 2  # type: ignore[union-attr]
    assert await fake.type("threadr:rl:{u}:tier") == b"string"
    await fake.set("threadr:rl:{u}:tier", b"not a number")
    assert (await limiter.hit("u"))[0].policy("burst").remaining == 2  # type: ignore[union-attr]


async def test_redis_time_is_used_without_a_clock(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(clock=None, burst=2)
    assert [d.reason for d in await hits(limiter, 3)] == ["allowed", "allowed", "denied"]


async def test_keys_live_only_while_there_is_debt(make_limiter: MakeLimiter, fake: Any) -> None:
    limiter = make_limiter(burst=4, burst_seconds=60)
    await hits(limiter, 2, "u")
    assert 0 < await fake.pttl("threadr:rl:{u}:tier") <= 30_000


async def test_a_disabled_limiter_touches_nothing(make_limiter: MakeLimiter, fake: Any) -> None:
    await fake.set("k", b"v")
    limiter = make_limiter(enabled=False)
    decision, cached = await limiter.hit("u", read="k")
    # Nothing was read along: the caller asks the cache (test_admission.py).
    assert (decision.allowed, decision.reason, cached) == (True, "disabled", UNAVAILABLE)
    assert await fake.keys("threadr:rl:*") == []
    assert (await limiter.peek("u")).reason == "disabled"
    assert (await limiter.hit("u"))[1] is UNAVAILABLE
    assert limiter.counts["disabled"] == 2


async def test_without_redis_it_limits_in_memory(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(redis=None, burst=2)
    decisions = await hits(limiter, 3)
    assert [d.reason for d in decisions] == ["allowed", "allowed", "denied"]
    assert not limiter.using_redis


async def test_failures_degrade_and_open_the_breaker(make_limiter: MakeLimiter) -> None:
    broken = BrokenRedis()
    limiter = make_limiter(redis=broken, burst=2)
    results = [await limiter.hit("u", read="k") for _ in range(4)]
    assert [d.reason for d, _ in results] == ["degraded"] * 4
    assert [d.allowed for d, _ in results] == [True, True, False, False]
    assert all(cached is UNAVAILABLE for _, cached in results)
    assert broken.calls == 1  # the first failure opened the breaker: the rest skip Redis
    assert limiter.counts["degraded"] == 4
    assert not limiter.using_redis


async def test_open_breaker_does_not_wait(make_limiter: MakeLimiter) -> None:
    # A non-routable address: any attempt to connect would hang for the 5 s timeout.
    r = Redis(host="10.255.255.1", port=6379, socket_connect_timeout=5, socket_timeout=5)
    breaker = CircuitBreaker()
    breaker.open("test")
    limiter = Limiter(make_gateway(r, breaker=breaker), Settings())
    try:
        decision, cached = await asyncio.wait_for(limiter.hit("u", read="k"), 0.5)
    finally:
        await r.aclose()
    assert (decision.allowed, decision.reason, cached) == (True, "degraded", UNAVAILABLE)


def test_memory_window_stays_bounded() -> None:
    memory = MemoryWindow(max_keys=100)
    for i in range(1000):
        memory.apply((b"k%d" % i,), ((1_000_000, 5),), now=0, consume=True)
    assert len(memory._tats) <= 100


def test_policies_come_from_the_settings_alone() -> None:
    burst, hourly = policies(Settings())
    assert (burst.limit, burst.window, hourly.limit, hourly.window) == (10, 60, 50, 3600)
    custom = make_settings(RATE_LIMIT_BURST="3", RATE_LIMIT_WINDOW_HOURS="0.5")
    burst, hourly = policies(custom, premium=True)
    assert (burst.limit, hourly.limit, hourly.window) == (3, 200, 1800)
    assert burst.key == hourly.key == "tier:premium"
    with pytest.raises(ConfigError, match="RATE_LIMIT_REQUESTS"):
        make_settings(RATE_LIMIT_REQUESTS="0")
