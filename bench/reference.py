"""The bare reference app — the physical limit the service is measured against in the same run.

`POST /api/generate` reads the body, does one redis.asyncio GET of a stored response and returns
its bytes; `GET /health` returns a constant. Nothing else: no middleware, no validation.

    REDIS_URL=redis://127.0.0.1:P python -m uvicorn bench.reference:create_app --factory \\
        --loop uvloop --http httptools --no-access-log --port Q

`REFERENCE_REDIS_PRESET` picks a client configuration from bench/redisopts.py ("defaults").
Depends on Starlette and redis-py only, so it also runs in another redis-py's virtualenv.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.redisopts import client

# The stored response body the reference serves (the service's own cache-hit body, copied).
REFERENCE_KEY = "threadr:bench:reference"
HEALTH_BODY = b'{"status":"healthy"}'


async def generate(request: Request) -> Response:
    await request.body()
    redis: Redis = request.state.redis
    raw = await redis.get(REFERENCE_KEY)
    return Response(raw, media_type="application/json")


async def health(_: Request) -> Response:
    return Response(HEALTH_BODY, media_type="application/json")


def create_app() -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Redis]]:
        redis = client(
            os.environ["REDIS_URL"], os.environ.get("REFERENCE_REDIS_PRESET", "defaults")
        )
        try:
            yield {"redis": redis}
        finally:
            await redis.aclose()

    return Starlette(
        routes=[
            Route("/api/generate", generate, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def reference_argv(python: str, port: int) -> list[str]:
    """How every benchmark serves this app: uvicorn as deployed (uvloop, httptools, no logs)."""
    return [
        python, "-m", "uvicorn", "bench.reference:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--no-server-header", "--log-level", "warning",
    ]  # fmt: skip
