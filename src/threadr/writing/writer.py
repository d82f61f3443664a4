"""Writing the thread: OpenAI when configured, the offline writer otherwise or when OpenAI
fails; either way finalised (cleaned, split to fit, numbered) the same way."""

from __future__ import annotations

import logging
from typing import Literal

from .finalize import Tweet, finalize
from .offline import write_offline
from .openai_writer import OpenAIWriter, WriterFailed

log = logging.getLogger(__name__)

Generator = Literal["openai", "offline"]


class ThreadWriter:
    """Writes the numbered thread: OpenAI when configured, the offline writer otherwise or when
    OpenAI fails."""

    def __init__(self, openai_writer: OpenAIWriter | None, *, max_tweets: int) -> None:
        self.openai = openai_writer
        self.max_tweets = max_tweets

    async def write(self, text: str, title: str | None) -> tuple[list[Tweet], Generator]:
        if self.openai is not None:
            try:
                raw = await self.openai.write(text, title)
                return finalize(raw, max_tweets=self.max_tweets), "openai"
            except WriterFailed as exc:
                log.warning("Falling back to the offline writer: %s", exc)
        raw = write_offline(text, title, max_tweets=self.max_tweets)
        return finalize(raw, max_tweets=self.max_tweets), "offline"
