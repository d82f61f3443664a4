"""The limiter as the client sees it: RateLimit headers and the 429's words, from decisions made
in memory with a settable clock, and the status endpoints' `degraded` (the endpoints on a real
Redis are in integration/)."""

from __future__ import annotations

from fakeredis import FakeAsyncRedis as FakeRedis
from fakeredis import FakeServer

from tests.factories import Clock, limit_settings, make_gateway, make_settings, running_app
from threadr.limits.policies import Decision
from threadr.limits.ratelimit import Limiter
from threadr.web.limits import rate_limit_headers, rate_limited

STATUS_PATHS = ("/api/rate-limit-status", "/api/usage/status")


def memory_limiter(**limits: int) -> Limiter:
    return Limiter(make_gateway(None), limit_settings(**limits), clock=Clock(1_700_000_000.0))


async def test_headers_follow_the_draft() -> None:
    limiter = memory_limiter(burst=10, burst_seconds=60, requests=50)
    decision, _ = await limiter.hit("192.0.2.1")
    assert rate_limit_headers(decision) == {
        "RateLimit-Policy": '"burst";q=10;w=60, "hourly";q=50;w=3600',
        "RateLimit": '"burst";r=9;t=6',
    }
    again, _ = await limiter.hit("192.0.2.9")
    assert (
        rate_limit_headers(again)["RateLimit-Policy"]
        is rate_limit_headers(decision)["RateLimit-Policy"]
    )  # rendered once per tier
    for _ in range(9):
        await limiter.hit("192.0.2.1")
    denied, _ = await limiter.hit("192.0.2.1")
    headers = rate_limit_headers(denied)
    assert headers["RateLimit"] == '"burst";r=0;t=6'
    assert int(headers["Retry-After"]) >= 6


def test_no_headers_when_disabled() -> None:
    assert rate_limit_headers(Decision(True, "disabled")) == {}


async def test_a_denial_says_which_limit_and_how_long_to_wait() -> None:
    limiter = memory_limiter(burst=2, burst_seconds=60, requests=1000)
    for _ in range(2):
        await limiter.hit("192.0.2.2")
    denied, _ = await limiter.hit("192.0.2.2")
    headers = rate_limit_headers(denied)
    error = rate_limited(denied, headers)
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.detail == "Too many requests (2 requests per 60 seconds); try again in 30 seconds."
    assert error.headers is headers and headers["Retry-After"] == "30"


async def test_long_waits_are_said_in_minutes_and_hours() -> None:
    hourly = memory_limiter(burst=1000, requests=2)
    daily = memory_limiter(burst=1000, requests=2, window_hours=48)
    for limiter, words in ((hourly, "try again in 30 minutes"), (daily, "try again in 24 hours")):
        for _ in range(2):
            await limiter.hit("192.0.2.3")
        denied, _ = await limiter.hit("192.0.2.3")
        assert words in rate_limited(denied, rate_limit_headers(denied)).detail


async def test_the_status_endpoints_say_when_memory_answers() -> None:
    """`degraded` while a configured Redis is away and this instance's memory decides; not
    when Redis answers, nor when none is configured (memory is then the design)."""
    server = FakeServer()
    async with running_app(make_settings(), redis=FakeRedis(server=server)) as client:
        before = [(await client.get(path)).json() for path in STATUS_PATHS]
        server.connected = False
        during = [(await client.get(path)).json() for path in STATUS_PATHS]
    async with running_app(make_settings()) as client:
        unconfigured = [(await client.get(path)).json() for path in STATUS_PATHS]
    assert [body["degraded"] for body in before] == [False, False]
    assert before[0]["using_redis"] is True
    assert [body["degraded"] for body in during] == [True, True]
    assert during[0]["using_redis"] is False
    assert [body["degraded"] for body in unconfigured] == [False, False]
    assert unconfigured[0]["using_redis"] is False
