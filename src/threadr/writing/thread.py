"""What a writer hands back: numbered tweets with their sources, the writer's name, and the
warnings about claims the article does not back. These Structs are cached and sent as they are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import msgspec

Generator = Literal["openai", "offline"]


class Span(msgspec.Struct, frozen=True):
    """Where a tweet comes from: `text[start:end]` of the article text the writer was given
    (for a URL, the extracted text cut to MAX_CONTENT_LENGTH)."""

    start: int
    end: int


class Part(msgspec.Struct, frozen=True):
    """A tweet before it is numbered: its text and where in the article it comes from."""

    text: str
    source: Span | None = None


class Tweet(msgspec.Struct):
    number: int
    total: int
    content: str  # the numbered text, as it is posted
    character_count: int  # X weighted length of `content`: <= 280 (25,000 for a long post)
    # The passage the tweet rests on; null for the hook and the closing tweet, and for a tweet
    # whose model-given source could not be found in the article.
    source: Span | None = None


# unsupported_number: a number, percentage or amount in the tweet that is not in the article;
# unsupported_quote: a quoted phrase that is not; language_unavailable: the offline writer was
# asked for another language and kept the article's; length_unmet: the article (or the model)
# gave fewer tweets than the length asked for.
WarningKind = Literal[
    "unsupported_number", "unsupported_quote", "language_unavailable", "length_unmet"
]


class ThreadWarning(msgspec.Struct, frozen=True):
    """Something the reader should check: `tweet` is its number (null: the whole thread)."""

    tweet: int | None
    kind: WarningKind
    value: str


class Written(msgspec.Struct):
    """A finished thread: what ThreadWriter.write returns and the cache keeps."""

    tweets: list[Tweet]
    generator: Generator
    warnings: list[ThreadWarning] = []


# Told of each tweet as soon as it is final (numbered, within the limit, with its source), in
# order; may be a coroutine function. A thread that later has to change (a model that gave up
# before the count it announced, a fallback to the offline writer) is told whole by the
# Written that write() returns, which supersedes what was told.
TweetSink = Callable[[Tweet], Awaitable[None] | None]
