"""One tweet of a thread written anew (POST /api/rewrite), from pure inputs: the rules a request
must meet, the model's prompt and the reading of its reply (hostile input: bounded, parsed and
cleaned as a thread's reply is), the offline tweet, and the fitting of either to the thread's
numbering within X's weighted limit."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from openai.types.chat import ChatCompletionMessageParam

from threadr.errors import ValidationFailed

from .finalize import clean_tweet, shorten
from .fit import has_content
from .grounding import check, locate, supports
from .numbering import limit, marker, numbered, strip_number
from .options import MAX_TWEETS, Options
from .prompt import RESPONSE_FORMAT
from .reply import ReplyReader
from .salience import Sentence, sentences, similarity, terms
from .summary import Summary
from .thread import Part, Span, ThreadWarning, Tweet
from .twittertext import MAX_WEIGHTED_LENGTH, has_emoji, stream_safe, strip_emoji, weighted_length

# A tweet as sent may be over the limit (edited by hand: rewriting it is the point), but not
# by more than a model's reply is allowed to be (openai_writer: 4 × 280 characters a tweet).
MAX_SENT_TWEET = 4 * MAX_WEIGHTED_LENGTH
MAX_INSTRUCTION = 280  # characters: what to change, not another article
# The model's reply: the thread's own format (prompt.py), with one tweet and the words of the
# article it rests on; read no further than one tweet and its quote may be.
REPLY_FORMAT = RESPONSE_FORMAT
_REPLY_CHARS = MAX_SENT_TWEET + 400
_MARGIN = 20  # models count characters loosely: asked for this much less than fits (prompt.py)
_SAME = 0.5  # a sentence this like a tweet of the thread (cosine of terms) is already in it
_SPACES = re.compile(r"[ \t]+")

SYSTEM_PROMPT = (
    "You rewrite one tweet of an X (Twitter) thread. Keep it in its place: it follows the tweet "
    "before it and leads to the one after, says one idea, and repeats no other tweet. Plain "
    "text, no numbering (it is added later), no preamble. When an article is given, state only "
    "what the article says, and put in `quote` 5 to 25 consecutive words of the article, word "
    "for word, that the tweet rests on (an empty string when it rests on none). "
    'Reply with JSON only: {"count": 1, "tweets": [{"text": "<the new tweet>", "quote": "..."}]}.'
)


def check_thread(
    thread: list[str], index: int, instruction: str | None, options: Options, *, grounded: bool
) -> None:
    """Refuse (422) a rewrite that cannot be made: no thread, too long a thread or tweet, an
    index outside it, an empty tweet and no article to write it from, too long an instruction,
    a long post."""
    if options.format == "long_post":
        raise ValidationFailed(
            "A long post is one post, not a thread of tweets: generate it again instead.",
            code="invalid_options",
        )
    if not any(has_content(tweet) for tweet in thread):
        raise ValidationFailed(
            "Send the thread's tweets in `thread`; it has none with words.", code="empty_thread"
        )
    if len(thread) > MAX_TWEETS:
        raise ValidationFailed(
            f"The thread has {len(thread)} tweets; a thread has at most {MAX_TWEETS}.",
            code="thread_too_long",
        )
    for k, tweet in enumerate(thread):
        if len(tweet) > MAX_SENT_TWEET:
            raise ValidationFailed(
                f"Tweet {k} of the thread is {len(tweet):,} characters long; the limit is "
                f"{MAX_SENT_TWEET:,}.",
                code="tweet_too_long",
            )
    if isinstance(index, bool) or not 0 <= index < len(thread):
        raise ValidationFailed(
            f"`index` must be between 0 and {len(thread) - 1} (the thread has {len(thread)} "
            f"tweets, counted from 0), not {index}.",
            code="invalid_index",
        )
    if not grounded and not has_content(thread[index]):
        raise ValidationFailed(
            f"Tweet {index} is empty and no article is named to write it from: send the "
            "article as `url` or `text`.",
            code="empty_tweet",
        )
    if instruction is not None and len(instruction) > MAX_INSTRUCTION:
        raise ValidationFailed(
            f"The instruction is {len(instruction):,} characters long; the limit is "
            f"{MAX_INSTRUCTION}.",
            code="instruction_too_long",
        )


@dataclass(frozen=True, slots=True)
class Draft:
    """What a rewrite knows: the thread's tweets as sent, the position to write anew, the
    thread's options, and the article (text and title) when one was named and read."""

    thread: list[str]
    index: int
    options: Options
    article: str | None = None
    title: str | None = None

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def total(self) -> int:
        return len(self.thread)

    def bodies(self) -> list[str]:
        """The thread's tweets without their numbers (as the options put them)."""
        n, options = self.total, self.options
        return [strip_number(stream_safe(t), k, n, options) for k, t in enumerate(self.thread, 1)]

    def room(self) -> int:
        """The weighted length this tweet's text may have beside its number."""
        mark = marker(self.number, self.total, self.options)
        return limit(self.options) - (len(mark) + 1 if mark else 0)

    def tweet(self, text: str, source: Span | None = None) -> Tweet:
        """`text` as this position's tweet: fitted (its leading sentences, else cut at a word
        with an ellipsis, when it is too long) and numbered as the thread is."""
        fitted = shorten(text, self.room())
        if fitted != text:
            source = None  # no longer the passage as the article words it
        content = numbered(fitted, self.number, self.total, self.options)
        return Tweet(self.number, self.total, content, weighted_length(content), source)

    def warnings(self, tweet: Tweet) -> list[ThreadWarning]:
        """The numbers and quoted phrases of `tweet` its article does not hold (none without
        an article to check against)."""
        if self.article is None:
            return []
        body = strip_number(tweet.content, self.number, self.total, self.options)
        found = check([body], self.article, self.title)
        return [ThreadWarning(self.number, w.kind, w.value) for w in found]


