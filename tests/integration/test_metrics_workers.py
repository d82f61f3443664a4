"""/metrics with several uvicorn workers (prometheus-client's multiprocess mode): two real worker
processes share a PROMETHEUS_MULTIPROC_DIR, and whichever answers a scrape counts every request
that either served."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from tests.factories import metric_value, read_metrics, until

from .processes import free_port

HEALTH = {"route": "/health", "method": "GET", "status": "200"}


@contextlib.asynccontextmanager
async def workers(count: int, env: dict[str, str], log: Path) -> AsyncIterator[str]:
    """`uvicorn --factory threadr.web.app:from_environment --workers N`; its base URL."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "OPENAI"))}
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "--factory", "threadr.web.app:from_environment"]
    argv += ["--workers", str(count), "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(*argv, env=base | env, stderr=sink)

    def started() -> bool:
        return proc.returncode is not None or (
            log.read_bytes().count(b"Application startup complete") == count
        )

    try:
        await until(started, within=60)
        assert proc.returncode is None, text_of(log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        await proc.wait()


def text_of(log: Path) -> str:
    return log.read_text("utf-8", "replace")  # a few kilobytes


def per_worker(directory: Path) -> dict[str, float]:
    """/health requests counted in each worker's own file, by its pid."""
    counted = {}
    for path in directory.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)])  # type: ignore[no-untyped-call]
        samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in families
            for s in family.samples
        }
        pid = path.stem.removeprefix("counter_")
        counted[pid] = metric_value(samples, "threadr_http_requests_total", **HEALTH)
    return counted


async def test_every_worker_counts_in_whichever_answers_the_scrape(tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared), "ACCESS_LOG": "false"}
    sent = 0
    fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection (any worker) each
    async with (
        workers(2, env, tmp_path / "uvicorn.log") as base,
        httpx.AsyncClient(base_url=base, timeout=10, limits=fresh) as http,
    ):

        def flushed() -> bool:
            # Each worker brings its counts to its own file once a second (the counters' flush).
            return sum(per_worker(shared).values()) == sent

        async with asyncio.timeout(30):
            while len(per_worker(shared)) < 2 or 0 in per_worker(shared).values():
                replies = await asyncio.gather(*(http.get("/health") for _ in range(10)))
                assert all(r.status_code == 200 for r in replies)
                sent += len(replies)
                await until(flushed, within=10)

        async def scraped() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
            response = await http.get("/metrics")
            assert response.status_code == 200
            return read_metrics(response.text)

        async def caught_up() -> bool:
            m = await scraped()
            return metric_value(m, "threadr_http_requests_total", **HEALTH) == sent

        await until(caught_up, within=10)
        for _ in range(6):  # on new connections: both workers answer some of these
            m = await scraped()
            assert metric_value(m, "threadr_http_requests_total", **HEALTH) == sent
            count = metric_value(m, "threadr_http_request_duration_seconds_count", route="/health")
            assert count == sent
        assert sum(per_worker(shared).values()) == sent
    # Stopped: each worker said it was gone, so the gauges of the live ones no longer hold it.
    assert not list(shared.glob("gauge_live*"))
