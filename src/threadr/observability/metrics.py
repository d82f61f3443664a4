"""The Prometheus metrics of GET /metrics, and how each is fed without costing the hot path.

What a cache hit does is counted in plain integers by whoever already counts it (the request
middleware's `RequestTally`, the cache's hits and misses, the limiter's decisions, the gateway's
Redis errors, the analytics tally's generations and errors, the quota's denials); `sync` copies
what they counted since its last call into prometheus-client's metrics. A scrape syncs first,
so one process's /metrics is always current. Rare events (an OpenAI call, a fetch, an
extraction that failed) are observed straight away through the callbacks services.py hands
the writer and the pipeline: they are milliseconds to seconds long, a few µs do not show.

Several uvicorn workers: with PROMETHEUS_MULTIPROC_DIR set (in the environment, before start),
prometheus-client keeps every value in a memory-mapped file per process in that directory and
a scrape adds up every process's files (its MultiProcessCollector), whichever worker answers.
Each worker then also syncs with the shared counters' once-a-second flush (storage/counters.py),
so another worker's counts are at most that far behind. The gauges take the worst of the live
workers: Redis is down if one sees it down, the circuit open if one has it open.
"""

from __future__ import annotations

import collections
import os
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from threadr.errors import ConfigError

from .exposition import expose

if TYPE_CHECKING:
    from threadr.analytics.counts import Tally
    from threadr.cache import ThreadCache
    from threadr.limits.quota import Quota
    from threadr.limits.ratelimit import Limiter
    from threadr.storage.gateway import Gateway
    from threadr.storage.watch import RedisWatch

# Seconds. A cache hit takes about a millisecond, a miss that calls OpenAI several seconds.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
OPENAI_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
# A method label outside these reads OTHER: a client cannot mint label values by inventing
# methods (routes are templates and statuses a few, so every label is bounded).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route of a request no route matched (a 404, a slash redirect)


class RequestTally:
    """Requests as the middleware counts them (web/middleware/telemetry.py): plain integers and
    the histogram's buckets, per label set, until the next `sync` takes them."""

    __slots__ = ("counts", "durations")

    def __init__(self) -> None:
        self.counts: collections.defaultdict[tuple[str, str, int], int] = collections.defaultdict(
            int
        )
        # Per route: one count per bucket of HTTP_BUCKETS and +Inf, then the sum of seconds.
        self.durations: collections.defaultdict[str, list[float]] = collections.defaultdict(
            _new_buckets
        )

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        self.counts[route, method, status] += 1
        buckets = self.durations[route]
        buckets[bisect_left(HTTP_BUCKETS, seconds)] += 1  # the first bound >= seconds: `le`
        buckets[-1] += seconds

    def take(
        self,
    ) -> tuple[dict[tuple[str, str, int], int], dict[str, list[float]]]:
        """What was counted since the last call, handed over (counting starts again at 0)."""
        counts, durations = self.counts, self.durations
        self.counts = collections.defaultdict(int)
        self.durations = collections.defaultdict(_new_buckets)
        return counts, durations


def _new_buckets() -> list[float]:
    return [0.0] * (len(HTTP_BUCKETS) + 2)


@dataclass(frozen=True, slots=True)
class Sources:
    """The collaborators of a running app whose own counts and states the metrics read."""

    cache: ThreadCache  # hits, misses
    limiter: Limiter  # decisions by (policy, decision)
    quota: Quota  # denials
    tally: Tally  # generations by (writer, source), errors by code
    gateway: Gateway  # Redis errors by kind, the circuit breaker
    watch: RedisWatch  # Redis reachable


