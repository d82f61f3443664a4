"""Schemathesis against the app, every operation of GET /openapi.json, with input made from the
document — valid and invalid — sent in process over ASGI to the app running on the real Redis
(TEST_REDIS_URL), signed in and with an admin key: no 500 (nor any 5xx the operation does not
document), no status, content type, header or body its operation does not document, no
operation that answers without the credentials it declares, no call that takes over 30 s.

The budget (FUZZ_EXAMPLES an operation) keeps the run near 15 s on two cores; the search is
deterministic (derandomize), so a failure repeats on the next run. For a longer hunt, raise
FUZZ_EXAMPLES and drop derandomize (and pytest's 60 s per operation)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.billing.stripe_fake import API_KEY, SECRET, FakeStripe
from tests.factories import CHEAP_ARGON2, PASSWORD, TEST_REDIS_URL, make_settings
from threadr.articles.fetch import Fetcher
from threadr.billing.client import create_stripe_client
from threadr.web.app import create_app
from threadr.web.openapi import document

FUZZ_EXAMPLES = 50
ADMIN_KEY = "fuzzing-admin-key-0123456789"
APP_ORIGIN = "https://app.threadr.test"
ARTICLE = (
    "<html><head><title>Caching 101</title></head><body><article><h1>Caching 101</h1>"
    + "".join(
        f"<p>Paragraph {i}: caching is the art of remembering answers, so that expensive work "
        "done once is served again in microseconds instead of seconds.</p>"
        for i in range(8)
    )
    + "</article></body></html>"
).encode()
# Limits no run reaches (429 has its own tests), cheap password hashing, the fake Stripe.
SETTINGS = make_settings(
    REDIS_URL=TEST_REDIS_URL,
    API_KEYS=ADMIN_KEY,
    CORS_ORIGINS=APP_ORIGIN,
    RATE_LIMIT_BURST="1000000",
    RATE_LIMIT_REQUESTS="1000000",
    RATE_LIMIT_PREMIUM_REQUESTS="1000000",
    REGISTRATIONS_PER_CLIENT="1000000",
    LOGIN_ATTEMPTS_PER_EMAIL="1000000",
    LOGIN_ATTEMPTS_PER_CLIENT="1000000",
    FREE_TIER_DAILY_LIMIT="1000000",
    FREE_TIER_MONTHLY_LIMIT="1000000",
    EXTRACT_WORKERS="1",
    STRIPE_SECRET_KEY=API_KEY,
    STRIPE_WEBHOOK_SECRET=SECRET,
    **CHEAP_ARGON2,
)
# Bodies the Structs type but whose rules go further are refused with a documented 4xx: an
# address that is not one, a common password, both or neither of url and text … so valid-by-
# schema input is not always accepted, and that check does not apply.
NOT_CHECKED = [positive_data_acceptance]
ACCOUNT = {"email": "fuzz@example.com", "password": PASSWORD}


def _article(request: httpx.Request) -> httpx.Response:
    headers = {"content-type": "text/html"}
    return httpx.Response(200, stream=httpx.ByteStream(ARTICLE), headers=headers)


async def _public_address(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]  # every host is a public site serving ARTICLE


# The document as GET /openapi.json serves it (tests/web/test_openapi.py): made here, at
# collection, with no app running; the `app` fixture gives it the app to call.
schema = schemathesis.openapi.from_dict(document())
# Credentials are not generated: every call carries real ones (an admin key, a live session),
# so that invalid input reaches the handlers behind them; the `ignored_auth` check still sends
# each operation without them and with bad ones, and wants the documented 401. And no
# undocumented query parameters: the API ignores those, as HTTP APIs do.
schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    """The app on a flushed TEST_REDIS_URL database (its lifespan starts at the first call)."""
    redis = Redis.from_url(TEST_REDIS_URL)
    if redis.connection_pool.connection_kwargs.get("db", 0) in (0, "0"):
        pytest.fail("TEST_REDIS_URL must name a database other than 0, e.g. .../15")
    try:
        redis.flushdb()
    except (RedisConnectionError, OSError):
        redis.close()
        if os.environ.get("CI"):
            pytest.fail(f"no Redis answers at {TEST_REDIS_URL} (make test starts one)")
        pytest.skip(f"no Redis answers at {TEST_REDIS_URL}; run `make test` to start one")
    fetcher = Fetcher(SETTINGS, transport=httpx.MockTransport(_article), resolver=_public_address)
    stripe_client, stripe_http = create_stripe_client(
        API_KEY, transport=httpx.MockTransport(FakeStripe().handler), max_network_retries=0
    )
    # Every call the schema makes goes to this app, the checks' own probes included.
    schema.app = app = create_app(SETTINGS, fetcher=fetcher, stripe_client=stripe_client)
    try:
        yield app
    finally:
        schema.app = None
        asgi.shutdown_lifespans()  # the app's lifespan, started by the first request
        asyncio.run(fetcher.aclose())
        asyncio.run(stripe_http.close_async())
        redis.flushdb()
        redis.close()


def _post(path: str, body: dict[str, Any], **headers: str) -> Any:
    """POST `body` to the app (the `app` fixture's) through the schema."""
    operation = schema[path]["POST"]
    return operation.Case(body=body, media_type="application/json").call(headers=headers)


@pytest.fixture(scope="module")
def credentials(app: Any) -> dict[str, str]:
    """An admin key and a live session token, sent with every generated request."""
    response = _post("/api/auth/register", ACCOUNT)
    assert response.status_code == 201, response.text
    bearer = "Bearer " + response.json()["access_token"]
    # A thread saved to the account, for the history endpoints to find.
    made = _post("/api/generate", {"url": "https://blog.example/c"}, Authorization=bearer)
    assert made.status_code == 200, made.text
    return {"Authorization": bearer, "X-API-Key": ADMIN_KEY}


def _fresh_session() -> dict[str, str]:
    """A new session of the fuzzing account (logging out ends the one it is sent with)."""
    token = _post("/api/auth/login", ACCOUNT).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case[Any], app: Any, credentials: dict[str, str]
) -> None:
    # The app of this module's fixture, for every call of the case (the checks' probes too) on
    # the schema `parametrize` copied at collection.
    case.operation.app = case.operation.schema.app = app
    headers = dict(credentials)
    if case.operation.path == "/api/auth/logout":
        headers |= _fresh_session()
    case.call_and_validate(headers=headers, excluded_checks=[*NOT_CHECKED], timeout=30)
