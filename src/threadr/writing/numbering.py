"""Numbering the tweets of a thread in the caller's style ("3/7", "3.", "(3/7)" or none, at the
start or the end), always inside each tweet's 280 weighted characters."""

from __future__ import annotations

from .options import LONG_POST_LENGTH, Options
from .thread import Part, Tweet
from .twittertext import MAX_WEIGHTED_LENGTH, weighted_length

_STYLES = {"1/n": "{i}/{n}", "1.": "{i}.", "(1/n)": "({i}/{n})", "none": ""}


def marker(number: int, total: int, options: Options) -> str:
    """The number of a tweet as the options write it ("" without numbering or for a post)."""
    if options.format == "long_post":
        return ""
    return _STYLES[options.numbering].format(i=number, n=total)


def limit(options: Options) -> int:
    """The weighted length one tweet may have: 280, or 25,000 for a long post."""
    return LONG_POST_LENGTH if options.format == "long_post" else MAX_WEIGHTED_LENGTH


def budget(total: int, options: Options) -> int:
    """The weighted length left for a tweet's text in a thread of up to `total` tweets, once
    the widest number (and its space) is put in."""
    widest = marker(total, total, options)
    return limit(options) - (len(widest) + 1 if widest else 0)


def numbered(text: str, number: int, total: int, options: Options) -> str:
    """`text` with its number put where the options say."""
    mark = marker(number, total, options)
    if not mark:
        return text
    return f"{text} {mark}" if options.numbering_position == "end" else f"{mark} {text}"


def unnumbered(tweet: Tweet, options: Options) -> str:
    """A tweet's text without the number `numbered` gave it."""
    return strip_number(tweet.content, tweet.number, tweet.total, options)


def strip_number(text: str, number: int, total: int, options: Options) -> str:
    """`text` without the number the options would give it at `number` of `total` (a tweet
    as a client sent it back: the spaces next to the number may vary)."""
    mark = marker(number, total, options)
    if not mark:
        return text
    if options.numbering_position == "end":
        return text.removesuffix(mark).rstrip() if text.endswith(f" {mark}") else text
    return text.removeprefix(mark).lstrip() if text.startswith(f"{mark} ") else text


def number(parts: list[Part], options: Options) -> list[Tweet]:
    """The tweets of `parts`, numbered, each with its weighted length."""
    n = len(parts)
    tweets = []
    for i, part in enumerate(parts, 1):
        content = numbered(part.text, i, n, options)
        tweets.append(Tweet(i, n, content, weighted_length(content), part.source))
    return tweets
