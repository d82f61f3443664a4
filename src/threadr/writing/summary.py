"""Composing the offline writer's thread from an article's sentences: the hook, the most salient
sentences (no two saying the same), the closing tweet in the options' tone, the hashtags."""

from __future__ import annotations

import re
from collections import Counter

from .fit import pack
from .options import LONG_POST_LENGTH, Options
from .salience import Sentence, keywords, scores, similarity, terms
from .thread import Part, Span
from .twittertext import weighted_length

THREAD = "🧵"
REPEAT = "🔁"
_REDUNDANT = 0.5  # two sentences more alike than this say the same thing
_SHORT = 90  # a sentence lighter than this takes the next one along, when it fits
_DANGLING = re.compile(
    r"^(?:but|and|so|or|also|this|that|these|those|it|they|he|she|however|still|yet|then)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d")
_FACT = re.compile(r"\d\s?%|\d\s?(?:percent|per\s+cent)\b|[$€£¥]\s?\d", re.IGNORECASE)
# The closing tweet by tone: with the article's title, and without.
CLOSERS: dict[str, tuple[str, str]] = {
    "neutral": (
        "That's the short version of “{title}”. The full piece has much more, and is worth a "
        "read. If this thread helped, share it.",
        "That's the gist. If this thread helped, share it with someone who'd find it useful.",
    ),
    "casual": (
        "And that's “{title}” in a nutshell! The whole thing's worth a read. Pass it on if it "
        "helped.",
        "And that's the gist! Pass it on if it helped.",
    ),
    "professional": (
        "In summary: the key points of “{title}”. The full article covers each in depth. Share "
        "it with colleagues who need it.",
        "In summary: those are the key points. Share this thread with colleagues who need it.",
    ),
    "witty": (
        "That's “{title}”, minus the scrolling. The original has the rest. Share it if you'd "
        "rather look smart than scroll.",
        "That's the gist, minus the scrolling. Share it if you'd rather look smart than scroll.",
    ),
    "enthusiastic": (
        "That's “{title}” in a thread! The full piece is absolutely worth your time. Share it if "
        "you loved this!",
        "That's the gist, and it's a good one! Share it if you loved this!",
    ),
    "educational": (
        "Key takeaway: those are the main ideas of “{title}”. Read the full piece to go deeper, "
        "and share it with someone who is learning this.",
        "Key takeaway: those are the main ideas. Share this with someone who is learning it.",
    ),
}


