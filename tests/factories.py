"""Factories the tests share: settings, apps, a gateway, a broken Redis, a mock OpenAI, a clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import httpx2
from argon2 import PasswordHasher, Type
from asgi_lifespan import LifespanManager
from fakeredis import FakeAsyncRedis as FakeRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.types import ASGIApp, Receive, Scope, Send

from threadr.config import Settings
from threadr.services import Services
from threadr.storage.breaker import CircuitBreaker
from threadr.storage.gateway import Gateway
from threadr.web.app import create_app  # here, not in a test's loop: ~90 ms of imports

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "article-extraction"


def make_settings(**env: str) -> Settings:
    """Settings from a plain mapping, as the service would read them from the environment."""
    return Settings.from_env(env)


def limit_settings(**limits: Any) -> Settings:
    """Settings with these RATE_LIMIT_* and FREE_TIER_* fields (burst=3 → rate_limit_burst=3;
    free tier ones keep their prefix: free_tier_daily_limit=2)."""
    fields = {k if k.startswith("free_tier_") else f"rate_limit_{k}": v for k, v in limits.items()}
    return Settings(**fields)


async def until(condition: Callable[[], bool | Awaitable[bool]], within: float = 5.0) -> None:
    """Wait for `condition` to hold (checked every 5 ms), or fail the test after `within` s:
    for states nothing signals, such as a command blocked inside Redis or a timer's tick."""
    async with asyncio.timeout(within):
        while True:
            result = condition()
            if result if isinstance(result, bool) else await result:
                return
            await asyncio.sleep(0.005)


class Clock:
    """A settable clock (seconds since the epoch) to inject wherever time matters."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make_gateway(
    redis: Any | None,
    *,
    timeout: float = 2.0,
    pool_slots: int = 64,
    breaker: CircuitBreaker | None = None,
    lane: Any | None = None,
) -> Gateway:
    """A gateway on `redis` (None, a fakeredis, a real client or a BrokenRedis)."""
    breaker = breaker or CircuitBreaker()
    return Gateway(redis, timeout=timeout, pool_slots=pool_slots, breaker=breaker, lane=lane)


@contextlib.asynccontextmanager
async def running_app(settings: Settings, **seams: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and a client that talks to it in-process."""
    async with running_services(settings, **seams) as (client, _):
        yield client


