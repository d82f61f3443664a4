"""Reading a model's reply as it streams in: the announced count, and each tweet as soon as its
JSON object is complete. The reply is hostile input: a tweet of the wrong shape is dropped, a
reply that is not the JSON asked for is recovered line by line once it has all arrived, and the
scan is linear (it resumes where it stopped; no recursion, whatever the nesting)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import NamedTuple

import httpx2
import msgspec
from openai import APIConnectionError, APIError, APITimeoutError, AsyncStream
from openai.types.chat import ChatCompletionChunk

from .finalize import recover_tweets

_STRUCTURAL = re.compile(r'[\[\]{}",:]')
_STRING_END = re.compile(r'["\\]')
_EVENTS_PER_PAUSE = 32


class Item(NamedTuple):
    """One tweet as the model wrote it, and the words of the article it says it rests on."""

    text: str
    quote: str


class _Tweet(msgspec.Struct):
    text: str
    quote: str = ""


_decode_tweet = msgspec.json.Decoder(_Tweet).decode
_decode_string = msgspec.json.Decoder(str).decode


class ReplyReader:
    """Fed the reply's pieces in order (`feed`), tells the tweets completed by each; `count` is
    the announced count once read. `items()` at the end: the tweets, recovered from the text
    when the reply held none in the shape asked for."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.text = ""
        self.count: int | None = None
        self.found: list[Item] = []
        self.full = False  # the reply reached max_chars; the rest is not read
        self._pos = 0
        self._stack: list[str] = []
        self._in_string = False
        self._string_start = 0
        self._last_string: str | None = None
        self._key: str | None = None  # the key being read at the top level
        self._value_start = 0  # where the top-level value of `_key` starts
        self._tweet_start = -1  # where the tweet object being read starts

    def feed(self, piece: str) -> list[Item]:
        """Read another piece of the reply; the tweets it completed."""
        room = self.max_chars - len(self.text)
        if len(piece) >= room:
            piece, self.full = piece[:room], True
        self.text += piece
        before = len(self.found)
        self._scan()
        return self.found[before:]

    def items(self) -> list[Item]:
        """Every tweet of the reply: those read as JSON, else those recovered from its text."""
        if self.found:
            return self.found
        return [Item(text, "") for text in recover_tweets(self.text)]

    def _scan(self) -> None:
        text, stack = self.text, self._stack
        pos = self._pos
        while True:
            if self._in_string:
                match = _STRING_END.search(text, pos)
                if match is None:
                    pos = len(text)
                    break
                if match[0] == "\\":
                    if match.end() >= len(text):
                        pos = match.start()  # the escaped character has not arrived yet
                        break
                    pos = match.end() + 1
                    continue
                self._in_string = False
                pos = match.end()
                self._string_done(self._string_start, pos)
                continue
            match = _STRUCTURAL.search(text, pos)
            if match is None:
                pos = len(text)
                break
            char, pos = match[0], match.end()
            if char == '"':
                self._in_string, self._string_start = True, match.start()
            elif char in "{[":
                stack.append(char)
                if char == "{" and self._in_tweets(len(stack) - 1):
                    self._tweet_start = match.start()
            elif char in "}]":
                if stack:
                    stack.pop()
                if char == "}" and self._tweet_start >= 0 and self._in_tweets(len(stack)):
                    self._tweet(text[self._tweet_start : pos])
                    self._tweet_start = -1
                if len(stack) == 1:
                    self._value_done(match.start())
            elif char == ":" and len(stack) == 1:
                self._key, self._value_start = self._last_string, pos
            elif char == "," and len(stack) == 1:
                self._value_done(match.start())
        self._pos = pos

    def _in_tweets(self, depth: int) -> bool:
        """Whether a container at `depth` (0: the reply) sits right inside the tweets array."""
        return depth == 2 and self._key in ("tweets", "thread", "posts") and self._stack[1] == "["

    def _string_done(self, start: int, end: int) -> None:
        raw = self.text[start:end]
        if len(self._stack) == 1:
            try:
                self._last_string = _decode_string(raw)
            except (msgspec.DecodeError, RecursionError):
                self._last_string = None
        elif len(self._stack) == 2 and self._in_tweets(2) and self._tweet_start < 0:
            with contextlib.suppress(msgspec.DecodeError):  # {"tweets": ["...", "..."]}
                self._add(_decode_string(raw), "")

    def _value_done(self, end: int) -> None:
        if self._key == "count" and self.count is None:
            raw = self.text[self._value_start : end].strip()
            if raw.isdigit() and len(raw) <= 3:
                self.count = int(raw)
        self._key = None if len(self._stack) <= 1 else self._key

    def _tweet(self, raw: str) -> None:
        try:
            tweet = _decode_tweet(raw)
        except (msgspec.DecodeError, RecursionError):  # wrong types or shape: dropped
            return
        self._add(tweet.text, tweet.quote)

    def _add(self, text: str, quote: str) -> None:
        if text.strip():
            self.found.append(Item(text, quote))


async def streamed_text(stream: AsyncStream[ChatCompletionChunk]) -> AsyncIterator[str]:
    """The reply's text as it streams in; all at once from a server that answers a stream with
    the whole completion as JSON (some OpenAI-compatible servers and proxies do)."""
    if stream.response.headers.get("content-type", "").startswith("application/json"):
        try:
            whole = _decode_completion(await stream.response.aread())
        except (msgspec.DecodeError, RecursionError):
            return  # nothing usable: the caller says so
        content = whole.choices[0].message.content if whole.choices else None
        if content:
            yield content
        return
    # The events are read and decoded here, not by iterating `stream`: the SDK builds a
    # pydantic model of every event (~0.5 ms, one per token), which cost a miss ~80 ms of the
    # event loop and stalled every cache hit behind it (make bench: mixed load). msgspec reads
    # the one field we use in a few µs.
    response = stream.response
    count = 0
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue  # event names, comments, blank lines between events
            data = line[5:].strip()
            if data.startswith("[DONE]"):
                break
            count += 1
            if count % _EVENTS_PER_PAUSE == 0:
                await asyncio.sleep(0)  # events that arrived together: let the loop breathe
            try:
                chunk = _decode_chunk(data)
            except (msgspec.DecodeError, RecursionError):
                continue  # not an event we know: skipped, as hostile input
            if chunk.error is not None:
                raise APIError(_error_message(chunk.error), response.request, body=chunk.error)
            piece = chunk.choices[0].delta.content if chunk.choices else None
            if piece:
                yield piece
    except httpx2.TimeoutException as exc:
        raise APITimeoutError(request=response.request) from exc
    except httpx2.TransportError as exc:
        raise APIConnectionError(request=response.request) from exc


def _error_message(error: object) -> str:
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "An error occurred during streaming"


class _Delta(msgspec.Struct):
    content: str | None = None


class _ChunkChoice(msgspec.Struct):
    delta: _Delta = msgspec.field(default_factory=_Delta)


class _Chunk(msgspec.Struct):
    choices: list[_ChunkChoice] = []
    error: object | None = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message


class _Completion(msgspec.Struct):
    choices: list[_Choice] = []


_decode_completion = msgspec.json.Decoder(_Completion).decode
