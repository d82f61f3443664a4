"""The OpenAI writer: Chat Completions with structured output, streamed tweet by tweet, retried
within a time budget, and asked again for only the tweets that do not fit."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from threadr.errors import Unprocessable

from . import prompt
from .assembly import Assembly
from .numbering import budget
from .options import DEFAULT_OPTIONS, LONG_POST_LENGTH, Options
from .reply import ReplyReader, streamed_text
from .thread import Tweet, TweetSink
from .twittertext import MAX_WEIGHTED_LENGTH

log = logging.getLogger(__name__)

# The reply's JSON schema (prompt.py), named here too for the callers that ask for a tweet.
RESPONSE_FORMAT = prompt.RESPONSE_FORMAT

# Worth another try: throttling, server errors, timeouts and dropped connections.
_RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
_BACKOFF_BASE = 0.5
_BACKOFF_CAP = 8.0

# What the model may send, per tweet asked for. Tokens: a tweet weighs at most 280; English runs
# about 4 characters a token, and CJK or emoji, which weigh 2 (140 to a tweet), 1-2 tokens
# each, so a full tweet is at most ~280 tokens, plus 40 for the JSON around it and a model that
# overruns a little. This bounds what one call can bill: a model that rambles is cut off (and
# its cut JSON still read) instead of paid by the token. A reasoning model spends its reasoning
# from the same allowance. Characters: one token can be a long run of spaces or symbols, so the
# reply is also cut at 4 × 280 characters a tweet before any of it is read; nothing longer is a
# thread, and every pass over it (JSON, regexes, splitting) stays bounded.
# Each tweet also carries its `quote` (5 to 25 words): 40 more tokens, 400 more characters.
_TOKENS_PER_TWEET = 360
_CHARS_PER_TWEET = 4 * MAX_WEIGHTED_LENGTH + 400
_POST_TOKENS = LONG_POST_LENGTH // 3  # English runs ~4 characters a token; CJK weighs 2 a char
_POST_CHARS = 4 * LONG_POST_LENGTH


class WriterFailed(Exception):
    """OpenAI gave no usable thread within the budget; the caller falls back to offline."""


# Told of every call to OpenAI: its seconds, and None or why it failed (failure_reason). The
# app's metrics listen here (services.py); this package knows nothing of them.
CallObserver = Callable[[float, str | None], None]


def failure_reason(exc: BaseException) -> str:
    """Why a call to OpenAI failed, in one word (threadr_openai_failures_total's `reason`)."""
    if isinstance(exc, openai.APITimeoutError | TimeoutError | asyncio.CancelledError):
        return "timeout"  # the SDK's, or the budget's (which cancels the call under way)
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.RateLimitError):
        return "rate_limited"
    if isinstance(exc, openai.InternalServerError):
        return "server_error"
    if isinstance(exc, openai.APIStatusError):
        return "refused"  # 400, 401, 403, 404 …
    if isinstance(exc, WriterFailed):
        return "empty_reply"
    if isinstance(exc, Unprocessable):
        return "unusable_reply"
    return "other"


def create_openai_client(
    api_key: str, base_url: str | None, http_client: Any | None = None
) -> AsyncOpenAI:
    """One client per process; retries are ours (max_retries=0) so the total budget holds."""
    return AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, http_client=http_client)


def parse_reply(content: str | None) -> list[str]:
    """Tweets from a whole reply: the JSON object we asked for, else recovered from its lines."""
    if not content:
        return []
    reader = ReplyReader(len(content))
    reader.feed(content)
    return [item.text for item in reader.items()]