class Metrics:
    """Every metric of /metrics, one set per app; `multiprocess_dir` for several workers."""

    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        self.http = RequestTally()
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        registry: CollectorRegistry | None = self.registry
        if multiprocess_dir is not None:
            if not getattr(values.ValueClass, "_multiprocess", False):
                # prometheus-client chose its storage when it was imported, from the
                # environment: a directory named only in code would be read, never written.
                raise ConfigError(
                    "PROMETHEUS_MULTIPROC_DIR must be set in the environment the service "
                    "starts with (prometheus-client reads it when first imported)."
                )
            if not os.path.isdir(multiprocess_dir):
                raise ConfigError(
                    f"PROMETHEUS_MULTIPROC_DIR ({multiprocess_dir}) must be an existing "
                    "directory, emptied before the service starts."
                )
            MultiProcessCollector(self.registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
            registry = None  # each value lives in this process's files, read by the collector
        self._sources: Sources | None = None
        self._seen: dict[int, dict[tuple[str, ...], float]] = {}  # by id(counter)

        def counter(name: str, *labels: str, doc: str) -> Counter:
            return Counter(name, documentation=doc, labelnames=labels, registry=registry)

        def histogram(name: str, *labels: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(
                name, documentation=doc, labelnames=labels, buckets=buckets, registry=registry
            )

        def gauge(name: str, *, doc: str, mode: str) -> Gauge:
            return Gauge(name, documentation=doc, registry=registry, multiprocess_mode=mode)  # type: ignore[arg-type]

        self.http_requests = counter(
            "threadr_http_requests",
            *("route", "method", "status"),
            doc="HTTP requests answered, by route template, method and status.",
        )
        self.http_duration = histogram(
            "threadr_http_request_duration_seconds",
            "route",
            doc="Time from a request's arrival to its response's last byte, by route template.",
            buckets=HTTP_BUCKETS,
        )
        self.cache_requests = counter(
            "threadr_cache_requests",
            "result",
            doc="Thread cache look-ups of POST /api/generate, by result (hit, miss).",
        )
        self.generations = counter(
            "threadr_generations",
            *("writer", "source"),
            doc="Threads written for a cache miss, by writer (openai, offline) and source "
            "(url, text).",
        )
        self.openai_duration = histogram(
            "threadr_openai_request_duration_seconds",
            doc="Time of each call to OpenAI (every attempt, failed ones included).",
            buckets=OPENAI_BUCKETS,
        )
        self.openai_failures = counter(
            "threadr_openai_failures", "reason", doc="Failed calls to OpenAI, by reason."
        )
        self.ratelimit_decisions = counter(
            "threadr_ratelimit_decisions",
            *("policy", "decision"),
            doc="Rate-limit decisions, by the policy shown in RateLimit (the one that denied) "
            "and decision (allowed, denied, degraded: in memory while Redis fails, disabled).",
        )
        self.quota_denials = counter(
            "threadr_quota_denials",
            doc="Generations refused because the free-tier quota was used up (402).",
        )
        self.redis_up = gauge(
            "threadr_redis_up",
            doc="1 while Redis is in use (the circuit is closed); 0 when it is not or none is "
            "set up.",
            mode="livemin",
        )
        self.redis_circuit_open = gauge(
            "threadr_redis_circuit_open",
            doc="1 while the circuit breaker skips Redis (in-process fallbacks answer).",
            mode="livemax",
        )
        self.redis_circuit_opens = counter(
            "threadr_redis_circuit_opens",
            doc="Times the circuit breaker opened: Redis found unreachable (or READONLY) by a "
            "call or by the watch's probe.",
        )
        self.redis_errors = counter(
            "threadr_redis_errors",
            "kind",
            doc="Redis calls that failed, by kind (timeout, connection, readonly, cluster_down, "
            "other, pool_full, queue_timeout, refused).",
        )
        self.extraction_failures = counter(
            "threadr_extraction_failures",
            "reason",
            doc="Fetched pages no article was extracted from, by reason (the error code).",
        )
        self.fetch_duration = histogram(
            "threadr_fetch_duration_seconds",
            doc="Time to fetch an article page (redirects included; failed fetches too).",
            buckets=FETCH_BUCKETS,
        )
        self.fetch_failures = counter(
            "threadr_fetch_failures",
            "reason",
            doc="Article fetches that failed, by reason (the error code).",
        )
        self.errors = counter(
            "threadr_errors", "code", doc="Errors answered to clients, by their `code`."
        )

    @property
    def multiprocess(self) -> bool:
        return self.multiprocess_dir is not None

    def bind(self, sources: Sources) -> None:
        """Read these collaborators' counts from now on (the app's lifespan built them)."""
        self._sources = sources
        self._seen.clear()

    def close(self) -> None:
        """Sync a last time and let go of the collaborators (the lifespan ends); a worker's
        gauges leave the multiprocess view with it."""
        self.sync()
        self._sources = None
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]

    # The callbacks the writer and the pipeline call (services.py), one per event.

    def openai_call(self, seconds: float, failure: str | None) -> None:
        self.openai_duration.observe(seconds)
        if failure is not None:
            self.openai_failures.labels(failure).inc()

    def fetched(self, seconds: float, failure: str | None) -> None:
        self.fetch_duration.observe(seconds)
        if failure is not None:
            self.fetch_failures.labels(failure).inc()

    def extraction_failed(self, reason: str) -> None:
        self.extraction_failures.labels(reason).inc()

    def sync(self) -> None:
        """Copy into the metrics what the plain counters counted since the last sync, and the
        gauges' current states."""
        counts, durations = self.http.take()
        for (route, method, status), n in counts.items():
            self.http_requests.labels(route, method, str(status)).inc(n)
        for route, buckets in durations.items():
            child = self.http_duration.labels(route)
            # A histogram takes one observation at a time; these are many, already bucketed,
            # so they go to its buckets (non-cumulative, as observe() keeps them) and its sum.
            # tests/observability/test_metrics.py holds this to what observe() would show.
            for bucket, observed in zip(child._buckets, buckets, strict=False):
                if observed:
                    bucket.inc(observed)
            child._sum.inc(buckets[-1])
        s = self._sources
        if s is None:
            return
        self._mirror(self.cache_requests, ((("hit",), s.cache.hits), (("miss",), s.cache.misses)))
        self._mirror(self.generations, s.tally.generations.items())
        self._mirror(self.errors, (((code,), n) for code, n in s.tally.errors.items()))
        self._mirror(self.ratelimit_decisions, s.limiter.decisions.items())
        self._mirror(self.quota_denials, (((), s.quota.denials),))
        self._mirror(self.redis_circuit_opens, (((), s.gateway.breaker.trips),))
        self._mirror(self.redis_errors, (((kind,), n) for kind, n in s.gateway.errors.items()))
        self.redis_up.set(1 if s.watch.connected else 0)
        self.redis_circuit_open.set(1 if s.gateway.breaker.is_open else 0)

    def _mirror(self, counter: Counter, totals: Iterable[tuple[tuple[str, ...], int]]) -> None:
        """Add to `counter` what each of `totals` (label values and the count since the source
        was built) grew by since the last sync."""
        seen = self._seen.setdefault(id(counter), {})
        for labels, total in totals:
            grown = total - seen.get(labels, 0)
            if grown:
                seen[labels] = total
                # A source counting from 0 again (none does while bound) adds what it has.
                (counter.labels(*labels) if labels else counter).inc(grown if grown > 0 else total)

    async def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition (the text format, or OpenMetrics when `accept` asks for it) and its
        content type; current to this call in this process."""
        self.sync()
        return await expose(self.registry, accept, from_files=self.multiprocess)
