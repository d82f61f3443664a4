"""Load test for users: what the Threadr frontend does, many users at once.

    make loadtest                    # headless, bounded, against a local instance it starts
    .venv/bin/locust -f locustfile.py --host http://127.0.0.1:8000       # web UI, your instance

Each simulated user has its own client address (an `X-Forwarded-For` the local uvicorn trusts
from 127.0.0.1), so the rate limiter and the quota see many identities, as in production. The
mix: generate from pasted text (a small pool, so repeats hit the cache), generate from an article
URL (only when LOADTEST_ARTICLE_URLS lists some, comma-separated), the two status endpoints the
page polls, and /health. 429 (rate limited) and 402 (quota used up) are answers the frontend
handles, so they count as successes; so does a 404 from a status endpoint not deployed yet.
Point it only at servers you run: it sends real load.
"""

from __future__ import annotations

import itertools
import os
import random
from typing import Any

from locust import FastHttpUser, between, task

PARAGRAPH = (
    "Caching is the art of remembering answers. A cache keeps the result of expensive work so "
    "the next request gets it at once. Good caches expire entries and bound their memory, and "
    "they never serve one user's data to another."
)
TEXTS = [f"Article {i}. {PARAGRAPH} This one is about topic number {i}." for i in range(20)]
ARTICLE_URLS = [u for u in os.environ.get("LOADTEST_ARTICLE_URLS", "").split(",") if u]
EXPECTED = {"generate": {200, 402, 429}, "status": {200, 404, 429}, "health": {200}}
_addresses = itertools.count(1)


class FrontendUser(FastHttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        n = next(_addresses)
        # 198.18.0.0/15 is the benchmarking range (RFC 2544): only a header value here.
        self.headers = {"X-Forwarded-For": f"198.18.{n // 250 % 256}.{n % 250 + 1}"}

    def _check(self, kind: str, method: str, path: str, **kwargs: Any) -> None:
        with self.client.request(
            method, path, headers=self.headers, catch_response=True, **kwargs
        ) as response:
            if response.status_code in EXPECTED[kind]:
                response.success()
            else:
                response.failure(f"unexpected status {response.status_code}")

    @task(5)
    def generate_from_text(self) -> None:
        body = {"text": random.choice(TEXTS)}  # noqa: S311
        self._check("generate", "POST", "/api/generate", json=body, name="/api/generate [text]")

    @task(2)
    def generate_from_url(self) -> None:
        if not ARTICLE_URLS:
            return
        body = {"url": random.choice(ARTICLE_URLS)}  # noqa: S311
        self._check("generate", "POST", "/api/generate", json=body, name="/api/generate [url]")

    @task(3)
    def rate_limit_status(self) -> None:
        self._check("status", "GET", "/api/rate-limit-status")

    @task(3)
    def usage_status(self) -> None:
        self._check("status", "GET", "/api/usage/status")

    @task(1)
    def health(self) -> None:
        self._check("health", "GET", "/health")