@contextlib.asynccontextmanager
async def running_services(
    settings: Settings, **seams: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """`running_app`, and the collaborators its lifespan built (to watch what happens inside)."""
    async with running_asgi(settings, **seams) as (app, services):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, services


@contextlib.asynccontextmanager
async def running_asgi(settings: Settings, **seams: Any) -> AsyncIterator[tuple[ASGIApp, Services]]:
    """The app with its lifespan running, as an ASGI callable (for a client that reads a
    response as it is sent: httpx's ASGITransport waits for the whole of it), and the
    collaborators its lifespan built."""
    app = create_app(settings, **seams)
    lifespan_state: dict[str, Any] = {}

    async def capturing(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            lifespan_state.update(state=scope["state"])
        else:
            # A shallow copy per request, as uvicorn gives (the ASGI spec's lifespan state);
            # asgi-lifespan would hand every request the same dict.
            scope["state"] = dict(scope["state"])
        await app(scope, receive, send)

    async with LifespanManager(capturing) as manager:
        yield manager.app, lifespan_state["state"]["threadr"]


class CountingRedis(FakeRedis):
    """fakeredis that records the name of every command it is sent."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.commands: list[str] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.commands.append(str(args[0]))
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


class BrokenRedis:
    """Fails every call like an unreachable server, and counts the attempts."""

    def __init__(self) -> None:
        self.calls = 0
        self.connection_pool = BrokenPool(self)  # the gateway's lane makes its connections here

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.calls += 1
        raise RedisConnectionError("connection refused")

    def pipeline(self, transaction: bool = True) -> BrokenPipeline:
        return BrokenPipeline(self)

    def __getattr__(self, command: str) -> Any:
        return self.execute_command  # GET, SET, MGET …: every command fails the same way


class BrokenPipeline:
    """A BrokenRedis pipeline: takes any command, fails on `execute` (the counters' flush)."""

    def __init__(self, redis: BrokenRedis) -> None:
        self.redis = redis

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        result: list[Any] = await self.redis.execute_command("EXEC")
        return result

    def __getattr__(self, command: str) -> Any:
        return lambda *args, **options: self  # queued, as redis-py's pipeline does


class BrokenPool:
    """A BrokenRedis's connection pool, as the lane (storage/lane.py) uses it."""

    def __init__(self, redis: BrokenRedis) -> None:
        self.redis = redis

    def make_connection(self) -> BrokenConnection:
        return BrokenConnection(self.redis)


class BrokenConnection:
    """A lane's (or the watch's) connection to the unreachable server: every send fails (and is
    counted)."""

    is_connected = False

    def __init__(self, redis: BrokenRedis) -> None:
        self.redis = redis

    async def send_packed_command(self, packed: Any) -> None:
        await self.redis.execute_command("PACKED")

    async def send_command(self, *args: Any) -> None:  # the watch's PING
        await self.redis.execute_command(*args)

    async def read_response(self) -> Any:
        raise RedisConnectionError("connection refused")

    async def disconnect(self) -> None:
        pass


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
    an exception to raise. The last item repeats. A request that asks for a stream gets a 200's
    Chat Completions body as server-sent chunks of its content (`sse_chunks`); a callable may
    also answer with an httpx2.Response of its own (a stream that waits, say).
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
        if isinstance(reply, httpx2.Response):
            return reply
        status, body = reply
        headers = {"retry-after": "0"} if status == 429 else {}
        if status == 200 and self.requests[-1].get("stream") and "choices" in body:
            content = body["choices"][0]["message"]["content"]
            return httpx2.Response(200, content=sse_stream(content), headers=SSE)
        return httpx2.Response(status, json=body, headers=headers)

    def client(self) -> Any:
        from threadr.writing.openai_writer import create_openai_client

        http = httpx2.AsyncClient(transport=httpx2.MockTransport(self.handler))
        return create_openai_client("sk-test", "http://openai.test/v1", http_client=http)


SSE = {"content-type": "text/event-stream"}


async def sse_stream(content: str, size: int = 64) -> AsyncIterator[bytes]:
    """A streamed Chat Completions reply carrying `content`, `size` characters an event (more
    for a long one: at most about 200 events), each made as it is read."""
    size = max(size, len(content) // 200)
    for start in range(0, len(content), size):
        yield sse_event({"content": content[start : start + size]})
    yield sse_event({}, "stop")
    yield b"data: [DONE]\n\n"


def sse_event(delta: dict[str, Any], finish: str | None = None) -> bytes:
    """One server-sent event of a streamed Chat Completions reply."""
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-test",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def tweets_reply(*tweets: str) -> tuple[int, dict[str, Any]]:
    return 200, chat_completion(json.dumps({"tweets": list(tweets)}))


# Accounts (tests/accounts, tests/web/test_accounts.py, integration): the cheapest Argon2id
# parameters, since these tests hash many passwords; a test about the parameters sets its own.
CHEAP_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8", "ARGON2_PARALLELISM": "1"}
PASSWORD = "violet-harbour-41-lanterns"


def account_settings(**env: str) -> Settings:
    """`make_settings` with cheap Argon2id hashing."""
    return make_settings(**(CHEAP_ARGON2 | env))


async def sign_up(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, Any]:
    """Register `email` (asserting the 201) and return the token response's body."""
    response = await client.post("/api/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def redis_ms(redis: Any) -> int:
    """Redis's clock (TIME) in ms, as the Lua scripts read it."""
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def next_ms(redis: Any) -> None:
    """Wait until Redis's clock is in a later millisecond: sessions are ordered by it."""
    start = await redis_ms(redis)

    async def later() -> bool:
        return await redis_ms(redis) > start

    await until(later)


class GatedHasher(PasswordHasher):
    """Cheap Argon2id that hashes only once `gate` opens, so that a test can hold a call in
    flight (`entered` is set when one is)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.entered.set()
        self.gate.wait(timeout=10)
        return super().hash(password, salt=salt)


def read_metrics(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics body by (sample name, its labels): `metric_value` reads one."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def metric_value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The value of sample `name` with exactly these labels (0 when there is none yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
