"""A client that reads a response from the ASGI app as it is sent — httpx's ASGITransport hands
over a response only once the app has finished it — and parses server-sent events. It speaks as
uvicorn does (ASGI spec 2.3): once the client has gone, `receive` answers `http.disconnect` and
whatever the app still sends is dropped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message


@dataclass
class Event:
    """One server-sent event: its `event` name and its `data` decoded from JSON."""

    name: str
    data: Any


@dataclass
class Streamed:
    """A response being read: its status and headers once started, its body as it comes."""

    status: int
    headers: dict[str, str]
    _messages: asyncio.Queue[Message]
    _gone: asyncio.Event
    _app: asyncio.Task[None]
    _buffer: bytes = b""
    body: bytes = b""
    finished: bool = False
    _pending: list[Event] = field(default_factory=list)

    async def chunk(self) -> bytes | None:
        """The next piece of the body as the app sent it; None once it has ended."""
        if self.finished:
            return None
        message = await self._messages.get()
        assert message["type"] == "http.response.body", message
        self.finished = not message.get("more_body", False)
        data: bytes = message.get("body", b"")
        self.body += data
        self._buffer += data
        *blocks, self._buffer = self._buffer.split(b"\n\n")
        self._pending += [parse(block) for block in blocks if block.strip()]
        return data

    async def event(self) -> Event | None:
        """The next whole event; None once the body has ended."""
        while not self._pending:
            if await self.chunk() is None:
                return None
        return self._pending.pop(0)

    async def events(self) -> list[Event]:
        """Every event still to come, until the body ends."""
        found = []
        while (event := await self.event()) is not None:
            found.append(event)
        return found

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (event := await self.event()) is not None:
            yield event

    def json(self) -> Any:
        return json.loads(self.body)

    async def read(self) -> bytes:
        while await self.chunk() is not None:
            pass
        return self.body

    def disconnect(self) -> None:
        """Go away as a client does: the app is told at its next `receive`; what it sends from
        then on is dropped."""
        self._gone.set()

    async def ended(self) -> None:
        """Wait for the app to be done with the request (its background work included)."""
        async with asyncio.timeout(5):
            await self._app


def parse(block: bytes) -> Event:
    """An event from its lines (`event:` and `data:`, several data lines joined by newlines)."""
    name, data = "message", []
    for line in block.decode().split("\n"):
        field_name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field_name == "event":
            name = value
        elif field_name == "data":
            data.append(value)
    return Event(name, json.loads("\n".join(data)))


async def post(
    app: ASGIApp, path: str, body: Any, headers: dict[str, str] | None = None
) -> Streamed:
    """POST `body` as JSON and wait for the response to start (its status and headers)."""
    raw = json.dumps(body).encode()
    sent = {"content-type": "application/json", "content-length": str(len(raw))}
    sent |= {name.lower(): value for name, value in (headers or {}).items()}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in sent.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    messages: asyncio.Queue[Message] = asyncio.Queue()
    gone, done = asyncio.Event(), asyncio.Event()
    body_sent = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await _first(gone, done)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if gone.is_set():
            return  # the client has gone: uvicorn drops what is sent
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()
        await messages.put(message)

    async def run() -> None:
        await app(scope, receive, send)

    app_task = asyncio.create_task(run())
    start = await messages.get()
    assert start["type"] == "http.response.start", start
    headers_seen = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return Streamed(start["status"], headers_seen, messages, gone, app_task)


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
