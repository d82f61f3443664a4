"""The OpenAI writer: Chat Completions with structured output, retried within a time budget."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import openai
from openai import AsyncOpenAI
from openai.types.shared_params import ResponseFormatJSONSchema

from threadr.errors import Unprocessable

from .finalize import recover_tweets
from .twittertext import MAX_WEIGHTED_LENGTH

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You turn articles into engaging X (Twitter) threads. Write in the article's language. "
    "The first tweet is a hook that makes people want to read on; the middle tweets carry the "
    "article's key points, facts and numbers in order, one idea per tweet; the last tweet wraps "
    "up with the takeaway. Each tweet at most 250 characters, plain text, at most one hashtag "
    "in the whole thread, no numbering (it is added later), no preamble. "
    'Reply with JSON only: {"tweets": ["...", "..."]}.'
)

# Structured output: the model must return exactly this object (JSON schema response format).
RESPONSE_FORMAT: ResponseFormatJSONSchema = {
    "type": "json_schema",
    "json_schema": {
        "name": "thread",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"tweets": {"type": "array", "items": {"type": "string"}}},
            "required": ["tweets"],
            "additionalProperties": False,
        },
    },
}

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
_TOKENS_PER_TWEET = 320
_CHARS_PER_TWEET = 4 * MAX_WEIGHTED_LENGTH


class _Reply(msgspec.Struct):
    tweets: list[str]


_decode_reply = msgspec.json.Decoder(_Reply).decode


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
    """Tweets from a reply: the JSON object we asked for, else recovered from its lines."""
    if not content:
        return []
    try:
        return _decode_reply(content).tweets
    except (msgspec.DecodeError, RecursionError):  # msgspec's own depth limit is the stack's
        return recover_tweets(content)


class OpenAIWriter:
    """Chat Completions with a JSON schema, retried with backoff inside `budget` seconds."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str,
        budget: float,
        max_tweets: int,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_call: CallObserver | None = None,
    ) -> None:
        self.client = client
        self.on_call = on_call
        self.model = model
        self.budget = budget
        self.max_tweets = max_tweets
        self.max_completion_tokens = max_tweets * _TOKENS_PER_TWEET
        self.max_reply_chars = max_tweets * _CHARS_PER_TWEET
        self._sleep = sleep

    async def write(self, text: str, title: str | None) -> list[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.budget
        attempt = 0
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    try:
                        return await self._timed(text, title, deadline - loop.time())
                    except _RETRYABLE as exc:
                        delay = _retry_delay(exc, attempt)
                        if loop.time() + delay >= deadline:
                            raise WriterFailed(f"OpenAI kept failing: {exc}") from exc
                        log.info("OpenAI attempt %d failed (%s); retrying", attempt + 1, exc)
                        attempt += 1
                        await self._sleep(delay)
        except TimeoutError as exc:
            raise WriterFailed(f"OpenAI took longer than {self.budget:g} s") from exc
        except openai.OpenAIError as exc:  # 400/401/403/404 …: retrying will not help
            raise WriterFailed(f"OpenAI refused the request: {exc}") from exc

    async def _timed(self, text: str, title: str | None, remaining: float) -> list[str]:
        """`_attempt`, its time and outcome told to `on_call` when there is one."""
        on_call = self.on_call
        if on_call is None:
            return await self._attempt(text, title, remaining)
        started = time.perf_counter()
        try:
            tweets = await self._attempt(text, title, remaining)
        except BaseException as exc:
            on_call(time.perf_counter() - started, failure_reason(exc))
            raise
        on_call(time.perf_counter() - started, None)
        return tweets

    async def _attempt(self, text: str, title: str | None, remaining: float) -> list[str]:
        heading = f"Title: {title}\n\n" if title else ""
        response = await self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": f"Write a thread of at most {self.max_tweets} tweets about this "
                    f"article.\n\n{heading}{text}",
                },
            ],
            response_format=RESPONSE_FORMAT,
            max_completion_tokens=self.max_completion_tokens,
            timeout=max(remaining, 0.001),
        )
        message = response.choices[0].message if response.choices else None
        content = message.content if message else None
        if content and len(content) > self.max_reply_chars:
            log.warning(
                "OpenAI replied %d characters; reading the first %d",
                len(content),
                self.max_reply_chars,
            )
            content = content[: self.max_reply_chars]
        tweets = parse_reply(content)
        if not any(t.strip() for t in tweets):
            raise WriterFailed("OpenAI replied without any tweets")
        return tweets


def _retry_delay(exc: Exception, attempt: int) -> float:
    """Honour a server's Retry-After; else exponential backoff with full jitter."""
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            return min(float(response.headers.get("retry-after", "")), _BACKOFF_CAP)
        except ValueError:
            pass
    return random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))  # noqa: S311
