"""Grounding: where in the article a tweet's words are (a model's quote, found and checked),
and which of its facts — numbers, percentages, amounts, quoted phrases — the article does not
hold (the response's `warnings`)."""

from __future__ import annotations

import re

from .salience import terms
from .thread import Span, ThreadWarning

_WORD = re.compile(r"\w+")
_MAX_QUOTE_WORDS = 60  # a quote is a sentence or two; a longer "quote" is not looked for
# A number as written: currency, digits with separators or a decimal part, and a unit.
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<currency>[$€£¥]\s?)?(?P<digits>\d{1,15}(?:[.,]\d{1,15}){0,5})(?![\d])"
    r"(?P<unit>\s?%|\s?(?:percent|per\s+cent|k|m|bn|b|million|billion|trillion|thousand)\b)?",
    re.IGNORECASE,
)
# What is not a claim: links, hashtags, mentions (their digits are names, not figures).
_NOT_PROSE = re.compile(r"https?://\S+|www\.\S+|[#@]\w+", re.IGNORECASE)
_QUOTED = re.compile(r"“([^”\n]{3,200})”|\"([^\"\n]{3,200})\"")
_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100,
}  # fmt: skip
_SMALL_WORDS = re.compile(r"\b(?:" + "|".join(_SMALL) + r")\b", re.IGNORECASE)


def phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    """A pattern that finds `phrase` in a text whatever its case, spacing, punctuation and
    quote marks between words; None when it holds no word or too many."""
    words = _WORD.findall(phrase)
    if not words or len(words) > _MAX_QUOTE_WORDS:
        return None
    return re.compile(r"(?<!\w)" + r"\W+".join(map(re.escape, words)) + r"(?!\w)", re.IGNORECASE)


def locate(quote: str, text: str, after: int = 0) -> Span | None:
    """Where `quote` is in `text`: first at or after `after` (tweets follow the article), else
    anywhere; None when it is not there."""
    pattern = phrase_pattern(quote)
    if pattern is None:
        return None
    match = pattern.search(text, after) or (pattern.search(text) if after else None)
    return Span(match.start(), match.end()) if match else None


def supports(tweet: str, passage: str) -> bool:
    """Whether a passage can be a tweet's source: they share a content word or a number."""
    words = set(terms(tweet)) | set(_numbers(tweet))
    return bool(words & (set(terms(passage)) | set(_numbers(passage))))


def check(bodies: list[str], text: str, title: str | None = None) -> list[ThreadWarning]:
    """The warnings of a thread's texts (numbering taken off): each number, percentage or
    amount, and each quoted phrase, that the article (or its title) does not hold."""
    source = f"{title or ''}\n{text}"
    known = set(_numbers(source)) | {str(_SMALL[w.lower()]) for w in _SMALL_WORDS.findall(source)}
    warnings: list[ThreadWarning] = []
    for number, body in enumerate(bodies, 1):
        prose = _NOT_PROSE.sub(" ", body)
        for match in _NUMBER.finditer(prose):
            readings = _readings(match["digits"])
            plain = not match["currency"] and not match["unit"]
            if plain and len(match["digits"]) == 1:
                continue  # "3 lessons", "step 2": counting, not a figure to check
            if not readings & known:
                warnings.append(ThreadWarning(number, "unsupported_number", match[0].strip()))
        for match in _QUOTED.finditer(body):
            phrase = match[1] or match[2]
            pattern = phrase_pattern(phrase)
            if pattern is not None and not pattern.search(source):
                warnings.append(ThreadWarning(number, "unsupported_quote", phrase))
    return warnings


def _numbers(text: str) -> list[str]:
    return [r for m in _NUMBER.finditer(_NOT_PROSE.sub(" ", text)) for r in _readings(m["digits"])]


def _readings(digits: str) -> set[str]:
    """What a written number may mean, normalised: "1,200" → {"1200", "1.2"} (thousands, or a
    decimal comma), "3.50" → {"3.5"}, "007" → {"7"}."""
    groups = re.split(r"[.,]", digits)
    readings = set()
    if len(groups) > 1 and all(len(g) == 3 for g in groups[1:]):
        readings.add(str(int("".join(groups))))
    if len(groups) <= 2:
        whole = str(int(groups[0]))
        fraction = groups[1].rstrip("0") if len(groups) == 2 else ""
        readings.add(f"{whole}.{fraction}" if fraction else whole)
    return readings or {digits}
