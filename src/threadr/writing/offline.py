"""The offline writer: a thread of the text's own sentences, for when no model is available."""

from __future__ import annotations

import math
import re
from collections import Counter

from .fit import has_content, pack, split_sentences, tweet_budget
from .twittertext import stream_safe, weighted_length

HOOK = "🧵"
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_SPACES = re.compile(r"\s+")
_CJK_END = tuple("。！？」』）")
_WORDS = re.compile(r"[^\W\d_]{3,}")
_STOPWORD_LIST = (
    "the and for are but not you all any can had her was one our out his has have that with this "
    "from they will would there their what about which when your said more been were also into "
    "than them then some could other after over only just like most its who how new says"
)
_STOPWORDS = frozenset(_STOPWORD_LIST.split())
# Page furniture that survives extraction: never in a thread ...
_FURNITURE = re.compile(
    r"(?:copyright|©)\s*(?:©\s*)?\d{4}|all\s+rights\s+reserved|click\s+here\b|^advertisement\W*$"
    r"|\b(?:subscribe|sign\s+up)\s+(?:to|for)\s+(?:our|the)\s+newsletter\b",
    re.IGNORECASE,
)
# ... and, when it only might be, never in a summary.
_BOILERPLATE = re.compile(
    r"\b(?:subscribe|newsletter|sign\s+up|log\s*in|cookies?|advertisement|click\s+here"
    r"|all\s+rights\s+reserved|follow\s+us|share\s+this|read\s+more|getty\s+images|copyright"
    r"|this\s+(?:article|story)\s+(?:was|has\s+been|originally)|^correction\b)\b|©",
    re.IGNORECASE,
)
# Openers that lean on a sentence the summary may have left out.
_DANGLING = re.compile(
    r"^(?:but|and|so|or|also|this|that|these|those|it|they|he|she|however|still|yet|then)\b",
    re.IGNORECASE,
)
_CLOSERS = {
    (True, True): "That's the short version of “{title}”. The full piece has much more, and is "
    "worth a read. If this thread helped, share it. 🔁",
    (True, False): "That's “{title}” in a thread. If it helped, share it with someone who'd "
    "find it useful. 🔁",
    (False, True): "That's the short version; the full text has much more. If this thread "
    "helped, share it with someone who'd find it useful. 🔁",
    (False, False): "That's the gist. If this thread helped, share it with someone who'd find "
    "it useful. 🔁",
}
_Sentence = tuple[int, str]  # (paragraph index, sentence)


def write_offline(text: str, title: str | None = None, *, max_tweets: int = 25) -> list[str]:
    """A hook, the text's sentences packed into tweets (or, when they would not fit in
    `max_tweets`, the best of them in their order), and a closing tweet. The bodies are
    unnumbered and each fits 280 weighted characters once "i/n " is put in front."""
    if max_tweets < 1:
        raise ValueError(f"max_tweets must be at least 1, not {max_tweets}")
    budget = tweet_budget(max_tweets)
    title = _SPACES.sub(" ", stream_safe(title or "")).strip()
    paragraphs = _paragraphs(stream_safe(text))
    if not title and len(paragraphs) > 1 and _is_heading(paragraphs[0]):
        title = paragraphs.pop(0)  # pasted text often starts with its headline
    sentences = [
        (p, s.strip())
        for p, paragraph in enumerate(paragraphs)
        for s in split_sentences(paragraph)
        if has_content(s) and not _FURNITURE.search(s)  # no "___" rules, no "© 2019 …" lines
    ]
    if not sentences:
        return []  # a title alone is no thread; finalize turns this into a clear 422
    whole = _join(sentences)
    single = f"{HOOK} {title}\n\n{whole}" if title else whole
    if weighted_length(single) <= budget:
        return [single]  # a single tweet needs no separate hook or wrap-up
    hook, sentences = _hook(title, sentences, budget, max_tweets)
    with_closer = max_tweets >= 3
    slots = max_tweets - 1 - with_closer
    body = pack(_join(sentences), budget, limit=slots + 1)  # enough to tell it will not fit
    summarised = len(body) > slots
    if summarised:
        body = _summarise(sentences, budget, slots)
    thread = [hook, *body]
    if with_closer and body:
        thread.append(_closer(title, summarised, budget))
    return thread[:max_tweets]


def _paragraphs(text: str) -> list[str]:
    """Blank lines separate paragraphs; without any, every line is one."""
    text = text.strip()
    blocks = _BLANK_LINE.split(text) if _BLANK_LINE.search(text) else text.splitlines()
    return [p for p in (_SPACES.sub(" ", block).strip() for block in blocks) if p]


def _is_heading(paragraph: str) -> bool:
    """A first line that reads like a headline, not a shouted section label or a byline."""
    return (
        len(paragraph) <= 120
        and not paragraph.endswith(tuple(".!?。！？:;,…"))
        and any(c.isalpha() for c in paragraph)
        and not paragraph.isupper()
        and (len(paragraph.split()) >= 3 or not paragraph.isascii())
        and "://" not in paragraph
        and "www." not in paragraph
    )


