"""The metrics' own arithmetic: counts taken from plain integers land in prometheus-client's
metrics exactly once, and bucketed durations read as observe() would have made them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from tests.factories import metric_value, read_metrics
from threadr.errors import ConfigError
from threadr.observability.metrics import HTTP_BUCKETS, Metrics, Sources


def test_bucketed_durations_read_as_observed_ones() -> None:
    seconds = [0.0004, 0.001, 0.0011, 0.003, 0.003, 0.07, 0.5, 2.0, 31.0, 99.0]
    metrics = Metrics()
    for s in seconds:
        metrics.http.record("/api/generate", "POST", 200, s)
    metrics.sync()
    ours = read_metrics(generate_latest(metrics.registry).decode())

    registry = CollectorRegistry()
    reference = Histogram(
        "threadr_http_request_duration_seconds",
        "the same",
        ("route",),
        buckets=HTTP_BUCKETS,
        registry=registry,
    )
    for s in seconds:
        reference.labels("/api/generate").observe(s)
    theirs = read_metrics(generate_latest(registry).decode())
    name = "threadr_http_request_duration_seconds"
    for key, value in theirs.items():
        if key[0] in (f"{name}_bucket", f"{name}_count"):
            assert ours[key] == value, key
    route = {"route": "/api/generate"}
    assert metric_value(ours, f"{name}_sum", **route) == pytest.approx(sum(seconds))
    assert metric_value(ours, f"{name}_bucket", le="0.001", **route) == 2  # `le`: at most
    requests = {"route": "/api/generate", "method": "POST", "status": "200"}
    assert metric_value(ours, "threadr_http_requests_total", **requests) == len(seconds)


@dataclass
class Counted:
    """Stand-ins for the collaborators whose counts the metrics read."""

    hits: int = 0
    misses: int = 0
    denials: int = 0
    connected: bool = True
    decisions: dict[tuple[str, str], int] = field(default_factory=dict)
    generations: dict[tuple[str, str], int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    breaker: Any = None


def sources(c: Counted) -> Sources:
    return Sources(cache=c, limiter=c, quota=c, tally=c, gateway=c, watch=c)  # type: ignore[arg-type]


class Breaker:
    is_open = False
    trips = 0


def test_counts_are_copied_once_however_often_it_syncs() -> None:
    metrics = Metrics()
    c = Counted(breaker=Breaker())
    metrics.bind(sources(c))
    c.hits, c.misses, c.denials = 5, 2, 1
    c.decisions[("burst", "allowed")] = 7
    c.errors["timeout"] = 1
    metrics.sync()
    metrics.sync()  # nothing new: nothing added
    c.hits += 1
    c.decisions[("hourly", "denied")] = 1
    c.connected, c.breaker.is_open, c.breaker.trips = False, True, 1
    m = read_metrics(generate_latest(metrics.registry).decode())  # not synced yet
    assert metric_value(m, "threadr_cache_requests_total", result="hit") == 5
    metrics.sync()
    m = read_metrics(generate_latest(metrics.registry).decode())
    assert metric_value(m, "threadr_cache_requests_total", result="hit") == 6
    assert metric_value(m, "threadr_cache_requests_total", result="miss") == 2
    assert metric_value(m, "threadr_quota_denials_total") == 1
    decisions = "threadr_ratelimit_decisions_total"
    assert metric_value(m, decisions, policy="burst", decision="allowed") == 7
    assert metric_value(m, decisions, policy="hourly", decision="denied") == 1
    assert metric_value(m, "threadr_redis_errors_total", kind="timeout") == 1
    assert metric_value(m, "threadr_errors_total", code="timeout") == 1  # the same dict here
    assert metric_value(m, "threadr_redis_up") == 0
    assert metric_value(m, "threadr_redis_circuit_open") == 1
    assert metric_value(m, "threadr_redis_circuit_opens_total") == 1


async def test_a_new_lifespan_counts_on_from_where_the_last_one_stopped() -> None:
    metrics = Metrics()
    first = Counted(hits=3, breaker=Breaker())
    metrics.bind(sources(first))
    metrics.close()  # syncs a last time
    second = Counted(hits=2, breaker=Breaker())
    metrics.bind(sources(second))
    body, content_type = await metrics.render()
    assert content_type.startswith("text/plain")
    hits = metric_value(read_metrics(body.decode()), "threadr_cache_requests_total", result="hit")
    assert hits == 5


def test_the_multiprocess_directory_must_come_from_the_environment(tmp_path: Path) -> None:
    # prometheus-client picks its storage when imported: this process imported it without one.
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR must be set"):
        Metrics(multiprocess_dir=str(tmp_path))


def test_callbacks_observe_at_once() -> None:
    metrics = Metrics()
    metrics.openai_call(1.5, None)
    metrics.openai_call(0.2, "timeout")
    metrics.fetched(0.3, "fetch_failed")
    metrics.extraction_failed("page_too_slow")
    m = read_metrics(generate_latest(metrics.registry).decode())
    assert metric_value(m, "threadr_openai_request_duration_seconds_count") == 2
    assert metric_value(m, "threadr_openai_failures_total", reason="timeout") == 1
    assert metric_value(m, "threadr_fetch_duration_seconds_count") == 1
    assert metric_value(m, "threadr_fetch_failures_total", reason="fetch_failed") == 1
    assert metric_value(m, "threadr_extraction_failures_total", reason="page_too_slow") == 1

