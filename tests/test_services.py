"""The wiring: what a process builds from its settings, and that it closes only what it built."""

from __future__ import annotations

import contextlib
from typing import Any

from fakeredis import FakeServer

from tests.factories import CountingRedis, make_settings
from threadr.limits import quota, ratelimit
from threadr.services import build_services


class Fetcher:
    """An injected fetcher: the wiring must leave it open."""

    closed = False

    async def fetch(self, url: str) -> Any:
        raise AssertionError("not called")

    async def aclose(self) -> None:
        self.closed = True


async def test_without_anything_set_it_serves_from_memory_and_offline() -> None:
    async with contextlib.AsyncExitStack() as stack:
        services = await build_services(make_settings(), stack)
        assert services.watch.status == "not_configured"
        assert not services.cache.gateway.configured and services.cache.gateway.lane is None
        assert services.pipeline.writer.openai is None
        assert services.admission.cache is services.cache is services.pipeline.cache


async def test_an_injected_redis_is_used_and_left_open() -> None:
    redis = CountingRedis(server=FakeServer())
    fetcher = Fetcher()
    settings = make_settings(REDIS_MAX_CONNECTIONS="8")
    async with contextlib.AsyncExitStack() as stack:
        services = await build_services(settings, stack, redis=redis, fetcher=fetcher)
        gateway = services.cache.gateway
        assert services.watch.status == "connected"
        assert gateway.lane is not None and gateway.lane.size == 6  # REDIS_MAX_CONNECTIONS' ¾
        # The scripts registered at start-up, so the first requests need not send them.
        shas = (ratelimit.SCRIPT.sha, ratelimit.TIER_SCRIPT.sha, quota.SCRIPT.sha)
        assert await redis.script_exists(*shas) == [True, True, True]
    assert await redis.ping() and not fetcher.closed  # what was injected stays its owner's
