"""The outside world of a real `threadr serve`, over real HTTP on one local port: OpenAI's Chat
Completions (counted, held until a test lets them answer, then slow) and a site of articles.
A uvicorn server in a thread of its own, so that it answers while the test's loop waits."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.factories import chat_completion

TWEETS = [
    "One model call can serve every instance that asks for the same article at once.",
    "The first instance takes a lease in Redis; the others wait for its entry.",
    "A page shared under many URLs names its canonical one, and they all share one thread.",
]
BODY = " ".join(
    f"Paragraph sentence {n} explains how one cache entry serves many URLs." for n in range(30)
)


def article(canonical: str) -> bytes:
    return (
        "<!doctype html><html><head><title>One thread per article</title>"
        f'<link rel="canonical" href="{canonical}"></head><body><article>'
        f"<h1>One thread per article</h1><p>{BODY}</p></article></body></html>"
    ).encode()


class _Server(uvicorn.Server):
    """uvicorn's server, saying when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


class Outside:
    """`calls` to Chat Completions so far; each waits for `answer` (set it to let them
    through), then `delay` seconds more, as a model would take."""

    def __init__(self, delay: float = 0.3) -> None:
        self.delay = delay
        self.calls = 0
        self.answer = threading.Event()
        self.port = 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        """No calls yet, and none answered until `answer` is set again."""
        self.calls = 0
        self.answer = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _completion(self, request: Request) -> Response:
        with self._lock:
            self.calls += 1
        await asyncio.get_running_loop().run_in_executor(None, self.answer.wait, 30)
        await asyncio.sleep(self.delay)  # the model's time: requests overlap
        return JSONResponse(chat_completion(json.dumps({"tweets": TWEETS})))

    async def _article(self, request: Request) -> Response:
        return Response(article(f"{self.base}/a"), media_type="text/html")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._completion, methods=["POST"]),
                Route("/a", self._article),
                Route("/amp/a", self._article),
            ]
        )

    @contextmanager
    def running(self) -> Iterator[Outside]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        server = _Server(uvicorn.Config(self.app(), log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            assert server.listening.wait(10), "the outside world's server did not start"
            yield self
        finally:
            self.answer.set()
            server.should_exit = True
            thread.join(10)
            sock.close()
