"""Text lengths, commas, links and tag counts of every subtree of a page, from one walk.

Readability-style scoring asks the same questions of every container — how long is your text,
how much of it is links, how many paragraphs do you hold — and asking the tree each time
(`node.text()`, `node.css("a")`) costs the size of the subtree: quadratic in the nesting
depth, which a hostile page makes 16,000 deep. `Measure` walks the tree once, in document
order, and numbers every node; a subtree is then a contiguous range of those numbers, and
each answer is a difference of two prefix sums or a binary search: O(log n), whatever the
depth. The answers equal what the tree would say (tests/articles/test_measure.py compares
them on every element of the dataset).

A Measure describes the tree as it was: measure again after removing nodes.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable
from itertools import accumulate, islice

from selectolax.lexbor import LexborNode

from threadr.errors import Unprocessable

# Blink flattens the DOM beyond 512 levels, so no page that renders needs more; real articles
# stay under 60 (the dataset's deepest is 51).
MAX_DEPTH = 512
# Elements and text nodes. Long real pages hold ~50,000; the parse and this walk cost ~1 µs
# each, so the cap keeps the walk (and each pass) well under a second.
MAX_NODES = 400_000

COMMAS = re.compile(r"[,，、،]")


class TooComplex(Unprocessable):
    """A page nested deeper or holding more nodes than any article needs."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"The page is too complex to read ({what}); no article needs that much.",
            code="page_too_complex",
        )


class Measure:
    """Answers about any element of the subtree it walked, as of the walk."""

    __slots__ = (
        *("_a_cum", "_a_pos", "_chars", "_commas", "_end", "_solid", "_start", "_tags"),
        "_texts",
    )

    def __init__(self, root: LexborNode, selectors: tuple[str, ...] = ()) -> None:
        nodes = list(islice(root.traverse(include_text=True), MAX_NODES + 1))  # document order
        if len(nodes) > MAX_NODES:
            raise TooComplex(f"more than {MAX_NODES:,} nodes")
        # Comprehensions over the nodes, not one loop doing everything: this is the hot part
        # of extraction, and each comprehension runs at close to C speed.
        texts = [node.text_content for node in nodes]  # None for an element or a comment
        # chars[i]: the characters of text before node number i.
        chars = [0, *accumulate(len(t) if t else 0 for t in texts)]
        elements = [i for i, t in enumerate(texts) if t is None]  # those that may have children
        ids = [node.mem_id for node in nodes]
        # A subtree ends where the subtree of its last child ends (children are numbered after
        # their parent, so walking backwards finds the child's end already known).
        number = dict(zip(ids, range(len(ids)), strict=True))
        ends = list(range(1, len(nodes) + 1))
        for i in reversed(elements):
            last = nodes[i].last_child
            if last is not None:
                ends[i] = ends[number[last.mem_id]]
        open_ends: list[int] = []
        for i in elements:
            while open_ends and open_ends[-1] <= i:
                open_ends.pop()
            open_ends.append(ends[i])
            if len(open_ends) > MAX_DEPTH:
                raise TooComplex(f"nested more than {MAX_DEPTH} levels deep")
        start = {ids[i]: i for i in elements}
        end = {ids[i]: ends[i] for i in elements}
        self._start, self._end, self._chars = start, end, chars
        self._texts = texts
        # Made on first use: the boilerplate pass asks only for lengths and counts.
        self._commas: list[int] | None = None
        self._solid: list[tuple[int, int, int]] | None = None
        self._tags = {sel: self._positions(root, sel) for sel in selectors}
        self._a_pos = self._positions(root, "a")
        self._a_cum = [0, *accumulate(chars[ends[p]] - chars[p] for p in self._a_pos)]

    def _positions(self, root: LexborNode, selector: str) -> list[int]:
        # Sorted: a selector list ("h1, article") may come back grouped by selector.
        return sorted(self._start[n.mem_id] for n in root.css(selector))

    def _span(self, node: LexborNode) -> tuple[int, int]:
        key = node.mem_id
        return self._start[key], self._end[key]

    def chars(self, node: LexborNode) -> int:
        """len(node.text())"""
        s, e = self._span(node)
        return self._chars[e] - self._chars[s]

    def stripped(self, node: LexborNode) -> int:
        """len(node.text().strip())"""
        s, e = self._span(node)
        solid = self._solid
        if solid is None:
            # Text nodes holding more than whitespace: (number, leading spaces, length - trailing).
            solid = self._solid = [
                (i, len(t) - len(t.lstrip()), len(t.rstrip()))
                for i, t in enumerate(self._texts)
                if t and not t.isspace()
            ]
        first = bisect_left(solid, (s,))
        last = bisect_left(solid, (e,)) - 1
        if first > last:
            return 0
        head, lead, _ = solid[first]
        tail, _, kept = solid[last]
        return (self._chars[tail] + kept) - (self._chars[head] + lead)

    def commas(self, node: LexborNode) -> int:
        """len(COMMAS.findall(node.text()))"""
        s, e = self._span(node)
        chars, commas = self._chars, self._commas
        if commas is None:
            # Where the commas are, as offsets into all the text in document order.
            text = "".join(t for t in self._texts if t)
            commas = self._commas = [m.start() for m in COMMAS.finditer(text)]
        return bisect_left(commas, chars[e]) - bisect_left(commas, chars[s])

    def link_chars(self, node: LexborNode) -> int:
        """sum(len(a.text()) for a in node.css("a"))"""
        s, e = self._span(node)
        pos = self._a_pos
        return self._a_cum[bisect_left(pos, e)] - self._a_cum[bisect_left(pos, s)]

    def link_density(self, node: LexborNode, length: int | None = None) -> float:
        """Share of a node's text (of `length` characters, all of it by default) inside links."""
        length = self.chars(node) if length is None else length
        return min(1.0, self.link_chars(node) / length) if length else 0.0

    def count(self, node: LexborNode, selector: str) -> int:
        """len(node.css(selector)), for a selector named when measuring."""
        s, e = self._span(node)
        pos = self._tags[selector]
        return bisect_left(pos, e) - bisect_left(pos, s)

    def summer(self, points: dict[int, int]) -> Callable[[LexborNode], int]:
        """A function that sums, for any element, the `points` (by mem_id) of the elements
        inside it, itself included."""
        pairs = sorted((self._start[key], value) for key, value in points.items())
        pos = [p for p, _ in pairs]
        cum = [0, *accumulate(v for _, v in pairs)]

        def total(node: LexborNode) -> int:
            s, e = self._span(node)
            return cum[bisect_left(pos, e)] - cum[bisect_left(pos, s)]

        return total
