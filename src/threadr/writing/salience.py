"""How much each sentence of an article matters: its place (news puts the point first) and its
centrality (LexRank: a sentence like many others carries the article's subject), measured on
the sentences with their exact offsets, so that whatever is picked can say where it came from."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from .fit import has_content, split_sentences

_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
_LINE = re.compile(r"\n\s*")
# A line break inside a sentence: after a comma or a word, before a lower-case letter (text
# wrapped by hand, or a sentence broken by <br>); it is read as a space.
_SOFT_BREAK = re.compile(r"(?<=[,;、，\w])[ \t]*\n(?=[ \t]*[^\W\d_A-Z])")
_WORDS = re.compile(r"[^\W\d_]{3,}")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7a3]+")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W_]")
_HEADING_WORDS = 12
_END = tuple(".!?。！？…\"'”’»)")
_STOPWORD_LIST = (
    "the and for are but not you all any can had her was one our out his has have that with this "
    "from they will would there their what about which when your said more been were also into "
    "than them then some could other after over only just like most its who how new says "
    "she him those these very such where while being each because does did doing should may "
    "might must shall much many here just even still well back through during before between "
    "under again further once both few same own too why"
)
STOPWORDS = frozenset(_STOPWORD_LIST.split())
# Common verbs and adverbs: words of the text, but no subject to tag it with.
_UNTAGGABLE_LIST = (
    "used using make made makes take took taken come came comes going goes gets told tell "
    "called calls offering offered say saying said think know knew want wanted need "
    "needs year years time times week people thing things today really actually"
)
_UNTAGGABLE = STOPWORDS | frozenset(_UNTAGGABLE_LIST.split())
_DANGLING = re.compile(
    r"^(?:but|and|so|or|also|this|that|these|those|it|they|he|she|however|still|yet|then|"
    r"meanwhile|instead|otherwise|therefore|thus)\b",
    re.IGNORECASE,
)
_BOILERPLATE = re.compile(
    r"\b(?:subscribe|newsletter|sign\s+up|log\s*in|cookies?|advertisement|click\s+here"
    r"|all\s+rights\s+reserved|follow\s+us|share\s+this|read\s+more|getty\s+images|copyright"
    r"|this\s+(?:article|story)\s+(?:was|has\s+been|originally)|^correction\b)\b|©",
    re.IGNORECASE,
)
# Continuous LexRank (Erkan & Radev, 2004): cosine similarities above this are edges.
_EDGE = 0.1
_DAMPING = 0.85
_ITERATIONS = 12
# Sentences scored for centrality; later ones (rare: MAX_CONTENT_LENGTH is 10,000 characters
# by default) are scored by place alone, which keeps the work bounded whatever the text.
_SCORED = 200
# Terms read per sentence, and the most sentences a term may be in to count: one in more is as
# good as a stopword of this text (it joins nearly every pair alike), and skipping it bounds
# the pairs compared to _COMMON × the terms read, whatever the text.
_TERMS_PER_SENTENCE = 60
_COMMON = 40


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence at `text[start:end]`: the `paragraph`-th block, `lead` when it opens it."""

    start: int
    end: int
    paragraph: int
    lead: bool
    heading: bool  # a whole short block without an ending: a section title, not prose


def sentences(text: str) -> list[Sentence]:
    """The sentences of `text` with their offsets, in order; blocks are separated by blank
    lines (or by line breaks, in a text without any blank line)."""
    found: list[Sentence] = []
    splitter = _BLANK_LINE if _BLANK_LINE.search(text) else _LINE
    start = 0
    blocks = []
    for match in splitter.finditer(text):
        blocks.append((start, match.start()))
        start = match.end()
    blocks.append((start, len(text)))
    for index, (begin, stop) in enumerate(b for b in blocks if text[b[0] : b[1]].strip()):
        block = text[begin:stop]
        heading = is_heading(block)
        offset = begin
        lead = True
        # Soft breaks read as spaces, of the same length: offsets stay those of `text`.
        for piece in split_sentences(_SOFT_BREAK.sub(" ", block)):
            stripped = piece.strip()
            first = offset + piece.index(stripped[0]) if stripped else offset
            if stripped and not lead and not _LETTER.search(stripped) and "\n" not in piece:
                # Emoji or symbols after a sentence ("… the server. 🚀") end that sentence.
                last = found[-1]
                found[-1] = Sentence(last.start, first + len(stripped), index, last.lead, heading)
            elif stripped and has_content(stripped):
                found.append(Sentence(first, first + len(stripped), index, lead, heading))
                lead = False
            offset += len(piece)
    return found


def is_heading(block: str) -> bool:
    """A block that reads like a title: one short line (12 words at most) without a sentence
    ending."""
    block = block.strip()
    return (
        len(block) <= 120
        and len(block.split()) <= _HEADING_WORDS
        and "\n" not in block
        and not block.endswith(tuple(".!?。！？:;,…"))
        and any(c.isalpha() for c in block)
        and "://" not in block
    )


def terms(text: str) -> list[str]:
    """The content words of `text`, folded; CJK runs as character pairs."""
    words = [w for w in (m.casefold() for m in _WORDS.findall(text)) if w not in STOPWORDS]
    for run in _CJK.findall(text):
        words += [run[i : i + 2] for i in range(max(len(run) - 1, 1))]
    return words