class OpenAIWriter:
    """Chat Completions with a JSON schema, streamed: each tweet is told as soon as it is final.
    Calls are retried with backoff inside `budget` seconds; the tweets that come out too long
    (or missing) are asked for again, `repairs` times at most, instead of being cut."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str,
        budget: float,
        max_tweets: int,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_call: CallObserver | None = None,
        repairs: int = 2,
    ) -> None:
        self.client = client
        self.on_call = on_call
        self.model = model
        self.budget = budget
        self.max_tweets = max_tweets
        self.repairs = repairs
        self.max_completion_tokens = max_tweets * _TOKENS_PER_TWEET
        self.max_reply_chars = max_tweets * _CHARS_PER_TWEET
        self._sleep = sleep

    async def write(
        self,
        text: str,
        title: str | None,
        options: Options = DEFAULT_OPTIONS,
        *,
        on_tweet: TweetSink | None = None,
    ) -> list[Tweet]:
        """The model's thread, numbered. Raises WriterFailed when no usable tweet came (the
        caller falls back); once one has, the thread is finished with what came in time."""
        assembly = Assembly(text, title, options, self.max_tweets, on_tweet)
        room = budget(assembly.high, options)
        asked = prompt.messages(text, title, options, assembly.low, assembly.high, room)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.budget
        try:
            async with asyncio.timeout_at(deadline):
                await self._retried(
                    lambda left: self._stream(asked, assembly, left),
                    deadline,
                    done=lambda: assembly.usable,
                )
                await assembly.settle()
                for _ in range(self.repairs):
                    wanted = assembly.wanted()
                    if not wanted:
                        break
                    await self._retried(
                        functools.partial(self._repair, asked, assembly, wanted), deadline
                    )
        except (TimeoutError, openai.OpenAIError, WriterFailed) as exc:
            if not assembly.usable:
                raise _failed(exc, self.budget) from exc
            log.warning("OpenAI stopped early (%s); the thread is finished with what came", exc)
        await assembly.settle()
        return await assembly.finish()

    async def _retried(
        self,
        call: Callable[[float], Awaitable[None]],
        deadline: float,
        done: Callable[[], bool] = lambda: False,
    ) -> None:
        """`call(seconds left)`, retried with backoff on throttling, server errors, timeouts and
        dropped connections while the budget allows (and `done()` is false: what came of a
        broken stream is kept, and the rest is asked for instead)."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                return await self._timed(call, deadline - loop.time())
            except _RETRYABLE as exc:
                if done():
                    log.info("OpenAI's reply broke off (%s); asking for the rest", exc)
                    return
                delay = _retry_delay(exc, attempt)
                if loop.time() + delay >= deadline:
                    raise WriterFailed(f"OpenAI kept failing: {exc}") from exc
                log.info("OpenAI attempt %d failed (%s); retrying", attempt + 1, exc)
                attempt += 1
                await self._sleep(delay)

    async def _timed(self, call: Callable[[float], Awaitable[None]], remaining: float) -> None:
        """`call`, its time and outcome told to `on_call` when there is one."""
        on_call = self.on_call
        if on_call is None:
            return await call(remaining)
        started = time.perf_counter()
        try:
            await call(remaining)
        except BaseException as exc:
            on_call(time.perf_counter() - started, failure_reason(exc))
            raise
        on_call(time.perf_counter() - started, None)

    async def _stream(
        self, asked: list[ChatCompletionMessageParam], assembly: Assembly, remaining: float
    ) -> None:
        """One streamed attempt at the thread, each tweet handed to `assembly` as it completes."""
        assembly.restart()
        options = assembly.options
        long_post = options.format == "long_post"
        tokens = _POST_TOKENS if long_post else assembly.high * _TOKENS_PER_TWEET
        reader = ReplyReader(_POST_CHARS if long_post else assembly.high * _CHARS_PER_TWEET)
        stream = await self.client.chat.completions.create(
            model=self.model,
            messages=asked,
            response_format=prompt.RESPONSE_FORMAT,
            max_completion_tokens=tokens,
            stream=True,
            timeout=max(remaining, 0.001),
        )
        async with stream:
            async for piece in streamed_text(stream):
                for item in reader.feed(piece):
                    assembly.announce(reader.count)
                    await assembly.add(item)
                assembly.announce(reader.count)
                if reader.full:
                    log.warning(
                        "OpenAI replied more than %d characters; reading no more", reader.max_chars
                    )
                    break
        if not reader.found:  # not the JSON asked for: tweets recovered from its lines
            for item in reader.items():
                await assembly.add(item)
        if not assembly.usable:
            raise WriterFailed("OpenAI replied without any tweets")

    async def _repair(
        self,
        asked: list[ChatCompletionMessageParam],
        assembly: Assembly,
        wanted: list[int],
        remaining: float,
    ) -> None:
        """Ask again for only the tweets at `wanted`; each usable answer replaces its tweet."""
        room = budget(assembly.count or assembly.high, assembly.options)
        conversation = prompt.repair_messages(asked, assembly.so_far(), wanted, room)
        response = await self.client.chat.completions.create(
            model=self.model,
            messages=conversation,
            response_format=prompt.RESPONSE_FORMAT,
            max_completion_tokens=len(wanted) * _TOKENS_PER_TWEET + 50,
            timeout=max(remaining, 0.001),
        )
        message = response.choices[0].message if response.choices else None
        reader = ReplyReader(len(wanted) * _CHARS_PER_TWEET)
        reader.feed(message.content or "" if message else "")
        for place, item in zip(wanted, reader.items(), strict=False):
            await assembly.replace(place, item)


def _failed(exc: BaseException, budget: float) -> WriterFailed:
    if isinstance(exc, WriterFailed):
        return exc
    if isinstance(exc, TimeoutError):
        return WriterFailed(f"OpenAI took longer than {budget:g} s")
    return WriterFailed(f"OpenAI refused the request: {exc}")


def _retry_delay(exc: Exception, attempt: int) -> float:
    """Honour a server's Retry-After; else exponential backoff with full jitter."""
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            return min(float(response.headers.get("retry-after", "")), _BACKOFF_CAP)
        except ValueError:
            pass
    return random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))  # noqa: S311
