"""Assembling a model's thread while its reply streams in: each tweet cleaned, styled as the
options ask (emoji, hashtags), given its checked source, and told as soon as it is final —
numbered, within the limit, after every tweet before it. A tweet that is too long (or missing)
holds the telling back until the model has been asked for it again (openai_writer.py); only
when that fails too is it shortened, or the thread renumbered without it."""

from __future__ import annotations

import inspect
import re

from threadr.errors import Unprocessable

from .finalize import clean_tweet, clean_tweets, shorten
from .grounding import locate, supports
from .numbering import budget, limit, number, numbered
from .options import Options
from .reply import Item
from .salience import keywords
from .thread import Part, Span, Tweet, TweetSink
from .twittertext import strip_emoji, weighted_length

_HASHTAG = re.compile(r"(?<![\w#&])#([^\W\d_]\w*)")
_TAG = re.compile(r"#[^\W\d_]\w*")
_WORD = re.compile(r"\S+")
_MAX_QUOTE = 1_000  # characters; no real quote is longer
_JUNK = 4  # times the limit: longer than any draft of a tweet a model would send
_RAW = 4  # times the most tweets: what is kept of a reply that announced no count


class Assembly:
    """The model's thread being put together: `announce` the count, `add` each tweet in order,
    `settle` once the reply is over, `replace` what was asked again, then `finish`."""

    def __init__(
        self,
        text: str,
        title: str | None,
        options: Options,
        max_tweets: int,
        on_tweet: TweetSink | None = None,
    ) -> None:
        self.text, self.title, self.options = text, title or "", options
        self.low, self.high = options.count_range(max_tweets)
        self.count: int | None = None
        self.drafts: list[Part] = []  # cleaned, unstyled ("" where one is still missing)
        self._raw: list[Item] = []  # what came before the count: cleaned all together at the end
        self.told = 0
        self._on_tweet = on_tweet
        self._after = 0  # where the last source found ends: the next is looked for after it

    @property
    def usable(self) -> bool:
        """Whether any tweet came that can be posted."""
        if self._raw:
            return any(self._sane(text) for _, text in clean_tweets([i.text for i in self._raw]))
        return any(draft.text for draft in self.drafts)

    def restart(self) -> None:
        """Forget an attempt that gave nothing usable (nothing of it was told), for the next."""
        if not self.told:
            self.drafts, self.count, self._after, self._raw = [], None, 0, []

    def announce(self, count: int | None) -> None:
        """The count the model decided on (kept within the range asked for), once."""
        if self.count is None and count is not None:
            self.count = min(max(count, self.low), self.high)

    async def add(self, item: Item) -> None:
        """The next tweet of the reply; one that holds nothing (chatter, numbering) is dropped,
        and so are those past the count."""
        if self.count is None:
            if len(self._raw) < _RAW * self.high:  # enough to fill the thread, chatter aside
                self._raw.append(item)
            return
        for each in [*self._raw, item]:
            place = len(self.drafts) + 1
            draft = self._draft(each, place)
            if draft.text and place <= self.count:
                self.drafts.append(draft)
        self._raw = []
        await self._flush()

    async def settle(self) -> None:
        """The reply is over: without an announced count, the count is what arrived."""
        if self.count is None and self._raw:
            cleaned = clean_tweets([item.text for item in self._raw])[: self.high]
            self.drafts = [
                Part(t, self._source(t, self._raw[k].quote))
                for k, t in cleaned
                if self._sane(t)
            ]
            self._raw = []
        self.announce(len(self.drafts))
        await self._flush()

    def wanted(self) -> list[int]:
        """The places (from 1) of the tweets to ask for again: missing, unusable or too long."""
        count = self.count or 0
        return [place for place in range(1, count + 1) if self._final(place) is None]

    def so_far(self) -> list[str | None]:
        """The thread as the model will be shown it when asked again (None: missing)."""
        count = self.count or 0
        return [self.drafts[k].text or None if k < len(self.drafts) else None for k in range(count)]

    async def replace(self, place: int, item: Item) -> None:
        """The model's new version of the tweet at `place`; kept unless it is empty."""
        draft = self._draft(item, place)
        if not draft.text:
            return
        while len(self.drafts) < place:
            self.drafts.append(Part(""))
        self.drafts[place - 1] = draft
        await self._flush()

    async def finish(self) -> list[Tweet]:
        """The thread: every usable tweet, too long ones shortened; renumbered when some are
        missing (superseding what was told). Raises Unprocessable when none is usable."""
        kept = [d for d in self.drafts[: self.count or self.high] if d.text]
        if not kept:
            raise Unprocessable("The model's reply held no usable tweet.")
        # Told tweets stay told; those after them are told with the numbering of the end.
        self.count, self.drafts = len(kept), kept
        tweets = number([self._styled(p, fit=True) for p in range(1, len(kept) + 1)], self.options)
        await self._tell(tweets[self.told :])
        return tweets

    def _draft(self, item: Item, place: int) -> Part:
        text = self._sane(clean_tweet(item.text, place, self.count or self.high))
        return Part(text, self._source(text, item.quote) if text else None)

    def _sane(self, text: str) -> str:
        """`text`, or "" when it is too long to be anything but junk (a model gone astray):
        such a "tweet" is neither asked for again nor cut into a tweet."""
        return "" if len(text) > _JUNK * limit(self.options) else text

    def _source(self, text: str, quote: str) -> Span | None:
        """Where the tweet's quote is in the article, if it is there and the tweet shares a word
        or a number with it; else None (a made-up or unrelated source is dropped)."""
        if not quote.strip() or len(quote) > _MAX_QUOTE:
            return None
        span = locate(quote, self.text, self._after)
        if span is None or not supports(text, self.text[span.start : span.end]):
            return None
        self._after = span.end
        return span

    def _final(self, place: int) -> Part | None:
        """The tweet at `place` as it will be posted, or None while it is not usable yet."""
        if self.count is None or place > len(self.drafts) or not self.drafts[place - 1].text:
            return None
        part = self._styled(place)
        if weighted_length(part.text) > budget(self.count, self.options):
            return None
        return part

    def _styled(self, place: int, *, fit: bool = False) -> Part:
        """A draft with the options' emoji and hashtags: none but on the last tweet, and there
        exactly as many as asked (topped up from the article's key words when they fit). With
        `fit`, a text still too long is shortened (the last resort), leaving the tags room."""
        draft = self.drafts[place - 1]
        text = draft.text if self.options.emoji else strip_emoji(draft.text)
        wanted = self.options.hashtags if place == self.count else 0
        tags = list(dict.fromkeys(m[0] for m in _HASHTAG.finditer(text)))[:wanted]
        text = _HASHTAG.sub(r"\1", _without_trailing_tags(text)).strip()
        if wanted > len(tags):
            known = {t[1:].casefold() for t in tags}
            extra = keywords(self.text, self.title, wanted + len(known))
            tags += [f"#{w}" for w in extra if w.casefold() not in known][: wanted - len(tags)]
        room = budget(self.count or self.high, self.options)
        if fit:
            text = shorten(text, room - weighted_length(" ".join(tags)) - 2 if tags else room)
        while tags and weighted_length(f"{text}\n\n{' '.join(tags)}") > room:
            tags.pop()
        return Part(f"{text}\n\n{' '.join(tags)}" if tags else text, draft.source)

    async def _flush(self) -> None:
        """Tell every tweet that is final now, in order."""
        count = self.count
        if count is None:
            return
        ready: list[Part] = []
        while self.told + len(ready) < count:
            part = self._final(self.told + len(ready) + 1)
            if part is None:
                break
            ready.append(part)
        if ready:
            first = self.told + 1
            await self._tell(
                [
                    Tweet(i, count, text, weighted_length(text), part.source)
                    for i, part in enumerate(ready, first)
                    for text in [numbered(part.text, i, count, self.options)]
                ]
            )

    async def _tell(self, tweets: list[Tweet]) -> None:
        for tweet in tweets:
            self.told += 1
            if self._on_tweet is not None:
                result = self._on_tweet(tweet)
                if inspect.isawaitable(result):
                    await result


def _without_trailing_tags(text: str) -> str:
    """`text` without the hashtags that end it."""
    end = len(text)
    for token in reversed([m.span() for m in _WORD.finditer(text)]):
        if not _TAG.fullmatch(text, *token):
            break
        end = token[0]
    return text[:end]
