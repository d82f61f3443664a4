"""The extraction pool: real worker processes, a hard time limit, and nothing left behind."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from tests.factories import until
from tests.watchdog import Watchdog
from threadr.articles.extraction import extract
from threadr.articles.extraction.pool import ExtractionPool, worker_env
from threadr.errors import ServiceUnavailable, Unprocessable

PROSE = b"<p>Words of an ordinary paragraph, with a comma, long enough to count as prose.</p>"
PAGE = b"<html><head><title>A page</title></head><body><article>" + PROSE * 30 + b"</article>"
# Legitimate markup that takes a worker well over a second: 100,000 paragraphs.
SLOW = b"<html><body><article>" + b"<p>w</p>" * 100_000 + PROSE * 10 + b"</article>"


@pytest.fixture
async def pool() -> AsyncIterator[ExtractionPool]:
    pool = ExtractionPool(workers=1, timeout=0.4)
    yield pool
    await pool.aclose()
    assert pool.processes == []


async def test_the_pool_extracts_what_extract_does(pool: ExtractionPool) -> None:
    got = await pool.extract(PAGE, url="https://a.test/", content_type="text/html")
    assert got == extract(PAGE, url="https://a.test/", content_type="text/html")
    assert len(pool.processes) == 1


async def test_a_page_without_an_article_keeps_its_reason(pool: ExtractionPool) -> None:
    with pytest.raises(Unprocessable) as info:
        await pool.extract(b"<html><body><p>Too short.</p>", content_type="text/html")
    assert info.value.code == "no_article"
    assert "words" in info.value.detail


async def test_a_page_over_the_time_limit_gets_a_422_and_its_worker_is_killed(
    pool: ExtractionPool, watchdog: Watchdog
) -> None:
    await pool.extract(PAGE)  # the worker is up
    [worker] = pool.processes
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Unprocessable) as info:
        await pool.extract(SLOW, content_type="text/html")
    assert info.value.code == "page_too_slow"
    assert "longer than 0.4 s" in info.value.detail
    assert loop.time() - started < 1.0  # the limit, not the page, decided when it ended
    assert await asyncio.wait_for(worker.wait(), 5) is not None  # killed, not left running
    assert (await pool.extract(PAGE)).title == "A page"  # a new worker took its place


async def test_a_worker_that_dies_mid_page_gives_a_422_and_is_replaced(
    pool: ExtractionPool,
) -> None:
    await pool.extract(PAGE)
    [worker] = pool.processes
    job = asyncio.create_task(pool.extract(SLOW, content_type="text/html"))
    await until(lambda: pool.in_use == 1)  # the page is on its way to the worker
    worker.kill()  # what the OOM killer or a crash in the parser does
    with pytest.raises(Unprocessable) as info:
        await job
    assert info.value.code == "unreadable_page"
    assert (await pool.extract(PAGE)).title == "A page"


async def test_a_cancelled_page_leaves_no_reply_for_the_next_caller(pool: ExtractionPool) -> None:
    await pool.extract(PAGE)
    job = asyncio.create_task(pool.extract(SLOW, content_type="text/html"))
    await until(lambda: pool.in_use == 1)  # the worker has the page
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert (await pool.extract(PAGE)).title == "A page"


async def test_pages_queue_for_a_worker_and_get_a_503_after_waiting_as_long_as_a_page_may_take(
    pool: ExtractionPool,
) -> None:
    await pool.extract(PAGE)  # the worker is up: the first page starts at once
    first = asyncio.create_task(pool.extract(SLOW, content_type="text/html"))
    await asyncio.sleep(0.1)  # margins between the deadlines, so that their order is certain
    second = asyncio.create_task(pool.extract(SLOW, content_type="text/html"))
    await asyncio.sleep(0.05)
    third = asyncio.create_task(pool.extract(PAGE, content_type="text/html"))
    results = await asyncio.gather(first, second, third, return_exceptions=True)
    # The first overruns the limit; the second gets its worker then and overruns too; the
    # third has waited as long as a page may take: busy, try again.
    assert [type(r) for r in results] == [Unprocessable, Unprocessable, ServiceUnavailable]
    busy = results[2]
    assert isinstance(busy, ServiceUnavailable) and busy.headers["Retry-After"] == "1"


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux's /proc")
async def test_killed_workers_leave_no_open_pipes_behind() -> None:
    before = open_files()
    pool = ExtractionPool(workers=2, timeout=0.3)
    # Overrunning pages, one cancelled mid-page and one answered: every way a worker goes.
    slow = [asyncio.create_task(pool.extract(SLOW, content_type="text/html")) for _ in range(2)]
    await asyncio.gather(*slow, return_exceptions=True)
    job = asyncio.create_task(pool.extract(SLOW, content_type="text/html"))
    await until(lambda: pool.in_use == 1)  # cancelled mid-page
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)
    await pool.extract(PAGE)
    await pool.aclose()
    assert open_files() == before


async def test_a_closed_pool_answers_503() -> None:
    pool = ExtractionPool(workers=1, timeout=1)
    await pool.aclose()
    with pytest.raises(ServiceUnavailable, match="shutting down"):
        await pool.extract(PAGE)


def test_workers_get_no_secrets_in_their_environment() -> None:
    env = worker_env(
        {
            "PATH": "/usr/bin",
            "PYTHONPATH": "/app/src",
            "LD_LIBRARY_PATH": "/nix/store/lib",
            "OPENAI_API_KEY": "sk-1",
            "REDIS_URL": "rediss://:pw@host",
            "REDIS_PRIVATE_URL": "redis://x",
            "API_KEYS": "k",
            "STRIPE_WEBHOOK_SECRET": "whsec",
            "DATABASE_URL": "postgres://",
            "SESSION_SECRET": "s",
        }
    )
    assert set(env) == {"PATH", "PYTHONPATH", "LD_LIBRARY_PATH"}