def scores(text: str, found: list[Sentence]) -> list[float]:
    """Each sentence's worth for a summary: centrality and place, with small bonuses for facts
    (digits) and small penalties for what reads badly alone."""
    if not found:
        return []
    bags = [Counter(terms(text[s.start : s.end])[:_TERMS_PER_SENTENCE]) for s in found[:_SCORED]]
    centrality = lexrank(bags)
    count = len(found)
    paragraphs = found[-1].paragraph + 1
    result = []
    for k, sentence in enumerate(found):
        body = text[sentence.start : sentence.end]
        place = 1.0 - min(k / max(count, 12), 1.0)
        score = 0.55 * (centrality[k] if k < len(centrality) else 0.0) + 0.3 * place**2
        score += 0.1 * sentence.lead * (1 - sentence.paragraph / paragraphs)
        score += 0.05 if _DIGIT.search(body) else 0.0
        score -= 0.15 if _DANGLING.match(body) else 0.0
        score -= 0.1 if body.endswith("?") else 0.0
        score -= 0.3 if len(body) < 40 and not _CJK.search(body) else 0.0
        score -= 2.0 if _BOILERPLATE.search(body) else 0.0
        result.append(score)
    return result


def lexrank(bags: list[Counter[str]]) -> list[float]:
    """Continuous LexRank over TF-IDF vectors, scaled so that the most central is 1."""
    n = len(bags)
    if n == 0:
        return []
    df = Counter(term for bag in bags for term in bag)
    idf = {term: math.log(n / d) + 1.0 for term, d in df.items()}
    vectors = []
    for bag in bags:
        vector = {t: c * idf[t] for t, c in bag.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        vectors.append({t: v / norm for t, v in vector.items()})
    # Dot products through an inverted index: only pairs that share a term cost anything.
    postings: dict[str, list[tuple[int, float]]] = {}
    for i, vector in enumerate(vectors):
        for term, value in vector.items():
            postings.setdefault(term, []).append((i, value))
    sims: list[dict[int, float]] = [{} for _ in range(n)]
    for entries in postings.values():
        if len(entries) > _COMMON:
            continue
        for a, (i, vi) in enumerate(entries):
            row = sims[i]
            for j, vj in entries[a + 1 :]:
                row[j] = row.get(j, 0.0) + vi * vj
    edges: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for i, row in enumerate(sims):
        for j, value in row.items():
            if value > _EDGE:
                edges[i].append((j, value))
                edges[j].append((i, value))
    weight = [sum(v for _, v in out) for out in edges]
    rank = [1.0 / n] * n
    for _ in range(_ITERATIONS):
        # An isolated sentence gives its rank to all, like the damping.
        spread = sum(r for r, w in zip(rank, weight, strict=True) if not w) * _DAMPING / n
        nxt = [(1 - _DAMPING) / n + spread] * n
        for i, out in enumerate(edges):
            if weight[i]:
                share = _DAMPING * rank[i] / weight[i]
                for j, value in out:
                    nxt[j] += share * value
        rank = nxt
    top = max(rank)
    return [r / top for r in rank]


def similarity(a: Counter[str], b: Counter[str]) -> float:
    """Cosine of two bags of terms (plain counts): how much two sentences say the same."""
    dot = sum(c * b[t] for t, c in a.items() if t in b)
    if not dot:
        return 0.0
    return dot / math.sqrt(sum(c * c for c in a.values()) * sum(c * c for c in b.values()))


def keywords(text: str, title: str, count: int) -> list[str]:
    """The `count` most salient words of the article, as written there (for hashtags): the most
    frequent content words counted with their inflections ("cache", "caches", "caching"), those
    of the title and names (capitalised inside a sentence) first, the earliest on a tie."""
    if count <= 0:
        return []
    forms: dict[str, Counter[str]] = {}
    weight: Counter[str] = Counter()
    first: dict[str, int] = {}
    for match in _WORDS.finditer(text):
        word = match[0]
        folded = word.casefold()
        if folded in _UNTAGGABLE or len(word) < 4 or len(word) > 24:
            continue
        stem = _stem(folded)
        forms.setdefault(stem, Counter())[word] += 1
        first.setdefault(stem, match.start())
        before = text[max(match.start() - 2, 0) : match.start()]
        named = word[:1].isupper() and before.strip(" \t\"'“‘(") not in ("", ".", "!", "?")
        weight[stem] += 1 + named
    for word in _WORDS.findall(title):
        stem = _stem(word.casefold())
        if stem in weight:
            weight[stem] += 3
    ranked = sorted(weight, key=lambda stem: (-weight[stem], first[stem]))[:count]
    chosen = []
    for stem in ranked:
        spelled = forms[stem]
        best = max(spelled, key=lambda w: (w[:1].isupper(), spelled[w], -len(w)))
        chosen.append(best[:1].upper() + best[1:])
    return chosen


def _stem(word: str) -> str:
    """A crude stem, enough to count a word's inflections together."""
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def sentence_end(text: str) -> bool:
    """Whether `text` ends like a sentence (closing quotes and brackets aside)."""
    return text.rstrip().endswith(_END)