def messages(draft: Draft, instruction: str | None) -> list[ChatCompletionMessageParam]:
    """The chat messages asking for the tweet at `draft.index`."""
    options = draft.options
    rules = [
        f"The new tweet has at most {draft.room() - _MARGIN} characters, counting an emoji as 2 "
        "and a link as 23."
    ]
    if options.tone != "neutral":
        rules.append(f"Write in a {options.tone} tone.")
    if not options.emoji:
        rules.append("Use no emoji.")
    if options.language != "auto":
        rules.append(f"Write in the language with the BCP 47 tag {options.language}.")
    if options.hashtags and draft.number == draft.total:
        rules.append(f"End it with {options.hashtags} hashtag(s).")
    listed = "\n".join(f"{k}. {body}" for k, body in enumerate(draft.bodies(), 1))
    parts = []
    if draft.article is not None:
        heading = f"Title: {draft.title}\n\n" if draft.title else ""
        parts.append(f"The article:\n\n{heading}{draft.article}")
    parts.append(f"The thread:\n\n{listed}")
    wanted = stream_safe(instruction).strip() if instruction else ""
    ask = f"Rewrite tweet {draft.number} of {draft.total}."
    if wanted:
        ask += f" What to change, in the user's words: {wanted}"
    parts.append(f"{ask}\n{' '.join(rules)}")
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def from_reply(draft: Draft, content: str | None) -> Tweet | None:
    """The tweet in a model's reply, cleaned and fitted; None when it holds none."""
    if not content:
        return None
    reader = ReplyReader(_REPLY_CHARS)
    reader.feed(content)
    for item in reader.items():
        text = _clean(item.text, draft)
        if text:
            return draft.tweet(text, _source(draft.article, text, item.quote))
    return None


def offline(draft: Draft) -> Tweet:
    """Without a model: the most salient passage of the article that no tweet of the thread
    already says; without an article (or with nothing left in it), the tweet's own text, as
    the options want it (no emoji when they say none) and fitted — or, for a tweet with nothing
    of its own, the article's best passage even if the thread says it too."""
    article = draft.article
    part = _passage(draft, article, fresh=True) if article is not None else None
    if part is not None:
        return draft.tweet(part.text, part.source)
    own = _clean(draft.bodies()[draft.index], draft)
    if not own and article is not None:
        part = _passage(draft, article, fresh=False)
        if part is not None:
            return draft.tweet(part.text, part.source)
    # Emptied by cleaning (a tweet of emoji, with none wanted): the tweet as it was; a blank
    # tweet whose article has no sentence to spare (only headings): the article's opening.
    return draft.tweet(own or draft.bodies()[draft.index].strip() or (article or "").strip())


def _passage(draft: Draft, text: str, *, fresh: bool) -> Part | None:
    """The best sentence of `text` (with its neighbour when it leans on it), ranked as the
    offline writer ranks them; with `fresh`, only one unlike every tweet of the thread."""
    found = sentences(text)
    room = draft.room()
    units = [s for s in found if _usable(text, s, room, draft.options)]
    used: set[Sentence] = set()
    if fresh:
        said = [(b.casefold(), Counter(terms(b))) for b in draft.bodies()]
        used = {s for s in units if _said(text[s.start : s.end], said)}
    summary = Summary(text, draft.title or "", found, draft.options)
    chosen = summary.bodies(units, used, 1, room)
    return chosen[0] if chosen else None


def _usable(text: str, sentence: Sentence, room: int, options: Options) -> bool:
    body = text[sentence.start : sentence.end]
    return (
        not sentence.heading
        and len(body.split()) >= 4
        and weighted_length(body) <= room
        and (options.emoji or not has_emoji(body))
    )


def _said(body: str, said: list[tuple[str, Counter[str]]]) -> bool:
    bag = Counter(terms(body))
    folded = body.casefold()
    return any(folded in tweet or similarity(bag, other) > _SAME for tweet, other in said)


def _source(article: str | None, text: str, quote: str) -> Span | None:
    """Where the model's quote is in the article, when it is there and shares a word or a
    number with the tweet (as a thread's tweets are grounded: writing/assembly.py)."""
    if article is None or not quote.strip():
        return None
    span = locate(quote, article)
    if span is None or not supports(text, article[span.start : span.end]):
        return None
    return span


def _clean(text: str, draft: Draft) -> str:
    """One tweet's text as it can be posted: the thread's numbering for its place, and any a
    model wrote, chatter and markdown dropped (finalize.clean_tweet), runs of spaces folded,
    no emoji when the options want none; "" when nothing is left."""
    text = strip_number(stream_safe(text).strip(), draft.number, draft.total, draft.options)
    text = _SPACES.sub(" ", clean_tweet(text, draft.number, draft.total)).strip()
    text = text if draft.options.emoji else strip_emoji(text)
    return text if has_content(text) else ""
