"""Factories shared by the tests: settings, apps with seams, a real Redis, a mock OpenAI."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fakeredis import FakeAsyncRedis as FakeRedis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from threadr.config import Settings

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "article-extraction"


def make_settings(**env: str) -> Settings:
    """Settings from a plain mapping, as the service would read them from the environment."""
    return Settings.from_env(env)


@pytest.fixture
def settings_factory() -> Callable[..., Settings]:
    return make_settings


@contextlib.asynccontextmanager
async def running_app(settings: Settings, **seams: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and a client that talks to it in-process."""
    from threadr.app import create_app

    app = create_app(settings, **seams)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeRedis]:
    """A fakeredis client (Lua included) on a server of its own, for unit tests."""
    client = FakeRedis(server=fakeredis.FakeServer())
    yield client
    await client.aclose()


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
        pytest.skip(f"no Redis answers at {TEST_REDIS_URL}; run `make test` to start one")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


class BrokenRedis:
    """Fails every call like an unreachable server, and counts the attempts."""

    def __init__(self) -> None:
        self.calls = 0

    async def execute_command(self, *args: Any) -> Any:
        self.calls += 1
        raise RedisConnectionError("connection refused")

    async def mget(self, keys: Any) -> Any:
        return await self.execute_command()

    def pipeline(self, transaction: bool = True) -> Any:
        outer = self

        class Pipe:
            def execute_command(self, *args: Any) -> None:
                pass

            async def execute(self, raise_on_error: bool = True) -> Any:
                return await outer.execute_command()

        return Pipe()


def chat_completion(content: str) -> dict[str, Any]:
    """A minimal Chat Completions response body carrying `content`."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class MockOpenAI:
    """An OpenAI HTTP API in-process (httpx2.MockTransport under the official SDK).

    `replies` is consumed in order; each item is a status code with a body, a callable, or
    an exception to raise. The last item repeats.
    """

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.calls = 0
        self.requests: list[dict[str, Any]] = []

    async def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(json.loads(request.content))
        reply = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        if callable(reply):
            reply = await reply(request)
        if isinstance(reply, BaseException):
            raise reply
        status, body = reply
        headers = {"retry-after": "0"} if status == 429 else {}
        return httpx2.Response(status, json=body, headers=headers)

    def client(self) -> Any:
        from threadr.writer import create_openai_client

        http = httpx2.AsyncClient(transport=httpx2.MockTransport(self.handler))
        return create_openai_client("sk-test", "http://openai.test/v1", http_client=http)


def tweets_reply(*tweets: str) -> tuple[int, dict[str, Any]]:
    return 200, chat_completion(json.dumps({"tweets": list(tweets)}))


@pytest.fixture
def dataset() -> dict[str, Any]:
    truth = DATASET / "ground-truth.json"
    if not truth.exists():
        pytest.skip(f"the article dataset is not at {DATASET}")
    data: dict[str, Any] = json.loads(truth.read_text(encoding="utf-8"))
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_startup(proc: subprocess.Popen[bytes]) -> None:
    """Read the server's log until uvicorn says it is up (or the process dies)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    seen = b""
    while b"Application startup complete" not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"threadr serve did not start in 30 s: {seen.decode()}"
        ready, _, _ = select.select([proc.stderr], [], [], remaining)
        # os.read, not readline: a buffered reader could hold lines select() cannot see.
        chunk = os.read(proc.stderr.fileno(), 65536) if ready else b""
        assert chunk or proc.poll() is None, f"threadr serve exited: {seen.decode()}"
        seen += chunk


@contextlib.contextmanager
def threadr_servers(
    count: int, env: dict[str, str], cwd: Path | None = None
) -> Iterator[list[int]]:
    """`count` real `threadr serve` processes (only the installed package, the given env; no
    inherited REDIS_*/OPENAI_* variables); yields their ports and stops them afterwards."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "OPENAI"))}
    threadr = str(Path(sys.executable).with_name("threadr"))
    ports = [free_port() for _ in range(count)]
    procs = [
        subprocess.Popen(  # noqa: S603 - our own console script
            [threadr, "serve", "--port", str(port)],
            cwd=cwd,
            env=base | env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        for proc in procs:
            _wait_for_startup(proc)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
            proc.communicate(timeout=10)  # also closes the stderr pipe
