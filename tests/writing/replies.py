"""Model replies for the writer tests: the structured thread the prompt asks for, and streams
that stop, wait or break where a test wants them to."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2

from tests.factories import SSE, MockOpenAI, chat_completion, sse_event
from threadr.writing.openai_writer import OpenAIWriter
from threadr.writing.options import Options
from threadr.writing.writer import ThreadWriter

ARTICLE = "\n\n".join(
    [
        "The city council voted 7 to 2 on Tuesday to build a new light rail line across the "
        "river, ending a decade of debate about how to move commuters downtown.",
        "Work starts next spring and should take four years. The line will cost $1.2 billion, "
        "of which the state pays 40%. Officials expect 30,000 riders a day by 2030.",
        "Opponents say the rail line favours downtown over the suburbs. The council rejected a "
        "bus-only plan in May.",
        "The rail line still needs a federal permit, which officials expect within a year.",
    ]
)


def content(*tweets: str | tuple[str, str], count: int | None = None) -> str:
    """The JSON the prompt asks for: the count (that of the tweets unless given), then each
    tweet with its quote ("" unless given as a pair)."""
    items = [{"text": t, "quote": ""} if isinstance(t, str) else {"text": t[0], "quote": t[1]}
             for t in tweets]  # fmt: skip
    return json.dumps({"count": len(tweets) if count is None else count, "tweets": items})


def reply(*tweets: str | tuple[str, str], count: int | None = None) -> tuple[int, dict[str, Any]]:
    return 200, chat_completion(content(*tweets, count=count))


async def no_sleep(_: float) -> None:
    return None


def model_writer(mock: MockOpenAI, *, budget: float = 5.0, max_tweets: int = 25) -> ThreadWriter:
    ai = OpenAIWriter(
        mock.client(), model="gpt-test", budget=budget, max_tweets=max_tweets, sleep=no_sleep
    )
    return ThreadWriter(ai, max_tweets=max_tweets)


def prompt_of(mock: MockOpenAI, call: int = 0) -> str:
    """The system prompt of a call."""
    text: str = mock.requests[call]["messages"][0]["content"]
    return text


def last_ask(mock: MockOpenAI, call: int) -> str:
    """What the last message of a call asked."""
    text: str = mock.requests[call]["messages"][-1]["content"]
    return text


def opts(**fields: Any) -> Options:
    return Options(**fields)


def stream_of(
    text: str, *, pause: Callable[[int], Awaitable[None]] | None = None, fail_at: int | None = None
) -> Callable[[httpx2.Request], Awaitable[httpx2.Response]]:
    """A reply streamed 20 characters an event; `pause(i)` is awaited before event i (a model
    still writing), and the connection breaks before event `fail_at`."""

    async def events() -> AsyncIterator[bytes]:
        for i, start in enumerate(range(0, len(text), 20)):
            if fail_at is not None and i == fail_at:
                raise httpx2.ReadError("connection reset")
            if pause is not None:
                await pause(i)
            yield sse_event({"content": text[start : start + 20]})
        yield sse_event({}, "stop")
        yield b"data: [DONE]\n\n"

    async def answer(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=events(), headers=SSE)

    return answer
