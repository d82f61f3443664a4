"""Making a model's tweets postable: recovered from a reply that is not the JSON asked for,
cleaned of chatter and of numbering, and, as a last resort, shortened to fit."""

from __future__ import annotations

import json
import re
from typing import Any

from .fit import has_content, pack
from .twittertext import stream_safe, weighted_length

_FENCE = re.compile(r"^\s*(?:```|~~~)")
_RULE = re.compile(r"^\s*(?:[-*_=~]\s*){3,}$")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
# What a chat model says around a thread rather than in it, matched on whole short lines only.
_CHATTER = re.compile(
    r"""^[\W_]*(?:
        (?:sure|certainly|absolutely|of\s+course|okay|ok|alright|great)[!.]+
            (?:\s+(?:here|below|i've|i\s+have)\b.*)?
      | here(?:'s|’s|\s+is|\s+are)\s+(?:your|the|a|an|my)\b.{0,100}?\b(?:thread|tweets?)\b.*
      | (?:(?:a|the|your|twitter|x)\s+)*thread(?:\s*\(\d+\s+tweets?\))?\W*
      | (?:let\s+me\s+know|feel\s+free\s+to|would\s+you\s+like|do\s+you\s+want\s+me|want\s+me\s+to
        |shall\s+i|should\s+i|if\s+you(?:'d|’d|\s+would)\s+like|(?:i\s+)?hope\s+(?:this|that)\s+helps
        |i\s+can\s+(?:also\s+)?(?:adjust|tweak|make|shorten|expand|rewrite|add))\b.*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_CHATTER_MAX = 200

# Numbering a model wrote itself (see _is_numbering for which of it is stripped). Whitespace
# is taken possessively (`\s*+`) wherever what follows cannot be whitespace, so that a long run
# of it is read once, not once per way of sharing it between two quantifiers; and a trailing
# number is looked for only after whitespace, not from every character of a run of it.
_MARKER = (
    r"[(\[]\s*+(?P<bracket>\d{1,3})\s*+/\s*+\d{1,3}\s*+[)\]]"
    r"|(?:tweet|post)\s*+\#?\s*+(?P<named>\d{1,3})(?:\s*+(?:/|of)\s*+\d{1,3})?"
    r"|(?P<i>\d{1,3})\s*+/\s*+(?P<n>\d{1,3})"
    r"|(?P<open>\d{1,3})/(?!\s*+\d)"
    r"|(?P<listed>\d{1,3})[.):]"
)
_SUFFIX = r"(?:\*\*|__)?[ \t]*[:.)\-–—]?(?:\*\*|__)?(?:\s+|$)"
_LEADING = re.compile(
    rf"^(?P<keep>🧵\s*+)?(?:[-*•+]\s++)?(?:\*\*|__)?\s*+(?:{_MARKER}){_SUFFIX}", re.IGNORECASE
)
_TRAILING = re.compile(
    r"(?<!\S)(?:[(\[]\s*+(?P<bracket>\d{1,3})\s*+/\s*+\d{1,3}\s*+[)\]]"
    r"|(?P<i>\d{1,3})/(?P<n>\d{1,3}))\s*+$"
)
_BULLET = re.compile(r"^\s*[-*•+]\s+")
_ENDS = tuple(".!?…。！？\"'”’)")
_JSON_START = re.compile(r"[\[{]")
# A string, whether it is closed, and whether it is a key. An unclosed one matches too (and is
# skipped), so the search goes on after it rather than from each quote escaped inside it.
_JSON_STRING = re.compile(r'"(?P<text>(?:[^"\\\n]|\\.)*+)(?P<closed>"(?P<key>\s*+:)?)?')
_JSON_DEPTH = 4  # {"thread": {"tweets": [{"text": …}]}} is as deep as a reply gets
_JSON_ATTEMPTS = 20
_DECODER = json.JSONDecoder()


def recover_tweets(reply: str) -> list[str]:
    """Tweets from a reply that is not the JSON asked for: a JSON array or object inside it,
    else its numbered or bulleted items, else its paragraphs (or lines, if only one)."""
    embedded = _embedded_json(reply)
    if embedded:
        return embedded
    lines = [
        _HEADING.sub("", line).strip()
        for line in reply.splitlines()
        if not _FENCE.match(line) and not _RULE.match(line)
    ]
    if "\n".join(lines).strip().startswith(("{", "[")):  # JSON cut short, say at the token limit
        return _json_strings("\n".join(lines))
    tweets = []
    for group in _groups(lines):
        text = _BOLD.sub(lambda m: m[1] or m[2], _drop_chatter("\n".join(group)))
        if has_content(text):
            tweets.append(text.strip())
    return tweets


def clean_tweet(text: str, place: int, count: int) -> str:
    """A model's tweet as it can be posted: stream-safe, without chatter, markdown bold or the
    numbering it wrote itself (the tweet at `place` of `count`); "" when nothing is left."""
    return _finish(_strip_numbering(_drop_chatter(stream_safe(text)), place, count, set()))


def clean_tweets(texts: list[str]) -> list[tuple[int, str]]:
    """`clean_tweet` for a whole reply at once: (index, text) of the tweets left, in order,
    without those that held nothing, and without the numbering style most of them share even
    where its count is off (an unnumbered hook before "1/6 …")."""
    kept = [(k, t) for k, t in enumerate(_drop_chatter(stream_safe(item)) for item in texts) if t]
    shared = _shared_numbering([text for _, text in kept])
    cleaned = (
        (k, _finish(_strip_numbering(item, place, len(kept), shared)))
        for place, (k, item) in enumerate(kept, 1)
    )
    return [(k, text) for k, text in cleaned if text]


def _finish(text: str) -> str:
    text = _BOLD.sub(lambda m: m[1] or m[2], _HEADING.sub("", text)).strip()
    return text if has_content(text) else ""


def shorten(text: str, budget: int) -> str:
    """The last resort for a tweet a model would not make fit: its leading sentences that fit
    `budget`, else its leading clauses or words with an ellipsis."""
    if weighted_length(text) <= budget:
        return text
    head = pack(text, budget - 2, limit=1)[0]  # room for the ellipsis ("…" weighs 2)
    if head.endswith(_ENDS):
        return head
    return head.rstrip(" ,;:—–-") + "…"


def _drop_chatter(text: str) -> str:
    lines = [
        line.rstrip()
        for line in text.strip().splitlines()
        if not (_FENCE.match(line) or _RULE.match(line))
        and not (len(line) <= _CHATTER_MAX and _CHATTER.match(line.strip()))
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _shared_numbering(items: list[str]) -> set[str]:
    """The "i/n" styles, leading or trailing, that two items and half of them or more carry: a
    model's own numbering even when its count is off (say, an unnumbered hook before "1/6")."""
    leading = sum(bool((m := _numbered(item)) and m["i"]) for item in items)
    trailing = sum(bool((m := _TRAILING.search(item)) and m["i"]) for item in items)
    styles = {"leading": leading, "trailing": trailing}
    return {style for style, n in styles.items() if n >= 2 and 2 * n >= len(items)}


def _strip_numbering(text: str, place: int, count: int, shared: set[str]) -> str:
    lead = _LEADING.match(text)
    if lead and _is_numbering(lead, place, count, "leading" in shared):
        text = (lead["keep"] or "") + text[lead.end() :]
    trail = _TRAILING.search(text)
    in_order = trail is not None and (trail["i"], trail["n"]) in {
        (str(place), str(count)),
        (str(place - 1), str(count - 1)),  # after an unnumbered hook
    }
    if trail and (trail["bracket"] or "trailing" in shared or in_order):
        text = text[: trail.start()]
    return text.strip()


def _is_numbering(match: re.Match[str], place: int, count: int, shared: bool) -> bool:
    """Brackets, "Tweet 3" and "3/" always are; "3/7" when it is in order or the list's own
    style (so "24/7" and a lone "1/3 of voters" stay); "3." only in its own place."""
    if match["bracket"] or match["named"] or match["open"]:
        return True
    if match["i"]:
        number, total = int(match["i"]), int(match["n"])
        after_hook = (number, total) == (place - 1, count - 1)  # the hook went unnumbered
        return number <= total and (shared or number == place or total == count or after_hook)
    return int(match["listed"]) == place


def _numbered(line: str) -> re.Match[str] | None:
    """Numbering that starts a tweet in a list; "24/7" is not numbering."""
    match = _LEADING.match(line)
    return None if match and match["i"] and int(match["i"]) > int(match["n"]) else match


def _groups(lines: list[str]) -> list[list[str]]:
    """Numbered lines (else bulleted ones) each start a tweet and take the lines under them;
    without either, paragraphs are tweets, or lines if there is a single paragraph."""
    numbered = any(_numbered(line) for line in lines)
    bulleted = not numbered and any(_BULLET.match(line) for line in lines)
    groups: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        match = _numbered(line) if numbered else _BULLET.match(line) if bulleted else None
        if match:
            current = [line[match.end() :]]
            groups.append(current)
        elif not line:
            if current is not None and any(current):
                current = None  # a blank line ends a tweet that has text
        elif current is None:
            current = [line]
            groups.append(current)
        else:
            current.append(line)
    listed = numbered or bulleted
    return [[line] for line in groups[0]] if len(groups) == 1 and not listed else groups


def _embedded_json(reply: str) -> list[str]:
    for attempt, match in enumerate(_JSON_START.finditer(reply)):
        if attempt == _JSON_ATTEMPTS:
            break
        try:
            value, _ = _DECODER.raw_decode(reply, match.start())
        except (ValueError, RecursionError):
            continue
        tweets = _json_tweets(value)
        if tweets:
            return tweets
    return []


def _json_strings(reply: str) -> list[str]:
    texts: list[str] = []
    for match in _JSON_STRING.finditer(reply):
        if not match["closed"] or match["key"]:
            continue
        try:
            text = json.loads(f'"{match["text"]}"')
        except ValueError:
            continue
        if isinstance(text, str) and text.strip():
            texts.append(text.strip())
    return texts


def _json_tweets(value: Any, depth: int = _JSON_DEPTH) -> list[str]:
    if isinstance(value, dict):
        if depth == 0:
            return []
        for key in ("tweets", "thread", "posts", "items"):
            if key in value:
                return _json_tweets(value[key], depth - 1)
        lists = [item for item in value.values() if isinstance(item, list)]
        return _json_tweets(lists[0], depth - 1) if lists else []
    if not isinstance(value, list):
        return []
    texts = []
    for item in value:
        if isinstance(item, dict):
            item = next((item[k] for k in ("text", "content", "tweet", "body") if k in item), None)
        if isinstance(item, str) and item.strip():
            texts.append(item.strip())
    return texts
