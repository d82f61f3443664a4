"""`threadr serve --workers N` (docs/deployment.md): N real worker processes accept on one port,
each with its own app, lifespan and logging; the rate limiter is exact across them (a real
Redis); their metrics live in a directory of the server's own, and /metrics adds them up.

Which worker answered a request is read from the kernel (/proc: the process holding the
server's end of the connection), not from anything the service sends."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.factories import TEST_REDIS_URL, read_metrics, until

from .processes import environ_of, serving_pid, threadr_processes, workers_of

TEXT = "Threads are short. Each tweet carries one idea. Numbers help readers follow along. " * 5


async def generate(port: int, source: str, workers: list[int]) -> tuple[int, int | None]:
    """POST /api/generate on a new connection from the local address `source`: the status, and
    the worker that answered (found while the connection is still open)."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with (
        httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{port}") as http,
        http.stream("POST", "/api/generate", json={"text": TEXT}, timeout=10) as response,
    ):
        await response.aread()
        client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
        return response.status_code, serving_pid(port, client_port, workers)


async def test_two_workers_serve_and_the_limiter_is_exact_across_them(redis: Redis) -> None:
    env = {
        "REDIS_URL": TEST_REDIS_URL,
        "RATE_LIMIT_BURST": "5",
        "ACCESS_LOG": "false",
        "WEB_CONCURRENCY": "3",  # --workers wins
    }
    with threadr_processes(1, env, workers=2) as [(port, server)]:
        workers = workers_of(server.pid)
        assert len(workers) == 2
        # Their metrics directory: made by `threadr serve` and named before they started.
        [directory] = {environ_of(pid)["PROMETHEUS_MULTIPROC_DIR"] for pid in workers}
        assert Path(directory).is_dir()  # noqa: ASYNC240 - one stat, in a test
        sent = 0
        # Each round is a new client (its own local address, so its own burst of 5): rounds go
        # on until one was answered by both workers, which the kernel decides.
        for n in range(2, 40):
            answers = [await generate(port, f"127.0.0.{n}", workers) for _ in range(10)]
            sent += len(answers)
            assert [status for status, _ in answers] == [200] * 5 + [429] * 5
            answered_by = {pid for _, pid in answers}
            assert answered_by <= set(workers)
            if len(answered_by) == 2:
                break
        else:
            pytest.fail("one worker answered every request of 38 rounds")

        async def counted() -> bool:
            # Whichever worker answers the scrape adds both up (each brings its counts to its
            # files once a second).
            async with httpx.AsyncClient() as http:
                scraped = read_metrics((await http.get(f"http://127.0.0.1:{port}/metrics")).text)
            generations = [
                value
                for (name, labels), value in scraped.items()
                if name == "threadr_http_requests_total" and ("route", "/api/generate") in labels
            ]
            return sum(generations) == sent

        await until(counted, within=10)
    assert not Path(directory).exists()  # noqa: ASYNC240 - removed once the workers stopped
