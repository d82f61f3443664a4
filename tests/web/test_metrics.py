"""GET /metrics after scripted runs: every metric named in docs/operations.md is there, and the
counts match what was sent (requests, cache, generations, limits, OpenAI, fetching, Redis)."""

from __future__ import annotations

import httpx
from fakeredis import FakeAsyncRedis as FakeRedis
from fakeredis import FakeServer

from tests.factories import (
    MockOpenAI,
    make_settings,
    metric_value,
    read_metrics,
    running_app,
    running_services,
    tweets_reply,
)
from threadr.articles.extraction import Article
from threadr.articles.fetch import Page
from threadr.errors import FetchTimeout, Unprocessable

ARTICLE = "Metrics count what happened. Each request adds one. Operators alert on rates. " * 4
TOKEN = "scrape-token-0123456789abcdef"
NAMES = (
    "threadr_http_requests_total",
    "threadr_http_request_duration_seconds",
    "threadr_cache_requests_total",
    "threadr_generations_total",
    "threadr_openai_request_duration_seconds",
    "threadr_openai_failures_total",
    "threadr_ratelimit_decisions_total",
    "threadr_quota_denials_total",
    "threadr_redis_up",
    "threadr_redis_circuit_open",
    "threadr_redis_circuit_opens_total",
    "threadr_redis_errors_total",
    "threadr_extraction_failures_total",
    "threadr_fetch_duration_seconds",
)


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    for name in NAMES:
        assert f"# TYPE {name} " in response.text, name
    return read_metrics(response.text)


async def test_a_scripted_run_is_counted_as_it_was_sent() -> None:
    # 3 misses (written), 2 hits, a 4th miss refused on the quota (402), then a 429.
    settings = make_settings(RATE_LIMIT_BURST="6", FREE_TIER_DAILY_LIMIT="3")
    texts = [f"{ARTICLE} Number {n}." for n in range(4)]
    async with running_app(settings) as client:
        statuses = [
            (await client.post("/api/generate", json={"text": text})).status_code
            for text in (*texts[:3], texts[0], texts[1], texts[3], texts[0])
        ]
        await client.get("/health")
        await client.get("/no/such/path")
        await client.get("/api/threads/thread-id-from-the-path")
        m = await scrape(client)
    assert statuses == [200, 200, 200, 200, 200, 402, 429]

    def requests(route: str, status: str, method: str = "POST") -> float:
        labels = {"route": route, "method": method, "status": status}
        return metric_value(m, "threadr_http_requests_total", **labels)

    assert requests("/api/generate", "200") == 5
    assert requests("/api/generate", "402") == 1
    assert requests("/api/generate", "429") == 1
    assert requests("/health", "200", "GET") == 1  # a probe, answered ahead of Starlette
    assert requests("unmatched", "404", "GET") == 1
    assert requests("/api/threads/{thread_id}", "401", "GET") == 1  # the template, not the id
    duration = "threadr_http_request_duration_seconds"
    assert metric_value(m, f"{duration}_count", route="/api/generate") == 7
    assert metric_value(m, f"{duration}_bucket", route="/api/generate", le="+Inf") == 7
    assert metric_value(m, f"{duration}_sum", route="/api/generate") > 0
    assert metric_value(m, "threadr_cache_requests_total", result="miss") == 4
    assert metric_value(m, "threadr_cache_requests_total", result="hit") == 2
    assert metric_value(m, "threadr_generations_total", writer="offline", source="text") == 3
    decisions = "threadr_ratelimit_decisions_total"
    assert metric_value(m, decisions, policy="burst", decision="allowed") == 6
    assert metric_value(m, decisions, policy="burst", decision="denied") == 1
    assert metric_value(m, "threadr_quota_denials_total") == 1
    assert metric_value(m, "threadr_errors_total", code="quota_exceeded") == 1
    assert metric_value(m, "threadr_errors_total", code="rate_limited") == 1
    assert metric_value(m, "threadr_redis_up") == 0  # none configured
    assert metric_value(m, "threadr_redis_circuit_open") == 0
    assert not any(
        name == "threadr_http_requests_total" and ("path", "/no/such/path") in labels
        for name, labels in m
    )


