"""Rewriting one tweet of a thread (POST /api/rewrite): the article the thread came from read
again when the client names it, a quarter of a generation charged (limits/rewrites.py), then
the tweet asked of OpenAI — its reply treated as hostile: bounded, parsed, cleaned, fitted — or,
without OpenAI or when it fails, taken offline from the article's best passage the thread leaves
out (writing/rewrite.py); either way numbered as the thread is."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import NamedTuple

import openai

from .generate import Account, Pipeline
from .source import Source
from .writing.openai_writer import OpenAIWriter, failure_reason
from .writing.options import Options
from .writing.rewrite import REPLY_FORMAT, Draft, from_reply, messages, offline
from .writing.thread import Generator, ThreadWarning, Tweet

log = logging.getLogger(__name__)

# One tweet: the model's time budget for a thread is more than one needs, and a rewrite is
# asked while somebody watches. One attempt: a failure falls back to the offline tweet at once.
REWRITE_SECONDS = 15.0
# A tweet weighs at most ~280 tokens (CJK, emoji), plus the JSON around it.
MAX_COMPLETION_TOKENS = 400


@dataclass(frozen=True, slots=True)
class RewriteJob:
    """A checked request (web/rewrite.py): the thread's tweets as sent, the 0-based position to
    write anew, what to change, the thread's options, the article it came from (or None)."""

    thread: tuple[str, ...]
    index: int
    instruction: str | None
    options: Options
    article: Source | None


class Rewritten(NamedTuple):
    tweet: Tweet
    generator: Generator
    warnings: list[ThreadWarning]


class Rewriter:
    """Writes one tweet anew: OpenAI when configured, else (or when it fails) offline."""

    def __init__(self, pipeline: Pipeline, openai_writer: OpenAIWriter | None) -> None:
        self.pipeline = pipeline
        self.openai = openai_writer

    async def rewrite(self, job: RewriteJob, account: Account | None = None) -> Rewritten:
        """The new tweet. Charged before any work (402 when the quota is used up), taken back
        when the article cannot be read (its fetch's own error is raised); from then on it
        cannot fail: the offline tweet answers whatever OpenAI does."""
        if account is not None:
            await account.reserve()
        text = title = None
        try:
            if job.article is not None:
                text, title = await self.pipeline.article(job.article)
        except BaseException:
            if account is not None:
                await account.refund()
            raise
        draft = Draft(list(job.thread), job.index, job.options, text, title)
        asked = None
        if self.openai is not None:
            asked = await self._ask(self.openai, draft, job.instruction)
        if asked is not None:
            return Rewritten(asked, "openai", draft.warnings(asked))
        tweet = offline(draft)
        return Rewritten(tweet, "offline", draft.warnings(tweet))

    async def _ask(
        self, writer: OpenAIWriter, draft: Draft, instruction: str | None
    ) -> Tweet | None:
        """The model's tweet, or None (logged) when the call fails or the reply is unusable."""
        started = time.perf_counter()
        failure: str | None = None
        try:
            response = await writer.client.chat.completions.create(
                model=writer.model,
                messages=messages(draft, instruction),
                response_format=REPLY_FORMAT,
                max_completion_tokens=MAX_COMPLETION_TOKENS,
                timeout=min(writer.budget, REWRITE_SECONDS),
            )
        except (openai.OpenAIError, TimeoutError) as exc:
            failure = failure_reason(exc)
            log.warning("Rewriting offline: OpenAI failed (%s)", exc)
            return None
        finally:
            if writer.on_call is not None:
                writer.on_call(time.perf_counter() - started, failure)
        message = response.choices[0].message if response.choices else None
        tweet = from_reply(draft, message.content if message else None)
        if tweet is None:
            log.warning("Rewriting offline: OpenAI replied without a usable tweet")
        return tweet
