"""The offline writer: an extractive summary. The article's most salient sentences
(salience.py), verbatim and in their order, one idea a tweet, between a hook and a closing
tweet, as many as the options ask for; each says where in the article it comes from."""

from __future__ import annotations

import re

from .finalize import clean_tweets
from .fit import has_content, pack
from .numbering import budget as room_for
from .options import DEFAULT_OPTIONS, LONG_POST_LENGTH, Options
from .salience import Sentence, sentences
from .summary import THREAD, Summary
from .thread import Part, Span
from .twittertext import has_emoji, stream_safe, strip_emoji, weighted_length

_SPACES = re.compile(r"\s+")
# Page furniture that survives extraction: never in a thread.
_FURNITURE = re.compile(
    r"(?:copyright|©)\s*(?:©\s*)?\d{4}|all\s+rights\s+reserved|click\s+here\b|^advertisement\W*$"
    r"|\b(?:subscribe|sign\s+up)\s+(?:to|for)\s+(?:our|the)\s+newsletter\b",
    re.IGNORECASE,
)
_MIN_WORDS = 4  # a shorter sentence ("All...", "Photo.") says nothing alone
_CJK_MIN = 10  # characters, for scripts without spaces


def write_offline(
    text: str, title: str | None = None, options: Options = DEFAULT_OPTIONS, *, max_tweets: int = 25
) -> list[Part]:
    """The thread's tweets, unnumbered, each fitting once numbered: [] when the text holds
    nothing to say (a 422 to the caller). Fewer than the options ask for only when the article
    has too few sentences."""
    if max_tweets < 1:
        raise ValueError(f"max_tweets must be at least 1, not {max_tweets}")
    title = _SPACES.sub(" ", stream_safe(title or "")).strip()
    found = sentences(text)
    if not title and found and found[0].heading and found[0].paragraph != found[-1].paragraph:
        title = text[found[0].start : found[0].end]  # pasted text often starts with its headline
    if not options.emoji:
        title = strip_emoji(title)
    if options.format == "long_post":
        low = high = 1
        budget = LONG_POST_LENGTH
    else:
        low, high = options.count_range(max_tweets)
        budget = room_for(high, options)
    units = [s for s in found if _usable(text, s, budget, options)]
    summary = Summary(text, title, found, options)
    stripped = text.strip()
    start = text.index(stripped[:1]) if stripped else 0
    whole = Part(stripped, Span(start, start + len(stripped)))
    alone = options.tweets is None and (options.length == "auto" or len(units) <= 1)
    if options.format == "thread" and alone and _fits_one(whole.text, title, budget, options):
        return summary.tagged(_single(whole, title, options), budget)
    target = _target(options, low, high, text, len(units))
    # Every tweet of the body is a sentence; long ones are cut at clauses only when the article
    # has too few sentences for the count asked for.
    needed = target - 1 - (target >= 3)
    if len(units) < needed + 1:
        units = _with_pieces(text, found, units, budget, options, high)
    if not units:  # a text of title-like lines alone (no sentence ends anywhere): those
        units = [s for s in found if _usable(text, s, budget, options, headings=True)]
    if not units:
        return []
    if options.format == "long_post":
        return [summary.long_post(units, _post_size(options, text))]
    hook, used = summary.hook(units, budget, spare=len(units) - 1 > needed)
    closer = target >= 3
    bodies = summary.bodies(units, used, target - 1 - closer, budget)
    parts = [hook, *bodies]
    if closer and bodies:
        parts.append(summary.closer(budget))
    return summary.tagged(parts, budget)


def _usable(
    text: str,
    sentence: Sentence,
    budget: int,
    options: Options,
    *,
    piece: bool = False,
    headings: bool = False,
) -> bool:
    """Whether a sentence (or a `piece` of a long one) can be a tweet by itself: prose (or,
    with `headings`, a title-like line), not furniture, fitting, and without emoji when none
    are wanted."""
    body = text[sentence.start : sentence.end]
    if sentence.heading and not headings:
        return False
    if _FURNITURE.search(body) or stream_safe(body) != body:
        return False
    if not (piece or _long_enough(body)) or weighted_length(body) > budget:
        return False
    return options.emoji or not has_emoji(body)


def _long_enough(body: str) -> bool:
    words = len(body.split())
    return words >= _MIN_WORDS or (not body.isascii() and len(body) >= _CJK_MIN and words <= 2)


def _with_pieces(
    text: str,
    found: list[Sentence],
    units: list[Sentence],
    budget: int,
    options: Options,
    most: int,
) -> list[Sentence]:
    """`units` and the clause-sized pieces of the sentences too long for a tweet, in order (at
    most `most` of each: cutting costs work per piece)."""
    kept = set(units)
    result = []
    for sentence in found:
        if sentence in kept:
            result.append(sentence)
            continue
        body = text[sentence.start : sentence.end]
        if sentence.heading or stream_safe(body) != body or _FURNITURE.search(body):
            continue  # (a run of 30+ marks would make every measure of it quadratic)
        if weighted_length(body) <= budget:
            continue
        cursor = 0
        for chunk in pack(body, budget, limit=most):
            at = body.index(chunk, cursor)
            cursor = at + len(chunk)
            piece = Sentence(
                sentence.start + at, sentence.start + cursor, sentence.paragraph, False, False
            )
            if _usable(text, piece, budget, options, piece=True):
                result.append(piece)
    return result


def _fits_one(whole: str, title: str, budget: int, options: Options) -> bool:
    """Whether the whole text, after its title, is one tweet worth posting (not chatter,
    numbering or furniture alone)."""
    hook = f"{THREAD} {title}\n\n" if title and options.emoji else f"{title}\n\n" if title else ""
    if stream_safe(whole) != whole or _FURNITURE.search(whole) or not clean_tweets([whole]):
        return False
    return weighted_length(hook + whole) <= budget


def _single(whole: Part, title: str, options: Options) -> list[Part]:
    """A text that fits one tweet is that tweet (after its title, when it has one); nothing
    when it was only emoji and none are wanted."""
    text, source = whole.text, whole.source
    if not options.emoji and has_emoji(text):
        text, source = strip_emoji(text), None
        if not has_content(text):
            return []
    if title:
        text = f"{THREAD} {title}\n\n{text}" if options.emoji else f"{title}\n\n{text}"
    return [Part(text, source)]


def _target(options: Options, low: int, high: int, text: str, units: int) -> int:
    """How many tweets to aim for: within the range asked, more for a longer article (`auto`:
    3 and one per 150 words, or, for a short text, every sentence that can stand alone up to 7
    tweets: what the service made before options, without the packing)."""
    if low == high:
        return low
    words = len(text.split())
    if options.length == "auto":
        return min(max(3 + words // 150, min(units + 1, 7), 3), high)
    return low + round((high - low) * min(1.0, words / 1500))


def _post_size(options: Options, text: str) -> int:
    """How many sentences a long post keeps."""
    sizes = {"short": 6, "medium": 12, "long": 24}
    return sizes.get(options.length, 3 + len(text.split()) // 60)
