"""Splitting text into tweet-sized chunks: sentences first, then clauses, then words."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice

from .twittertext import (
    MAX_URL_LENGTH,
    MAX_WEIGHTED_LENGTH,
    exceeds,
    fitting_prefix,
    weighted_length,
)

# A sentence ends at . ! ? … (and any closing quotes) before a space, at a CJK full stop, or at a
# line break; a clause at , ; : (ASCII ones only before a space), a spaced or em dash, or before
# a conjunction. A run that may fail to end anything ("....x", spaces before a letter) is only
# tried from its first character: tried from every one, the search would be quadratic in it.
_SENTENCE_END = re.compile(
    r"(?<![.!?…])[.!?…]++[\"'”’»)\]]*+\s++|[。！？]+[」』”’）]*\s*|(?<![ \t])[ \t]*+\n\s*"
)
_CLAUSE_END = re.compile(
    r"[,;:]\s+|[，、；：]\s*|\s[—–-]\s+|—(?=\S)"
    r"|(?<!\s)\s++(?=(?:and|but|or|so|because|which|while|whereas|although|though|yet)\s)",
    re.IGNORECASE,
)
_WORD = re.compile(r"\S+\s*")
_ABBREVIATION_LIST = (
    "mr mrs ms dr prof sr jr st vs no nos fig vol pp inc ltd co corp dept est approx gen gov sen "
    "rep rev capt col lt sgt jan feb mar apr jun jul aug sep sept oct nov dec mt ft ave"
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_LIST.split())
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_MIN_ROOM = 20  # below this, a long word starts a new chunk instead of topping one up
# No word is longer: a link X counts is at most MAX_URL_LENGTH characters, and a tweet's worth
# of text may be glued to it. A longer one is cut into tweets without being weighed whole again
# for each (quadratic); only junk (dozens of links glued together, thousands of joined emoji)
# would have fitted in one.
_LONGEST_WORD = MAX_URL_LENGTH + MAX_WEIGHTED_LENGTH

_CONTENT = re.compile(r"[^\W_]|[\u2190-\u2bff\U0001F000-\U0001FAFF]")  # a letter, digit or emoji


def tweet_budget(max_tweets: int) -> int:
    """Weighted length left for a tweet's text once the widest "i/n " prefix is put in front."""
    return MAX_WEIGHTED_LENGTH - len(f"{max_tweets}/{max_tweets} ")


def has_content(text: str) -> bool:
    """Whether `text` holds a letter, digit or emoji: anything worth a tweet."""
    return bool(_CONTENT.search(text))


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, each keeping the whitespace after it, so they join back to `text`."""
    sentences: list[str] = []
    for piece in _cut(text, _SENTENCE_END):
        if sentences and _continues(sentences[-1], piece):
            sentences[-1] += piece
        else:
            sentences.append(piece)
    return sentences


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, at the last sentence end in its second half,
    else at a space there, else hard."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    sentences = split_sentences(head)  # abbreviations ("Dr.") end no sentence
    # Every sentence but the last ends at a sentence end; the last may be the one the limit cut.
    if sentences and not _ends_sentence(sentences[-1]):
        sentences.pop()
    end = sum(map(len, sentences))
    if end >= limit // 2:
        return head[:end].rstrip()
    space = head.rfind(" ")
    return (head[:space] if space >= limit // 2 else head).rstrip()


def _ends_sentence(sentence: str) -> bool:
    return any(end.end() == len(sentence) for end in _SENTENCE_END.finditer(sentence))


def pack(text: str, budget: int, *, limit: int | None = None) -> list[str]:
    """Cut `text` into chunks of at most `budget` weighted characters, breaking between
    sentences where it can, then between clauses, then between words; a chunk ends early at a
    paragraph break once it is half full. The one splitter of the project. With `limit`, only
    the first `limit` chunks are made: a word of junk costs work per chunk, not per character."""
    return list(islice(filter(None, _chunks(text.strip(), budget)), limit))


def _chunks(text: str, budget: int) -> Iterator[str]:
    """pack's chunks, stripped, some of them empty."""
    if weighted_length(text) <= budget:
        yield text
        return
    current = ""
    for piece in _pieces(text, budget):
        while _overflows(piece.strip(), budget):
            # A word longer than a tweet: its start tops up the current chunk, the rest follows.
            room = budget - weighted_length(current)
            cut = fitting_prefix(piece, room) if room >= _MIN_ROOM else 0
            if not cut or weighted_length(current + piece[:cut]) > budget:
                yield current.strip()
                current, cut = "", fitting_prefix(piece, budget)
            yield (current + piece[:cut]).strip()
            current, piece = "", piece[cut:]
        candidate = current + piece
        if current.strip() and weighted_length(candidate.strip()) > budget:
            yield current.strip()
            current = piece
        else:
            current = candidate
        if _ends_paragraph(piece) and 2 * weighted_length(current.strip()) >= budget:
            yield current.strip()
            current = ""
    yield current.strip()


def _overflows(word: str, budget: int) -> bool:
    """Whether `word` must be cut to fit `budget`."""
    return len(word) > _LONGEST_WORD or exceeds(word, budget)


def _ends_paragraph(piece: str) -> bool:
    """Whether the whitespace that ends `piece` holds a blank line."""
    return _BLANK_LINE.search(piece, len(piece.rstrip())) is not None


def _cut(text: str, boundary: re.Pattern[str]) -> list[str]:
    pieces, start = [], 0
    for match in boundary.finditer(text):
        if match.end() > start:
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _continues(sentence: str, following: str) -> bool:
    """Whether a full stop was an abbreviation ("Dr.", "U.S.", "e.g.") rather than an end."""
    stripped = sentence.rstrip()
    if not stripped.endswith(".") or "\n" in sentence[len(stripped) :]:
        return False
    if following[:1].islower():
        return True
    word = stripped.rsplit(None, 1)[-1].rstrip(".").lstrip("(\"'“‘").lower()
    return word in _ABBREVIATIONS or len(word) == 1 or "." in word


def _pieces(text: str, budget: int) -> Iterator[str]:
    """Sentences, or the clauses or words of those too long for a tweet."""
    for sentence in split_sentences(text):
        if weighted_length(sentence.strip()) <= budget:
            yield sentence
            continue
        for clause in _cut(sentence, _CLAUSE_END):
            if weighted_length(clause.strip()) <= budget:
                yield clause
            else:
                yield from _WORD.findall(clause)
