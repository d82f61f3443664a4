"""The wiring: builds every collaborator of a process from the settings (for the app's lifespan
and for the CLI), closing on the exit stack only what it built."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from . import __version__
from .accounts import premium, sessions
from .accounts.auth import Auth
from .accounts.passwords import Passwords
from .accounts.premium import Premium
from .accounts.sessions import Sessions
from .accounts.users import Accounts
from .analytics.counts import Tally
from .articles.extraction.pool import ExtractionPool
from .articles.fetch import Fetcher
from .billing.client import create_stripe_client
from .billing.payments import Billing
from .cache import ThreadCache
from .config import Settings
from .generate import Pipeline
from .history import store as history
from .history.store import History
from .limits import admission, quota, ratelimit
from .limits.admission import Admission
from .limits.quota import Quota
from .limits.ratelimit import Limiter
from .limits.rewrites import Rewrites
from .observability.metrics import Metrics, Sources
from .rewrite import Rewriter
from .storage import leases
from .storage.client import create_redis
from .storage.counters import Counters
from .storage.gateway import Gateway
from .storage.leases import Leases
from .storage.signals import Signals
from .storage.watch import RedisWatch
from .subscribers import store as subscribers
from .subscribers.store import Subscribers
from .writing.openai_writer import OpenAIWriter, create_openai_client
from .writing.writer import ThreadWriter

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    """The ready collaborators every request reads from the lifespan state."""

    settings: Settings
    cache: ThreadCache
    admission: Admission
    quota: Quota
    pipeline: Pipeline
    watch: RedisWatch
    auth: Auth  # accounts, sessions and premium (accounts/)
    counters: Counters  # shared counters, flushed to Redis every second (cache hits, misses)
    rewriter: Rewriter  # POST /api/rewrite: one tweet written anew
    rewrites: Rewrites  # and what rewrites cost against the free tier
    subscribers: Subscribers | None = None  # the email list (Redis only: subscribers/store.py)
    history: History | None = None  # saved threads of signed-in users (Redis only: history/)
    billing: Billing | None = None  # Stripe checkout and webhooks (billing/)
    analytics: Tally = field(default_factory=Tally)  # usage analytics, flushed with `counters`
    version: str = __version__


async def build_services(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    *,
    redis: Redis | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    openai_client: Any | None = None,
    fetcher: Any | None = None,
    reader: Any | None = None,
    stripe_client: Any | None = None,
    metrics: Metrics | None = None,
) -> Services:
    """Build what was not injected; register on `stack` the closing of only what was built here.
    `metrics` (the app's, when METRICS_ENABLED) is told of every OpenAI call, fetch and failed
    extraction, and reads the counts of what is built here (observability/metrics.py)."""
    if redis is None:
        redis = create_redis(settings)
        if redis is not None:
            stack.push_async_callback(redis.aclose)
    gateway = Gateway.for_settings(settings, redis)
    stack.push_async_callback(gateway.aclose)
    # The watch probes Redis for the gateway's circuit breaker, the one state every store,
    # /health and /readiness read (storage/watch.py).
    watch = RedisWatch(gateway)
    await watch.start()
    stack.push_async_callback(watch.stop)
    if watch.connected:
        await gateway.load(
            ratelimit.SCRIPT,
            ratelimit.TIER_SCRIPT,
            admission.ACCOUNT_SCRIPT,
            quota.SCRIPT,
            subscribers.SCRIPT,
            sessions.SCRIPT,
            premium.SCRIPT,
            history.SCRIPT,
            leases.SCRIPT,
        )

    if fetcher is None:
        fetcher = Fetcher(settings, transport=http_transport)
        stack.push_async_callback(fetcher.aclose)
    if reader is None:
        reader = ExtractionPool(
            workers=settings.extract_workers, timeout=settings.extract_timeout_seconds
        )
        stack.push_async_callback(reader.aclose)
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
            on_call=metrics.openai_call if metrics is not None else None,
        )

    cache = ThreadCache(
        gateway,
        ttl_seconds=settings.cache_ttl_seconds,
        memory_entries=settings.cache_memory_entries,
    )
    analytics = Tally(
        retention_days=settings.analytics_retention_days,
        cache=cache,
        enabled=settings.analytics_enabled,
    )
    counters = Counters(gateway)
    counters.harvest(cache.harvest)
    counters.harvest(analytics.harvest)
    await counters.start()
    stack.push_async_callback(counters.aclose)  # before the gateway closes: the last flush
    writer = ThreadWriter(openai_writer, max_tweets=settings.max_thread_tweets)
    # Misses of one article on other instances wait for ours (and ours for theirs): leases in
    # Redis, and one pub/sub connection that tells the waiters of this process (closed before
    # the client it came from).
    signals = Signals(redis, timeout=settings.redis_timeout_seconds)
    stack.push_async_callback(signals.aclose)
    pipeline = Pipeline(
        settings,
        cache=cache,
        writer=writer,
        fetcher=fetcher,
        reader=reader,
        analytics=analytics,
        leases=Leases(gateway, signals),
        observer=metrics,
    )
    log.info(
        "Threadr %s ready: redis=%s, writer=%s",
        __version__,
        watch.status,
        "openai" if openai_writer else "offline",
    )
    passwords = Passwords(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        queue=settings.argon2_queue,
    )
    stack.callback(passwords.close)
    auth = Auth(
        Accounts(gateway),
        Sessions(
            gateway,
            ttl_seconds=settings.session_ttl_seconds,
            max_seconds=settings.session_max_seconds,
            per_account=settings.sessions_per_account,
        ),
        Premium(gateway),
        passwords,
    )
    if stripe_client is None and settings.stripe_secret_key:
        stripe_client, stripe_http = create_stripe_client(
            settings.stripe_secret_key, api_base=settings.stripe_api_base
        )
        stack.push_async_callback(stripe_http.close_async)
    limiter, free_tier = Limiter(gateway, settings), Quota(gateway, settings)
    if metrics is not None:
        metrics.bind(Sources(cache, limiter, free_tier, analytics, gateway, watch))
        stack.callback(metrics.close)
        if metrics.multiprocess:
            # Other workers answer scrapes too: bring this one's counts to its files each second.
            counters.harvest(lambda _: metrics.sync())
    return Services(
        settings=settings,
        cache=cache,
        admission=Admission(limiter, cache, auth),
        quota=free_tier,
        pipeline=pipeline,
        watch=watch,
        auth=auth,
        subscribers=Subscribers(gateway),
        history=History(
            gateway,
            free_limit=settings.history_free_threads,
            premium_limit=settings.history_premium_threads,
        ),
        counters=counters,
        rewriter=Rewriter(pipeline, openai_writer),
        rewrites=Rewrites(free_tier, gateway),
        analytics=analytics,
        billing=Billing.build(settings, gateway, auth, stripe_client),
    )