class Summary:
    """One article's sentences, scored once, and the tweets made of them."""

    def __init__(self, text: str, title: str, found: list[Sentence], options: Options) -> None:
        self.text, self.title, self.options = text, title, options
        self.found = found
        self.score = dict(zip(found, scores(text, found), strict=True))
        self.order = {s: k for k, s in enumerate(found)}
        self.prefix = f"{THREAD} " if options.emoji else ""
        self.tags = [f"#{word}" for word in keywords(text, title, options.hashtags)]

    def hook(
        self, units: list[Sentence], budget: int, *, spare: bool
    ) -> tuple[Part, set[Sentence]]:
        """The first tweet, as the options' `hook` asks, and the sentences it used."""
        kind = self.options.hook
        if kind == "question":
            asked = [u for u in units[: max(len(units) // 2, 1)] if self._body(u).endswith("?")]
            if asked:
                return self._quoted(asked[0], budget), {asked[0]}
            if self.title:
                question = self.title if self.title.endswith("?") else None
                question = question or f"What's the story behind “{_fit(self.title, budget - 30)}”?"
                return Part(self.prefix + question), set()
            lead = units[0]
            asked_lead = f"{self.prefix}{self._body(lead)}\n\nWhy does it matter?"
            if weighted_length(asked_lead) <= budget:
                return Part(asked_lead, self._span(lead)), {lead}
            return Part(f"{self.prefix}What's the story here? Here it is, in a thread."), set()
        if kind == "statistic":
            pool = [u for u in units if _NUMBER.search(self._body(u))]
            pool.sort(key=lambda u: (not _FACT.search(self._body(u)), -self._score(u)))
        else:
            pool = sorted(units, key=lambda u: -self._score(u)) if kind == "bold_claim" else []
        if pool:
            return self._quoted(pool[0], budget), {pool[0]}
        lead = units[0]
        if not self.title:
            return self._quoted(lead, budget), {lead}
        head = self.prefix + _fit(self.title, budget - weighted_length(self.prefix))
        with_lead = f"{head}\n\n{self._body(lead)}"
        if spare and weighted_length(with_lead) <= budget:
            return Part(with_lead, self._span(lead)), {lead}
        return Part(head), set()

    def bodies(
        self, units: list[Sentence], used: set[Sentence], count: int, budget: int
    ) -> list[Part]:
        """The `count` best sentences not `used`, in the article's order, none repeating another
        (a short one with its follow-up, one that leans on the sentence before with it)."""
        ranked = sorted((u for u in units if u not in used), key=lambda u: -self._score(u))
        bags = {u: Counter(terms(self._body(u))) for u in ranked}
        usable = set(units)
        taken = set(used)
        chosen: list[tuple[int, int]] = []
        picked: list[Sentence] = []
        left = len(ranked)  # not taken yet (what _extend takes is among them)
        for strict in (True, False):
            for unit in ranked:
                if len(chosen) == count:
                    break
                if unit in taken:
                    continue
                if strict and any(similarity(bags[unit], bags[p]) > _REDUNDANT for p in picked):
                    continue
                # Another sentence along only while enough are left for the count.
                spare = left - (count - len(chosen)) > 0
                before = len(taken)
                chosen.append(self._extend(unit, usable if spare else set(), taken, budget))
                picked.append(unit)
                left -= len(taken) - before
        return [Part(self.text[a:b], Span(a, b)) for a, b in sorted(chosen)]

    def closer(self, budget: int) -> Part:
        """The wrap-up, in the options' tone, naming the article when it has a title."""
        with_title, without = CLOSERS[self.options.tone]
        tail = f" {REPEAT}" if self.options.emoji else ""
        room = budget - weighted_length(self._tag_line())
        if self.title:
            free = room - weighted_length(with_title.format(title="") + tail)
            if free >= 12:
                return Part(with_title.format(title=_fit(self.title, free)) + tail)
        return Part(without + tail)

    def tagged(self, parts: list[Part], budget: int) -> list[Part]:
        """`parts` with the hashtags on the last one (as many as fit)."""
        tags = list(self.tags)
        while tags and parts:
            last = parts[-1]
            text = f"{last.text}\n\n{' '.join(tags)}"
            if weighted_length(text) <= budget:
                return [*parts[:-1], Part(text, last.source)]
            tags.pop()
        return parts

    def long_post(self, units: list[Sentence], size: int) -> Part:
        """One post: the title, then the `size` best sentences in order, by paragraph."""
        ranked = sorted(units, key=lambda u: -self._score(u))[:size]
        chosen = sorted(ranked, key=lambda u: u.start)
        while True:
            blocks: list[list[str]] = []
            last = -1
            for unit in chosen:
                if unit.paragraph != last:
                    blocks.append([])
                    last = unit.paragraph
                blocks[-1].append(self._body(unit))
            body = "\n\n".join(" ".join(block) for block in blocks)
            text = f"{self.title}\n\n{body}" if self.title else body
            if self.tags:
                text += "\n\n" + self._tag_line().strip()
            if weighted_length(text) <= LONG_POST_LENGTH or len(chosen) == 1:
                return Part(text)
            chosen.remove(min(chosen, key=self._score))

    def _extend(
        self, unit: Sentence, usable: set[Sentence], taken: set[Sentence], budget: int
    ) -> tuple[int, int]:
        """The span of `unit`, with the sentence before when it leans on it, or the one after
        when it is short; only sentences of its paragraph that are free and fit."""
        taken.add(unit)
        k = self.order.get(unit)
        if k is None:  # a piece of a long sentence: alone
            return unit.start, unit.end
        body = self._body(unit)
        before = self.found[k - 1] if k > 0 else None
        after = self.found[k + 1] if k + 1 < len(self.found) else None
        for other, leans in ((before, bool(_DANGLING.match(body))), (after, True)):
            if not leans or other is None or other in taken or other not in usable:
                continue
            if other.paragraph != unit.paragraph:
                continue
            start, end = min(unit.start, other.start), max(unit.end, other.end)
            if other is after and weighted_length(body) >= _SHORT:
                continue
            if weighted_length(self.text[start:end]) <= budget:
                taken.add(other)
                return start, end
        return unit.start, unit.end

    def _quoted(self, unit: Sentence, budget: int) -> Part:
        """A sentence as the hook: after the 🧵 when both fit."""
        text = self.prefix + self._body(unit)
        return Part(text if weighted_length(text) <= budget else self._body(unit), self._span(unit))

    def _body(self, unit: Sentence) -> str:
        return self.text[unit.start : unit.end]

    def _span(self, unit: Sentence) -> Span:
        return Span(unit.start, unit.end)

    def _score(self, unit: Sentence) -> float:
        score = self.score.get(unit)
        if score is None:  # a piece: its sentence's score
            within = (v for s, v in self.score.items() if s.start <= unit.start < s.end)
            score = max(within, default=0.0)
        return score

    def _tag_line(self) -> str:
        return f"\n\n{' '.join(self.tags)}" if self.tags else ""


def _fit(text: str, budget: int) -> str:
    """`text` cut at a word with an ellipsis, if it is heavier than `budget`."""
    if weighted_length(text) <= budget:
        return text
    return pack(text, max(budget - 2, 1), limit=1)[0].rstrip(" ,;:—–-") + "…"  # "…" weighs 2
