"""Three real `threadr serve` processes on one Redis, a real local "OpenAI" and article site:
concurrent identical misses over every instance make one model call, and so does one article
asked for under two URLs at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.factories import TEST_REDIS_URL, make_settings, until
from threadr.articles.extraction import extract
from threadr.cache import article_key, key_for
from threadr.source import validate
from threadr.storage.keys import CACHE_STATS_KEY, released_channel

from .outside import Outside, article
from .processes import threadr_servers

TEXT = (
    "When many servers share one cache, the first to miss an entry should do the work and the "
    "others should wait for its answer. A lease in Redis says who is working; a message says "
    "when the answer is there. The model is called once, however many servers were asked."
)
MISSES = 60


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Outside, list[int]]]:
    """The outside world and three instances that use it (the same for both tests: each test
    starts on a flushed Redis, and the instances keep nothing of their own that matters)."""
    outside = Outside(delay=0.3)
    with outside.running():
        env = {
            "REDIS_URL": TEST_REDIS_URL,
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": f"{outside.base}/v1",
            "FETCH_ALLOW_PRIVATE_NETWORKS": "true",
            "FETCH_ALLOWED_PORTS": str(outside.port),
            "RATE_LIMIT_ENABLED": "false",  # 60 requests of one client: the quota still counts
            "ACCESS_LOG": "false",
        }
        with threadr_servers(3, env) as ports:
            yield outside, ports


async def post(
    port: int, body: dict[str, str]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send POST /api/generate and return the open connection, its answer still to come: once
    this returns, the request has been written to the server."""
    payload = json.dumps(body).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/generate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(payload), payload)
    )
    await writer.drain()
    return reader, writer


async def answer(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> Any:
    """The status, X-Cache and JSON body of a response (read to the end: connection: close)."""
    reader, writer = connection
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    pairs = (line.split(": ", 1) for line in lines[1:])
    headers = {name.lower(): value for name, value in pairs}
    return int(lines[0].split()[1]), headers.get("x-cache"), json.loads(body)


async def usage(port: int) -> Any:
    """GET /api/usage/status as 127.0.0.1 (the client of every request here)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/usage/status HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
    await writer.drain()
    status, _, body = await answer((reader, writer))
    assert status == 200
    return body


async def subscribers(redis: Redis, key: str) -> int:
    """Instances waiting for the lease of cache key `key` (one subscription each)."""
    ((_, count),) = await redis.pubsub_numsub(released_channel(key))
    return int(count)


async def test_sixty_identical_misses_over_three_instances_make_one_model_call(
    redis: Redis, world: tuple[Outside, list[int]]
) -> None:
    outside, ports = world
    outside.reset()
    key = key_for(validate(None, TEXT, make_settings()))
    # Every request written before the model may answer, and the answer held until the other
    # two instances wait on the first one's lease: 60 misses, all in flight at once.
    connections = [await post(ports[n % 3], {"text": TEXT}) for n in range(MISSES)]

    async def two_wait() -> bool:
        return await subscribers(redis, key) == 2

    await until(two_wait, within=10)
    outside.answer.set()
    async with asyncio.timeout(15):
        answers = await asyncio.gather(*map(answer, connections))
    assert outside.calls == 1
    assert {status for status, _, _ in answers} == {200}
    assert {cache for _, cache, _ in answers} == {"MISS"}
    threads = {json.dumps(body["thread"]) for _, _, body in answers}
    assert len(threads) == 1 and next(iter(answers))[2]["generator"] == "openai"

    async def all_missed() -> bool:  # each instance adds its counts to Redis once a second
        return await redis.hget(CACHE_STATS_KEY, "misses") == str(MISSES).encode()

    await until(all_missed, within=5)
    # The same client asked 60 times and paid once: joined requests cost no quota.
    assert (await usage(ports[1]))["daily_usage"] == 1


async def test_one_article_at_two_urls_makes_one_model_call(
    redis: Redis, world: tuple[Outside, list[int]]
) -> None:
    outside, ports = world
    outside.reset()
    # The pages at /a and /amp/a are one text: the lease of its key stands for the article.
    text = article_key(extract(article(f"{outside.base}/a"), content_type="text/html").text)
    first = await post(ports[0], {"url": f"{outside.base}/a"})

    async def holding() -> bool:  # the first instance is writing the article
        return outside.calls == 1

    await until(holding, within=10)
    second = await post(ports[1], {"url": f"{outside.base}/amp/a"})

    async def second_waits() -> bool:  # ...and the second, having read the AMP page, waits
        return await subscribers(redis, text) == 1

    await until(second_waits, within=10)
    outside.answer.set()
    async with asyncio.timeout(15):
        (status_a, _, a), (status_amp, _, amp) = await asyncio.gather(answer(first), answer(second))
    assert (status_a, status_amp) == (200, 200)
    assert a["thread"] == amp["thread"] and a["generator"] == "openai"
    assert outside.calls == 1
    # Both URLs are now plain hits, on any instance.
    third = await answer(await post(ports[2], {"url": f"{outside.base}/amp/a"}))
    assert third[:2] == (200, "HIT") and third[2]["thread"] == a["thread"]
