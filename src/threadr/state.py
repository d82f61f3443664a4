"""Building the process's collaborators from settings (shared by the app lifespan and the CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from . import __version__
from .admission import Admission
from .breaker import CircuitBreaker
from .cache import ThreadCache
from .config import Settings
from .connection import RedisWatch, create_redis, split_connections
from .fetch import Fetcher
from .generate import ThreadService
from .lane import Lane
from .quota import Quota, QuotaSettings
from .ratelimit import Limiter, LimitSettings
from .writer import OpenAIWriter, ThreadWriter, create_openai_client

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AppState:
    """The ready collaborators every request reads from `request.state.threadr`."""

    settings: Settings
    cache: ThreadCache
    admission: Admission
    quota: Quota
    service: ThreadService
    watch: RedisWatch
    version: str = __version__


async def build_state(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    *,
    redis: Redis | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    openai_client: Any | None = None,
    fetcher: Any | None = None,
) -> AppState:
    """Build what was not injected; register on `stack` the closing of only what was built here."""
    if redis is None:
        redis = create_redis(settings)
        if redis is not None:
            stack.push_async_callback(redis.aclose)
    watch = RedisWatch(redis, timeout=settings.redis_timeout_seconds)
    await watch.start()
    stack.push_async_callback(watch.stop)

    if fetcher is None:
        fetcher = Fetcher(settings, transport=http_transport)
        stack.push_async_callback(fetcher.aclose)

    if openai_client is None and settings.openai_api_key:
        openai_client = create_openai_client(settings.openai_api_key, settings.openai_base_url)
        stack.push_async_callback(openai_client.close)
    openai_writer = None
    if openai_client is not None:
        openai_writer = OpenAIWriter(
            openai_client,
            model=settings.openai_model,
            budget=settings.openai_timeout_seconds,
            max_tweets=settings.max_thread_tweets,
        )

    # REDIS_MAX_CONNECTIONS, split: most for the lane (the one command of every cache hit),
    # the rest for the pool (everything else), so the two never hold more together.
    lane_size, pool_size = split_connections(settings.redis_max_connections)
    lane = None
    if redis is not None and lane_size:
        lane = Lane(redis, lane_size)
        stack.push_async_callback(lane.aclose)
    # One breaker for every Redis user: when Redis is down, all of them skip it at once.
    breaker = CircuitBreaker(max_concurrency=pool_size, timeout=settings.redis_timeout_seconds)
    cache = ThreadCache(
        redis,
        ttl_seconds=settings.cache_ttl_seconds,
        memory_entries=settings.cache_memory_entries,
        breaker=breaker,
        lane=lane,
    )
    limiter = Limiter(redis, LimitSettings.from_settings(settings), breaker=breaker, lane=lane)
    if watch.connected:
        # Registering the script early saves the first requests a round trip; if it fails,
        # NOSCRIPT recovery (EVAL) covers it, so it must not stop the start-up.
        with contextlib.suppress(RedisError, OSError):
            async with asyncio.timeout(settings.redis_timeout_seconds):
                await limiter.load()
    quota = Quota(redis, QuotaSettings.from_settings(settings), breaker=breaker)
    writer = ThreadWriter(openai_writer, max_tweets=settings.max_thread_tweets)
    service = ThreadService(settings, cache=cache, writer=writer, fetcher=fetcher)
    log.info(
        "Threadr %s ready: redis=%s, writer=%s",
        __version__,
        watch.status,
        "openai" if openai_writer else "offline",
    )
    return AppState(settings, cache, Admission(limiter, cache), quota, service, watch)
