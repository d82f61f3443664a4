"""Writing the thread: OpenAI when configured, the offline writer otherwise or when OpenAI
fails; either way the options honoured, and every thread numbered and grounded the same way."""

from __future__ import annotations

import inspect
import logging

from threadr.errors import Unprocessable

from .grounding import check
from .numbering import number, unnumbered
from .offline import write_offline
from .openai_writer import OpenAIWriter, WriterFailed
from .options import DEFAULT_OPTIONS, Options
from .thread import Generator, ThreadWarning, Tweet, TweetSink, Written

log = logging.getLogger(__name__)

__all__ = ["Generator", "ThreadWriter", "Written", "tell"]


async def tell(sink: TweetSink | None, tweets: list[Tweet]) -> None:
    """Hand each of `tweets` to `sink`, in order, awaiting it when it is a coroutine."""
    if sink is None:
        return
    for tweet in tweets:
        result = sink(tweet)
        if inspect.isawaitable(result):
            await result


class ThreadWriter:
    """Writes the numbered thread: OpenAI when configured, the offline writer otherwise or when
    OpenAI fails or replies with nothing usable."""

    def __init__(self, openai_writer: OpenAIWriter | None, *, max_tweets: int) -> None:
        self.openai = openai_writer
        self.max_tweets = max_tweets

    async def write(
        self,
        text: str,
        title: str | None,
        options: Options = DEFAULT_OPTIONS,
        *,
        on_tweet: TweetSink | None = None,
    ) -> Written:
        """The thread, the writer that made it and its warnings; raises Unprocessable, before
        any call to OpenAI, when the text holds nothing to make a thread of. `on_tweet` is told
        each tweet as soon as it is final, in order (thread.TweetSink says when the Written
        returned supersedes what was told).

        Once OpenAI has been called the generation is paid for, so from then on it always ends
        in a thread: an unusable reply gets the offline one (cached briefly, like any fallback),
        never an error that would refund the caller for a call we paid.
        """
        # The offline thread first: it is the fallback, and whether it can be written at all is
        # what tells an unusable text (a 422, refunded) from an unusable reply. It costs a few
        # milliseconds (9 ms a page on average over the dataset) next to a model call.
        parts = write_offline(text, title, options, max_tweets=self.max_tweets)
        if not parts:
            raise Unprocessable(
                "The text holds nothing to make a thread of: no sentence with words, only "
                "headings, numbering or page furniture."
            )
        if self.openai is not None:
            try:
                tweets = await self.openai.write(text, title, options, on_tweet=on_tweet)
                return self._written(tweets, "openai", text, title, options)
            except (WriterFailed, Unprocessable) as exc:
                log.warning("Falling back to the offline writer: %s", exc)
        offline = number(parts, options)
        await tell(on_tweet, offline)
        return self._written(offline, "offline", text, title, options)

    def _written(
        self,
        tweets: list[Tweet],
        generator: Generator,
        text: str,
        title: str | None,
        options: Options,
    ) -> Written:
        """The thread with its warnings: unbacked claims, and the options it could not meet."""
        warnings = check([unnumbered(t, options) for t in tweets], text, title)
        low, _ = options.count_range(self.max_tweets)
        if len(tweets) < low:
            warnings.append(ThreadWarning(None, "length_unmet", str(len(tweets))))
        if generator == "offline" and options.language != "auto":
            warnings.append(ThreadWarning(None, "language_unavailable", options.language))
        return Written(tweets, generator, warnings)