async def test_openai_calls_and_their_failures_are_timed_and_counted() -> None:
    error = {"error": {"message": "slow down", "type": "rate_limit", "code": None}}
    mock = MockOpenAI((429, error), tweets_reply("A hook.", "A point.", "The end."))
    async with running_app(make_settings(), openai_client=mock.client()) as client:
        made = await client.post("/api/generate", json={"text": ARTICLE})
        m = await scrape(client)
    assert made.json()["generator"] == "openai"
    assert metric_value(m, "threadr_openai_request_duration_seconds_count") == 2
    assert metric_value(m, "threadr_openai_failures_total", reason="rate_limited") == 1
    assert metric_value(m, "threadr_generations_total", writer="openai", source="text") == 1


class Pages:
    """A fetcher: slow.example times out, anything else is a page."""

    async def fetch(self, url: str) -> Page:
        if "slow.example" in url:
            raise FetchTimeout("The site did not send the page within 10 seconds.")
        return Page(url=url, status=200, content_type="text/html", headers={}, body=b"<p>x</p>")


class NoArticles:
    """A reader that finds no article in any page."""

    async def extract(
        self, body: bytes, *, url: str | None = None, content_type: str | None = None
    ) -> Article:
        raise Unprocessable("The page holds no article.", code="no_article")


async def test_fetches_and_failed_extractions_are_counted() -> None:
    async with running_app(make_settings(), fetcher=Pages(), reader=NoArticles()) as client:
        empty = await client.post("/api/generate", json={"url": "https://blog.example/a"})
        slow = await client.post("/api/generate", json={"url": "https://slow.example/b"})
        m = await scrape(client)
    assert (empty.status_code, slow.status_code) == (422, 504)
    assert metric_value(m, "threadr_fetch_duration_seconds_count") == 2
    assert metric_value(m, "threadr_fetch_failures_total", reason="fetch_timeout") == 1
    assert metric_value(m, "threadr_extraction_failures_total", reason="no_article") == 1


async def test_redis_failures_show_as_errors_an_open_circuit_and_redis_down() -> None:
    server = FakeServer()
    async with running_services(make_settings(), redis=FakeRedis(server=server)) as (
        client,
        services,
    ):
        server.connected = False  # Redis goes away under a running app
        for n in range(3):  # the first call's failure opens the breaker; the others skip Redis
            await client.post("/api/generate", json={"text": f"{ARTICLE} {n}"})
        assert services.admission.limiter.gateway.breaker.is_open
        m = await scrape(client)
    assert metric_value(m, "threadr_redis_errors_total", kind="connection") >= 1
    assert metric_value(m, "threadr_redis_circuit_open") == 1
    assert metric_value(m, "threadr_redis_circuit_opens_total") == 1
    assert metric_value(m, "threadr_redis_up") == 0
    decisions = "threadr_ratelimit_decisions_total"
    assert metric_value(m, decisions, policy="burst", decision="degraded") == 3


async def test_a_metrics_token_closes_the_door() -> None:
    async with running_app(make_settings(METRICS_TOKEN=TOKEN)) as client:
        bare = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        basic = await client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    for refused in (bare, wrong, basic):
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in refused.text
    assert right.status_code == 200 and "threadr_http_requests_total" in right.text


async def test_metrics_can_be_turned_off() -> None:
    async with running_app(make_settings(METRICS_ENABLED="false")) as client:
        assert (await client.post("/api/generate", json={"text": ARTICLE})).status_code == 200
        assert (await client.get("/metrics")).status_code == 404


async def test_openmetrics_is_served_to_those_who_ask() -> None:
    async with running_app(make_settings()) as client:
        response = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
