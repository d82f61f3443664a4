"""A real Redis for the integration tests: its own logical database (TEST_REDIS_URL, never db 0),
flushed before and after each test. `make test` starts a redis-server when none answers; when
none can be reached, these tests fail under CI and are skipped (loudly) elsewhere."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.factories import TEST_REDIS_URL

from . import browser

_skipped: list[str] = []


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A real Redis on its own logical database, flushed before and after each test."""
    client = Redis.from_url(TEST_REDIS_URL)
    if client.connection_pool.connection_kwargs.get("db", 0) in (0, "0"):
        pytest.fail("TEST_REDIS_URL must name a database other than 0, e.g. .../15")
    try:
        await client.ping()
    except (RedisConnectionError, OSError):
        await client.aclose()
        if os.environ.get("CI"):
            pytest.fail(f"no Redis answers at {TEST_REDIS_URL} (make test starts one)")
        _skipped.append(TEST_REDIS_URL)
        pytest.skip(f"no Redis answers at {TEST_REDIS_URL}; run `make test` to start one")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.section("INTEGRATION TESTS SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(_skipped)} tests needing a real Redis did not run: nothing answered at "
            f"{TEST_REDIS_URL}. `make test` starts one (and installs redis-server if needed)."
        )
    if browser.skipped:
        terminalreporter.section("BROWSER TESTS SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.write_line(browser.skipped[0])