def _join(sentences: list[_Sentence]) -> str:
    """Sentences back into text: a space inside a paragraph, a blank line between paragraphs."""
    parts: list[str] = []
    for index, (paragraph, sentence) in enumerate(sentences):
        if index:
            previous_paragraph, previous = sentences[index - 1]
            if paragraph != previous_paragraph:
                parts.append("\n\n")
            elif not previous.endswith(_CJK_END):  # CJK sentences follow without a space
                parts.append(" ")
        parts.append(sentence)
    return "".join(parts)


def _hook(
    title: str, sentences: list[_Sentence], budget: int, max_tweets: int
) -> tuple[str, list[_Sentence]]:
    """The opening tweet: the title and lead sentence, or the lead alone; returns what is left
    (of a lead longer than a whole thread, only a thread's worth: the rest could never show)."""
    rest = list(sentences)
    if title:
        hook = _fit(f"{HOOK} {title}", budget)
        if rest[0][1].casefold().rstrip(".") == title.casefold().rstrip("."):
            rest.pop(0)  # the text repeats its headline
        if rest and weighted_length(f"{hook}\n\n{rest[0][1]}") <= budget:
            hook = f"{hook}\n\n{rest.pop(0)[1]}"
        return hook, rest
    paragraph, lead = rest.pop(0)
    hook, *more = pack(f"{HOOK} {lead}", budget, limit=max_tweets + 1)
    if more:  # a lead too long for one tweet goes on in the body
        rest.insert(0, (paragraph, " ".join(more)))
    elif rest and rest[0][0] == paragraph and weighted_length(hook) < 80:
        # A very short lead ("Gaming used to be so simple.") reads better with its follow-up.
        joined = f"{hook} {rest[0][1]}"
        if weighted_length(joined) <= budget:
            hook = joined
            rest.pop(0)
    return hook, rest


def _summarise(sentences: list[_Sentence], budget: int, slots: int) -> list[str]:
    """The best-scoring sentences, in their original order, that pack into `slots` tweets."""
    if slots <= 0:
        return []
    scores = _scores(sentences, budget)
    # Paragraph leads carry a news text's points, so they go first unless they are junk.
    leads = [k == 0 or sentences[k - 1][0] != p for k, (p, _) in enumerate(sentences)]
    ranked = sorted(
        range(len(sentences)), key=lambda k: (not leads[k] or scores[k] < 0, -scores[k])
    )
    weights = [weighted_length(sentence) + 1 for _, sentence in sentences]
    capacity = 0.9 * slots * budget  # packing loses a little at every tweet boundary
    chosen: list[int] = []
    seen: set[str] = set()
    used = 0
    for k in ranked:
        key = sentences[k][1].casefold()
        if used + weights[k] <= capacity and key not in seen:
            chosen.append(k)
            seen.add(key)
            used += weights[k]
    while True:
        body = pack(_join([sentences[k] for k in sorted(chosen)]), budget)
        if len(body) <= slots:
            return body
        # Still too long: give up the weakest sentences, roughly a tweet's worth per extra tweet.
        excess = (len(body) - slots) * budget / 2
        while chosen and excess > 0:
            excess -= weights[chosen.pop()]


def _scores(sentences: list[_Sentence], budget: int) -> list[float]:
    """Luhn-style salience (frequent content words) plus early position, facts with numbers and
    a length that makes a tweet; minus openers that dangle, questions and page furniture."""
    words = [
        {w for w in (m.casefold() for m in _WORDS.findall(s)) if w not in _STOPWORDS}
        for _, s in sentences
    ]
    frequency = Counter(w for ws in words for w in ws)
    salience = [sum(frequency[w] - 1 for w in ws) / math.sqrt(len(ws) + 1) for ws in words]
    top = max(salience) or 1.0
    paragraphs = sentences[-1][0] + 1
    scores = []
    for (paragraph, sentence), value in zip(sentences, salience, strict=True):
        weight = weighted_length(sentence)
        score = value / top + 0.3 * (1 - paragraph / paragraphs)
        score += 0.15 if any(c.isdigit() for c in sentence) else 0.0
        score -= 0.5 if weight < 40 else 0.4 if weight > budget else 0.0
        score -= 0.15 if _DANGLING.match(sentence) or sentence.endswith("?") else 0.0
        score -= 2.0 if _BOILERPLATE.search(sentence) else 0.0
        scores.append(score)
    return scores


def _closer(title: str, summarised: bool, budget: int) -> str:
    """The wrap-up, naming the source when there is one (shortened if it must be)."""
    template = _CLOSERS[bool(title), summarised]
    room = budget - weighted_length(template.format(title=""))
    if title and room < 12:
        return _CLOSERS[False, summarised]
    return template.format(title=_fit(title, room))


def _fit(text: str, budget: int) -> str:
    """`text` cut at a word boundary with an ellipsis, if it is longer than `budget`."""
    if weighted_length(text) <= budget:
        return text
    return pack(text, budget - 2, limit=1)[0].rstrip(" ,;:—–-") + "…"  # "…" weighs 2
